package mailqueue

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

// rescueOnce runs on the leader (every RescueInterval): it triggers again
// the entries that are over RescueAfter past due, not held and not claimed,
// while their virtual queue's consumer has nothing pending or in flight,
// which means their trigger was lost (a crash between writing the entry and
// publishing it).
func (q *Queue) rescueOnce(ctx context.Context) {
	now := q.p.Clock.Now()
	cutoff := now.Add(-q.p.RescueAfter)
	var stuck []entry
	q.index.mu.RLock()
	for _, e := range q.index.m {
		if !e.held && e.due.Before(cutoff) && !e.deliveringUntil.After(now) {
			stuck = append(stuck, *e)
		}
	}
	q.index.mu.RUnlock()
	idle := map[string]bool{}
	for _, e := range stuck {
		isIdle, ok := idle[e.queue]
		if !ok {
			isIdle = q.consumerIdle(ctx, e.queue)
			idle[e.queue] = isIdle
		}
		if !isIdle {
			continue
		}
		r, _, err := q.load(ctx, e.key)
		if err != nil || r.Held || r.Token != e.token || r.Due.After(cutoff) {
			continue
		}
		msg := q.triggerMsg(r, now)
		msg.Header.Set(jetstream.MsgIDHeader, r.Key()+"/"+r.Token+"/rescue")
		if _, err := q.n.NextJetStream().PublishMsg(ctx, msg); err != nil {
			q.log.Warn("rescue queue entry", "entry", e.key, "err", err)
			continue
		}
		q.log.Warn("queue entry was past due with no trigger; triggered it again", "entry", e.key, "rcpt", r.Address, "due", r.Due)
	}
}

func (q *Queue) consumerIdle(ctx context.Context, vq string) bool {
	c, err := q.js.Consumer(ctx, Stream, consumerName(vq))
	if err != nil {
		return false
	}
	info, err := c.Info(ctx)
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0
}
