package work

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/roles"
)

// LimitsParams configures Limits.
type LimitsParams struct {
	JS      jetstream.JetStream
	Buckets *cluster.Buckets
	View    *cluster.View
	Logger  *slog.Logger
	// Interval is how often the limits are brought up to date. Default 1s.
	Interval time.Duration
	// Stream, when set, limits the consumers of that stream that nodes
	// announce (ConsumerSlots), such as the virtual queues' of the queue
	// stream; when empty, the roles' shard consumers. The two are separate
	// duties, each run by a node that may manage those consumers.
	Stream string
}

// Limits keeps each shared consumer's MaxAckPending equal to the slots of
// the live nodes that serve it: for a role's shard consumer, the worker
// slots of the shard's live nodes consuming the role; for a consumer such
// as a virtual queue's, the slots its nodes announce (ConsumerSlots). The
// nodes' own pools already take no more than their slots; this is the
// server's backstop, so that no client, however broken, can hold more.
// One node runs it at a time, as a leader duty.
type Limits struct {
	p   LimitsParams
	log *slog.Logger
	// set remembers the limit last written per consumer, so that a pass
	// with no change costs no request.
	set map[consumerRef]int
}

type consumerRef struct{ stream, name string }

// NewLimits returns Limits; Run keeps them.
func NewLimits(p LimitsParams) *Limits {
	if p.Interval == 0 {
		p.Interval = time.Second
	}
	return &Limits{p: p, log: p.Logger.With("component", "consumer-limits"), set: map[consumerRef]int{}}
}

// Run brings the limits up to date every Interval until ctx ends.
func (l *Limits) Run(ctx context.Context) {
	t := time.NewTicker(l.p.Interval)
	defer t.Stop()
	for {
		if err := l.pass(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("consumer limits", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (l *Limits) pass(ctx context.Context) error {
	members, err := cluster.LiveMembers(ctx, l.p.Buckets)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return err
	}
	var errs []error
	for c, n := range wantLimits(members, l.p.View, l.p.Stream) {
		if l.set[c] == n {
			continue
		}
		if err := l.apply(ctx, c, n); err != nil {
			errs = append(errs, err)
			continue
		}
		l.set[c] = n
	}
	return errors.Join(errs...)
}

func (l *Limits) apply(ctx context.Context, c consumerRef, n int) error {
	cons, err := l.p.JS.Consumer(ctx, c.stream, c.name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil // being rebuilt; the next pass sees the new one
	}
	if err != nil {
		return fmt.Errorf("consumer %s/%s: %w", c.stream, c.name, err)
	}
	cfg := cons.CachedInfo().Config
	if cfg.MaxAckPending == n {
		return nil
	}
	old := cfg.MaxAckPending
	cfg.MaxAckPending = n
	if _, err := l.p.JS.UpdateConsumer(ctx, c.stream, cfg); err != nil {
		return fmt.Errorf("set MaxAckPending of %s/%s to %d: %w", c.stream, c.name, n, err)
	}
	l.log.Info("consumer limit set", "stream", c.stream, "consumer", c.name, "max_ack_pending", n, "was", old)
	return nil
}

// wantLimits sums the live nodes' slots per consumer: of the announced
// consumers of stream, or of the roles' shard consumers when stream is "".
func wantLimits(members []cluster.Member, view *cluster.View, stream string) map[consumerRef]int {
	out := map[consumerRef]int{}
	for _, m := range members {
		if stream != "" {
			for key, n := range m.ConsumerSlots {
				if s, name, ok := strings.Cut(key, "/"); ok && s == stream && n > 0 {
					out[consumerRef{s, name}] += n
				}
			}
			continue
		}
		for r, n := range m.WorkerSlots {
			if !m.Consumes(r) || n <= 0 {
				continue
			}
			rm, layout, _ := view.Role(r)
			if !layout.Fits(rm) {
				continue // re-sharding: consumers are being rebuilt
			}
			for _, i := range rm.Shards.Of(m.ID) {
				out[consumerRef{StreamName(r), ConsumerName(r, i, layout.Epoch)}] += n
			}
		}
	}
	return out
}

// shardLimit is what a new shard consumer starts with: the slots of the
// live nodes serving it, or 1 when none does yet (a limit of 0 would mean
// the server's default).
func shardLimit(members []cluster.Member, r roles.Role, rm cluster.RoleMap, i int) int {
	n := 0
	for _, m := range members {
		if m.Consumes(r) && i < len(rm.Shards) && rm.Shards[i].Has(m.ID) {
			n += m.WorkerSlots[r]
		}
	}
	return max(n, 1)
}
