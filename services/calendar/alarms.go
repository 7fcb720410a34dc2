package calendar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/calalarm"
	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// pending is one alarm's pending task, in the event's entry.
type pending struct {
	TaskID       string    `json:"taskId"`
	At           time.Time `json:"at"`
	RecurrenceID string    `json:"recurrenceId,omitempty"`
}

// entryKey is where an event's pending alarm tasks are kept.
func entryKey(account, doc string) string { return account + "." + doc }

// casRetries bounds the compare-and-set retries of an entry.
const casRetries = 20

// schedule makes the event's alarm tasks match the next trigger of each
// of its alarms after now. running is the alarm task running now, if any:
// it is done, so it is replaced in the entry, never destroyed.
func (s *Service) schedule(ctx context.Context, account, docID, running string) error {
	after := s.clock.Now()
	if running != "" {
		// The next triggers come after the one that has just fired, even
		// if it fired early by the clock, or was late past the next one.
		cur, _, err := s.entry(ctx, account, docID)
		if err != nil {
			return err
		}
		for _, p := range cur {
			if p.TaskID == running && p.At.After(after) {
				after = p.At
			}
		}
	}
	triggers, ev, err := s.triggers(ctx, account, docID, after)
	if err != nil {
		return err
	}
	k := entryKey(account, docID)
	for range casRetries {
		cur, rev, err := s.entry(ctx, account, docID)
		if err != nil {
			return err
		}
		next := map[string]pending{}
		var news []taskmanager.NewTask
		var newKeys []string
		var destroy []string
		for _, tr := range triggers {
			old, ok := cur[tr.AlarmID]
			if ok && old.TaskID != running && old.At.Equal(tr.At) && old.RecurrenceID == tr.RecurrenceID {
				next[tr.AlarmID] = old
				continue
			}
			if ok && old.TaskID != running {
				destroy = append(destroy, old.TaskID)
			}
			due := tr.At
			news = append(news, taskmanager.NewTask{Payload: alarmTask(account, docID, ev, tr), Due: &due})
			newKeys = append(newKeys, tr.AlarmID)
			next[tr.AlarmID] = pending{At: tr.At, RecurrenceID: tr.RecurrenceID}
		}
		for alarm, old := range cur {
			if _, ok := next[alarm]; !ok && old.TaskID != running {
				destroy = append(destroy, old.TaskID)
			}
		}
		if len(news) == 0 && len(destroy) == 0 && len(next) == len(cur) && running == "" {
			return nil // as it should be
		}
		var created []*task.Task
		if len(news) > 0 {
			if created, err = s.mgr.CreateMany(ctx, news); err != nil {
				return fmt.Errorf("create the alarm tasks of %s: %w", k, err)
			}
			for i, t := range created {
				p := next[newKeys[i]]
				p.TaskID = t.ID
				next[newKeys[i]] = p
			}
		}
		if err := s.putEntry(ctx, k, next, rev); errors.Is(err, jetstream.ErrKeyExists) || isWrongLast(err) {
			for _, t := range created { // another writer was first: start again from its entry
				_ = s.mgr.Destroy(ctx, t.ID)
			}
			continue
		} else if err != nil {
			return err
		}
		// After the entry: a crash before this leaves old tasks that find
		// they are not the entry's when they run, and do nothing.
		for _, id := range destroy {
			if err := s.mgr.Destroy(ctx, id); err != nil && !errors.Is(err, taskmanager.ErrNotFound) {
				s.log.Warn("destroy an alarm task no longer wanted", "task", id, "event", k, "err", err)
			}
		}
		if len(created) > 0 || len(destroy) > 0 {
			s.log.Debug("alarm tasks matched", "event", k, "created", len(created), "destroyed", len(destroy))
		}
		return nil
	}
	return fmt.Errorf("alarm tasks of %s: written by others %d times over", k, casRetries)
}

