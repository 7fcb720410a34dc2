package mailqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/dsn"
	"github.com/jetmail/jetmail/shared/engine"
	"github.com/jetmail/jetmail/shared/trace"
)

// deliver runs one attempt of a recipient whose trigger is current
// (package engine checked it), taking along the recipients of the same
// message, domain and route that are due.
func (q *Queue) deliver(ctx context.Context, it *entry) error {
	r := it.Value
	now := q.p.Clock.Now()
	if claimed(r, now) {
		// Another transaction of the same message holds this recipient.
		return fmt.Errorf("recipient %s is in another transaction until %s", it.Key, r.DeliveringUntil.Format(time.RFC3339))
	}
	if r.Recipients > 1 {
		// Another transaction of this message may take this recipient along:
		// claim it first, on the record itself.
		r.DeliveringUntil = now.Add(2 * q.d.Work.AckWait)
		if err := q.eng.Save(ctx, it, false); err != nil {
			return fmt.Errorf("claim recipient %s: %w", it.Key, err)
		}
	}
	routeID, route, err := q.strategy.Route(Vars(r, now))
	group := []*entry{it}
	if err == nil && r.Recipients > 1 {
		group = append(group, q.claimSiblings(ctx, it, routeID, now)...)
	}
	var results []Result
	var body []byte
	if err == nil {
		body, err = q.bodyOf(ctx, r)
		if errors.Is(err, ErrNotFound) {
			q.bodyGone(ctx, group)
			return nil
		}
	}
	if err != nil {
		results = make([]Result, len(group))
		for i := range results {
			results[i] = Result{Text: err.Error()}
		}
	} else {
		d := &Delivery{RouteID: routeID, Route: route, Domain: r.Domain(), Envelope: r.Envelope, Body: body}
		for _, c := range group {
			d.Recipients = append(d.Recipients, c.Value)
		}
		q.metrics.inFlight.WithLabelValues(r.Queue).Add(float64(len(group)))
		results = q.deliverer.Deliver(ctx, d)
		q.metrics.inFlight.WithLabelValues(r.Queue).Sub(float64(len(group)))
	}
	q.record(ctx, group, results, body)
	return nil
}

// bodyGone parks recipients whose message body is missing. It is a bug,
// not the sender's problem: it is logged and counted, and no DSN goes out;
// the entries wait, held, for an operator (jetmail queue show, cancel).
func (q *Queue) bodyGone(ctx context.Context, group []*entry) {
	for _, c := range group {
		q.metrics.bodyGone.Inc()
		q.log.Error("queue entry refers to a message body that is gone; holding it for an operator", "entry", c.Key, "message", c.Value.MessageID, "rcpt", c.Value.Address)
		c.Value.Held, c.Value.DeliveringUntil, c.Value.LastError = true, time.Time{}, "the message body is gone (held; see the log)"
		if err := q.eng.Save(ctx, c, true); err != nil {
			q.log.Error("hold queue entry whose body is gone", "entry", c.Key, "err", err)
		}
		e := event(trace.KindHeld, c.Value, q.p.Clock.Now().UTC())
		e.Reply = c.Value.LastError
		q.traced(ctx, e)
	}
}

// claimSiblings takes into this transaction the other recipients of the
// message with the same domain and route that are due now.
func (q *Queue) claimSiblings(ctx context.Context, it *entry, routeID string, now time.Time) []*entry {
	r := it.Value
	siblings, err := q.eng.Match(ctx, r.MessageID+".*")
	if err != nil {
		q.log.Warn("list the recipients of a message", "message", r.MessageID, "err", err)
		return nil
	}
	var out []*entry
	lease := now.Add(2 * q.d.Work.AckWait)
	for _, s := range siblings {
		if s.Key == it.Key {
			continue
		}
		sr := s.Value
		if sr.Held || sr.Due.After(now) || claimed(sr, now) || sr.Domain() != r.Domain() {
			continue
		}
		if id, _, err := q.strategy.Route(Vars(sr, now)); err != nil || id != routeID {
			continue
		}
		sr.DeliveringUntil = lease
		if err := q.eng.Save(ctx, s, false); err != nil {
			continue // changed meanwhile: leave it to its own trigger
		}
		out = append(out, s)
	}
	return out
}

