package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetmail/jetmail/shared/work"
)

// Handler runs one due item. It ends the run with Complete or Save; an
// error it returns hands the trigger back for another try.
type Handler[T any] func(ctx context.Context, it *Item[T]) error

// lagRetry is how soon a trigger whose record is not visible yet is tried
// again.
const lagRetry = 100 * time.Millisecond

// WorkHandler turns h into a work handler: each job is a trigger, checked
// against its record (see Run).
func (e *Engine[T]) WorkHandler(h Handler[T]) work.Handler {
	return func(ctx context.Context, job *work.Job) error {
		ref, ok := RefOf(job.Subject, job.Header, job.Data, job.Published)
		if !ok {
			return work.Permanent(errors.New("not a trigger: no item or gen header"))
		}
		ref.Stream = job.Stream
		return e.Run(ctx, ref, h)
	}
}

// Run runs h for the item ref names if ref is its current trigger, as the
// package doc's table says.
func (e *Engine[T]) Run(ctx context.Context, ref Ref, h Handler[T]) error {
	if ref.Inline != nil {
		// The trigger is the item: a change to it would have given it a
		// record and removed this trigger (see purgeInline).
		it, err := e.inlineItem(ref, ref.Stream)
		if err != nil {
			return work.Permanent(err)
		}
		if it.inline.Stream == "" {
			it.inline.Stream = e.p.Route(it.Key, it.Value).Stream
		}
		if current, err := e.untilDue(ctx, ref, it); !current || err != nil {
			return err
		}
		return h(ctx, it)
	}
	it, err := e.Get(ctx, ref.Key)
	// A trigger may overtake its new record by a moment (Create sends both
	// at once): look again shortly before handing it back.
	for wait := 2 * time.Millisecond; wait <= 32*time.Millisecond && e.young(ref) && (errors.Is(err, ErrNotFound) || err == nil && ref.Gen > it.Gen); wait *= 4 {
		if !e.sleep(ctx, wait) {
			return ctx.Err()
		}
		it, err = e.Get(ctx, ref.Key)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		if e.young(ref) {
			return work.RetryIn(lagRetry, fmt.Errorf("%s: not visible yet", ref.Key))
		}
		e.stale(ref, "gone")
		return nil
	case err != nil:
		return err
	case ref.Gen > it.Gen:
		return work.RetryIn(lagRetry, fmt.Errorf("%s: the replica read is behind the trigger (gen %d < %d)", ref.Key, it.Gen, ref.Gen))
	case ref.Gen < it.Gen || ref.Token != it.Token:
		e.stale(ref, "superseded")
		return nil
	}
	if _, ok := e.p.Due(it.Value); !ok {
		e.stale(ref, "parked")
		return nil
	}
	if current, err := e.untilDue(ctx, ref, it); !current || err != nil {
		return err
	}
	return h(ctx, it)
}

// untilDue waits, holding the run's slot, for an item whose trigger fired
// early (Params.FireEarly) to be due; one that is further off than that
// (a clock ahead of this node's) is handed back until then. Having waited,
// it reads the item again: a change meanwhile (a reschedule, a destroy)
// makes this trigger stale, and it reports false.
func (e *Engine[T]) untilDue(ctx context.Context, ref Ref, it *Item[T]) (bool, error) {
	if e.p.FireEarly <= 0 {
		return true, nil
	}
	due, ok := e.p.Due(it.Value)
	if !ok {
		return true, nil
	}
	wait := due.Sub(e.p.Clock.Now())
	switch {
	case wait <= 0:
		return true, nil
	case wait > 2*e.p.FireEarly:
		return false, work.RetryIn(wait-e.p.FireEarly, fmt.Errorf("%s: due in %s", it.Key, wait.Round(time.Millisecond)))
	}
	if !e.sleep(ctx, wait) {
		return false, ctx.Err()
	}
	cur, err := e.Get(ctx, it.Key)
	switch {
	case errors.Is(err, ErrNotFound):
		e.stale(ref, "gone")
		return false, nil
	case err != nil:
		return false, err
	case cur.Gen != it.Gen || cur.Token != it.Token || (it.inline != nil) != (cur.inline != nil):
		e.stale(ref, "superseded")
		return false, nil
	}
	return true, nil
}

// young reports a trigger that may still be ahead of its record.
func (e *Engine[T]) young(ref Ref) bool {
	return !ref.Published.IsZero() && e.p.Clock.Since(ref.Published) < e.p.YoungTrigger
}

func (e *Engine[T]) stale(ref Ref, why string) {
	if e.p.Stale != nil {
		e.p.Stale.Inc()
	}
	e.log.Debug("stale trigger dropped", "key", ref.Key, "gen", ref.Gen, "why", why)
}
