package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jmap"
)

// queueFilterForm is the queue table's filter as the page's form gives it.
type queueFilterForm struct {
	Queue, Domain, Sender, Status string
	Pos                           int
}

func readQueueFilter(q url.Values) queueFilterForm {
	pos, _ := strconv.Atoi(q.Get("pos"))
	return queueFilterForm{Queue: q.Get("queue"), Domain: q.Get("domain"), Sender: q.Get("sender"), Status: q.Get("status"), Pos: max(pos, 0)}
}

func (f queueFilterForm) filter() adminapi.QueueFilter {
	return adminapi.QueueFilter{Queue: f.Queue, Domain: f.Domain, Sender: f.Sender, Status: adminapi.QueueStatus(f.Status)}
}

// Query is the form as a query string (without the position).
func (f queueFilterForm) Query() string {
	q := url.Values{}
	for k, v := range map[string]string{"queue": f.Queue, "domain": f.Domain, "sender": f.Sender, "status": f.Status} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

// queueData is what the queue page draws.
type queueData struct {
	Shape   *adminapi.QueueShapeResponse
	Filter  queueFilterForm
	Entries []adminapi.QueueEntry
	Total   int
	Prev    int
	Next    int
}

func (c *console) queuePage(w http.ResponseWriter, r *http.Request, u *user) {
	form := readQueueFilter(r.URL.Query())
	data := &queueData{Filter: form, Next: -1, Prev: -1}
	cl := c.client(u)
	var flashes []flash
	var shape adminapi.QueueShapeResponse
	if err := cl.Call(r.Context(), adminapi.MethodQueueShape, adminapi.QueueShapeArgs{Top: 20}, &shape); err != nil {
		flashes = append(flashes, flash{Kind: "error", Text: "queue summary: " + describe(err)})
	} else {
		data.Shape = &shape
	}
	f := form.filter()
	limit := pageSize
	var q adminapi.QueueQueryResponse
	if err := cl.Call(r.Context(), adminapi.MethodQueueQuery, adminapi.QueueQueryArgs{Filter: &f, Position: form.Pos, Limit: &limit, CalculateTotal: true}, &q); err != nil {
		flashes = append(flashes, flash{Kind: "error", Text: "queue entries: " + describe(err)})
	} else if len(q.IDs) > 0 {
		var res adminapi.QueueGetResponse
		if err := cl.Call(r.Context(), adminapi.MethodQueueGet, jmap.GetArgs{IDs: &q.IDs}, &res); err != nil {
			flashes = append(flashes, flash{Kind: "error", Text: "queue entries: " + describe(err)})
		}
		data.Entries = res.List
	}
	data.Total, data.Prev = q.Total, form.Pos-pageSize
	if form.Pos+pageSize < q.Total {
		data.Next = form.Pos + pageSize
	}
	c.render(w, r, u, http.StatusOK, "queue", "Queue", "queue", data, flashes...)
}

// entryData is what an entry's page draws.
type entryData struct {
	Entry adminapi.QueueEntry
	Trace *adminapi.Trace
	// TraceError says why there is no trace.
	TraceError string
}

func (c *console) entryPage(w http.ResponseWriter, r *http.Request, u *user) {
	id := r.PathValue("id")
	cl := c.client(u)
	var res adminapi.QueueGetResponse
	if err := cl.Call(r.Context(), adminapi.MethodQueueGet, jmap.GetArgs{IDs: &[]string{id}}, &res); err != nil {
		c.fail(w, r, u, http.StatusOK, err)
		return
	}
	if len(res.List) == 0 {
		c.fail(w, r, u, http.StatusNotFound, fmt.Errorf("queue entry %s is not queued (delivered, bounced or cancelled): see its trace in the account's deliveries", id))
		return
	}
	data := &entryData{Entry: res.List[0]}
	var tr adminapi.TraceGetResponse
	if err := cl.Call(r.Context(), adminapi.MethodTraceGet, jmap.GetArgs{IDs: &[]string{data.Entry.MessageID}}, &tr); err != nil {
		data.TraceError = describe(err)
	} else if len(tr.List) > 0 {
		data.Trace = &tr.List[0]
	} else {
		data.TraceError = "no trace recorded yet"
	}
	c.render(w, r, u, http.StatusOK, "entry", "Queue entry "+id, "queue", data)
}

// queueAction holds, releases, retries or cancels the entries checked
// (id) or, with all=1, every entry of the filter, once confirmed.
func (c *console) queueAction(w http.ResponseWriter, r *http.Request, u *user) {
	// A row's own button says "<action> <id>"; the bar's buttons say the
	// action, for the rows ticked.
	action, one, _ := strings.Cut(r.PostFormValue("one"), " ")
	if one == "" {
		action = r.PostFormValue("action")
	}
	form := readQueueFilter(r.PostForm)
	back := r.PostFormValue("back")
	if back == "" || safeNext(back) != back {
		back = "/ui/queue?" + form.Query()
	}
	var patch jmap.PatchObject
	switch action {
	case "hold":
		patch = adminapi.QueuePatch{Held: ptr(true)}.PatchObject()
	case "release":
		patch = adminapi.QueuePatch{Held: ptr(false)}.PatchObject()
	case "retry":
		patch = adminapi.QueuePatch{RetryNow: true}.PatchObject()
	case "cancel", "cancel-bounce":
	default:
		redirectErr(w, r, back, fmt.Sprintf("unknown action %q", action))
		return
	}
	ids := r.PostForm["id"]
	if one != "" {
		ids = []string{one}
	} else if r.PostFormValue("all") == "1" {
		f := form.filter()
		var q adminapi.QueueQueryResponse
		if err := c.client(u).Call(r.Context(), adminapi.MethodQueueQuery, adminapi.QueueQueryArgs{Filter: &f}, &q); err != nil {
			redirectErr(w, r, back, describe(err))
			return
		}
		if r.PostFormValue("confirm") != strconv.Itoa(len(q.IDs)) {
			fields := map[string]string{"action": action, "all": "1", "confirm": strconv.Itoa(len(q.IDs)),
				"queue": form.Queue, "domain": form.Domain, "sender": form.Sender, "status": form.Status, "back": back}
			c.render(w, r, u, http.StatusOK, "confirm", "Confirm", "queue", confirmData{
				Action: action, What: "queue entries matching the filter", Count: len(q.IDs), Target: "/ui/queue/action", Fields: fields, Back: back})
			return
		}
		ids = q.IDs
	}
	if len(ids) == 0 {
		redirectErr(w, r, back, "no entry chosen: tick some, or use the action on every entry of the filter")
		return
	}
	done, failed := 0, map[string]string{}
	for start := 0; start < len(ids); start += bulkChunk {
		chunk := ids[start:min(start+bulkChunk, len(ids))]
		args := adminapi.QueueSetArgs{}
		if patch == nil {
			args.Destroy = chunk
			args.OnDestroyBounce = action == "cancel-bounce"
		} else {
			raw, _ := json.Marshal(patch) // booleans and null: cannot fail
			args.Update = map[string]json.RawMessage{}
			for _, id := range chunk {
				args.Update[id] = raw
			}
		}
		var res adminapi.QueueSetResponse
		if err := c.client(u).Call(r.Context(), adminapi.MethodQueueSet, args, &res); err != nil {
			redirectErr(w, r, back, describe(err))
			return
		}
		done += len(res.Updated) + len(res.Destroyed)
		for id, why := range res.Failures() {
			failed[id] = why
		}
	}
	c.audit(r, u, "queue "+action, "entries", done, "failed", len(failed))
	msg := fmt.Sprintf("%s: %d entr%s", pastTense(action), done, plural(done, "y", "ies"))
	if len(failed) > 0 {
		redirectErr(w, r, back, msg+fmt.Sprintf("; %d not: %s", len(failed), firstFailure(failed)))
		return
	}
	if patch == nil && r.PostFormValue("all") != "1" && len(ids) == 1 && back != "/ui/queue?"+form.Query() {
		back = "/ui/queue" // the entry's page is gone
	}
	redirectOK(w, r, back, msg)
}

// queuePause pauses or resumes a virtual queue on every node.
func (c *console) queuePause(w http.ResponseWriter, r *http.Request, u *user) {
	name, pause := r.PostFormValue("queue"), r.PostFormValue("paused") == "true"
	raw, _ := json.Marshal(adminapi.VirtualQueuePatch{Paused: &pause}) // a boolean: cannot fail
	var res adminapi.VirtualQueueSetResponse
	err := c.client(u).Call(r.Context(), adminapi.MethodVirtualQueueSet, jmap.SetArgs{Update: map[string]json.RawMessage{name: raw}}, &res)
	if err != nil {
		redirectErr(w, r, "/ui/queue", describe(err))
		return
	}
	if e, ok := res.NotUpdated[name]; ok {
		redirectErr(w, r, "/ui/queue", name+": "+e.Description)
		return
	}
	verb := "resumed"
	if pause {
		verb = "paused"
	}
	c.audit(r, u, "queue "+verb, "queue", name)
	redirectOK(w, r, "/ui/queue", fmt.Sprintf("virtual queue %s %s on every node", name, verb))
}

func ptr[T any](v T) *T { return &v }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
