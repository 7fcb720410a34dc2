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

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// Permissions of the task API.
const (
	PermTaskGet           = adminapi.PermTaskGet
	PermTaskQuery         = adminapi.PermTaskQuery
	PermTaskCreate        = adminapi.PermTaskCreate
	PermTaskUpdate        = adminapi.PermTaskUpdate
	PermTaskDestroy       = adminapi.PermTaskDestroy
	PermTaskManagerGet    = adminapi.PermTaskManagerGet
	PermTaskManagerUpdate = adminapi.PermTaskManagerUpdate
)

// Limits of the task API.
const (
	maxObjectsInGet = jmap.MaxObjectsInGet
	maxObjectsInSet = jmap.MaxObjectsInSet
	// setParallelism is how many objects of one /set are written at once.
	setParallelism = 32
)

type api struct{ m *taskmanager.Manager }

func registerAPI(srv *jmap.Server, m *taskmanager.Manager) {
	a := &api{m}
	srv.Handle(adminapi.MethodTaskGet, PermTaskGet, a.get)
	srv.Handle(adminapi.MethodTaskQuery, PermTaskQuery, a.query)
	srv.Handle(adminapi.MethodTaskSet, "", a.set) // each operation checks its own permission
	srv.Handle(adminapi.MethodTaskManagerGet, PermTaskManagerGet, a.managerGet)
	srv.Handle(adminapi.MethodTaskManagerSet, PermTaskManagerUpdate, a.managerSet)
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
			return nil, fmt.Errorf("list tasks: %w", err)
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
	res := jmap.NewGetResponse[adminapi.Task]()
	for _, id := range ids {
		t, err := a.m.Get(ctx, id)
		if errors.Is(err, taskmanager.ErrNotFound) {
			res.NotFound = append(res.NotFound, id)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get task %s: %w", id, err)
		}
		obj, err := adminapi.TaskFrom(t)
		if err != nil {
			return nil, err
		}
		res.List = append(res.List, obj.Project(args.Properties))
	}
	return res, nil
}

func (a *api) query(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	args, err := jmap.DecodeQuery[adminapi.TaskFilter](raw)
	if err != nil {
		return nil, err
	}
	q, err := buildQuery(*args)
	if err != nil {
		return nil, err
	}
	ids, total, err := a.m.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("query tasks: %w", err)
	}
	return jmap.NewQueryResponse(ids, q.Position, total), nil
}

// buildQuery is the task manager's query for checked arguments.
func buildQuery(args adminapi.TaskQueryArgs) (taskmanager.Query, error) {
	q := taskmanager.Query{Position: args.Position, Limit: args.LimitOr(0)}
	if f := args.Filter; f != nil {
		q.Status, q.Types, q.AccountID, q.DueAfter, q.DueBefore = f.Status, f.Type, f.AccountID, f.DueAfter, f.DueBefore
	}
	if len(args.Sort) > 1 {
		return q, jmap.Errorf("unsupportedSort", "tasks sort by one property, due")
	}
	for _, c := range args.Sort {
		if c.Property != "due" || c.Collation != "" {
			return q, jmap.Errorf("unsupportedSort", "tasks sort by due only")
		}
		q.Descending = c.Descending()
	}
	return q, nil
}

// setResponse is an x:Task/set response that the writers of one request
// fill in at once.
type setResponse struct {
	mu  sync.Mutex
	res *adminapi.TaskSetResponse
}

func (r *setResponse) fail(m map[string]*jmap.SetError, id string, e *jmap.SetError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m[id] = e
}

