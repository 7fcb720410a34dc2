package taskmanager

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/work"
)

// runTrigger is the work handler of every role: it runs the task a trigger
// names.
func (m *Manager) runTrigger(ctx context.Context, job *work.Job) error {
	if name := job.Header.Get(HeaderPeriodic); name != "" {
		return m.runPeriodic(ctx, job, name)
	}
	id := job.Header.Get(HeaderTask)
	if id == "" {
		return work.Permanent(errors.New("trigger without a task id"))
	}
	return m.runTask(ctx, id, job.Header.Get(HeaderToken))
}

// runTask runs one attempt of task id if token is its current trigger.
// An error returned here means the outcome could not be recorded: the
// trigger is redelivered and the attempt runs again.
func (m *Manager) runTask(ctx context.Context, id, token string) error {
	t, rev, err := m.load(ctx, id)
	if errors.Is(err, ErrNotFound) {
		m.metrics.stale.Inc() // destroyed, or done already
		return nil
	}
	if err != nil {
		return err
	}
	if t.Token != token || !t.Status.Runnable() {
		m.metrics.stale.Inc() // rescheduled, retried or failed since this trigger
		return nil
	}
	variant := t.Variant()
	start := m.p.Clock.Now()
	m.metrics.lateness.WithLabelValues(string(variant)).Observe(max(0, start.Sub(t.Status.Due).Seconds()))
	attempt := t.Status.Attempts() + 1
	log := m.log.With("task", id, "type", variant, "attempt", attempt)

	runErr := m.call(ctx, t)
	end := m.p.Clock.Now()
	m.metrics.duration.WithLabelValues(string(variant)).Observe(end.Sub(start).Seconds())

	if runErr == nil {
		err := m.tasks.Purge(ctx, id, jetstream.LastRevision(rev), jetstream.PurgeTTL(markerTTL))
		switch {
		case isConflict(err):
			log.Info("task done, but it was changed while it ran; the change stands")
		case err != nil:
			return fmt.Errorf("record completion of task %s: %w", id, err)
		default:
			log.Debug("task done", "took", end.Sub(start))
		}
		m.metrics.runs.WithLabelValues(string(variant), "ok").Inc()
		return nil
	}

	t.Status = m.Settings().AfterFailure(t, attempt, end.UTC(), runErr.Error(), m.p.Rand)
	t.Token = nuid.Next()
	data, err := t.Encode()
	if err != nil {
		return err
	}
	if _, err := m.tasks.Update(ctx, id, data, rev); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			log.Info("task failed, but it was changed while it ran; the change stands", "err", runErr)
			return nil
		}
		return fmt.Errorf("record failure of task %s: %w", id, err)
	}
	if t.Status.Type == task.Failed {
		m.metrics.runs.WithLabelValues(string(variant), "failed").Inc()
		log.Error("task failed for good", "err", runErr)
		return nil
	}
	m.metrics.runs.WithLabelValues(string(variant), "retry").Inc()
	log.Warn("task failed, will retry", "err", runErr, "retry_at", t.Status.Due.Format(time.RFC3339))
	if err := m.trigger(ctx, t, false); err != nil {
		log.Warn("retry trigger not published; the rescuer will publish it", "err", err)
	}
	return nil
}

// call runs the variant's handler, turning a missing handler and a panic
// into errors that the retry policy records.
func (m *Manager) call(ctx context.Context, t *task.Task) (err error) {
	h, ok := m.n.TaskHandlers.Lookup(t.Variant())
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
