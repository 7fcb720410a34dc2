package mailqueue

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/jetmail/jetmail/shared/work"
)

// markerTTL is how long the marker of a removed entry stays, so that
// watchers see the removal, before it expires.
const markerTTL = 10 * time.Minute

// RcptIn is a recipient as accepted by RCPT TO.
type RcptIn struct {
	Address string
	ORCPT   string
	Notify  []string
}

// Enqueue stores body and queues one entry per recipient. When it returns
// nil the message is durable and the SMTP 250 may be sent. env's
// MessageID, ReceivedAt and Size are set here.
func (q *Queue) Enqueue(ctx context.Context, env Envelope, rcpts []RcptIn, body []byte) (string, error) {
	if len(rcpts) == 0 {
		return "", fmt.Errorf("enqueue: no recipients")
	}
	now := q.p.Clock.Now().UTC()
	env.MessageID, env.ReceivedAt, env.Size, env.Recipients = nuid.Next(), now, int64(len(body)), len(rcpts)
	if env.Ret == "" {
		env.Ret = "HDRS"
	}
	entries := make([]*Recipient, len(rcpts))
	for i, rc := range rcpts {
		r := &Recipient{Envelope: env, Index: i, Address: rc.Address, ORCPT: rc.ORCPT, Notify: rc.Notify, Due: now, Token: nuid.Next()}
		id, sched, err := q.strategy.Schedule(Vars(r, now))
		if err != nil {
			return "", fmt.Errorf("schedule <%s>: %w", rc.Address, err)
		}
		applySchedule(r, id, sched, now)
		entries[i] = r
	}
	if _, err := q.bodies.PutBytes(ctx, env.MessageID, body); err != nil {
		return "", fmt.Errorf("store message body: %w", err)
	}
	// Entries and triggers go out together and are awaited together. Only
	// the first recipient of each domain is triggered at once; its
	// transaction takes the others along, and their own trigger, a little
	// later, is a fallback that finds them gone.
	js := q.n.NextJetStream()
	var futures []jetstream.PubAckFuture
	first := map[string]bool{}
	for _, r := range entries {
		group := r.Queue + "/" + r.Domain()
		trig := q.triggerMsg(r, now)
		if first[group] {
			trig = q.triggerMsgAt(r, now.Add(groupWindow))
		}
		first[group] = true
		rec := nats.NewMsg("$KV." + BucketQueue + "." + r.Key())
		rec.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
		rec.Data = encodeRecipient(r)
		f, err := js.PublishMsgAsync(rec)
		if err != nil {
			return "", fmt.Errorf("queue <%s>: %w", r.Address, err)
		}
		futures = append(futures, f)
		f, err = js.PublishMsgAsync(trig)
		if err != nil {
			return "", fmt.Errorf("trigger <%s>: %w", r.Address, err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		if err := work.Await(ctx, f); err != nil {
			return "", fmt.Errorf("queue message: %w", err)
		}
	}
	if hasNotify(entries) {
		if err := q.scheduleNotify(ctx, env.MessageID, entries); err != nil {
			q.log.Warn("delayed-DSN schedule", "message", env.MessageID, "err", err)
		}
	}
	q.metrics.enqueued.WithLabelValues(string(env.Source)).Inc()
	return env.MessageID, nil
}

// groupWindow is how long the other recipients of a domain wait for the
// transaction of the first before their own trigger fires.
const groupWindow = 2 * time.Second

// triggerMsg is the message that makes r's next attempt happen: on its
// virtual queue's subject when due, else a schedule that fires there.
func (q *Queue) triggerMsg(r *Recipient, now time.Time) *nats.Msg {
	if r.Due.After(now) {
		return q.triggerMsgAt(r, r.Due)
	}
	msg := nats.NewMsg(dueSubject(r.Queue))
	msg.Header.Set(HeaderEntry, r.Key())
	msg.Header.Set(HeaderToken, r.Token)
	return msg
}

// triggerMsgAt is a schedule that triggers r at t.
func (q *Queue) triggerMsgAt(r *Recipient, t time.Time) *nats.Msg {
	msg := nats.NewMsg(schedSubject(r.Key()))
	msg.Header.Set(HeaderEntry, r.Key())
	msg.Header.Set(HeaderToken, r.Token)
	msg.Header.Set("Nats-Schedule", "@at "+t.UTC().Format(time.RFC3339Nano))
	msg.Header.Set("Nats-Schedule-Target", dueSubject(r.Queue))
	return msg
}

func (q *Queue) trigger(ctx context.Context, r *Recipient) error {
	_, err := q.n.NextJetStream().PublishMsg(ctx, q.triggerMsg(r, q.p.Clock.Now()))
	return err
}

// hasNotify reports whether any entry has a delayed DSN to come: only then
// can the message have a notify schedule.
func hasNotify(entries []*Recipient) bool {
	for _, r := range entries {
		if !r.NextNotify.IsZero() {
			return true
		}
	}
	return false
}

// scheduleNotify sets the message's delayed-DSN schedule to the earliest
// notify time of its entries, or removes it when there is none.
func (q *Queue) scheduleNotify(ctx context.Context, messageID string, entries []*Recipient) error {
	var first *Recipient
	for _, r := range entries {
		if !r.NextNotify.IsZero() && (first == nil || r.NextNotify.Before(first.NextNotify)) {
			first = r
		}
	}
	if first == nil {
		s, err := q.js.Stream(ctx, Stream)
		if err != nil {
			return err
		}
		return s.Purge(ctx, jetstream.WithPurgeSubject(notifySubject(messageID)))
	}
	msg := nats.NewMsg(notifySubject(messageID))
	msg.Header.Set(HeaderNotify, messageID)
	msg.Header.Set("Nats-Schedule", "@at "+first.NextNotify.UTC().Format(time.RFC3339Nano))
	msg.Header.Set("Nats-Schedule-Target", dueSubject(first.Queue))
	_, err := q.n.NextJetStream().PublishMsg(ctx, msg)
	return err
}

func (q *Queue) load(ctx context.Context, key string) (*Recipient, uint64, error) {
	e, err := q.kv().Get(ctx, key)
	if err != nil {
		if err == jetstream.ErrKeyNotFound {
			return nil, 0, ErrNotFound
		}
		return nil, 0, fmt.Errorf("read queue entry %s: %w", key, err)
	}
	r, err := decodeRecipient(e.Value())
	return r, e.Revision(), err
}

// Get reads a queue entry.
func (q *Queue) Get(ctx context.Context, key string) (*Recipient, error) {
	r, _, err := q.load(ctx, key)
	return r, err
}

// Body reads a queued message's body.
func (q *Queue) Body(ctx context.Context, messageID string) ([]byte, error) {
	return q.bodies.GetBytes(ctx, messageID)
}
