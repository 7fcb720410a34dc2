package delivery

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/mailqueue"
)

// Permissions of the queue API.
const (
	PermQueueGet     = "sysQueueGet"
	PermQueueQuery   = "sysQueueQuery"
	PermQueueUpdate  = "sysQueueUpdate"
	PermQueueDestroy = "sysQueueDestroy"
	PermQueueImport  = "sysQueueImport"
)

const maxQueueObjects = 1000

type api struct{ q *mailqueue.Queue }

func registerAPI(srv *jmap.Server, q *mailqueue.Queue) {
	a := &api{q}
	srv.Handle("x:Queue/get", PermQueueGet, a.get)
	srv.Handle("x:Queue/query", PermQueueQuery, a.query)
	srv.Handle("x:Queue/set", "", a.set)
	srv.Handle("x:Queue/export", PermQueueGet, a.export)
	srv.Handle("x:Queue/import", PermQueueImport, a.importMessages)
	srv.Handle("x:VirtualQueue/get", PermQueueGet, a.vqGet)
	srv.Handle("x:VirtualQueue/set", PermQueueUpdate, a.vqSet)
}

// entryJSON is a queue entry as the API shows it; its id is the entry key.
func entryJSON(r *mailqueue.Recipient) map[string]any {
	m := map[string]any{
		"id": r.Key(), "messageId": r.MessageID, "rcpt": r.Address, "sender": r.Sender, "queue": r.Queue, "schedule": r.Schedule,
		"due": r.Due, "attempts": r.Attempts, "held": r.Held, "receivedAt": r.ReceivedAt, "size": r.Size, "source": r.Source,
	}
	for k, v := range map[string]string{"lastStatus": r.LastStatus, "lastError": r.LastError, "remoteMta": r.RemoteMTA, "envId": r.EnvID} {
		if v != "" {
			m[k] = v
		}
	}
	if !r.Expires.IsZero() {
		m["expires"] = r.Expires
	}
	if r.MaxAttempts > 0 {
		m["maxAttempts"] = r.MaxAttempts
	}
	if !r.LastAttempt.IsZero() {
		m["lastAttempt"] = r.LastAttempt
	}
	return m
}

func (a *api) get(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.GetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	if args.IDs == nil {
		return nil, jmap.Errorf("invalidArguments", "ids is required: use x:Queue/query to list entries")
	}
	if len(*args.IDs) > maxQueueObjects {
		return nil, jmap.Errorf("requestTooLarge", "at most %d ids per x:Queue/get", maxQueueObjects)
	}
	list, notFound := []any{}, []string{}
	for _, id := range *args.IDs {
		r, err := a.q.Get(ctx, id)
		if errors.Is(err, mailqueue.ErrNotFound) {
			notFound = append(notFound, id)
			continue
		}
		if err != nil {
			return nil, err
		}
		list = append(list, entryJSON(r))
	}
	return map[string]any{"accountId": nil, "state": "0", "list": list, "notFound": notFound}, nil
}

type queueFilter struct {
	Queue     string  `json:"queue"`
	Domain    string  `json:"domain"`
	Sender    string  `json:"sender"`
	Status    string  `json:"status"`
	DueAfter  *string `json:"dueAfter"`
	DueBefore *string `json:"dueBefore"`
}

func buildFilter(raw *json.RawMessage) (mailqueue.Filter, error) {
	var f mailqueue.Filter
	if raw == nil {
		return f, nil
	}
	var qf queueFilter
	if err := jmap.Args(*raw, &qf); err != nil {
		return f, jmap.Errorf("unsupportedFilter", "%s (filter properties: queue, domain, sender, status, dueAfter, dueBefore)", err.(*jmap.MethodError).Description)
	}
	if qf.Status != "" && qf.Status != "queued" && qf.Status != "retrying" && qf.Status != "held" {
		return f, jmap.Errorf("invalidArguments", "filter/status: %q is not one of queued, retrying, held", qf.Status)
	}
	f.Queue, f.Domain, f.Sender, f.Status = qf.Queue, qf.Domain, qf.Sender, qf.Status
	for prop, src := range map[string]*string{"filter/dueAfter": qf.DueAfter, "filter/dueBefore": qf.DueBefore} {
		if src == nil {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, *src)
		if err != nil {
			return f, jmap.Errorf("invalidArguments", "%s: bad date-time %q: use RFC 3339, such as 2026-01-02T15:04:05Z", prop, *src)
		}
		if prop == "filter/dueAfter" {
			f.DueAfter = &t
		} else {
			f.DueBefore = &t
		}
	}
	return f, nil
}

