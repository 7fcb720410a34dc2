package engine

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

// Rescue runs on the leader: it publishes again the trigger of items over
// RescueAfter past due, not parked and not busy, while the consumer of
// their trigger has nothing pending or in flight, which means their
// trigger was lost (a crash between writing a record and publishing its
// trigger). The trigger is the item's current one, de-duplicated by
// message id, so an item whose trigger was not lost after all still runs
// once. It returns how many items it triggered.
func (e *Engine[T]) Rescue(ctx context.Context) (int, error) {
	now := e.p.Clock.Now()
	cutoff := now.Add(-e.p.RescueAfter)
	idle := map[[2]string]bool{} // stream, consumer -> idle, for this pass
	rescued := 0
	err := e.scanRecords(ctx, func(it *Item[T]) bool { // an inline item is its own trigger
		due, ok := e.p.Due(it.Value)
		if !ok || due.After(cutoff) || e.p.Busy(it.Value, now) {
			return true
		}
		r := e.p.Route(it.Key, it.Value)
		if r.Consumer == "" {
			return true
		}
		c := [2]string{r.Stream, r.Consumer}
		isIdle, seen := idle[c]
		if !seen {
			isIdle = e.consumerIdle(ctx, r.Stream, r.Consumer)
			idle[c] = isIdle
		}
		if !isIdle {
			return true
		}
		msg := e.triggerMsg(it, now)
		msg.Header.Set(jetstream.MsgIDHeader, it.Key+"/"+it.Token+"/rescue")
		if _, err := e.js().PublishMsg(ctx, msg); err != nil {
			e.log.Warn("rescue item", "key", it.Key, "err", err)
			return true
		}
		rescued++
		if e.p.Rescued != nil {
			e.p.Rescued.Inc()
		}
		e.log.Warn("item was past due with no trigger; triggered it again", "key", it.Key, "due", due)
		return true
	})
	return rescued, err
}

func (e *Engine[T]) consumerIdle(ctx context.Context, stream, name string) bool {
	c, err := e.p.JetStreams[0].Consumer(ctx, stream, name)
	if err != nil {
		return false
	}
	info, err := c.Info(ctx)
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0
}
