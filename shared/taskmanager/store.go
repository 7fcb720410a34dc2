package taskmanager

import (
	"context"
	"time"

	"github.com/nats-io/nuid"

	"github.com/jetmail/jetmail/shared/engine"
	"github.com/jetmail/jetmail/shared/task"
)

// Create stores a new task and schedules it at due (now when nil).
func (m *Manager) Create(ctx context.Context, p task.Payload, due *time.Time) (*task.Task, error) {
	if err := task.Check(p); err != nil {
		return nil, err
	}
	now := m.p.Clock.Now().UTC()
	when := now
	if due != nil {
		when = due.UTC()
	}
	t := &task.Task{ID: nuid.Next(), Payload: p, CreatedAt: now, ActiveSince: now,
		Status: task.Status{Type: task.Pending, Due: when}}
	if _, err := m.eng.Create(ctx, engine.Insert[task.Task]{Key: t.ID, Value: t}); err != nil {
		return nil, err
	}
	m.metrics.created(t)
	return t, nil
}

// Get reads a task.
func (m *Manager) Get(ctx context.Context, id string) (*task.Task, error) {
	it, err := m.eng.Get(ctx, id)
	if err != nil {
		return nil, taskErr(err)
	}
	return it.Value, nil
}

// Reschedule moves a Pending or Retry task to a new due time, keeping its
// attempt count.
func (m *Manager) Reschedule(ctx context.Context, id string, due time.Time) (*task.Task, error) {
	return m.update(ctx, id, func(t *task.Task) error {
		if !t.Status.Runnable() {
			return ErrNotRunnable
		}
		t.Status.Due = due.UTC()
		return nil
	})
}

// Retry puts a task back to Pending, due at due (now when zero), with a
// fresh attempt count and total deadline.
func (m *Manager) Retry(ctx context.Context, id string, due time.Time) (*task.Task, error) {
	now := m.p.Clock.Now().UTC()
	if due.IsZero() {
		due = now
	}
	return m.update(ctx, id, func(t *task.Task) error {
		t.Status = task.Status{Type: task.Pending, Due: due.UTC()}
		t.ActiveSince = now
		return nil
	})
}

// update applies f to a task and triggers it anew: triggers published
// before become stale.
func (m *Manager) update(ctx context.Context, id string, f func(*task.Task) error) (*task.Task, error) {
	it, err := m.eng.Update(ctx, id, f)
	if err != nil {
		return nil, taskErr(err)
	}
	return it.Value, nil
}

// Destroy removes a task and cancels its schedule.
func (m *Manager) Destroy(ctx context.Context, id string) error {
	_, err := m.eng.Destroy(ctx, id)
	return taskErr(err)
}
