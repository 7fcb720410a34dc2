package taskmanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/jetmail/jetmail/shared/engine"
	"github.com/jetmail/jetmail/shared/task"
)

// runTask runs one attempt of a task whose trigger is current (package
// engine checked it). An error returned here means the outcome could not
// be recorded: the trigger is redelivered and the attempt runs again.
func (m *Manager) runTask(ctx context.Context, it *engine.Item[task.Task]) error {
	t := it.Value
	variant := t.Variant()
	vm := m.metrics.of(variant)
	start := m.p.Clock.Now()
	vm.lateness.Observe(max(0, start.Sub(t.Status.Due).Seconds()))
	attempt := t.Status.Attempts() + 1
	// The task's logger is built only when something is logged: most runs
	// log nothing, and With costs more than the rest of a no-op run.
	log := func() *slog.Logger { return m.log.With("task", t.ID, "type", variant, "attempt", attempt) }

	runErr := m.call(ctx, t)
	end := m.p.Clock.Now()
	vm.duration.Observe(end.Sub(start).Seconds())

	if runErr == nil {
		err := m.eng.Complete(ctx, it)
		if errors.Is(err, engine.ErrConflict) {
			log().Info("task done, but it was changed while it ran; the change stands")
		} else if err != nil {
			return fmt.Errorf("record completion of task %s: %w", t.ID, err)
		}
		if m.log.Enabled(ctx, slog.LevelDebug) {
			log().Debug("task done", "took", end.Sub(start))
		}
		vm.ok.Inc()
		return nil
	}

	t.Status = m.Settings().AfterFailure(t, attempt, end.UTC(), runErr.Error(), m.p.Rand)
	if err := m.eng.Save(ctx, it, true); err != nil {
		if errors.Is(err, engine.ErrConflict) {
			log().Info("task failed, but it was changed while it ran; the change stands", "err", runErr)
			return nil
		}
		return fmt.Errorf("record failure of task %s: %w", t.ID, err)
	}
	if t.Status.Type == task.Failed {
		vm.failed.Inc()
		log().Error("task failed for good", "err", runErr)
		return nil
	}
	vm.retry.Inc()
	log().Warn("task failed, will retry", "err", runErr, "retry_at", t.Status.Due.Format(time.RFC3339))
	return nil
}

// call runs the variant's handler, turning a missing handler and a panic
// into errors that the retry policy records.
func (m *Manager) call(ctx context.Context, t *task.Task) (err error) {
	h, ok := m.p.Handlers.Lookup(t.Variant())
	if !ok {
		return fmt.Errorf("no handler for %s on this node", t.Variant())
	}
	defer func() {
		if r := recover(); r != nil {
			m.log.Error("task handler panicked", "task", t.ID, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return h(ctx, t)
}
