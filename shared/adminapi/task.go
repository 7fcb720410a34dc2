package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/task"
)

// The responses and arguments of the x:Task methods. x:Task/get takes
// jmap.GetArgs; x:Task/set takes jmap.SetArgs whose creates are Task
// objects (without id) and whose updates are TaskRetryPatch or
// TaskReschedulePatch.
type (
	TaskGetResponse   = jmap.GetResponse[Task]
	TaskQueryArgs     = jmap.QueryArgs[TaskFilter]
	TaskQueryResponse = jmap.QueryResponse
	TaskSetResponse   = jmap.SetResponse[TaskCreated, TaskUpdated]
)

// Task is a task as x:Task/get returns it: the properties every variant has
// ("@type", "id", "status") and the variant's own ones.
type Task struct {
	ID   string
	Type task.Variant
	// Status is nil when a /get's properties leave it out.
	Status *task.Status
	// Fields are the variant's own properties (accountId, documentId, ...),
	// as JSON values by name.
	Fields map[string]json.RawMessage
}

// TaskFrom is the API form of t.
func TaskFrom(t *task.Task) (Task, error) {
	data, err := t.MarshalJSON()
	if err != nil {
		return Task{}, fmt.Errorf("encode task %s: %w", t.ID, err)
	}
	var out Task
	if err := json.Unmarshal(data, &out); err != nil {
		return Task{}, fmt.Errorf("encode task %s: %w", t.ID, err)
	}
	return out, nil
}

// Project keeps the properties props names ("id" and "@type" always); nil
// keeps every one.
func (t Task) Project(props []string) Task {
	if props == nil {
		return t
	}
	out := Task{ID: t.ID, Type: t.Type, Fields: map[string]json.RawMessage{}}
	if slices.Contains(props, "status") {
		out.Status = t.Status
	}
	for _, p := range props {
		if v, ok := t.Fields[p]; ok {
			out.Fields[p] = v
		}
	}
	return out
}

// FieldNames are the names of t's own fields, sorted.
func (t Task) FieldNames() []string {
	out := make([]string, 0, len(t.Fields))
	for k := range t.Fields {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// MarshalJSON writes "@type", "id" and "status" first, then the variant's
// fields by name. An empty id or a nil status is left out, as in a create.
func (t Task) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	put := func(k string, v any) error {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		key, _ := json.Marshal(k)
		b.Write(key)
		b.WriteByte(':')
		val, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("task %s: property %s: %w", t.ID, k, err)
		}
		b.Write(val)
		return nil
	}
	if err := put("@type", t.Type); err != nil {
		return nil, err
	}
	if t.ID != "" { // a task to create has none
		if err := put("id", t.ID); err != nil {
			return nil, err
		}
	}
	if t.Status != nil {
		if err := put("status", t.Status); err != nil {
			return nil, err
		}
	}
	for _, k := range t.FieldNames() {
		if err := put(k, t.Fields[k]); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads a task object, whole or projected.
func (t *Task) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("decode task: %w", err)
	}
	if m == nil {
		return errors.New("decode task: null is not a task")
	}
	*t = Task{}
	take := func(k string, dst any) error {
		raw, ok := m[k]
		if !ok {
			return nil
		}
		delete(m, k)
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("decode task: %s: %w", k, err)
		}
		return nil
	}
	if err := errors.Join(take("@type", &t.Type), take("id", &t.ID), take("status", &t.Status)); err != nil {
		return err
	}
	t.Fields = m
	return nil
}

// TaskCreated is what x:Task/set tells of a created task.
type TaskCreated struct {
	ID     string      `json:"id"`
	Status task.Status `json:"status"`
}

// TaskUpdated is what x:Task/set tells of an updated task: its status
// after the update.
type TaskUpdated struct {
	Status task.Status `json:"status"`
}

// TaskStatusPatch is the "status" of an x:Task/set update: Pending, to
// retry a task with a fresh attempt count, now or at Due.
type TaskStatusPatch struct {
	Type task.StatusType `json:"@type"`
	Due  *time.Time      `json:"due,omitempty"`
}

// TaskRetryPatch is the x:Task/set update that retries a task at due (nil:
// now) with a fresh attempt count.
func TaskRetryPatch(due *time.Time) jmap.PatchObject {
	st := TaskStatusPatch{Type: task.Pending}
	if due != nil {
		d := due.UTC()
		st.Due = &d
	}
	p := jmap.PatchObject{}
	_ = p.Set("status", st) // a status and a time: cannot fail
	return p
}

// TaskReschedulePatch is the x:Task/set update that moves a Pending or
// Retry task to due.
func TaskReschedulePatch(due time.Time) jmap.PatchObject {
	p := jmap.PatchObject{}
	_ = p.Set("status/due", due.UTC()) // a time: cannot fail
	return p
}

// TaskFilter is the filter of x:Task/query. Every field narrows the
// result; the zero filter keeps every task.
type TaskFilter struct {
	// Status keeps tasks with one of these statuses (one or a list on the
	// wire).
	Status []task.StatusType `json:"status,omitempty"`
	// Type keeps tasks of one of these variants (one or a list).
	Type      []task.Variant `json:"type,omitempty"`
	AccountID string         `json:"accountId,omitempty"`
	// DueAfter and DueBefore bound the due time (the failure time of
	// Failed tasks): DueAfter <= when < DueBefore.
	DueAfter  *time.Time `json:"dueAfter,omitempty"`
	DueBefore *time.Time `json:"dueBefore,omitempty"`
}

// UnmarshalJSON reads a filter strictly: an unknown property is an
// unsupportedFilter error, a bad value an invalidArguments one naming it.
func (f *TaskFilter) UnmarshalJSON(b []byte) error {
	var w struct {
		Status    json.RawMessage `json:"status"`
		Type      json.RawMessage `json:"type"`
		AccountID string          `json:"accountId"`
		DueAfter  *string         `json:"dueAfter"`
		DueBefore *string         `json:"dueBefore"`
	}
	if err := decodeFilter(b, &w, "status, type, accountId, dueAfter, dueBefore"); err != nil {
		return err
	}
	out := TaskFilter{AccountID: w.AccountID}
	statuses, ok := oneOrMany(w.Status)
	if !ok {
		return jmap.Errorf("invalidArguments", "filter/status must be a status name or a list of them")
	}
	for _, s := range statuses {
		st := task.StatusType(s)
		if st != task.Pending && st != task.Retry && st != task.Failed {
			return jmap.Errorf("invalidArguments", "filter/status: unknown status %q (Pending, Retry, Failed)", s)
		}
		out.Status = append(out.Status, st)
	}
	types, ok := oneOrMany(w.Type)
	if !ok {
		return jmap.Errorf("invalidArguments", "filter/type must be a task type or a list of them")
	}
	for _, s := range types {
		v, err := task.ParseVariant(s)
		if err != nil {
			return jmap.Errorf("invalidArguments", "filter/type: %v", err)
		}
		out.Type = append(out.Type, v)
	}
	var err error
	if out.DueAfter, err = parseDate("filter/dueAfter", w.DueAfter); err != nil {
		return err
	}
	if out.DueBefore, err = parseDate("filter/dueBefore", w.DueBefore); err != nil {
		return err
	}
	*f = out
	return nil
}