func (a *api) set(ctx context.Context, p *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.SetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	if n := len(args.Create) + len(args.Update) + len(args.Destroy); n > maxObjectsInSet {
		return nil, jmap.Errorf("requestTooLarge", "%d operations; at most %d per x:Task/set", n, maxObjectsInSet)
	}
	r := &setResponse{res: jmap.NewSetResponse[adminapi.TaskCreated, adminapi.TaskUpdated]()}
	res := r.res
	forbidden := func(perm string) *jmap.SetError {
		return &jmap.SetError{Type: "forbidden", Description: fmt.Sprintf("needs the %s permission, which %s lacks", perm, p.Name)}
	}

	var creates []validCreate
	for _, cid := range keys(args.Create) {
		if !p.Can(PermTaskCreate) {
			res.NotCreated[cid] = forbidden(PermTaskCreate)
			continue
		}
		c, serr := validateCreate(cid, args.Create[cid])
		if serr != nil {
			res.NotCreated[cid] = serr
			continue
		}
		creates = append(creates, c)
	}
	for i, w := range a.writeCreates(ctx, creates) {
		if w.err != nil {
			res.NotCreated[creates[i].cid] = &jmap.SetError{Type: "serverFail", Description: w.err.Error()}
			continue
		}
		res.Created[creates[i].cid] = adminapi.TaskCreated{ID: w.task.ID, Status: w.task.Status}
	}

	parallel(keys(args.Update), func(_ int, id string) {
		if !p.Can(PermTaskUpdate) {
			r.fail(res.NotUpdated, id, forbidden(PermTaskUpdate))
			return
		}
		t, serr := a.update(ctx, id, args.Update[id])
		if serr != nil {
			r.fail(res.NotUpdated, id, serr)
			return
		}
		r.mu.Lock()
		res.Updated[id] = &adminapi.TaskUpdated{Status: t.Status}
		r.mu.Unlock()
	})
	parallel(args.Destroy, func(_ int, id string) {
		if !p.Can(PermTaskDestroy) {
			r.fail(res.NotDestroyed, id, forbidden(PermTaskDestroy))
			return
		}
		if serr := setErrorOf(a.m.Destroy(ctx, id)); serr != nil {
			r.fail(res.NotDestroyed, id, serr)
			return
		}
		r.mu.Lock()
		res.Destroyed = append(res.Destroyed, id)
		r.mu.Unlock()
	})
	sort.Strings(res.Destroyed)
	return res, nil
}

// validCreate is a create of an x:Task/set that passed validation: it only
// has to be written.
type validCreate struct {
	cid     string
	payload task.Payload
	due     *time.Time
}

// written is the outcome of writing one validCreate.
type written struct {
	task *task.Task
	err  error
}

// writeCreates writes the validated creates of one x:Task/set and returns
// each one's outcome, in the same order. It is the one place the API writes
// new tasks: all in one Manager.CreateMany, pipelined in one round trip.
func (a *api) writeCreates(ctx context.Context, creates []validCreate) []written {
	out := make([]written, len(creates))
	if len(creates) == 0 {
		return out
	}
	news := make([]taskmanager.NewTask, len(creates))
	for i, c := range creates {
		news[i] = taskmanager.NewTask{Payload: c.payload, Due: c.due}
	}
	// One bulk write: all are created, or none (each then gets the error).
	tasks, err := a.m.CreateMany(ctx, news)
	for i := range out {
		if err != nil {
			out[i] = written{nil, err}
		} else {
			out[i] = written{tasks[i], nil}
		}
	}
	return out
}

// validateCreate checks one create of x:Task/set.
func validateCreate(cid string, raw json.RawMessage) (validCreate, *jmap.SetError) {
	payload, due, perrs := task.DecodeCreate(raw)
	if len(perrs) > 0 {
		return validCreate{}, invalidProperties(perrs)
	}
	if !task.Creatable(payload.Variant()) {
		return validCreate{}, &jmap.SetError{Type: "forbidden", Description: fmt.Sprintf("%s tasks are created by the server, not through the API", payload.Variant())}
	}
	return validCreate{cid: cid, payload: payload, due: due}, nil
}

