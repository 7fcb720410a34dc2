package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// Permissions of the task API.
const (
	PermTaskGet           = "sysTaskGet"
	PermTaskQuery         = "sysTaskQuery"
	PermTaskCreate        = "sysTaskCreate"
	PermTaskUpdate        = "sysTaskUpdate"
	PermTaskDestroy       = "sysTaskDestroy"
	PermTaskManagerGet    = "sysTaskManagerGet"
	PermTaskManagerUpdate = "sysTaskManagerUpdate"
)

// Limits of the task API.
const (
	maxObjectsInGet = 1000
	maxObjectsInSet = 1000
	// setParallelism is how many objects of one /set are written at once.
	setParallelism = 32
)

type api struct{ m *taskmanager.Manager }

func registerAPI(srv *jmap.Server, m *taskmanager.Manager) {
	a := &api{m}
	srv.Handle("x:Task/get", PermTaskGet, a.get)
	srv.Handle("x:Task/query", PermTaskQuery, a.query)
	srv.Handle("x:Task/set", "", a.set) // each operation checks its own permission
	srv.Handle("x:TaskManager/get", PermTaskManagerGet, a.managerGet)
	srv.Handle("x:TaskManager/set", PermTaskManagerUpdate, a.managerSet)
}

func (a *api) get(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.GetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	var ids []string
	if args.IDs == nil {
		var total int
		var err error
		if ids, total, err = a.m.Query(ctx, taskmanager.Query{}); err != nil {
			return nil, err
		}
		if total > maxObjectsInGet {
			return nil, jmap.Errorf("requestTooLarge", "%d tasks exist; fetch at most %d by id (use x:Task/query to page)", total, maxObjectsInGet)
		}
	} else {
		ids = *args.IDs
		if len(ids) > maxObjectsInGet {
			return nil, jmap.Errorf("requestTooLarge", "at most %d ids per x:Task/get", maxObjectsInGet)
		}
	}
	list := []any{}
	notFound := []string{}
	for _, id := range ids {
		t, err := a.m.Get(ctx, id)
		if errors.Is(err, taskmanager.ErrNotFound) {
			notFound = append(notFound, id)
			continue
		}
		if err != nil {
			return nil, err
		}
		obj, err := project(t, args.Properties)
		if err != nil {
			return nil, err
		}
		list = append(list, obj)
	}
	return map[string]any{"accountId": nil, "state": "0", "list": list, "notFound": notFound}, nil
}

// project keeps the requested properties (id and @type always).
func project(t *task.Task, props []string) (any, error) {
	if props == nil {
		return t, nil
	}
	data, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	_ = json.Unmarshal(data, &all)
	out := map[string]json.RawMessage{"id": all["id"], "@type": all["@type"]}
	for _, p := range props {
		if v, ok := all[p]; ok {
			out[p] = v
		}
	}
	return out, nil
}

// queryFilter is the filter of x:Task/query.
type queryFilter struct {
	// Status is one status or a list of them.
	Status    json.RawMessage `json:"status"`
	Type      json.RawMessage `json:"type"`
	AccountID string          `json:"accountId"`
	DueAfter  *string         `json:"dueAfter"`
	DueBefore *string         `json:"dueBefore"`
}

func oneOrMany(raw json.RawMessage) ([]string, bool) {
	if raw == nil {
		return nil, true
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, true
	}
	var many []string
	return many, json.Unmarshal(raw, &many) == nil
}

