package calendar

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/store"
)

// feedBatch bounds the changes read at once.
const feedBatch = 500

// feed is one follower of the change log's calendar changes: a cluster
// duty with its own durable consumer, and what it does for each event
// changed.
type feed struct {
	duty, consumer, description string
	// work is called once per event changed in a batch, with the time of
	// its last change in it.
	work func(ctx context.Context, account, docID string, at time.Time) error
}

// follow runs while this node holds the feed's duty: it reads the
// calendar changes of the change log and works each changed event, then
// acknowledges the batch.
func (s *Service) follow(ctx context.Context, f feed) {
	log := s.log.With("duty", f.duty)
	for ctx.Err() == nil {
		cons, err := s.d.JS().CreateOrUpdateConsumer(ctx, store.StreamChanges, jetstream.ConsumerConfig{
			Durable: f.consumer, Description: f.description,
			FilterSubject: "jetmail.changes.*.*." + string(store.CalendarType),
			AckPolicy:     jetstream.AckAllPolicy, AckWait: time.Minute, MaxAckPending: 4 * feedBatch,
			DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		if err != nil {
			log.Warn("open the change log's calendar consumer", "err", err)
			if !clock.Sleep(ctx, time.Second) {
				return
			}
			continue
		}
		for ctx.Err() == nil {
			if err := s.feedOnce(ctx, cons, f); err != nil && ctx.Err() == nil {
				log.Warn("follow calendar changes", "err", err)
				if !clock.Sleep(ctx, time.Second) {
					return
				}
				if errors.Is(err, jetstream.ErrConsumerNotFound) {
					break
				}
			}
		}
	}
}

// feedOnce works one batch of changes.
func (s *Service) feedOnce(ctx context.Context, cons jetstream.Consumer, f feed) error {
	batch, err := cons.Fetch(feedBatch, jetstream.FetchMaxWait(s.p.FeedWait))
	if err != nil {
		return err
	}
	type event struct{ account, id string }
	seen := map[event]time.Time{}
	var order []event
	var last jetstream.Msg
	for m := range batch.Messages() {
		last = m
		var c store.Change
		if json.Unmarshal(m.Data(), &c) != nil || c.Type != store.CalendarType {
			continue
		}
		k := event{c.Account, c.ID}
		if _, ok := seen[k]; !ok {
			order = append(order, k)
		}
		seen[k] = c.At
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		return err
	}
	if last == nil {
		return nil
	}
	for _, e := range order {
		if err := f.work(ctx, e.account, e.id, seen[e]); err != nil {
			_ = last.Nak()
			return err
		}
	}
	return last.DoubleAck(ctx)
}
