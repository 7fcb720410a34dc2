package mailqueue

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/jetmail/jetmail/shared/dsn"
)

// change applies f to a queue entry, gives it a new token (earlier
// triggers become stale) and triggers it again unless it is held.
func (q *Queue) change(ctx context.Context, key string, f func(r *Recipient)) (*Recipient, error) {
	r, rev, err := q.load(ctx, key)
	if err != nil {
		return nil, err
	}
	f(r)
	r.Token = nuid.Next()
	if _, err := q.kv().Update(ctx, key, encodeRecipient(r), rev); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil, ErrConflict
		}
		return nil, err
	}
	if r.Held {
		q.cancelSchedule(ctx, key)
		return r, nil
	}
	return r, q.trigger(ctx, r)
}

func (q *Queue) cancelSchedule(ctx context.Context, key string) {
	if s, err := q.js.Stream(ctx, Stream); err == nil {
		_ = s.Purge(ctx, jetstream.WithPurgeSubject(schedSubject(key)))
	}
}

// RetryNow makes a recipient due at once (releasing it if held).
func (q *Queue) RetryNow(ctx context.Context, key string) (*Recipient, error) {
	now := q.p.Clock.Now().UTC()
	return q.change(ctx, key, func(r *Recipient) { r.Due, r.Held = now, false })
}

// Reschedule moves a recipient's next attempt to at.
func (q *Queue) Reschedule(ctx context.Context, key string, at time.Time) (*Recipient, error) {
	return q.change(ctx, key, func(r *Recipient) { r.Due = at.UTC() })
}

// Hold stops a recipient's deliveries until Release.
func (q *Queue) Hold(ctx context.Context, key string) (*Recipient, error) {
	return q.change(ctx, key, func(r *Recipient) { r.Held = true })
}

// Release lets a held recipient be delivered again, at its due time or now.
func (q *Queue) Release(ctx context.Context, key string) (*Recipient, error) {
	now := q.p.Clock.Now().UTC()
	return q.change(ctx, key, func(r *Recipient) {
		r.Held = false
		if r.Due.Before(now) {
			r.Due = now
		}
	})
}

// Cancel removes a recipient from the queue; with bounce, its sender gets a
// failure DSN.
func (q *Queue) Cancel(ctx context.Context, key string, bounce bool) error {
	r, rev, err := q.load(ctx, key)
	if err != nil {
		return err
	}
	if err := q.kv().Purge(ctx, key, jetstream.LastRevision(rev), jetstream.PurgeTTL(markerTTL)); err != nil {
		return err
	}
	q.cancelSchedule(ctx, key)
	body, _ := q.bodies.GetBytes(ctx, r.MessageID)
	if bounce && r.Wants("FAILURE") {
		q.sendDSN(ctx, r, []dsn.Recipient{{FinalRecipient: r.Address, OriginalRecipient: r.ORCPT, Action: dsn.Failed,
			Status: "5.0.0", Diagnostic: "delivery cancelled by the mail administrator", LastAttempt: q.p.Clock.Now()}}, body)
	}
	q.finishIfDone(ctx, r)
	return nil
}
