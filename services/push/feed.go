package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/push"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/work"
)

// feedBatch bounds the changes read at once.
const feedBatch = 1000

// follow runs while this node holds the feed duty: it reads the change
// log, and for each account with an active subscription hands the states
// its data reached in the batch to push-notifications, then acknowledges
// the batch.
func (s *Service) follow(ctx context.Context) {
	log := s.log.With("duty", feedDuty)
	for ctx.Err() == nil {
		cons, err := s.d.JS().CreateOrUpdateConsumer(ctx, store.StreamChanges, jetstream.ConsumerConfig{
			Durable: FeedConsumer, Description: "every change: the push service pushes the states they bring",
			FilterSubject: "jetmail.changes.>",
			AckPolicy:     jetstream.AckAllPolicy, AckWait: time.Minute, MaxAckPending: 4 * feedBatch,
			// A subscription is told of changes made after it was made:
			// a new feed starts at the end of the log.
			DeliverPolicy: jetstream.DeliverNewPolicy,
		})
		if err != nil {
			log.Warn("open the change log's push consumer", "err", err)
			if !clock.Sleep(ctx, time.Second) {
				return
			}
			continue
		}
		for ctx.Err() == nil {
			if err := s.feedOnce(ctx, cons); err != nil && ctx.Err() == nil {
				log.Warn("follow changes", "err", err)
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

// feedOnce reads the changes of push.coalesce (or up to feedBatch of
// them) and submits one item per account.
func (s *Service) feedOnce(ctx context.Context, cons jetstream.Consumer) error {
	batch, err := cons.Fetch(feedBatch, jetstream.FetchMaxWait(s.cfg.Coalesce))
	if err != nil {
		return err
	}
	now := s.clock.Now()
	states := map[string]map[string]uint64{}
	var order []string
	var last jetstream.Msg
	for m := range batch.Messages() {
		last = m
		var c store.Change
		if json.Unmarshal(m.Data(), &c) != nil {
			continue
		}
		t, ok := push.DataTypes[c.Type]
		if !ok || !s.reg.HasActive(c.Account, now) {
			continue
		}
		meta, err := m.Metadata()
		if err != nil {
			continue
		}
		if states[c.Account] == nil {
			states[c.Account] = map[string]uint64{}
			order = append(order, c.Account)
		}
		states[c.Account][t] = max(states[c.Account][t], meta.Sequence.Stream)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		return err
	}
	if last == nil {
		return nil
	}
	futures := make([]jetstream.PubAckFuture, 0, len(order))
	for _, account := range order {
		top := uint64(0)
		for _, v := range states[account] {
			top = max(top, v)
		}
		b, _ := json.Marshal(push.Item{Account: account, States: states[account]})
		// The same batch read again (after a crash before the ack below)
		// is stored once.
		f, err := s.d.Publisher.SubmitAsync(Role, work.Item{Key: account, Data: b, MsgID: "push/" + account + "/" + strconv.FormatUint(top, 10)})
		if err != nil {
			_ = last.Nak()
			return err
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		if _, err := work.Await(ctx, f); err != nil {
			_ = last.Nak()
			return fmt.Errorf("submit pushes: %w", err)
		}
	}
	return last.DoubleAck(ctx)
}
