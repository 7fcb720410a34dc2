package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Rescue runs on the leader: it publishes again the trigger of items over
// RescueAfter past due, not parked and not busy, that have no trigger
// waiting or in flight: neither their own subject nor their schedule holds
// a trigger of their current gen and token. Their trigger was lost (a
// crash between writing a record and publishing its trigger, a stale-looking
// trigger dropped). The check is per item, so it works however busy the
// consumers are. The trigger is the item's current one, de-duplicated by
// message id, so an item whose trigger was not lost after all still runs
// once. It returns how many items it triggered.
//
// A pass looks up at most RescueChecks triggers and the next goes on from
// there, in bucket order (each record once, at its latest revision), then
// from the start: however many items wait with their triggers, every one
// is checked within a bounded number of passes.
func (e *Engine[T]) Rescue(ctx context.Context) (int, error) {
	now := e.p.Clock.Now()
	cutoff := now.Add(-e.p.RescueAfter)
	rescued, checks := 0, 0
	var lookupErr error
	from := e.rescueFrom.Load()
	// stopped is the revision the pass stopped at, 0 at the end. An inline
	// item is its own trigger: only records are scanned.
	var stopped uint64
	err := e.scanRecordsFrom(ctx, from, func(it *Item[T]) bool {
		due, ok := e.p.Due(it.Value)
		if !ok || due.After(cutoff) || e.p.Busy(it.Value, now) {
			return true
		}
		r := e.p.Route(it.Key, it.Value)
		if r.Consumer == "" {
			return true
		}
		if checks++; checks > e.p.RescueChecks {
			stopped = it.Rev
			return false
		}
		live, err := e.liveTrigger(ctx, it, r)
		if err != nil {
			lookupErr = err
			stopped = it.Rev
			return false
		}
		if live {
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
	if err == nil {
		err = lookupErr
	}
	if err == nil || stopped != 0 {
		e.rescueFrom.Store(stopped)
	}
	return rescued, err
}

// liveTrigger reports whether the last message on the item's own subject,
// or its schedule, is a trigger of its current gen and token: waiting,
// scheduled, or in flight (a WorkQueue stream keeps a message until it is
// acknowledged).
func (e *Engine[T]) liveTrigger(ctx context.Context, it *Item[T], r Route) (bool, error) {
	s, err := e.stream(ctx, r.Stream)
	if err != nil {
		return false, err
	}
	for _, subject := range []string{r.Subject, r.Sched} {
		if subject == "" {
			continue
		}
		msg, err := s.GetLastMsgForSubject(ctx, subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("look for the trigger of %s: %w", it.Key, err)
		}
		if ref, ok := RefOf(msg.Subject, msg.Header, msg.Data, msg.Time); ok && ref.Key == it.Key && ref.Gen == it.Gen && ref.Token == it.Token {
			return true, nil
		}
	}
	return false, nil
}
