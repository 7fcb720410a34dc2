package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/task"
)

// pageSize is the rows of one page of a table.
const pageSize = 50

// bulkChunk is the objects of one /set call of a bulk action.
const bulkChunk = jmap.MaxObjectsInSet

// taskFilterForm is a task table's filter as the page's form gives it.
type taskFilterForm struct {
	View    string // scheduled or failed
	Type    string
	Account string
	Status  string // Pending or Retry (scheduled only); empty: both
	Pos     int
}

func readTaskFilter(view string, q url.Values) taskFilterForm {
	pos, _ := strconv.Atoi(q.Get("pos"))
	return taskFilterForm{View: view, Type: q.Get("type"), Account: q.Get("account"), Status: q.Get("status"), Pos: max(pos, 0)}
}

// filter is the API's filter for the form; a bad variant is an error.
func (f taskFilterForm) filter() (adminapi.TaskFilter, error) {
	var out adminapi.TaskFilter
	switch f.View {
	case "failed":
		out.Status = []task.StatusType{task.Failed}
	default:
		switch f.Status {
		case "":
			out.Status = []task.StatusType{task.Pending, task.Retry}
		case string(task.Pending), string(task.Retry):
			out.Status = []task.StatusType{task.StatusType(f.Status)}
		default:
			return out, fmt.Errorf("status %q: Pending or Retry", f.Status)
		}
	}
	if f.Type != "" {
		v, err := task.ParseVariant(f.Type)
		if err != nil {
			return out, err
		}
		out.Type = []task.Variant{v}
	}
	out.AccountID = f.Account
	return out, nil
}

