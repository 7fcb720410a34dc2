package taskmanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
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
	return m.runTask(ctx, id, job.Header.Get(HeaderToken), job.Data, job.Published)
}

// youngTrigger is how old a trigger may be and still come before its task
// record: a new task's record and trigger are written together, and on a
// cluster the trigger's stream may commit first.
const youngTrigger = 5 * time.Second

// runTask runs one attempt of task id if token is its current trigger.
// An error returned here means the outcome could not be recorded: the
// trigger is redelivered and the attempt runs again.
//
// The trigger is checked against this node's index of tasks (fed by a
// watch of the bucket, milliseconds behind it) rather than by reading the
// task: the trigger carries the task's fields, the index its token, status
// and revision. A trigger younger than its task's index entry waits for it.
func (m *Manager) runTask(ctx context.Context, id, token string, payload []byte, published time.Time) error {
	en, ok := m.index.get(id)
	for wait := 5 * time.Millisecond; (!ok || en.token != token) && time.Since(published) < youngTrigger && wait < time.Second; wait *= 2 {
		time.Sleep(wait)
		en, ok = m.index.get(id)
	}
	if !ok {
		m.metrics.stale.Inc() // destroyed, or done already
		return nil
	}
	if en.token != token || !en.status.Runnable() {
		m.metrics.stale.Inc() // rescheduled, retried or failed since this trigger
		return nil
	}
	p, err := task.DecodePayload(en.variant, payload)
	if err != nil {
		return work.Permanent(fmt.Errorf("trigger of task %s: %w", id, err))
	}
	t := &task.Task{ID: id, Payload: p, Status: en.status, Token: token}
	rev := en.rev
	variant := t.Variant()
	start := m.p.Clock.Now()
	m.metrics.lateness.WithLabelValues(string(variant)).Observe(max(0, start.Sub(t.Status.Due).Seconds()))
	attempt := t.Status.Attempts() + 1
	log := m.log.With("task", id, "type", variant, "attempt", attempt)

	runErr := m.call(ctx, t)
	end := m.p.Clock.Now()
	m.metrics.duration.WithLabelValues(string(variant)).Observe(end.Sub(start).Seconds())

	if runErr == nil {
		if err := m.complete(id, rev, log); err != nil {
			return fmt.Errorf("record completion of task %s: %w", id, err)
		}
		log.Debug("task done", "took", end.Sub(start))
		m.metrics.runs.WithLabelValues(string(variant), "ok").Inc()
		return nil
	}

	// Failures are rare: read the whole task to record this one.
	t, rev, err = m.load(ctx, id)
	if errors.Is(err, ErrNotFound) {
		log.Info("task failed, but it was destroyed while it ran", "err", runErr)
		return nil
	}
	if err != nil {
		return err
	}
	if t.Token != token {
		log.Info("task failed, but it was changed while it ran; the change stands", "err", runErr)
		return nil
	}
	t.Status = m.Settings().AfterFailure(t, attempt, end.UTC(), runErr.Error(), m.p.Rand)
	t.Token = nuid.Next()
	data, err := t.Encode()
	if err != nil {
		return err
	}
	if _, err := m.kv().Update(ctx, id, data, rev); err != nil {
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

// complete removes a done task: a purge of its key, on condition that it
// is still the revision that ran, with a marker that expires. It is not
// awaited: if it is lost, the task stays due and the rescuer runs it again,
// which at-least-once allows; a task changed while it ran keeps the change.
func (m *Manager) complete(id string, rev uint64, log *slog.Logger) error {
	msg := nats.NewMsg("$KV." + BucketTasks + "." + id)
	msg.Header.Set("KV-Operation", "PURGE")
	msg.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(rev, 10))
	msg.Header.Set(jetstream.MsgTTLHeader, markerTTL.String())
	f, err := m.n.NextJetStream().PublishMsgAsync(msg)
	if err != nil {
		return err
	}
	go func() {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			if isConflict(err) {
				log.Info("task done, but it was changed while it ran; the change stands")
			} else {
				log.Warn("task done but not removed; the rescuer will run it again", "err", err)
			}
		}
	}()
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
