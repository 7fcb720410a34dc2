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

// feed runs while this node holds the duty: it reads the calendar changes
// of the change log and makes each changed event's alarm tasks match its
// alarms, then acknowledges the batch.
func (s *Service) feed(ctx context.Context) {
	log := s.log.With("duty", "calendar-alerts feed")
	for ctx.Err() == nil {
		cons, err := s.d.JS().CreateOrUpdateConsumer(ctx, store.StreamChanges, jetstream.ConsumerConfig{
			Durable: FeedConsumer, Description: "calendar changes: the calendar service keeps each alarm's task",
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
			if err := s.feedOnce(ctx, cons); err != nil && ctx.Err() == nil {
				log.Warn("feed calendar changes", "err", err)
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
func (s *Service) feedOnce(ctx context.Context, cons jetstream.Consumer) error {
	batch, err := cons.Fetch(feedBatch, jetstream.FetchMaxWait(s.p.FeedWait))
	if err != nil {
		return err
	}
	type event struct{ account, id string }
	seen := map[event]bool{}
	var order []event
	var last jetstream.Msg
	for m := range batch.Messages() {
		last = m
		var c store.Change
		if json.Unmarshal(m.Data(), &c) != nil || c.Type != store.CalendarType {
			continue
		}
		if k := (event{c.Account, c.ID}); !seen[k] {
			seen[k] = true
			order = append(order, k)
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		return err
	}
	if last == nil {
		return nil
	}
	for _, e := range order {
		if err := s.schedule(ctx, e.account, e.id, ""); err != nil {
			_ = last.Nak()
			return err
		}
	}
	return last.DoubleAck(ctx)
}
