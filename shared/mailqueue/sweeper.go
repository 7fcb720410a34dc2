package mailqueue

import "context"

// sweepOnce runs on the leader (every SweepInterval): it deletes message
// bodies older than SweepAge that no queue entry refers to any more, which
// a node dying between removing a message's last recipient and its body
// leaves behind.
func (q *Queue) sweepOnce(ctx context.Context) {
	lister, err := q.bodies.List(ctx)
	if err != nil {
		return // an empty store answers with an error too
	}
	cutoff := q.p.Clock.Now().Add(-q.p.SweepAge)
	for _, info := range lister {
		// A body is written before its entries: young ones are left alone.
		if info.ModTime.After(cutoff) {
			continue
		}
		if left, err := q.eng.Match(ctx, info.Name+".*"); err != nil || len(left) > 0 {
			continue
		}
		if err := q.bodies.Delete(ctx, info.Name); err == nil {
			q.log.Info("removed a message body no queue entry refers to", "message", info.Name)
		}
	}
}