// record applies each recipient's outcome, sends the DSNs they call for,
// and removes the body when the message's last recipient is done.
func (q *Queue) record(ctx context.Context, group []*entry, results []Result, body []byte) {
	end := q.p.Clock.Now().UTC()
	first := group[0].Value
	var failed, delivered []dsn.Recipient
	left, firstDeferral := false, false
	for i, c := range group {
		r, res := c.Value, results[i]
		r.Attempts++
		r.LastAttempt, r.LastStatus, r.LastError, r.RemoteMTA = end, res.Status(), res.Text, res.RemoteMTA
		r.DeliveringUntil = time.Time{}
		class := res.Class()
		q.metrics.attempts.WithLabelValues(r.Queue, string(class)).Inc()
		block := dsn.Recipient{FinalRecipient: r.Address, OriginalRecipient: r.ORCPT, RemoteMTA: res.RemoteMTA,
			Diagnostic: diagnostic(res), LastAttempt: end, Status: dsn.StatusOf(res.Code, res.Enhanced)}
		switch class {
		case Delivered:
			q.delivered.Add(1)
			// One line per recipient delivered, as Postfix's status=sent.
			q.log.Info("delivered", "entry", c.Key, "message", r.MessageID, "queue", r.Queue, "rcpt", r.Address,
				"remote", res.RemoteMTA, "reply", diagnostic(res), "attempt", r.Attempts, "delay", end.Sub(r.ReceivedAt).Round(time.Millisecond))
			q.metrics.latency.WithLabelValues(r.Queue).Observe(end.Sub(r.ReceivedAt).Seconds())
			q.traced(ctx, outcome(trace.KindDelivered, r, res, end))
			left = !q.remove(ctx, c) || left
			if r.Wants(NotifySuccess) {
				block.Action = dsn.Delivered
				delivered = append(delivered, block)
			}
			continue
		case Permanent:
			q.traced(ctx, outcome(trace.KindBounced, r, res, end))
			left = !q.remove(ctx, c) || left
			q.log.Info("delivery failed for good", "entry", c.Key, "rcpt", r.Address, "reply", diagnostic(res))
			if r.Wants(NotifyFailure) {
				block.Action = dsn.Failed
				failed = append(failed, block)
			}
			continue
		}
		// Temporary: the strategy may choose another schedule now.
		if id, sched, err := q.strategy.Schedule(Vars(r, end)); err == nil {
			if id != r.Schedule {
				r.Schedule, r.Queue, r.MaxAttempts = id, sched.QueueName, sched.MaxAttempts
			}
			v := afterTempFailure(r, sched, end)
			if v.Expired {
				e := outcome(trace.KindExpired, r, res, end)
				e.Reply = diagnostic(res) + " (" + v.Reason + ")"
				q.traced(ctx, e)
				left = !q.remove(ctx, c) || left
				q.log.Info("recipient expired", "entry", c.Key, "rcpt", r.Address, "reason", v.Reason, "last", diagnostic(res))
				if r.Wants(NotifyFailure) {
					block.Action, block.Status = dsn.Failed, expiredStatus(res)
					block.Diagnostic = diagnostic(res) + " (" + v.Reason + ")"
					failed = append(failed, block)
				}
				continue
			}
			r.Due = v.Due
		} else {
			q.log.Error("scheduling strategy failed; retrying in 5 minutes", "entry", c.Key, "err", err)
			r.Due = end.Add(5 * time.Minute)
		}
		left = true
		firstDeferral = firstDeferral || r.Attempts == 1 && !r.NextNotify.IsZero()
		if err := q.saveDeferred(ctx, c); err != nil {
			q.log.Info("recipient changed during delivery; the change stands", "entry", c.Key, "err", err)
			continue
		}
		r = c.Value
		e := outcome(trace.KindDeferred, r, res, end)
		e.Due = r.Due
		q.traced(ctx, e)
		q.log.Info("delivery deferred", "entry", c.Key, "rcpt", r.Address, "reply", diagnostic(res), "retry_at", r.Due.Format(time.RFC3339), "attempt", r.Attempts)
	}
	q.sendDSN(ctx, first, failed, body)
	q.sendDSN(ctx, first, delivered, body)
	if firstDeferral {
		q.deferred(ctx, group)
	}
	if !left {
		q.finishIfDone(ctx, first)
	}
}

// saveDeferred stores a deferred recipient with the trigger of its next
// attempt. A delayed DSN counted on the entry during the attempt
// (runNotify: same gen and token, a new revision) is no change that
// stands: the notice is kept and the deferral written over it. Dropping
// the deferral instead left the entry with no trigger until the rescuer
// found it, which a resumed queue, its retries and notices firing at
// once, did every time. A change that retriggered the entry (an
// operator's hold, reschedule, retry) stands: ErrConflict.
func (q *Queue) saveDeferred(ctx context.Context, c *entry) error {
	for tries := 0; ; tries++ {
		err := q.eng.Save(ctx, c, true)
		if !errors.Is(err, engine.ErrConflict) || tries == 3 {
			return err
		}
		cur, gerr := q.eng.Get(ctx, c.Key)
		if gerr != nil || cur.Gen != c.Gen || cur.Token != c.Token {
			return err
		}
		r := *c.Value
		r.NotifyNum, r.NextNotify = cur.Value.NotifyNum, cur.Value.NextNotify
		*cur.Value = r
		*c = *cur
	}
}

