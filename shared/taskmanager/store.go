package taskmanager

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/work"
)

// markerTTL is how long the marker of a removed task stays in KV, so that
// watchers see the removal, before it expires.
const markerTTL = 10 * time.Minute

// ErrNotRunnable is returned when rescheduling a Failed task.
var ErrNotRunnable = errors.New("a Failed task has no due time: retry it instead")

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
	t := &task.Task{ID: nuid.Next(), Payload: p, CreatedAt: now, ActiveSince: now, Token: nuid.Next(),
		Status: task.Status{Type: task.Pending, Due: when}}
	data, err := t.Encode()
	if err != nil {
		return nil, err
	}
	// The record and its trigger go out together and are awaited together:
	// one round trip. A trigger that arrives before its record is re-read
	// by the runner (see runTask).
	js := m.n.NextJetStream()
	rec := nats.NewMsg("$KV." + BucketTasks + "." + t.ID)
	rec.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	rec.Data = data
	recAck, err := js.PublishMsgAsync(rec)
	if err != nil {
		return nil, fmt.Errorf("store task: %w", err)
	}
	trigAck, trigErr := js.PublishMsgAsync(m.triggerPublication(ctx, t, false))
	if err := work.Await(ctx, recAck); err != nil {
		return nil, fmt.Errorf("store task: %w", err)
	}
	if trigErr == nil {
		trigErr = work.Await(ctx, trigAck)
	}
	if trigErr != nil {
		// The task is stored; the rescuer will trigger it.
		m.log.Warn("task stored but its trigger was not published; the rescuer will publish it", "task", t.ID, "err", trigErr)
	}
	m.metrics.created(t)
	return t, nil
}

// Get reads a task.
func (m *Manager) Get(ctx context.Context, id string) (*task.Task, error) {
	t, _, err := m.load(ctx, id)
	return t, err
}

func (m *Manager) load(ctx context.Context, id string) (*task.Task, uint64, error) {
	if !validID(id) {
		return nil, 0, ErrNotFound
	}
	e, err := m.kv().Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read task %s: %w", id, err)
	}
	t, err := task.Decode(e.Value())
	if err != nil {
		return nil, 0, err
	}
	return t, e.Revision(), nil
}

// validID rejects what cannot be a KV key, so that a bad id is "not found".
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Reschedule moves a Pending or Retry task to a new due time, keeping its
// attempt count.
func (m *Manager) Reschedule(ctx context.Context, id string, due time.Time) (*task.Task, error) {
	return m.change(ctx, id, func(t *task.Task) error {
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
	return m.change(ctx, id, func(t *task.Task) error {
		t.Status = task.Status{Type: task.Pending, Due: due.UTC()}
		t.ActiveSince = now
		return nil
	})
}

// change applies f to a task and re-triggers it, with a new token so that
// triggers published before are stale.
func (m *Manager) change(ctx context.Context, id string, f func(*task.Task) error) (*task.Task, error) {
	t, rev, err := m.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := f(t); err != nil {
		return nil, err
	}
	t.Token = nuid.Next()
	data, err := t.Encode()
	if err != nil {
		return nil, err
	}
	if _, err := m.kv().Update(ctx, id, data, rev); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil, ErrConflict
		}
		return nil, fmt.Errorf("store task %s: %w", id, err)
	}
	if err := m.trigger(ctx, t, true); err != nil {
		m.log.Warn("task changed but its trigger was not published; the rescuer will publish it", "task", id, "err", err)
	}
	return t, nil
}

// Destroy removes a task and cancels its schedule.
func (m *Manager) Destroy(ctx context.Context, id string) error {
	t, rev, err := m.load(ctx, id)
	if err != nil {
		return err
	}
	if err := m.kv().Purge(ctx, id, jetstream.LastRevision(rev), jetstream.PurgeTTL(markerTTL)); err != nil {
		if isConflict(err) {
			return ErrConflict
		}
		return fmt.Errorf("remove task %s: %w", id, err)
	}
	m.cancelSchedule(ctx, t)
	return nil
}

func isConflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