func (a *api) query(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args struct {
		AccountID      *string           `json:"accountId"`
		Filter         *json.RawMessage  `json:"filter"`
		Sort           []json.RawMessage `json:"sort"`
		Position       int               `json:"position"`
		Limit          *int              `json:"limit"`
		CalculateTotal bool              `json:"calculateTotal"`
	}
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	q, err := buildQuery(args.Filter, args.Sort)
	if err != nil {
		return nil, err
	}
	if args.Position < 0 {
		return nil, jmap.Errorf("invalidArguments", "position must be 0 or more, got %d", args.Position)
	}
	q.Position = args.Position
	if args.Limit != nil {
		if *args.Limit < 0 {
			return nil, jmap.Errorf("invalidArguments", "limit must be 0 or more, got %d", *args.Limit)
		}
		q.Limit = *args.Limit
	}
	ids, total, err := a.m.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	if ids == nil {
		ids = []string{}
	}
	return map[string]any{"accountId": nil, "queryState": "0", "canCalculateChanges": false,
		"position": min(q.Position, total), "ids": ids, "total": total}, nil
}

func buildQuery(filter *json.RawMessage, sort []json.RawMessage) (taskmanager.Query, error) {
	var q taskmanager.Query
	if filter != nil {
		var f queryFilter
		if err := jmap.Args(*filter, &f); err != nil {
			return q, jmap.Errorf("unsupportedFilter", "%s (filter properties: status, type, accountId, dueAfter, dueBefore)", err.(*jmap.MethodError).Description)
		}
		statuses, ok := oneOrMany(f.Status)
		if !ok {
			return q, jmap.Errorf("invalidArguments", "filter/status must be a status name or a list of them")
		}
		for _, s := range statuses {
			st := task.StatusType(s)
			if st != task.Pending && st != task.Retry && st != task.Failed {
				return q, jmap.Errorf("invalidArguments", "filter/status: unknown status %q (Pending, Retry, Failed)", s)
			}
			q.Status = append(q.Status, st)
		}
		types, ok := oneOrMany(f.Type)
		if !ok {
			return q, jmap.Errorf("invalidArguments", "filter/type must be a task type or a list of them")
		}
		for _, s := range types {
			v, err := task.ParseVariant(s)
			if err != nil {
				return q, jmap.Errorf("invalidArguments", "filter/type: %v", err)
			}
			q.Types = append(q.Types, v)
		}
		q.AccountID = f.AccountID
		var err error
		if q.DueAfter, err = parseDate("filter/dueAfter", f.DueAfter); err != nil {
			return q, err
		}
		if q.DueBefore, err = parseDate("filter/dueBefore", f.DueBefore); err != nil {
			return q, err
		}
	}
	if len(sort) > 1 {
		return q, jmap.Errorf("unsupportedSort", "tasks sort by one property, due")
	}
	for _, raw := range sort {
		var c struct {
			Property    string `json:"property"`
			IsAscending *bool  `json:"isAscending"`
		}
		if err := jmap.Args(raw, &c); err != nil || c.Property != "due" {
			return q, jmap.Errorf("unsupportedSort", "tasks sort by due only")
		}
		q.Descending = c.IsAscending != nil && !*c.IsAscending
	}
	return q, nil
}

func parseDate(prop string, s *string) (*time.Time, error) {
	if s == nil {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return nil, jmap.Errorf("invalidArguments", "%s: bad date-time %q: use RFC 3339, such as 2026-01-02T15:04:05Z", prop, *s)
	}
	return &t, nil
}

