package engine

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// triggerMsg builds the trigger that runs it at at: on its due subject when
// at has come, else as a schedule on its own subject targeting the due
// subject.
func (e *Engine[T]) triggerMsg(it *Item[T], at time.Time) *nats.Msg {
	r := e.p.Route(it.Key, it.Value)
	msg := nats.NewMsg(r.Subject)
	for k, v := range r.Header {
		msg.Header[k] = v
	}
	msg.Header.Set(HeaderItem, it.Key)
	msg.Header.Set(HeaderGen, strconv.FormatUint(it.Gen, 10))
	msg.Header.Set(HeaderToken, it.Token)
	if fire := at.Add(-e.p.FireEarly); fire.After(e.p.Clock.Now()) {
		msg.Subject = r.Sched
		msg.Header.Set(jetstream.ScheduleHeader, scheduleAt(fire))
		msg.Header.Set(jetstream.ScheduleTargetHeader, r.Subject)
	}
	return msg
}

// scheduleAt is the schedule header of a message to fire at t, written
// with nanoseconds: jetstream.WithScheduleAt rounds to whole seconds,
// which would fire up to a second early.
func scheduleAt(t time.Time) string { return "@at " + t.UTC().Format(time.RFC3339Nano) }

// inlineMsg builds the trigger of an inline item due at at: on the item's
// own subject when at has come (de-duplicated by key, so that a retried
// create makes one item), else a schedule on its schedule subject that
// fires there. It carries the item's value; its gen and token are in the
// headers.
func (e *Engine[T]) inlineMsg(it *Item[T], at, now time.Time) (*nats.Msg, error) {
	data, err := e.p.Encode(it.Value)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", it.Key, err)
	}
	r := e.p.Route(it.Key, it.Value)
	msg := nats.NewMsg(e.p.Inline(it.Key, it.Value))
	for k, v := range r.Header {
		msg.Header[k] = v
	}
	msg.Header.Set(HeaderItem, it.Key)
	msg.Header.Set(HeaderGen, strconv.FormatUint(it.Gen, 10))
	msg.Header.Set(HeaderToken, it.Token)
	msg.Header.Set(HeaderInline, "1")
	msg.Data = data
	if fire := at.Add(-e.p.FireEarly); fire.After(now) {
		// No message id here: the message the schedule fires would carry
		// it and be dropped as a duplicate.
		target := msg.Subject
		msg.Subject = r.Sched
		msg.Header.Set(jetstream.ScheduleHeader, scheduleAt(fire))
		msg.Header.Set(jetstream.ScheduleTargetHeader, target)
	} else {
		msg.Header.Set(jetstream.MsgIDHeader, "inline/"+it.Key)
	}
	it.inline = &Place{Stream: r.Stream, Subject: msg.Subject}
	return msg, nil
}

// inlineItem is the item an inline trigger carries.
func (e *Engine[T]) inlineItem(ref Ref, stream string) (*Item[T], error) {
	v, err := e.p.Decode(ref.Inline)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", ref.Key, err)
	}
	return &Item[T]{Key: ref.Key, Value: v, Gen: ref.Gen, Token: ref.Token, inline: &Place{Stream: stream, Subject: ref.Subject}}, nil
}

// publish sends it's trigger for at and waits for it to be stored.
func (e *Engine[T]) publish(ctx context.Context, it *Item[T], at time.Time) error {
	_, err := e.js().PublishMsg(ctx, e.triggerMsg(it, at))
	return err
}

// purgeInline removes an inline item's trigger, once the item has a
// record or is destroyed. A trigger already delivered still runs: a change
// racing a run is settled as at-least-once allows.
func (e *Engine[T]) purgeInline(ctx context.Context, at *Place) error {
	s, err := e.stream(ctx, at.Stream)
	if err == nil {
		err = s.Purge(ctx, jetstream.WithPurgeSubject(at.Subject))
	}
	if err != nil {
		return fmt.Errorf("remove inline trigger %s: %w", at.Subject, err)
	}
	return nil
}

// cancelSchedule removes an item's pending schedule, if any. A schedule
// left behind is harmless: it fires and is dropped as stale.
func (e *Engine[T]) cancelSchedule(ctx context.Context, it *Item[T]) {
	r := e.p.Route(it.Key, it.Value)
	s, err := e.stream(ctx, r.Stream)
	if err == nil {
		err = s.Purge(ctx, jetstream.WithPurgeSubject(r.Sched))
	}
	if err != nil {
		e.log.Warn("cancel schedule (it will fire and be dropped)", "key", it.Key, "err", err)
	}
}

// Ref names one trigger: the item and the gen and token it was published
// for.
type Ref struct {
	Key   string
	Gen   uint64
	Token string
	// Published is when the trigger entered its stream.
	Published time.Time
	// Inline is the value an inline item's trigger carries; nil otherwise.
	Inline []byte
	// Subject is the trigger's subject.
	Subject string
	// Stream is the stream the trigger is in, when known (a trigger
	// delivered by a work consumer); empty otherwise.
	Stream string
}

// RefOf reads a trigger; ok is false for a message that is not an engine
// trigger.
func RefOf(subject string, h nats.Header, data []byte, published time.Time) (Ref, bool) {
	key := h.Get(HeaderItem)
	gen, err := strconv.ParseUint(h.Get(HeaderGen), 10, 64)
	if key == "" || err != nil {
		return Ref{}, false
	}
	ref := Ref{Key: key, Gen: gen, Token: h.Get(HeaderToken), Published: published, Subject: subject}
	if h.Get(HeaderInline) != "" {
		ref.Inline = data
	}
	return ref, true
}

// Ref is the reference of it's current trigger.
func (it *Item[T]) Ref() Ref { return Ref{Key: it.Key, Gen: it.Gen, Token: it.Token} }
