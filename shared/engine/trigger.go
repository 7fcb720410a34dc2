package engine

import (
	"context"
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
	if at.After(e.p.Clock.Now()) {
		msg.Subject = r.Sched
		// Written with nanoseconds: jetstream.WithScheduleAt rounds to whole
		// seconds, which would fire up to a second early.
		msg.Header.Set(jetstream.ScheduleHeader, "@at "+at.UTC().Format(time.RFC3339Nano))
		msg.Header.Set(jetstream.ScheduleTargetHeader, r.Subject)
	}
	return msg
}

// publish sends it's trigger for at and waits for it to be stored.
func (e *Engine[T]) publish(ctx context.Context, it *Item[T], at time.Time) error {
	_, err := e.js().PublishMsg(ctx, e.triggerMsg(it, at))
	return err
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
}

// RefOf reads a trigger's headers; ok is false for a message that is not
// an engine trigger.
func RefOf(h nats.Header, published time.Time) (Ref, bool) {
	key := h.Get(HeaderItem)
	gen, err := strconv.ParseUint(h.Get(HeaderGen), 10, 64)
	if key == "" || err != nil {
		return Ref{}, false
	}
	return Ref{Key: key, Gen: gen, Token: h.Get(HeaderToken), Published: published}, true
}

// Ref is the reference of it's current trigger.
func (it *Item[T]) Ref() Ref { return Ref{Key: it.Key, Gen: it.Gen, Token: it.Token} }
