package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/clock"
)

// LeaderKey is the lease key of the cluster leader.
const LeaderKey = "leader"

// DutyKey is the lease key of a single-holder duty: each duty has a lease
// of its own, so that it runs on one of the nodes that can do it, not only
// when the cluster leader happens to be one of them.
func DutyKey(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	return "duty." + string(b)
}

// RunLeader competes for the leader lease until ctx ends. While this node
// holds it, lead runs with a context that is cancelled when the lease is
// lost; lead should return when its context ends.
func RunLeader(ctx context.Context, b *Buckets, nodeID string, interval time.Duration, log *slog.Logger, lead func(ctx context.Context)) {
	RunLease(ctx, b, LeaderKey, nodeID, interval, log, lead)
}

// RunLease competes for the lease key until ctx ends, as RunLeader does
// for the leader's.
func RunLease(ctx context.Context, b *Buckets, key, nodeID string, interval time.Duration, log *slog.Logger, lead func(ctx context.Context)) {
	log = log.With("lease", key)
	for ctx.Err() == nil {
		rev, err := b.Leases.Create(ctx, key, []byte(nodeID))
		if err != nil {
			if !errors.Is(err, jetstream.ErrKeyExists) && ctx.Err() == nil {
				log.Warn("lease: create failed", "err", err)
			}
			clock.Sleep(ctx, interval)
			continue
		}
		log.Info("lease taken")
		leadCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); lead(leadCtx) }()
		t := time.NewTicker(interval)
	renew:
		for {
			select {
			case <-ctx.Done():
				break renew
			case <-done:
				break renew
			case <-t.C:
				uctx, ucancel := context.WithTimeout(ctx, interval*3)
				rev, err = b.Leases.Update(uctx, key, []byte(nodeID), rev)
				ucancel()
				if err != nil {
					log.Warn("lease lost", "err", err)
					break renew
				}
			}
		}
		t.Stop()
		cancel()
		<-done
		if ctx.Err() != nil {
			// Hand the lease over at once on shutdown.
			dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
			_ = b.Leases.Delete(dctx, key, jetstream.LastRevision(rev))
			dcancel()
		}
	}
}

// RemoveDeadLeases deletes the leases (the leader's, the duties') whose
// holder is not a live member, so that a live node takes them at once
// rather than when they expire (cluster.node-timeout after the holder's
// last renewal). A holder that is alive after all loses the lease at its
// next renewal, which compares the revision, and competes again: one
// holder at a time either way. It returns the keys removed.
func RemoveDeadLeases(ctx context.Context, b *Buckets) ([]string, error) {
	members, err := LiveMembers(ctx, b)
	if err != nil {
		return nil, err
	}
	live := map[string]bool{}
	for _, m := range members {
		live[m.ID] = true
	}
	lister, err := b.Leases.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("list leases: %w", err)
	}
	var removed []string
	for key := range lister.Keys() {
		e, err := b.Leases.Get(ctx, key)
		if err != nil || live[string(e.Value())] {
			continue // gone meanwhile, or held by a live node
		}
		if err := b.Leases.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
			continue // renewed or taken meanwhile
		}
		removed = append(removed, key)
	}
	return removed, nil
}
