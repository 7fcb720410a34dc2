package mailqueue

import (
	"context"
	"time"

	"github.com/jetmail/jetmail/shared/dsn"
	"github.com/jetmail/jetmail/shared/trace"
)

// change applies f to a queue entry and triggers it anew (earlier triggers
// become stale), or cancels its schedule when it is held.
func (q *Queue) change(ctx context.Context, key string, f func(r *Recipient)) (*Recipient, error) {
	it, err := q.eng.Update(ctx, key, func(r *Recipient) error { f(r); return nil })
	if err != nil {
		return nil, entryErr(err)
	}
	return it.Value, nil
}

// changed records an operator's change of a recipient on its trace.
func (q *Queue) changed(ctx context.Context, kind trace.Kind, r *Recipient, err error, reply string) (*Recipient, error) {
	if err == nil {
		e := event(kind, r, q.p.Clock.Now().UTC())
		e.Reply = reply
		if kind == trace.KindRescheduled || kind == trace.KindReleased {
			e.Due = r.Due
		}
		q.traced(ctx, e)
	}
	return r, err
}

// RetryNow makes a recipient due at once (releasing it if held).
func (q *Queue) RetryNow(ctx context.Context, key string) (*Recipient, error) {
	now := q.p.Clock.Now().UTC()
	r, err := q.change(ctx, key, func(r *Recipient) { r.Due, r.Held = now, false })
	return q.changed(ctx, trace.KindRescheduled, r, err, "retry now, by an operator")
}

// Reschedule moves a recipient's next attempt to at.
func (q *Queue) Reschedule(ctx context.Context, key string, at time.Time) (*Recipient, error) {
	r, err := q.change(ctx, key, func(r *Recipient) { r.Due = at.UTC() })
	return q.changed(ctx, trace.KindRescheduled, r, err, "rescheduled by an operator")
}

// Hold stops a recipient's deliveries until Release.
func (q *Queue) Hold(ctx context.Context, key string) (*Recipient, error) {
	r, err := q.change(ctx, key, func(r *Recipient) { r.Held = true })
	return q.changed(ctx, trace.KindHeld, r, err, "held by an operator")
}

// Release lets a held recipient be delivered again, at its due time or now.
func (q *Queue) Release(ctx context.Context, key string) (*Recipient, error) {
	now := q.p.Clock.Now().UTC()
	r, err := q.change(ctx, key, func(r *Recipient) {
		r.Held = false
		if r.Due.Before(now) {
			r.Due = now
		}
	})
	return q.changed(ctx, trace.KindReleased, r, err, "released by an operator")
}

// Cancel removes a recipient from the queue; with bounce, its sender gets a
// failure DSN.
func (q *Queue) Cancel(ctx context.Context, key string, bounce bool) error {
	it, err := q.eng.Destroy(ctx, key)
	if err != nil {
		return entryErr(err)
	}
	r := it.Value
	reply := "cancelled by an operator"
	if bounce && r.Wants(NotifyFailure) {
		reply += "; the sender is notified"
	}
	_, _ = q.changed(ctx, trace.KindCancelled, r, nil, reply)
	body, _ := q.bodyOf(ctx, r)
	if bounce && r.Wants(NotifyFailure) {
		q.sendDSN(ctx, r, []dsn.Recipient{{FinalRecipient: r.Address, OriginalRecipient: r.ORCPT, Action: dsn.Failed,
			Status: "5.0.0", Diagnostic: "delivery cancelled by the mail administrator", LastAttempt: q.p.Clock.Now()}}, body)
	}
	q.finishIfDone(ctx, r)
	return nil
}