// Query is the form as a query string (without the position).
func (f taskFilterForm) Query() string {
	q := url.Values{}
	for k, v := range map[string]string{"type": f.Type, "account": f.Account, "status": f.Status} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

// taskRow is a task as a table row.
type taskRow struct {
	adminapi.Task
	Fields string
}

// tasksData is what the task pages draw.
type tasksData struct {
	Filter   taskFilterForm
	Variants []task.Variant
	Rows     []taskRow
	Total    int
	Prev     int
	Next     int
	// Listed is false when the user may read tasks but not query them:
	// the page then shows at most jmap.MaxObjectsInGet.
	Listed bool
}

func (c *console) tasksPage(w http.ResponseWriter, r *http.Request, u *user) {
	view := r.PathValue("view")
	if view != "scheduled" && view != "failed" {
		http.NotFound(w, r)
		return
	}
	title := map[string]string{"scheduled": "Scheduled tasks", "failed": "Failed tasks"}[view]
	form := readTaskFilter(view, r.URL.Query())
	data := &tasksData{Filter: form, Variants: task.Variants(), Listed: true}
	filter, err := form.filter()
	if err != nil {
		c.render(w, r, u, http.StatusBadRequest, "tasks", title, "tasks-"+view, data, flash{Kind: "error", Text: err.Error()})
		return
	}
	data.Listed = u.p.Can(adminapi.PermTaskQuery)
	tasks, total, err := c.listTasks(r, u, filter, view == "failed", form.Pos)
	if err != nil {
		c.render(w, r, u, http.StatusOK, "tasks", title, "tasks-"+view, data, flash{Kind: "error", Text: describe(err)})
		return
	}
	for _, t := range tasks {
		data.Rows = append(data.Rows, taskRow{Task: t, Fields: taskFields(t)})
	}
	data.Total, data.Prev, data.Next = total, form.Pos-pageSize, -1
	if form.Pos+pageSize < total {
		data.Next = form.Pos + pageSize
	}
	c.render(w, r, u, http.StatusOK, "tasks", title, "tasks-"+view, data)
}

// taskFields are a task's own fields as one cell: name=value, ...
func taskFields(t adminapi.Task) string {
	var parts []string
	for _, k := range t.FieldNames() {
		parts = append(parts, k+"="+fieldText(t.Fields[k]))
	}
	return strings.Join(parts, " ")
}

// listTasks is a page of the tasks filter keeps, soonest due first (most
// recently failed first for failed ones), and how many it keeps in all.
// A user who may get tasks but not query them gets them by x:Task/get.
func (c *console) listTasks(r *http.Request, u *user, filter adminapi.TaskFilter, newestFirst bool, pos int) ([]adminapi.Task, int, error) {
	cl := c.client(u)
	if !u.p.Can(adminapi.PermTaskQuery) && u.p.Can(adminapi.PermTaskGet) {
		var res adminapi.TaskGetResponse
		if err := cl.Call(r.Context(), adminapi.MethodTaskGet, jmap.GetArgs{}, &res); err != nil {
			return nil, 0, err
		}
		var kept []adminapi.Task
		for _, t := range res.List {
			if keeps(filter, t) {
				kept = append(kept, t)
			}
		}
		sortTasks(kept, newestFirst)
		total := len(kept)
		if pos < total {
			kept = kept[pos:min(pos+pageSize, total)]
		} else {
			kept = nil
		}
		return kept, total, nil
	}
	limit := pageSize
	asc := !newestFirst
	args := adminapi.TaskQueryArgs{Filter: &filter, Position: pos, Limit: &limit, CalculateTotal: true,
		Sort: []jmap.Comparator{{Property: "due", IsAscending: &asc}}}
	var q adminapi.TaskQueryResponse
	if err := cl.Call(r.Context(), adminapi.MethodTaskQuery, args, &q); err != nil {
		return nil, 0, err
	}
	if len(q.IDs) == 0 {
		return nil, q.Total, nil
	}
	var res adminapi.TaskGetResponse
	if err := cl.Call(r.Context(), adminapi.MethodTaskGet, jmap.GetArgs{IDs: &q.IDs}, &res); err != nil {
		return nil, 0, err
	}
	return res.List, q.Total, nil
}

// keeps applies filter to t, as x:Task/query would.
func keeps(f adminapi.TaskFilter, t adminapi.Task) bool {
	if t.Status == nil {
		return false
	}
	ok := len(f.Status) == 0
	for _, s := range f.Status {
		ok = ok || s == t.Status.Type
	}
	if !ok {
		return false
	}
	ok = len(f.Type) == 0
	for _, v := range f.Type {
		ok = ok || v == t.Type
	}
	if !ok {
		return false
	}
	if f.AccountID != "" {
		var acc string
		_ = json.Unmarshal(t.Fields["accountId"], &acc)
		return acc == f.AccountID
	}
	return true
}

func taskWhen(t adminapi.Task) time.Time {
	if t.Status.Type == task.Failed {
		return t.Status.FailedAt
	}
	return t.Status.Due
}

func sortTasks(list []adminapi.Task, newestFirst bool) {
	less := func(a, b adminapi.Task) bool {
		if newestFirst {
			return taskWhen(a).After(taskWhen(b))
		}
		return taskWhen(a).Before(taskWhen(b))
	}
	for i := 1; i < len(list); i++ { // small lists: at most MaxObjectsInGet
		for j := i; j > 0 && less(list[j], list[j-1]); j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
}

// confirmData is a bulk action's confirmation page: the form posted
// again, with confirm set to the count shown.
type confirmData struct {
	Action string
	// What and Count say what the action is about.
	What   string
	Count  int
	Target string
	Fields map[string]string
	Back   string
}

// taskAction retries, reschedules or destroys the tasks checked (ids) or,
// with all=1, every task of the page's filter, once confirmed.
func (c *console) taskAction(w http.ResponseWriter, r *http.Request, u *user) {
	// A row's own button says "<action> <id>"; the bar's buttons say the
	// action, for the rows ticked.
	action, one, _ := strings.Cut(r.PostFormValue("one"), " ")
	if one == "" {
		action = r.PostFormValue("action")
	}
	view := r.PostFormValue("view")
	if view != "failed" {
		view = "scheduled"
	}
	form := readTaskFilter(view, r.PostForm)
	back := "/ui/tasks/" + view + "?" + form.Query()
	var patch jmap.PatchObject
	switch action {
	case "retry":
		patch = adminapi.TaskRetryPatch(nil)
	case "reschedule":
		due, err := parseDue(r.PostFormValue("due"), c.clock.Now())
		if err != nil {
			redirectErr(w, r, back, "reschedule: "+err.Error())
			return
		}
		if view == "failed" {
			patch = adminapi.TaskRetryPatch(&due)
		} else {
			patch = adminapi.TaskReschedulePatch(due)
		}
	case "destroy":
	default:
		redirectErr(w, r, back, fmt.Sprintf("unknown action %q", action))
		return
	}
	ids := r.PostForm["id"]
	if one != "" {
		ids = []string{one}
	} else if r.PostFormValue("all") == "1" {
		filter, err := form.filter()
		if err != nil {
			redirectErr(w, r, back, err.Error())
			return
		}
		all, err := c.allTaskIDs(r, u, filter)
		if err != nil {
			redirectErr(w, r, back, describe(err))
			return
		}
		if r.PostFormValue("confirm") != strconv.Itoa(len(all)) {
			fields := map[string]string{"action": action, "view": view, "all": "1", "confirm": strconv.Itoa(len(all)),
				"type": form.Type, "account": form.Account, "status": form.Status, "due": r.PostFormValue("due")}
			c.render(w, r, u, http.StatusOK, "confirm", "Confirm", "tasks-"+view, confirmData{
				Action: action, What: "tasks matching the filter", Count: len(all), Target: "/ui/tasks/action", Fields: fields, Back: back})
			return
		}
		ids = all
	}
	if len(ids) == 0 {
		redirectErr(w, r, back, "no task chosen: tick some, or use the action on every task of the filter")
		return
	}
	done, failed := 0, map[string]string{}
	for start := 0; start < len(ids); start += bulkChunk {
		chunk := ids[start:min(start+bulkChunk, len(ids))]
		args := jmap.SetArgs{}
		if action == "destroy" {
			args.Destroy = chunk
		} else {
			args.Update = map[string]json.RawMessage{}
			raw, _ := json.Marshal(patch) // a patch of times: cannot fail
			for _, id := range chunk {
				args.Update[id] = raw
			}
		}
		var res adminapi.TaskSetResponse
		if err := c.client(u).Call(r.Context(), adminapi.MethodTaskSet, args, &res); err != nil {
			redirectErr(w, r, back, describe(err))
			return
		}
		done += len(res.Updated) + len(res.Destroyed)
		for id, why := range res.Failures() {
			failed[id] = why
		}
	}
	c.audit(r, u, "task "+action, "tasks", done, "failed", len(failed), "due", r.PostFormValue("due"))
	msg := fmt.Sprintf("%s: %d task(s)", pastTense(action), done)
	if len(failed) > 0 {
		msg += fmt.Sprintf("; %d not: %s", len(failed), firstFailure(failed))
		redirectErr(w, r, back, msg)
		return
	}
	redirectOK(w, r, back, msg)
}

// allTaskIDs are the ids of every task filter keeps.
func (c *console) allTaskIDs(r *http.Request, u *user, filter adminapi.TaskFilter) ([]string, error) {
	if !u.p.Can(adminapi.PermTaskQuery) {
		return nil, fmt.Errorf("not allowed: acting on every task of a filter needs %s", adminapi.PermTaskQuery)
	}
	var q adminapi.TaskQueryResponse
	if err := c.client(u).Call(r.Context(), adminapi.MethodTaskQuery, adminapi.TaskQueryArgs{Filter: &filter}, &q); err != nil {
		return nil, err
	}
	return q.IDs, nil
}

func pastTense(action string) string {
	switch action {
	case "retry":
		return "retried"
	case "destroy":
		return "destroyed"
	case "cancel":
		return "cancelled"
	case "cancel-bounce":
		return "cancelled with a bounce"
	case "hold":
		return "held"
	case "release":
		return "released"
	}
	return action + "d"
}

// firstFailure is one of the failures, for a message.
func firstFailure(m map[string]string) string {
	for id, why := range m {
		return id + ": " + why
	}
	return ""
}

func redirectOK(w http.ResponseWriter, r *http.Request, to, msg string) {
	http.Redirect(w, r, withParam(to, "ok", msg), http.StatusSeeOther)
}

func redirectErr(w http.ResponseWriter, r *http.Request, to, msg string) {
	http.Redirect(w, r, withParam(to, "err", msg), http.StatusSeeOther)
}

func withParam(to, k, v string) string {
	sep := "?"
	if strings.Contains(to, "?") {
		sep = "&"
		if strings.HasSuffix(to, "?") {
			sep = ""
		}
	}
	return to + sep + k + "=" + url.QueryEscape(v)
}