// parseDateValue reads a JSON string holding an RFC 3339 date-time.
func parseDateValue(raw json.RawMessage) (time.Time, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// update applies a patch: {"status": {"@type": "Pending", "due": ...}}
// retries the task (fresh attempts), {"status/due": ...} reschedules it.
func (a *api) update(ctx context.Context, id string, raw json.RawMessage) (*task.Task, *jmap.SetError) {
	var patch jmap.PatchObject
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
		sort.Slice(bad, func(i, j int) bool { return bad[i].Property < bad[j].Property })
		return nil, invalidProperties(bad)
	}
	if rawDue, ok := patch["status/due"]; ok {
		if _, both := patch["status"]; both {
			return nil, invalidProperties([]task.PropertyError{{Property: "status/due", Reason: "give status or status/due, not both"}})
		}
		due, ok := parseDateValue(rawDue)
		if !ok {
			return nil, invalidProperties([]task.PropertyError{{Property: "status/due", Reason: fmt.Sprintf("bad date-time %s: use RFC 3339, such as 2026-01-02T15:04:05Z", rawDue)}})
		}
		t, err := a.m.Reschedule(ctx, id, due)
		if errors.Is(err, taskmanager.ErrNotRunnable) {
			return nil, invalidProperties([]task.PropertyError{{Property: "status/due", Reason: err.Error()}})
		}
		return t, setErrorOf(err)
	}
	// The due date first, so that a bad one is reported as status/due.
	var rawStatus struct {
		Due json.RawMessage `json:"due"`
	}
	if json.Unmarshal(patch["status"], &rawStatus) == nil && rawStatus.Due != nil {
		if _, ok := parseDateValue(rawStatus.Due); !ok {
			return nil, invalidProperties([]task.PropertyError{{Property: "status/due", Reason: fmt.Sprintf("bad date-time %s: use RFC 3339, such as 2026-01-02T15:04:05Z", rawStatus.Due)}})
		}
	}
	var st adminapi.TaskStatusPatch
	if err := jmap.Args(patch["status"], &st); err != nil {
		return nil, invalidProperties([]task.PropertyError{{Property: "status", Reason: err.(*jmap.MethodError).Description}})
	}
	if st.Type != task.Pending {
		return nil, invalidProperties([]task.PropertyError{{Property: "status/@type", Reason: fmt.Sprintf("a task can be set to Pending only (to retry it), not %q", st.Type)}})
	}
	var due time.Time
	if st.Due != nil {
		due = *st.Due
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
	res := jmap.NewGetResponse[task.Settings]()
	if args.IDs == nil {
		res.List = append(res.List, a.m.Settings())
	} else {
		for _, id := range *args.IDs {
			if id == task.SingletonID {
				res.List = append(res.List, a.m.Settings())
			} else {
				res.NotFound = append(res.NotFound, id)
			}
		}
	}
	return res, nil
}

func (a *api) managerSet(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.SetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	if args.Create != nil || args.Destroy != nil {
		return nil, jmap.Errorf("invalidArguments", "x:TaskManager/set accepts update only: the TaskManager is a singleton")
	}
	res := jmap.NewSetResponse[jmap.None, jmap.None]()
	for id, patch := range args.Update {
		if id != task.SingletonID {
			res.NotUpdated[id] = &jmap.SetError{Type: "notFound", Description: `the TaskManager's id is "singleton"`}
			continue
		}
		_, perrs, err := a.m.UpdateSettings(ctx, patch)
		switch {
		case err != nil:
			res.NotUpdated[id] = setErrorOf(err)
		case len(perrs) > 0:
			res.NotUpdated[id] = invalidProperties(perrs)
		default:
			res.Updated[id] = nil
		}
	}
	return res, nil
}

func keys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// parallel runs f for each item and its index, setParallelism at a time.
func parallel[T any](items []T, f func(int, T)) {
	sem := make(chan struct{}, setParallelism)
	var wg sync.WaitGroup
	for i, it := range items {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i, it)
		}()
	}
	wg.Wait()
}