// triggers reads the event and the next trigger of each of its alarms
// after a time; a
// destroyed event has none. An event whose alarms cannot be read (it was
// stored, so only its alarms can be wrong) has none either, and says why
// in the log.
func (s *Service) triggers(ctx context.Context, account, docID string, after time.Time) ([]calalarm.Trigger, *store.CalendarEvent, error) {
	d, err := s.st.Document(ctx, account, store.CalendarType, docID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var ev store.CalendarEvent
	if err := d.Decode(&ev); err != nil {
		return nil, nil, err
	}
	triggers, err := calalarm.Next(ev.ICal, after)
	if err != nil {
		s.log.Warn("an event's alarms cannot be read; none is scheduled", "account", account, "event", docID, "err", err)
		return nil, &ev, nil
	}
	// One task per alarm: its soonest trigger (a repetition's included).
	first := map[string]int{}
	var out []calalarm.Trigger
	for _, tr := range triggers {
		if i, ok := first[tr.AlarmID]; ok {
			if tr.At.Before(out[i].At) {
				out[i] = tr
			}
			continue
		}
		first[tr.AlarmID] = len(out)
		out = append(out, tr)
	}
	return out, &ev, nil
}

// alarmTask is the task of one trigger: an email for an EMAIL alarm, a
// notification for the others.
func alarmTask(account, docID string, ev *store.CalendarEvent, tr calalarm.Trigger) task.Payload {
	if tr.Variant == task.CalendarAlarmEmail {
		end := tr.End
		if end.IsZero() {
			end = tr.Start
		}
		return &task.CalendarAlarmEmailTask{AccountID: account, DocumentID: docID, AlarmID: tr.AlarmID, EventID: ev.UID,
			EventStart: tr.Start, EventEnd: end, EventStartTz: zoneOr(tr.StartTZ), EventEndTz: zoneOr(tr.EndTZ)}
	}
	return &task.CalendarAlarmNotificationTask{AccountID: account, DocumentID: docID, AlarmID: tr.AlarmID, EventID: ev.UID, RecurrenceID: tr.RecurrenceID}
}

func zoneOr(tz string) string {
	if tz == "" {
		return "UTC"
	}
	return tz
}

func (s *Service) entry(ctx context.Context, account, docID string) (map[string]pending, uint64, error) {
	cur := map[string]pending{}
	rev, err := getRecord(ctx, s.alarms, entryKey(account, docID), &cur)
	if err != nil {
		return nil, 0, fmt.Errorf("the alarm tasks of %s: %w", entryKey(account, docID), err)
	}
	return cur, rev, nil
}

func (s *Service) putEntry(ctx context.Context, k string, next map[string]pending, rev uint64) error {
	var b []byte
	if len(next) > 0 {
		b, _ = json.Marshal(next)
	}
	return putRecord(ctx, s.alarms, k, b, rev)
}

// getRecord reads a JSON record into v; its revision, 0 when there is
// none (v is then left as it is).
func getRecord(ctx context.Context, kv jetstream.KeyValue, k string, v any) (uint64, error) {
	e, err := kv.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, err
	}
	return e.Revision(), nil
}

// putRecord writes a record by compare-and-set at rev (0: there is none
// yet); nil b removes it.
func putRecord(ctx context.Context, kv jetstream.KeyValue, k string, b []byte, rev uint64) error {
	var err error
	switch {
	case b == nil && rev == 0:
		return nil
	case b == nil:
		err = kv.Delete(ctx, k, jetstream.LastRevision(rev))
	case rev == 0:
		_, err = kv.Create(ctx, k, b)
	default:
		_, err = kv.Update(ctx, k, b, rev)
	}
	return err
}

// isWrongLast reports a compare-and-set that lost to another writer.
func isWrongLast(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// entryWait and entryWaits bound how long an alarm task that its entry
// does not name waits for the entry: its maker creates it, then records
// it, so a task due at once can run in between.
const (
	entryWait  = 100 * time.Millisecond
	entryWaits = 20
)

// current reports whether t is the pending task of its alarm. A task the
// entry no longer names was replaced: it does nothing. One whose entry was
// last written before the task was made may run before its maker records
// it: it waits for the entry a moment, and if the entry never comes (its
// maker stopped between the two writes), it is the alarm's task and runs,
// once.
func (s *Service) current(ctx context.Context, account, docID, alarmID string, t *task.Task) (bool, error) {
	k := entryKey(account, docID)
	for i := 0; ; i++ {
		e, err := s.alarms.Get(ctx, k)
		found := err == nil
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return false, fmt.Errorf("read the alarm tasks of %s: %w", k, err)
		}
		if found {
			cur := map[string]pending{}
			if err := json.Unmarshal(e.Value(), &cur); err != nil {
				return false, fmt.Errorf("the alarm tasks of %s: %w", k, err)
			}
			if cur[alarmID].TaskID == t.ID {
				return true, nil
			}
			if !e.Created().Before(t.CreatedAt) {
				return false, nil // written since the task was made, without it
			}
		}
		if i == entryWaits {
			return found, nil
		}
		if !clock.Sleep(ctx, entryWait) {
			return false, ctx.Err()
		}
	}
}
