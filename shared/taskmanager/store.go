package taskmanager

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nuid"

	"github.com/jetmail/jetmail/shared/engine"
	"github.com/jetmail/jetmail/shared/task"
)

// NewTask is one task for CreateMany: its payload, and when it is due
// (now when Due is nil).
type NewTask struct {
	Payload task.Payload
	Due     *time.Time
	// ID, when set, is the task's id instead of a new one: a second
	// create of the same id, while the first task exists, fails with
	// engine.ErrExists (a caller's way to create a task once).
	ID string
}

// CreateError says which task of a CreateMany call could not be created:
// Index is its place in the call. It wraps the cause.
type CreateError struct {
	Index int
	Err   error
}

func (e *CreateError) Error() string {
	return fmt.Sprintf("create task %d of the batch: %v", e.Index, e.Err)
}

// Unwrap returns the cause.
func (e *CreateError) Unwrap() error { return e.Err }

// Create stores a new task and schedules it at due (now when nil). It is
// CreateMany with one task.
func (m *Manager) Create(ctx context.Context, p task.Payload, due *time.Time) (*task.Task, error) {
	ts, err := m.CreateMany(ctx, []NewTask{{Payload: p, Due: due}})
	if err != nil {
		var ce *CreateError
		if errors.As(err, &ce) {
			return nil, ce.Err
		}
		return nil, err
	}
	return ts[0], nil
}

// CreateMany stores new tasks and schedules each at its due time, all in
// one pipelined write (package engine sends a batch in one round trip per
// thousand tasks): the bulk form of Create, for callers that make many
// tasks at once. It validates every payload first; when any is invalid it
// stores nothing and returns one *CreateError per invalid task, joined.
// A failed write stores nothing either (the tasks written before it are
// taken back) and returns a *CreateError naming the task that failed. On
// success the tasks are returned in the order given.
func (m *Manager) CreateMany(ctx context.Context, news []NewTask) ([]*task.Task, error) {
	var invalid []error
	for i, n := range news {
		if n.Payload == nil {
			invalid = append(invalid, &CreateError{Index: i, Err: errors.New("no payload")})
		} else if err := task.Check(n.Payload); err != nil {
			invalid = append(invalid, &CreateError{Index: i, Err: err})
		}
	}
	if len(invalid) > 0 {
		return nil, errors.Join(invalid...)
	}
	now := m.p.Clock.Now().UTC()
	tasks := make([]*task.Task, len(news))
	inserts := make([]engine.Insert[task.Task], len(news))
	for i, n := range news {
		when := now
		if n.Due != nil {
			when = n.Due.UTC()
		}
		id := n.ID
		if id == "" {
			id = nuid.Next()
		}
		t := &task.Task{ID: id, Payload: n.Payload, CreatedAt: now, ActiveSince: now,
			Status: task.Status{Type: task.Pending, Due: when}}
		tasks[i], inserts[i] = t, engine.Insert[task.Task]{Key: t.ID, Value: t}
	}
	if _, err := m.eng.Create(ctx, inserts...); err != nil {
		var ie *engine.InsertError
		if errors.As(err, &ie) {
			return nil, &CreateError{Index: ie.Index, Err: ie}
		}
		return nil, fmt.Errorf("create %d tasks: %w", len(news), err)
	}
	for _, t := range tasks {
		m.metrics.created(t)
	}
	return tasks, nil
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