func (a *api) query(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args struct {
		AccountID      *string          `json:"accountId"`
		Filter         *json.RawMessage `json:"filter"`
		Position       int              `json:"position"`
		Limit          *int             `json:"limit"`
		CalculateTotal bool             `json:"calculateTotal"`
	}
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	f, err := buildFilter(args.Filter)
	if err != nil {
		return nil, err
	}
	if args.Position < 0 {
		return nil, jmap.Errorf("invalidArguments", "position must be 0 or more, got %d", args.Position)
	}
	f.Position = args.Position
	if args.Limit != nil {
		if *args.Limit < 0 {
			return nil, jmap.Errorf("invalidArguments", "limit must be 0 or more, got %d", *args.Limit)
		}
		f.Limit = *args.Limit
	}
	ids, total, err := a.q.List(ctx, f)
	if err != nil {
		return nil, err
	}
	return map[string]any{"accountId": nil, "queryState": "0", "canCalculateChanges": false, "position": min(f.Position, total), "ids": ids, "total": total}, nil
}

// set: update {"due": T} reschedules, {"due": null} retries now,
// {"held": true|false} holds or releases; destroy cancels, bouncing to the
// sender when the argument onDestroyBounce is true.
func (a *api) set(ctx context.Context, p *jmap.Principal, raw json.RawMessage) (any, error) {
	var args struct {
		jmap.SetArgs
		OnDestroyBounce bool `json:"onDestroyBounce"`
	}
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	if args.Create != nil {
		return nil, jmap.Errorf("invalidArguments", "queue entries are created by SMTP or x:Queue/import, not by x:Queue/set")
	}
	if n := len(args.Update) + len(args.Destroy); n > maxQueueObjects {
		return nil, jmap.Errorf("requestTooLarge", "%d operations; at most %d per x:Queue/set", n, maxQueueObjects)
	}
	updated, notUpdated := map[string]any{}, map[string]*jmap.SetError{}
	destroyed, notDestroyed := []string{}, map[string]*jmap.SetError{}
	forbidden := func(perm string) *jmap.SetError {
		return &jmap.SetError{Type: "forbidden", Description: fmt.Sprintf("needs the %s permission, which %s lacks", perm, p.Name)}
	}
	ids := make([]string, 0, len(args.Update))
	for id := range args.Update {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if !p.Can(PermQueueUpdate) {
			notUpdated[id] = forbidden(PermQueueUpdate)
			continue
		}
		r, serr := a.update(ctx, id, args.Update[id])
		if serr != nil {
			notUpdated[id] = serr
			continue
		}
		updated[id] = map[string]any{"due": r.Due, "held": r.Held}
	}
	for _, id := range args.Destroy {
		if !p.Can(PermQueueDestroy) {
			notDestroyed[id] = forbidden(PermQueueDestroy)
			continue
		}
		if err := a.q.Cancel(ctx, id, args.OnDestroyBounce); err != nil {
			notDestroyed[id] = setError(err)
			continue
		}
		destroyed = append(destroyed, id)
	}
	return map[string]any{"accountId": nil, "oldState": "0", "newState": "0", "updated": updated, "notUpdated": notUpdated,
		"destroyed": destroyed, "notDestroyed": notDestroyed, "created": map[string]any{}, "notCreated": map[string]any{}}, nil
}

func (a *api) update(ctx context.Context, id string, raw json.RawMessage) (*mailqueue.Recipient, *jmap.SetError) {
	var patch map[string]json.RawMessage
	if json.Unmarshal(raw, &patch) != nil || patch == nil {
		return nil, &jmap.SetError{Type: "invalidPatch", Description: "a patch must be a JSON object"}
	}
	bad := func(prop, why string) *jmap.SetError {
		return &jmap.SetError{Type: "invalidProperties", Properties: []string{prop}, Description: prop + ": " + why}
	}
	for k := range patch {
		if k != "due" && k != "held" {
			return nil, bad(k, "cannot be changed: update due (null to retry now) or held")
		}
	}
	var r *mailqueue.Recipient
	var err error
	if raw, ok := patch["held"]; ok {
		var held bool
		if json.Unmarshal(raw, &held) != nil {
			return nil, bad("held", "must be true or false")
		}
		if held {
			r, err = a.q.Hold(ctx, id)
		} else {
			r, err = a.q.Release(ctx, id)
		}
		if err != nil {
			return nil, setError(err)
		}
	}
	if raw, ok := patch["due"]; ok {
		if string(raw) == "null" {
			r, err = a.q.RetryNow(ctx, id)
		} else {
			var s string
			t, perr := time.Time{}, json.Unmarshal(raw, &s)
			if perr == nil {
				t, perr = time.Parse(time.RFC3339Nano, s)
			}
			if perr != nil {
				return nil, bad("due", fmt.Sprintf("bad date-time %s: use RFC 3339, or null to retry now", raw))
			}
			r, err = a.q.Reschedule(ctx, id, t)
		}
		if err != nil {
			return nil, setError(err)
		}
	}
	return r, nil
}

