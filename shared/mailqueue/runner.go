package mailqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/jetmail/jetmail/shared/dsn"
	"github.com/jetmail/jetmail/shared/work"
)

// youngTrigger: a trigger this young may arrive before its entry shows in
// the index (they are written together).
const youngTrigger = 5 * time.Second

type claimed struct {
	r   *Recipient
	rev uint64
}

// handle runs one trigger of a virtual queue.
func (q *Queue) handle(ctx context.Context, job *work.Job) error {
	if id := job.Header.Get(HeaderNotify); id != "" {
		return q.runNotify(ctx, id)
	}
	key, token := job.Header.Get(HeaderEntry), job.Header.Get(HeaderToken)
	en, ok := q.index.get(key)
	for wait := 5 * time.Millisecond; (!ok || en.token != token) && time.Since(job.Published) < youngTrigger && wait < time.Second; wait *= 2 {
		time.Sleep(wait)
		en, ok = q.index.get(key)
	}
	if !ok || en.token != token || en.held {
		q.metrics.stale.Inc()
		q.log.Debug("stale trigger dropped", "entry", key, "in_index", ok, "token_matches", en.token == token, "held", en.held)
		return nil
	}
	now := q.p.Clock.Now()
	if en.deliveringUntil.After(now) {
		// Another transaction of the same message holds this recipient.
		return fmt.Errorf("recipient %s is in another transaction until %s", key, en.deliveringUntil.Format(time.RFC3339))
	}
	r, rev, err := q.load(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.Token != token || r.Held {
		q.metrics.stale.Inc()
		q.log.Debug("stale trigger dropped", "entry", key, "token_matches", r.Token == token, "held", r.Held)
		return nil
	}
	if r.Recipients > 1 {
		// Another transaction of this message may take this recipient along:
		// claim it first, on the record itself.
		if r.DeliveringUntil.After(now) {
			return fmt.Errorf("recipient %s is in another transaction until %s", key, r.DeliveringUntil.Format(time.RFC3339))
		}
		r.DeliveringUntil = now.Add(2 * q.n.WorkParams.AckWait)
		if rev, err = q.kv().Update(ctx, key, encodeRecipient(r), rev); err != nil {
			return fmt.Errorf("claim recipient %s: %w", key, err)
		}
	}
	routeID, route, err := q.strategy.Route(Vars(r, now))
	group := []claimed{{r, rev}}
	if err == nil {
		group = append(group, q.claimSiblings(ctx, r, routeID, now)...)
	}
	var results []Result
	var body []byte
	if err == nil {
		body, err = q.bodies.GetBytes(ctx, r.MessageID)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			err = fmt.Errorf("the message body is gone")
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
			d.Recipients = append(d.Recipients, c.r)
		}
		q.metrics.inFlight.WithLabelValues(r.Queue).Add(float64(len(group)))
		results = q.p.Deliverer.Deliver(ctx, d)
		q.metrics.inFlight.WithLabelValues(r.Queue).Sub(float64(len(group)))
	}
	q.record(ctx, group, results, body)
	return nil
}

// claimSiblings takes into this transaction the other recipients of the
// message with the same domain and route that are due now.
func (q *Queue) claimSiblings(ctx context.Context, r *Recipient, routeID string, now time.Time) []claimed {
	var out []claimed
	lease := now.Add(2 * q.n.WorkParams.AckWait)
	for _, s := range q.index.siblings(r.MessageID, r.Key()) {
		if s.held || s.due.After(now) || s.deliveringUntil.After(now) || domainOf(s.address) != r.Domain() {
			continue
		}
		sr, srev, err := q.load(ctx, s.key)
		if err != nil || sr.Token != s.token || sr.Held || sr.Due.After(now) || sr.DeliveringUntil.After(now) {
			continue
		}
		if id, _, err := q.strategy.Route(Vars(sr, now)); err != nil || id != routeID {
			continue
		}
		sr.DeliveringUntil = lease
		nrev, err := q.kv().Update(ctx, s.key, encodeRecipient(sr), srev)
		if err != nil {
			continue // changed meanwhile: leave it to its own trigger
		}
		out = append(out, claimed{sr, nrev})
	}
	return out
}

