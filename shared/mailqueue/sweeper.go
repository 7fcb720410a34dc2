package mailqueue

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// sweepOnce runs on the leader (every SweepInterval): SweepBodies.
func (q *Queue) sweepOnce(ctx context.Context) {
	if _, err := q.SweepBodies(ctx); err != nil && ctx.Err() == nil {
		q.log.Warn("message body sweep", "err", err)
	}
}

// SweepBodies deletes the message bodies older than SweepAge that no
// queue entry refers to any more, which a node dying between removing a
// message's last recipient and its body leaves behind, and returns how
// many it deleted. The delivery nodes' leader runs it every SweepInterval;
// StoreMaintenance purgeData runs it too.
func (q *Queue) SweepBodies(ctx context.Context) (int, error) {
	lister, err := q.bodies.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list message bodies: %w", err)
	}
	cutoff := q.p.Clock.Now().Add(-q.p.SweepAge)
	n := 0
	for _, info := range lister {
		// A body is written before its entries: young ones are left alone.
		if info.ModTime.After(cutoff) {
			continue
		}
		left, err := q.eng.Match(ctx, info.Name+".*")
		if err != nil {
			return n, fmt.Errorf("entries of message %s: %w", info.Name, err)
		}
		if len(left) > 0 {
			continue
		}
		if err := q.bodies.Delete(ctx, info.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return n, fmt.Errorf("remove message body %s: %w", info.Name, err)
		}
		q.log.Info("removed a message body no queue entry refers to", "message", info.Name)
		n++
	}
	return n, nil
}
