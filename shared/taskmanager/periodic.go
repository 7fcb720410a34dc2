package taskmanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetmail/jetmail/shared/duration"
	"github.com/jetmail/jetmail/shared/engine"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/work"
)

// periodicFiring is one server-side schedule of a task.periodic entry: the
// entry's, or one per partition of a per-partition entry's.
type periodicFiring struct {
	name      string // task.periodic.<name>, and ".p<n>" per partition
	role      roles.Role
	task      []byte
	partition *int
}

// periodicFirings are the schedules task.periodic asks for.
func (m *Manager) periodicFirings() ([]periodicFiring, error) {
	var out []periodicFiring
	for name, p := range m.d.Config.Task.Periodic {
		if !p.PerPartition {
			payload, _, errs := task.DecodeCreate(p.Task)
			if len(errs) > 0 {
				return nil, fmt.Errorf("task.periodic.%s.task: %v", name, errs)
			}
			out = append(out, periodicFiring{name: name, role: task.RoleOf(payload.Variant()), task: p.Task})
			continue
		}
		// Each partition's schedule fills in x:partition.
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(p.Task, &fields)
		if _, set := fields["x:partition"]; set || fields == nil {
			return nil, fmt.Errorf("task.periodic.%s.task: no x:partition with per-partition: each partition's schedule fills it in", name)
		}
		fields["x:partition"] = json.RawMessage("0")
		b, _ := json.Marshal(fields)
		payload, _, errs := task.DecodeCreate(b)
		if len(errs) > 0 {
			return nil, fmt.Errorf("task.periodic.%s.task: %v", name, errs)
		}
		am, ok := payload.(*task.AccountMaintenanceTask)
		if !ok || am.AccountID != task.EveryAccount {
			return nil, fmt.Errorf("task.periodic.%s.per-partition: only for an AccountMaintenance task with accountId \"*\" (every account of each partition)", name)
		}
		for part := range m.d.Publisher.Partitions() {
			am.Partition = &part
			b, err := json.Marshal(struct {
				Type task.Variant `json:"@type"`
				*task.AccountMaintenanceTask
			}{task.AccountMaintenance, am})
			if err != nil {
				return nil, fmt.Errorf("task.periodic.%s.task: %w", name, err)
			}
			out = append(out, periodicFiring{name: fmt.Sprintf("%s.p%d", name, part), role: roles.PurgeAccounts, task: b, partition: &part})
		}
	}
	return out, nil
}

// installPeriodic makes the server's cron schedules match task.periodic:
// each is (re)published only when it differs from the stored one, so that
// nodes starting do not reset an "@every" phase, and schedules no longer
// configured are removed.
func (m *Manager) installPeriodic(ctx context.Context) error {
	firings, err := m.periodicFirings()
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, f := range firings {
		config := strings.SplitN(f.name, ".", 2)[0]
		want[work.ScheduleSubject(f.role, work.FamilyPeriodic, f.name)] = true
		pattern := m.d.Config.Task.Periodic[config].Schedule
		if d, ok := strings.CutPrefix(pattern, "@every "); ok {
			v, _ := duration.Parse(d)
			pattern = "@every " + v.String()
		}
		changed, err := m.d.Publisher.InstallSchedule(ctx, work.Schedule{Role: f.role, Family: work.FamilyPeriodic, Name: f.name, Pattern: pattern,
			Item: work.Item{Key: "periodic:" + f.name, Partition: f.partition, Data: f.task, Header: nats.Header{HeaderPeriodic: []string{f.name}}}})
		if err != nil {
			return fmt.Errorf("task.periodic.%s.schedule: %w", config, err)
		}
		if changed && (f.partition == nil || *f.partition == 0) {
			m.log.Info("periodic task scheduled", "name", config, "schedule", pattern, "role", f.role, "per_partition", f.partition != nil)
		}
	}
	for _, r := range roles.All {
		subjects, err := m.d.Publisher.Schedules(ctx, r, work.FamilyPeriodic)
		if err != nil {
			return err
		}
		for _, subj := range subjects {
			if !want[subj] {
				if err := m.d.Publisher.RemoveSchedule(ctx, r, subj); err != nil {
					return err
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
	t := &task.Task{ID: fmt.Sprintf("periodic-%s-%d", strings.ReplaceAll(name, ".", "-"), fired.Unix()), Payload: payload, CreatedAt: now, ActiveSince: now,
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
