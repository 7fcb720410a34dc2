package cluster

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// LeaderKey is the lease key of the cluster leader.
const LeaderKey = "leader"

// RunLeader competes for the leader lease until ctx ends. While this node
// holds it, lead runs with a context that is cancelled when the lease is
// lost; lead should return when its context ends.
func RunLeader(ctx context.Context, b *Buckets, nodeID string, interval time.Duration, log *slog.Logger, lead func(ctx context.Context)) {
	for ctx.Err() == nil {
		rev, err := b.Leases.Create(ctx, LeaderKey, []byte(nodeID))
		if err != nil {
			if !errors.Is(err, jetstream.ErrKeyExists) && ctx.Err() == nil {
				log.Warn("leader lease: create failed", "err", err)
			}
			sleep(ctx, interval)
			continue
		}
		log.Info("became cluster leader")
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
				rev, err = b.Leases.Update(uctx, LeaderKey, []byte(nodeID), rev)
				ucancel()
				if err != nil {
					log.Warn("lost cluster leadership", "err", err)
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
			_ = b.Leases.Delete(dctx, LeaderKey, jetstream.LastRevision(rev))
			dcancel()
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