// record applies each recipient's outcome, sends the DSNs they call for,
// and removes the body when the message's last recipient is done.
func (q *Queue) record(ctx context.Context, group []claimed, results []Result, body []byte) {
	end := q.p.Clock.Now().UTC()
	first := group[0].r
	var failed, delivered []dsn.Recipient
	done := map[string]bool{}
	for i, c := range group {
		r, res := c.r, results[i]
		r.Attempts++
		r.LastAttempt, r.LastStatus, r.LastError, r.RemoteMTA = end, res.Status(), res.Text, res.RemoteMTA
		r.DeliveringUntil = time.Time{}
		class := res.Class()
		q.metrics.attempts.WithLabelValues(r.Queue, class).Inc()
		block := dsn.Recipient{FinalRecipient: r.Address, OriginalRecipient: r.ORCPT, RemoteMTA: res.RemoteMTA,
			Diagnostic: diagnostic(res), LastAttempt: end, Status: dsn.StatusOf(res.Code, res.Enhanced)}
		switch class {
		case "delivered":
			q.metrics.latency.WithLabelValues(r.Queue).Observe(end.Sub(r.ReceivedAt).Seconds())
			q.remove(ctx, c)
			done[r.Key()] = true
			if r.Wants("SUCCESS") {
				block.Action = dsn.Delivered
				delivered = append(delivered, block)
			}
			continue
		case "permanent":
			q.remove(ctx, c)
			done[r.Key()] = true
			q.log.Info("delivery failed for good", "entry", r.Key(), "rcpt", r.Address, "reply", diagnostic(res))
			if r.Wants("FAILURE") {
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
				q.remove(ctx, c)
				done[r.Key()] = true
				q.log.Info("recipient expired", "entry", r.Key(), "rcpt", r.Address, "reason", v.Reason, "last", diagnostic(res))
				if r.Wants("FAILURE") {
					block.Action, block.Status = dsn.Failed, expiredStatus(res)
					block.Diagnostic = diagnostic(res) + " (" + v.Reason + ")"
					failed = append(failed, block)
				}
				continue
			}
			r.Due = v.Due
		} else {
			q.log.Error("scheduling strategy failed; retrying in 5 minutes", "entry", r.Key(), "err", err)
			r.Due = end.Add(5 * time.Minute)
		}
		r.Token = nuid.Next()
		if _, err := q.kv().Update(ctx, r.Key(), encodeRecipient(r), c.rev); err != nil {
			q.log.Info("recipient changed during delivery; the change stands", "entry", r.Key(), "err", err)
			continue
		}
		if err := q.trigger(ctx, r); err != nil {
			q.log.Warn("retry trigger not published", "entry", r.Key(), "err", err)
		}
		q.log.Info("delivery deferred", "entry", r.Key(), "rcpt", r.Address, "reply", diagnostic(res), "retry_at", r.Due.Format(time.RFC3339), "attempt", r.Attempts)
	}
	q.sendDSN(ctx, first, failed, body)
	q.sendDSN(ctx, first, delivered, body)
	if len(done) > 0 {
		q.finishIfDone(ctx, first)
	}
}

// finishIfDone removes a message's body and notify schedule once none of
// its recipients is queued. It asks the bucket itself, not the index, which
// may not show the newest entries yet.
func (q *Queue) finishIfDone(ctx context.Context, r *Recipient) {
	if r.Recipients > 1 {
		lister, err := q.kv().ListKeysFiltered(ctx, r.MessageID+".*")
		if err != nil {
			q.log.Warn("check message completion", "message", r.MessageID, "err", err)
			return
		}
		left := 0
		for range lister.Keys() {
			left++
		}
		if left > 0 {
			return
		}
	}
	if err := q.bodies.Delete(ctx, r.MessageID); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		q.log.Warn("remove delivered message body", "message", r.MessageID, "err", err)
	}
	if !r.NextNotify.IsZero() {
		_ = q.scheduleNotify(ctx, r.MessageID, nil) // cancel the pending delayed DSN
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

// remove takes a finished recipient out of the queue.
func (q *Queue) remove(ctx context.Context, c claimed) {
	err := q.kv().Purge(ctx, c.r.Key(), jetstream.LastRevision(c.rev), jetstream.PurgeTTL(markerTTL))
	if err != nil {
		q.log.Warn("remove queue entry", "entry", c.r.Key(), "err", err)
	}
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
	if _, err := q.Enqueue(ctx, env, []RcptIn{{Address: r.Sender, Notify: []string{"NEVER"}}}, report); err != nil {
		q.log.Error("queue DSN", "message", r.MessageID, "to", r.Sender, "err", err)
		return
	}
	q.metrics.dsns.WithLabelValues(string(blocks[0].Action)).Inc()
}
