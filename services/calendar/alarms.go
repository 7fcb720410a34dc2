package calendar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/calalarm"
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
	triggers, ev, err := s.triggers(ctx, account, docID)
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

// triggers reads the event and the next trigger of each of its alarms; a
// destroyed event has none. An event whose alarms cannot be read (it was
// stored, so only its alarms can be wrong) has none either, and says why
// in the log.
func (s *Service) triggers(ctx context.Context, account, docID string) ([]calalarm.Trigger, *store.CalendarEvent, error) {
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
	triggers, err := calalarm.Next(ev.ICal, s.d.Clock.Now())
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
	e, err := s.alarms.Get(ctx, entryKey(account, docID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return map[string]pending{}, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read the alarm tasks of %s: %w", entryKey(account, docID), err)
	}
	cur := map[string]pending{}
	if err := json.Unmarshal(e.Value(), &cur); err != nil {
		return nil, 0, fmt.Errorf("the alarm tasks of %s: %w", entryKey(account, docID), err)
	}
	return cur, e.Revision(), nil
}

func (s *Service) putEntry(ctx context.Context, k string, next map[string]pending, rev uint64) error {
	var err error
	switch {
	case len(next) == 0 && rev == 0:
		return nil
	case len(next) == 0:
		err = s.alarms.Delete(ctx, k, jetstream.LastRevision(rev))
	case rev == 0:
		b, _ := json.Marshal(next)
		_, err = s.alarms.Create(ctx, k, b)
	default:
		b, _ := json.Marshal(next)
		_, err = s.alarms.Update(ctx, k, b, rev)
	}
	return err
}

// isWrongLast reports a compare-and-set that lost to another writer.
func isWrongLast(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// current reports whether t is the pending task of its alarm (a task the
// entry no longer knows was replaced: it does nothing).
func (s *Service) current(ctx context.Context, account, docID, alarmID, taskID string) (bool, error) {
	cur, _, err := s.entry(ctx, account, docID)
	if err != nil {
		return false, err
	}
	return cur[alarmID].TaskID == taskID, nil
}