func (a *api) set(ctx context.Context, p *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.SetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	if n := len(args.Create) + len(args.Update) + len(args.Destroy); n > maxObjectsInSet {
		return nil, jmap.Errorf("requestTooLarge", "%d operations; at most %d per x:Task/set", n, maxObjectsInSet)
	}
	res := &setResult{Created: map[string]any{}, NotCreated: map[string]*jmap.SetError{}, Updated: map[string]any{},
		NotUpdated: map[string]*jmap.SetError{}, Destroyed: []string{}, NotDestroyed: map[string]*jmap.SetError{}}
	forbidden := func(perm string) *jmap.SetError {
		return &jmap.SetError{Type: "forbidden", Description: fmt.Sprintf("needs the %s permission, which %s lacks", perm, p.Name)}
	}
	parallel(keys(args.Create), func(cid string) {
		if !p.Can(PermTaskCreate) {
			res.put(res.NotCreated, cid, forbidden(PermTaskCreate))
			return
		}
		t, serr := a.create(ctx, args.Create[cid])
		if serr != nil {
			res.put(res.NotCreated, cid, serr)
			return
		}
		res.putAny(res.Created, cid, map[string]any{"id": t.ID, "status": t.Status})
	})
	parallel(keys(args.Update), func(id string) {
		if !p.Can(PermTaskUpdate) {
			res.put(res.NotUpdated, id, forbidden(PermTaskUpdate))
			return
		}
		t, serr := a.update(ctx, id, args.Update[id])
		if serr != nil {
			res.put(res.NotUpdated, id, serr)
			return
		}
		res.putAny(res.Updated, id, map[string]any{"status": t.Status})
	})
	parallel(args.Destroy, func(id string) {
		if !p.Can(PermTaskDestroy) {
			res.put(res.NotDestroyed, id, forbidden(PermTaskDestroy))
			return
		}
		if serr := setErrorOf(a.m.Destroy(ctx, id)); serr != nil {
			res.put(res.NotDestroyed, id, serr)
			return
		}
		res.mu.Lock()
		res.Destroyed = append(res.Destroyed, id)
		res.mu.Unlock()
	})
	sort.Strings(res.Destroyed)
	return res, nil
}

type setResult struct {
	mu           sync.Mutex
	Created      map[string]any            `json:"created"`
	NotCreated   map[string]*jmap.SetError `json:"notCreated"`
	Updated      map[string]any            `json:"updated"`
	NotUpdated   map[string]*jmap.SetError `json:"notUpdated"`
	Destroyed    []string                  `json:"destroyed"`
	NotDestroyed map[string]*jmap.SetError `json:"notDestroyed"`
}

func (r *setResult) put(m map[string]*jmap.SetError, k string, e *jmap.SetError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m[k] = e
}

func (r *setResult) putAny(m map[string]any, k string, v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m[k] = v
}

func (a *api) create(ctx context.Context, raw json.RawMessage) (*task.Task, *jmap.SetError) {
	payload, due, perrs := task.DecodeCreate(raw)
	if len(perrs) > 0 {
		return nil, invalidProperties(perrs)
	}
	if !task.Creatable(payload.Variant()) {
		return nil, &jmap.SetError{Type: "forbidden", Description: fmt.Sprintf("%s tasks are created by the server, not through the API", payload.Variant())}
	}
	t, err := a.m.Create(ctx, payload, due)
	if err != nil {
		return nil, &jmap.SetError{Type: "serverFail", Description: err.Error()}
	}
	return t, nil
}

