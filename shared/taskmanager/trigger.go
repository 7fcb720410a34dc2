package taskmanager

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/work"
)

// Trigger headers.
const (
	HeaderTask  = "Jetmail-Task"
	HeaderToken = "Jetmail-Token"
	// HeaderPeriodic names the periodic schedule that fired a trigger.
	HeaderPeriodic = "Jetmail-Periodic"
)

func schedSubject(r roles.Role, id string) string { return work.SubjectPrefix(r) + "sched." + id }

func cronSubject(r roles.Role, name string) string { return work.SubjectPrefix(r) + "cron." + name }

// triggerItem is the work item that makes t run. It carries the task's
// fields, which never change after creation, so that the runner need not
// read the task (see runTask).
func triggerItem(t *task.Task) work.Item {
	it := work.Item{Key: task.ShardKey(t.Payload, t.ID), Header: nats.Header{}, Data: task.EncodePayload(t.Payload)}
	it.Header.Set(HeaderTask, t.ID)
	it.Header.Set(HeaderToken, t.Token)
	if sm, ok := t.Payload.(*task.StoreMaintenanceTask); ok && sm.ShardIndex != nil {
		it.Partition = sm.ShardIndex // partition i belongs to shard i
	}
	return it
}

// triggerMsg builds the message that makes t run: on its partition subject.
func (m *Manager) triggerMsg(t *task.Task) *nats.Msg {
	return m.n.Publisher.Msg(task.RoleOf(t.Variant()), triggerItem(t))
}

// trigger publishes t's trigger: at once when due, else as a message
// schedule replacing any earlier one. replace also purges an earlier
// schedule when the task is now due at once.
func (m *Manager) trigger(ctx context.Context, t *task.Task, replace bool) error {
	if _, err := m.n.NextJetStream().PublishMsg(ctx, m.triggerPublication(ctx, t, replace)); err != nil {
		return fmt.Errorf("publish trigger of task %s: %w", t.ID, err)
	}
	return nil
}

// triggerPublication builds the message trigger publishes.
func (m *Manager) triggerPublication(ctx context.Context, t *task.Task, replace bool) *nats.Msg {
	msg := m.triggerMsg(t)
	role := task.RoleOf(t.Variant())
	if t.Status.Due.After(m.p.Clock.Now()) {
		target := msg.Subject
		msg.Subject = schedSubject(role, t.ID)
		// Written by hand with nanoseconds: the client helper rounds to
		// whole seconds, which would fire up to a second early.
		msg.Header.Set("Nats-Schedule", "@at "+t.Status.Due.UTC().Format(time.RFC3339Nano))
		msg.Header.Set("Nats-Schedule-Target", target)
	} else {
		if replace {
			m.cancelSchedule(ctx, t)
		}
	}
	return msg
}

// cancelSchedule removes a task's pending schedule, if any.
func (m *Manager) cancelSchedule(ctx context.Context, t *task.Task) {
	s, err := m.stream(ctx, task.RoleOf(t.Variant()))
	if err == nil {
		err = s.Purge(ctx, jetstream.WithPurgeSubject(schedSubject(task.RoleOf(t.Variant()), t.ID)))
	}
	if err != nil {
		m.log.Warn("cancel task schedule (it will fire and be ignored)", "task", t.ID, "err", err)
	}
}