// deferred gives a message its delayed-DSN schedule when one of its
// recipients is deferred for the first time. Only then: a message
// delivered at its first attempt never has one, which saves two writes
// (like Postfix, which warns of delays for deferred mail only). A crash
// before the schedule is written costs that message its delay warnings,
// not its delivery nor its expiry.
func (q *Queue) deferred(ctx context.Context, group []*entry) {
	r := group[0].Value
	entries := make([]*Recipient, 0, r.Recipients)
	if r.Recipients == 1 {
		entries = append(entries, r)
	} else {
		all, err := q.eng.Match(ctx, r.MessageID+".*")
		if err != nil {
			q.log.Warn("delayed-DSN schedule: list the message's recipients", "message", r.MessageID, "err", err)
			return
		}
		for _, it := range all {
			entries = append(entries, it.Value)
		}
	}
	if err := q.scheduleNotify(ctx, r.MessageID, entries); err != nil {
		q.log.Warn("delayed-DSN schedule", "message", r.MessageID, "err", err)
	}
}

// remove takes a finished recipient out of the queue, retrying until it is
// out (package engine, Complete). It reports whether the entry is gone.
func (q *Queue) remove(ctx context.Context, c *entry) bool {
	err := q.eng.Complete(ctx, c)
	if errors.Is(err, engine.ErrConflict) {
		q.log.Info("recipient changed during delivery; the change stands", "entry", c.Key)
		return false
	}
	if err != nil {
		q.log.Error("remove finished queue entry", "entry", c.Key, "err", err)
		return false
	}
	return true
}

// finishIfDone removes a message's body and notify schedule once none of
// its recipients is queued. It asks the bucket itself, so a body is
// deleted only when no entry refers to it.
func (q *Queue) finishIfDone(ctx context.Context, r *Recipient) {
	if r.Recipients > 1 {
		left, err := q.eng.Match(ctx, r.MessageID+".*")
		if err != nil {
			q.log.Warn("check message completion", "message", r.MessageID, "err", err)
			return
		}
		if len(left) > 0 {
			return
		}
		if age := q.p.Clock.Since(r.ReceivedAt); age < bodyGrace {
			// A young message's other entries may still be on their way:
			// Enqueue pipelines them, and one delivered fast can be done
			// before another is stored. Look again once they must be.
			q.p.Clock.AfterFunc(bodyGrace-age, func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if left, err := q.eng.Match(ctx, r.MessageID+".*"); err == nil && len(left) == 0 {
					q.deleteBody(ctx, r)
				}
			})
		} else {
			q.deleteBody(ctx, r)
		}
	} else {
		q.deleteBody(ctx, r)
	}
	if !r.NextNotify.IsZero() && (r.Attempts > 1 || r.Recipients > 1) {
		// Cancel the pending delayed DSN; a one-recipient message delivered
		// or cancelled before its first deferral never had one.
		_ = q.scheduleNotify(ctx, r.MessageID, nil)
	}
}

// bodyGrace is how long after its intake a message may still have entries
// being stored: longer than Enqueue's store timeout. A body is not deleted
// at completion before then; a crash meanwhile leaves it to the sweeper.
const bodyGrace = 10 * time.Second

// deleteBody removes the body of a message none of whose entries is left
// (one carried inline went with its entry).
func (q *Queue) deleteBody(ctx context.Context, r *Recipient) {
	if r.Body != nil {
		return
	}
	if err := q.bodies.Delete(ctx, r.MessageID); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		q.log.Warn("remove delivered message body", "message", r.MessageID, "err", err)
	}
}

func expiredStatus(res Result) string {
	if res.Code >= 400 && res.Enhanced != "" {
		return "5" + res.Enhanced[1:]
	}
	return "4.4.7" // delivery time expired
}

func diagnostic(res Result) string {
	if res.Code == 0 {
		return res.Text
	}
	if res.Enhanced != "" {
		return fmt.Sprintf("%d %s %s", res.Code, res.Enhanced, res.Text)
	}
	return fmt.Sprintf("%d %s", res.Code, res.Text)
}

// sendDSN queues one DSN for blocks of a message, to its sender. The null
// sender (a DSN itself) never gets one.
func (q *Queue) sendDSN(ctx context.Context, r *Recipient, blocks []dsn.Recipient, body []byte) {
	if len(blocks) == 0 || r.Sender == "" {
		return
	}
	host := q.p.Hostname
	report := dsn.Build(dsn.Report{ReportingMTA: host, From: "MAILER-DAEMON@" + host, To: r.Sender, EnvID: r.EnvID,
		ArrivalDate: r.ReceivedAt, Recipients: blocks, Original: body, Full: r.Ret == "FULL", Now: q.p.Clock.Now()})
	env := Envelope{Source: SourceDSN, Priority: r.Priority, Ret: "HDRS"}
	id, err := q.Enqueue(ctx, env, []RcptIn{{Address: r.Sender, Notify: []Notify{NotifyNever}}}, report)
	if err != nil {
		q.log.Error("queue DSN", "message", r.MessageID, "to", r.Sender, "err", err)
		return
	}
	q.tracedDSN(ctx, r, blocks, id)
	q.metrics.dsns.WithLabelValues(string(blocks[0].Action)).Inc()
}