// update applies a patch: {"status": {"@type": "Pending", "due": ...}}
// retries the task (fresh attempts), {"status/due": ...} reschedules it.
func (a *api) update(ctx context.Context, id string, raw json.RawMessage) (*task.Task, *jmap.SetError) {
	var patch map[string]json.RawMessage
	if json.Unmarshal(raw, &patch) != nil || patch == nil {
		return nil, &jmap.SetError{Type: "invalidPatch", Description: "a patch must be a JSON object"}
	}
	var bad []task.PropertyError
	for k := range patch {
		if k != "status" && k != "status/due" {
			bad = append(bad, task.PropertyError{Property: k, Reason: "cannot be changed: update status (to retry) or status/due (to reschedule)"})
		}
	}
	if len(bad) > 0 {
		return nil, invalidProperties(bad)
	}
	if rawDue, ok := patch["status/due"]; ok {
		if _, both := patch["status"]; both {
			return nil, invalidProperties([]task.PropertyError{{Property: "status/due", Reason: "give status or status/due, not both"}})
		}
		var s string
		due, err := time.Time{}, json.Unmarshal(rawDue, &s)
		if err == nil {
			due, err = time.Parse(time.RFC3339Nano, s)
		}
		if err != nil {
			return nil, invalidProperties([]task.PropertyError{{Property: "status/due", Reason: fmt.Sprintf("bad date-time %s: use RFC 3339, such as 2026-01-02T15:04:05Z", rawDue)}})
		}
		t, err := a.m.Reschedule(ctx, id, due)
		if errors.Is(err, taskmanager.ErrNotRunnable) {
			return nil, invalidProperties([]task.PropertyError{{Property: "status/due", Reason: err.Error()}})
		}
		return t, setErrorOf(err)
	}
	var st struct {
		Type task.StatusType `json:"@type"`
		Due  *string         `json:"due"`
	}
	if err := jmap.Args(patch["status"], &st); err != nil {
		return nil, invalidProperties([]task.PropertyError{{Property: "status", Reason: err.(*jmap.MethodError).Description}})
	}
	if st.Type != task.Pending {
		return nil, invalidProperties([]task.PropertyError{{Property: "status/@type", Reason: fmt.Sprintf("a task can be set to Pending only (to retry it), not %q", st.Type)}})
	}
	var due time.Time
	if st.Due != nil {
		d, err := time.Parse(time.RFC3339Nano, *st.Due)
		if err != nil {
			return nil, invalidProperties([]task.PropertyError{{Property: "status/due", Reason: fmt.Sprintf("bad date-time %q: use RFC 3339, such as 2026-01-02T15:04:05Z", *st.Due)}})
		}
		due = d
	}
	t, err := a.m.Retry(ctx, id, due)
	return t, setErrorOf(err)
}

func setErrorOf(err error) *jmap.SetError {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, taskmanager.ErrNotFound):
		return &jmap.SetError{Type: "notFound", Description: "no task with this id"}
	case errors.Is(err, taskmanager.ErrConflict):
		return &jmap.SetError{Type: "stateMismatch", Description: err.Error()}
	default:
		return &jmap.SetError{Type: "serverFail", Description: err.Error()}
	}
}

func invalidProperties(perrs []task.PropertyError) *jmap.SetError {
	props := make([]string, 0, len(perrs))
	reasons := make([]string, 0, len(perrs))
	for _, e := range perrs {
		props = append(props, e.Property)
		reasons = append(reasons, e.Error())
	}
	return &jmap.SetError{Type: "invalidProperties", Properties: props, Description: strings.Join(reasons, "; ")}
}

func (a *api) managerGet(_ context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.GetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	list, notFound := []any{}, []string{}
	if args.IDs == nil {
		list = append(list, a.m.Settings())
	} else {
		for _, id := range *args.IDs {
			if id == task.SingletonID {
				list = append(list, a.m.Settings())
			} else {
				notFound = append(notFound, id)
			}
		}
	}
	return map[string]any{"accountId": nil, "state": "0", "list": list, "notFound": notFound}, nil
}

func (a *api) managerSet(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.SetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	if args.Create != nil || args.Destroy != nil {
		return nil, jmap.Errorf("invalidArguments", "x:TaskManager/set accepts update only: the TaskManager is a singleton")
	}
	updated, notUpdated := map[string]any{}, map[string]*jmap.SetError{}
	for id, patch := range args.Update {
		if id != task.SingletonID {
			notUpdated[id] = &jmap.SetError{Type: "notFound", Description: `the TaskManager's id is "singleton"`}
			continue
		}
		_, perrs, err := a.m.UpdateSettings(ctx, patch)
		switch {
		case err != nil:
			notUpdated[id] = setErrorOf(err)
		case len(perrs) > 0:
			notUpdated[id] = invalidProperties(perrs)
		default:
			updated[id] = nil
		}
	}
	return map[string]any{"accountId": nil, "oldState": "0", "newState": "0", "updated": updated, "notUpdated": notUpdated}, nil
}

func keys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// parallel runs f for each item, setParallelism at a time.
func parallel(items []string, f func(string)) {
	sem := make(chan struct{}, setParallelism)
	var wg sync.WaitGroup
	for _, it := range items {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(it)
		}()
	}
	wg.Wait()
}
