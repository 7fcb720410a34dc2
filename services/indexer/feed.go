package indexer

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// FeedConsumer is the durable consumer of the change log that the feed
// turns into tasks.
const FeedConsumer = "fts-indexing-feed"

// feedBatch bounds the changes turned into tasks at once.
const feedBatch = 1000

// feed runs while this node holds the duty: it reads the change log and
// creates one IndexDocument or UnindexDocument task per document changed
// in each batch read, then acknowledges the batch. A crash before the
// acknowledgement creates the batch's tasks again, which is harmless: the
// tasks are idempotent.
func (s *Service) feed(ctx context.Context) {
	log := s.log.With("duty", "fts-indexing feed")
	wm := &watermark{}
	var advancing sync.WaitGroup
	defer advancing.Wait()
	advancing.Go(func() { s.advanceLoop(ctx, wm) })
	for ctx.Err() == nil {
		cons, err := s.d.JS().CreateOrUpdateConsumer(ctx, store.StreamChanges, jetstream.ConsumerConfig{
			Durable: FeedConsumer, Description: "changes to index: the indexer's feed turns them into tasks",
			AckPolicy: jetstream.AckAllPolicy, AckWait: time.Minute, MaxAckPending: 4 * feedBatch,
			DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		if err != nil {
			log.Warn("open the change log's feed consumer", "err", err)
			if !clock.Sleep(ctx, time.Second) {
				return
			}
			continue
		}
		log.Info("feeding changes to the indexer")
		for ctx.Err() == nil {
			if err := s.feedOnce(ctx, cons, wm); err != nil && ctx.Err() == nil {
				log.Warn("feed changes", "err", err)
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

// feedOnce turns one batch of changes into tasks.
func (s *Service) feedOnce(ctx context.Context, cons jetstream.Consumer, wm *watermark) error {
	batch, err := cons.Fetch(feedBatch, jetstream.FetchMaxWait(s.p.FeedWait))
	if err != nil {
		return err
	}
	type key struct {
		account string
		t       store.Type
		id      string
	}
	latest := map[key]store.Op{}
	var order []key
	var last jetstream.Msg
	for m := range batch.Messages() {
		last = m
		var c store.Change
		if err := json.Unmarshal(m.Data(), &c); err != nil || !indexed(c.Type) {
			continue
		}
		k := key{c.Account, c.Type, c.ID}
		if _, ok := latest[k]; !ok {
			order = append(order, k)
		}
		latest[k] = c.Op
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		return err
	}
	if last == nil {
		return nil
	}
	md, err := last.Metadata()
	if err != nil {
		return err
	}
	news := make([]taskmanager.NewTask, 0, len(order))
	for _, k := range order {
		var p task.Payload = &task.IndexDocumentTask{AccountID: k.account, DocumentID: k.id, DocumentType: string(k.t)}
		if latest[k] == store.Destroyed {
			p = &task.UnindexDocumentTask{AccountID: k.account, DocumentID: k.id, DocumentType: string(k.t)}
		}
		news = append(news, taskmanager.NewTask{Payload: p})
	}
	var ids []string
	if len(news) > 0 {
		created, err := s.mgr.CreateMany(ctx, news)
		if err != nil {
			_ = last.Nak()
			return err
		}
		for _, t := range created {
			ids = append(ids, t.ID)
		}
	}
	s.m.fed.Add(float64(len(news)))
	if err := last.DoubleAck(ctx); err != nil {
		return err
	}
	wm.fed(md.Sequence.Stream, ids)
	return nil
}