func setError(err error) *jmap.SetError {
	switch {
	case errors.Is(err, mailqueue.ErrNotFound):
		return &jmap.SetError{Type: "notFound", Description: "no queue entry with this id"}
	case errors.Is(err, mailqueue.ErrConflict):
		return &jmap.SetError{Type: "stateMismatch", Description: err.Error()}
	default:
		return &jmap.SetError{Type: "serverFail", Description: err.Error()}
	}
}

// Exported is a queued message as export writes it and import reads it.
type Exported struct {
	Envelope   mailqueue.Envelope    `json:"envelope"`
	Recipients []mailqueue.RcptIn    `json:"recipients"`
	Body       string                `json:"body"` // base64
	Entries    []mailqueue.Recipient `json:"entries,omitempty"`
}

// export returns the messages of the given entries, each once with all its
// queued recipients.
func (a *api) export(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args struct {
		IDs []string `json:"ids"`
	}
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	if len(args.IDs) > maxQueueObjects {
		return nil, jmap.Errorf("requestTooLarge", "at most %d ids per x:Queue/export", maxQueueObjects)
	}
	byMsg := map[string]*Exported{}
	var order []string
	for _, id := range args.IDs {
		r, err := a.q.Get(ctx, id)
		if err != nil {
			continue
		}
		e := byMsg[r.MessageID]
		if e == nil {
			body, err := a.q.Body(ctx, r.MessageID)
			if err != nil {
				continue
			}
			e = &Exported{Envelope: r.Envelope, Body: base64.StdEncoding.EncodeToString(body)}
			byMsg[r.MessageID] = e
			order = append(order, r.MessageID)
		}
		e.Recipients = append(e.Recipients, mailqueue.RcptIn{Address: r.Address, ORCPT: r.ORCPT, Notify: r.Notify})
	}
	list := make([]*Exported, 0, len(order))
	for _, id := range order {
		list = append(list, byMsg[id])
	}
	return map[string]any{"messages": list}, nil
}

// importMessages queues exported messages again (new message ids; the
// original arrival time and envelope are kept).
func (a *api) importMessages(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args struct {
		Messages []Exported `json:"messages"`
	}
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	ids, notImported := []string{}, map[int]string{}
	for i, m := range args.Messages {
		body, err := base64.StdEncoding.DecodeString(m.Body)
		if err != nil || len(m.Recipients) == 0 {
			notImported[i] = "needs a base64 body and at least one recipient"
			continue
		}
		for _, rc := range m.Recipients {
			if !strings.Contains(rc.Address, "@") {
				notImported[i] = fmt.Sprintf("recipient %q is not an address", rc.Address)
			}
		}
		if _, bad := notImported[i]; bad {
			continue
		}
		id, err := a.q.Enqueue(ctx, m.Envelope, m.Recipients, body)
		if err != nil {
			notImported[i] = err.Error()
			continue
		}
		ids = append(ids, id)
	}
	return map[string]any{"imported": ids, "notImported": notImported}, nil
}

func (a *api) vqGet(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.GetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	paused := map[string]bool{}
	for _, n := range a.q.Paused() {
		paused[n] = true
	}
	depth, err := a.q.Depth(ctx)
	if err != nil {
		return nil, err
	}
	list, notFound := []any{}, []string{}
	names := a.q.VirtualQueues()
	if args.IDs != nil {
		names = nil
		for _, id := range *args.IDs {
			if _, ok := a.q.VirtualQueueThreads(id); ok {
				names = append(names, id)
			} else {
				notFound = append(notFound, id)
			}
		}
	}
	for _, n := range names {
		threads, _ := a.q.VirtualQueueThreads(n)
		list = append(list, map[string]any{"id": n, "threadsPerNode": threads, "paused": paused[n], "queued": depth[n]})
	}
	return map[string]any{"accountId": nil, "state": "0", "list": list, "notFound": notFound}, nil
}

func (a *api) vqSet(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.SetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	if args.Create != nil || args.Destroy != nil {
		return nil, jmap.Errorf("invalidArguments", "virtual queues are defined in the configuration (queue.virtual.<name>); only update {\"paused\": ...} is accepted")
	}
	updated, notUpdated := map[string]any{}, map[string]*jmap.SetError{}
	for id, raw := range args.Update {
		var patch struct {
			Paused *bool `json:"paused"`
		}
		if err := jmap.Args(raw, &patch); err != nil || patch.Paused == nil {
			notUpdated[id] = &jmap.SetError{Type: "invalidProperties", Properties: []string{"paused"}, Description: "update paused: true or false"}
			continue
		}
		var err error
		if *patch.Paused {
			err = a.q.Pause(ctx, id)
		} else {
			err = a.q.Resume(ctx, id)
		}
		if err != nil {
			notUpdated[id] = &jmap.SetError{Type: "notFound", Description: err.Error()}
			continue
		}
		updated[id] = nil
	}
	return map[string]any{"accountId": nil, "oldState": "0", "newState": "0", "updated": updated, "notUpdated": notUpdated}, nil
}
