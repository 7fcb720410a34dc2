package taskmanager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/duration"
	"github.com/jetmail/jetmail/shared/engine"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/work"
)

func cronSubject(r roles.Role, name string) string { return work.SubjectPrefix(r) + "cron." + name }

// installPeriodic makes the server's cron schedules match task.periodic:
// each is (re)published only when it differs from the stored one, so that
// nodes starting do not reset an "@every" phase, and schedules no longer
// configured are removed.
func (m *Manager) installPeriodic(ctx context.Context) error {
	want := map[string]bool{}
	for name, p := range m.d.Config.Task.Periodic {
		payload, _, errs := task.DecodeCreate(p.Task)
		if len(errs) > 0 {
			return fmt.Errorf("task.periodic.%s.task: %v", name, errs)
		}
		role := task.RoleOf(payload.Variant())
		subj := cronSubject(role, name)
		want[subj] = true
		pattern := p.Schedule
		if d, ok := strings.CutPrefix(pattern, "@every "); ok {
			v, _ := duration.Parse(d)
			pattern = "@every " + v.String()
		}
		msg := nats.NewMsg(subj)
		target := m.d.Publisher.Msg(role, work.Item{Key: "periodic:" + name}).Subject
		msg.Header.Set(jetstream.ScheduleHeader, pattern)
		msg.Header.Set(jetstream.ScheduleTargetHeader, target)
		msg.Header.Set(HeaderPeriodic, name)
		msg.Data = p.Task
		s, err := m.js.Stream(ctx, work.StreamName(role))
		if err != nil {
			return fmt.Errorf("open stream %s: %w", work.StreamName(role), err)
		}
		if cur, err := s.GetLastMsgForSubject(ctx, subj); err == nil &&
			cur.Header.Get(jetstream.ScheduleHeader) == pattern && cur.Header.Get(jetstream.ScheduleTargetHeader) == target && bytes.Equal(cur.Data, p.Task) {
			continue
		} else if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("read periodic schedule %s: %w", name, err)
		}
		if _, err := m.js.PublishMsg(ctx, msg); err != nil {
			return fmt.Errorf("task.periodic.%s.schedule: the server refused %q: %w", name, p.Schedule, err)
		}
		m.log.Info("periodic task scheduled", "name", name, "schedule", p.Schedule, "type", payload.Variant(), "role", role)
	}
	for _, r := range roles.All {
		s, err := m.js.Stream(ctx, work.StreamName(r))
		if err != nil {
			return fmt.Errorf("open stream %s: %w", work.StreamName(r), err)
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(work.SubjectPrefix(r)+"cron.>"))
		if err != nil {
			return fmt.Errorf("list periodic schedules of %s: %w", r, err)
		}
		for subj := range info.State.Subjects {
			if !want[subj] {
				if err := s.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
					return fmt.Errorf("remove periodic schedule %s: %w", subj, err)
				}
				m.log.Info("periodic task removed", "subject", subj)
			}
		}
	}
	return nil
}

// runPeriodic turns one firing of a periodic schedule into a task and runs
// it. The task id comes from the firing time, so a redelivered trigger finds
// the same task instead of making a second one; if that task has failed
// since, its own retry trigger runs it and the firing is done.
func (m *Manager) runPeriodic(ctx context.Context, job *work.Job, name string) error {
	payload, _, errs := task.DecodeCreate(job.Data)
	if len(errs) > 0 {
		return work.Permanent(fmt.Errorf("periodic task %s: %v", name, errs))
	}
	fired := job.Published.UTC()
	now := m.p.Clock.Now().UTC()
	t := &task.Task{ID: fmt.Sprintf("periodic-%s-%d", name, fired.Unix()), Payload: payload, CreatedAt: now, ActiveSince: now,
		Status: task.Status{Type: task.Pending, Due: fired.Truncate(time.Second)}}
	var it *engine.Item[task.Task]
	items, err := m.eng.Create(ctx, engine.Insert[task.Task]{Key: t.ID, Value: t, NoTrigger: true})
	switch {
	case err == nil:
		it = items[0]
		m.metrics.created(t)
	case errors.Is(err, engine.ErrExists):
		if it, err = m.eng.Get(ctx, t.ID); errors.Is(err, engine.ErrNotFound) {
			return nil // done already
		} else if err != nil {
			return err
		}
		if it.Gen != 1 {
			return nil // it failed since: its retry trigger runs it
		}
	default:
		return fmt.Errorf("store periodic task %s: %w", t.ID, err)
	}
	return m.eng.Run(ctx, it.Ref(), m.runTask)
}
