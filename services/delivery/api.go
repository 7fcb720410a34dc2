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
	"unicode"

	"github.com/jetmail/jetmail/shared/address"
	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/duration"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/mailqueue"
)

// Permissions of the queue API.
const (
	PermQueueGet     = adminapi.PermQueueGet
	PermQueueQuery   = adminapi.PermQueueQuery
	PermQueueUpdate  = adminapi.PermQueueUpdate
	PermQueueDestroy = adminapi.PermQueueDestroy
	PermQueueImport  = adminapi.PermQueueImport
)

// maxQueueObjects bounds the entries or messages of one queue method call.
const maxQueueObjects = jmap.MaxObjectsInSet

type api struct{ q *mailqueue.Queue }

func registerAPI(srv *jmap.Server, q *mailqueue.Queue) {
	a := &api{q}
	srv.Handle(adminapi.MethodQueueGet, PermQueueGet, a.get)
	srv.Handle(adminapi.MethodQueueQuery, PermQueueQuery, a.query)
	srv.Handle(adminapi.MethodQueueSet, "", a.set) // each operation checks its own permission
	srv.Handle(adminapi.MethodQueueExport, PermQueueGet, a.export)
	srv.Handle(adminapi.MethodQueueImport, PermQueueImport, a.importMessages)
	srv.Handle(adminapi.MethodVirtualQueueGet, PermQueueGet, a.vqGet)
	srv.Handle(adminapi.MethodVirtualQueueSet, PermQueueUpdate, a.vqSet)
	srv.Handle(adminapi.MethodQueueShape, PermQueueQuery, a.shape)
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
	res := jmap.NewGetResponse[adminapi.QueueEntry]()
	for _, id := range *args.IDs {
		r, err := a.q.Get(ctx, id)
		if errors.Is(err, mailqueue.ErrNotFound) {
			res.NotFound = append(res.NotFound, id)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get queue entry %s: %w", id, err)
		}
		res.List = append(res.List, adminapi.QueueEntryFrom(r))
	}
	return res, nil
}

func (a *api) query(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	args, err := jmap.DecodeQuery[adminapi.QueueFilter](raw)
	if err != nil {
		return nil, err
	}
	if len(args.Sort) > 0 {
		return nil, jmap.Errorf("unsupportedSort", "queue entries are listed soonest due first; sort is not supported")
	}
	f := queueFilter(args.Filter)
	f.Position, f.Limit = args.Position, args.LimitOr(0)
	ids, total, err := a.q.List(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list queue entries: %w", err)
	}
	return jmap.NewQueryResponse(ids, f.Position, total), nil
}

// queueFilter is the queue's filter for an API one (nil: every entry).
func queueFilter(qf *adminapi.QueueFilter) mailqueue.Filter {
	var f mailqueue.Filter
	if qf != nil {
		f.Queue, f.Domain, f.Sender, f.Status = qf.Queue, qf.Domain, qf.Sender, string(qf.Status)
		f.DueAfter, f.DueBefore = qf.DueAfter, qf.DueBefore
	}
	return f
}

// shape counts the entries per virtual queue, and per domain by age.
func (a *api) shape(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args adminapi.QueueShapeArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	top := args.Top
	switch {
	case top == 0:
		top = 50
	case top < 0 || top > maxQueueObjects:
		return nil, jmap.Errorf("invalidArguments", "top must be between 1 and %d", maxQueueObjects)
	}
	s, err := a.q.Shape(ctx, time.Now(), queueFilter(args.Filter), nil, top)
	if err != nil {
		return nil, err
	}
	inFlight, err := a.q.InFlight(ctx)
	if err != nil {
		return nil, fmt.Errorf("count deliveries in flight: %w", err)
	}
	paused := map[string]bool{}
	for _, n := range a.q.Paused() {
		paused[n] = true
	}
	res := &adminapi.QueueShapeResponse{Queues: []adminapi.QueueFigures{}, Buckets: []string{}, Domains: []adminapi.DomainShape{}}
	for _, n := range a.q.VirtualQueues() {
		f := s.Queues[n]
		res.Queues = append(res.Queues, adminapi.QueueFigures{ID: n, Queued: f.Queued, Retrying: f.Retrying, Held: f.Held,
			InFlight: inFlight[n], Paused: paused[n], Oldest: f.Oldest})
	}
	for _, f := range s.Queues { // a queue no longer configured counts too
		res.Total += f.Queued + f.Retrying + f.Held
	}
	for _, b := range s.Buckets {
		res.Buckets = append(res.Buckets, duration.Format(b))
	}
	for _, d := range s.Domains {
		res.Domains = append(res.Domains, adminapi.DomainShape{Domain: d.Domain, Total: d.Total, Counts: d.Counts})
	}
	return res, nil
}

// set: update {"due": T} reschedules, {"due": null} retries now,
// {"held": true|false} holds or releases; destroy cancels, bouncing to the
// sender when the argument onDestroyBounce is true.
func (a *api) set(ctx context.Context, p *jmap.Principal, raw json.RawMessage) (any, error) {
	var args adminapi.QueueSetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	if args.Create != nil {
		return nil, jmap.Errorf("invalidArguments", "queue entries are created by SMTP or x:Queue/import, not by x:Queue/set")
	}
	if n := len(args.Update) + len(args.Destroy); n > maxQueueObjects {
		return nil, jmap.Errorf("requestTooLarge", "%d operations; at most %d per x:Queue/set", n, maxQueueObjects)
	}
	res := jmap.NewSetResponse[jmap.None, adminapi.QueueEntryUpdated]()
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
			res.NotUpdated[id] = forbidden(PermQueueUpdate)
			continue
		}
		r, serr := a.update(ctx, id, args.Update[id])
		if serr != nil {
			res.NotUpdated[id] = serr
			continue
		}
		res.Updated[id] = &adminapi.QueueEntryUpdated{Due: r.Due, Held: r.Held}
	}
	for _, id := range args.Destroy {
		if !p.Can(PermQueueDestroy) {
			res.NotDestroyed[id] = forbidden(PermQueueDestroy)
			continue
		}
		if err := a.q.Cancel(ctx, id, args.OnDestroyBounce); err != nil {
			res.NotDestroyed[id] = setError(err)
			continue
		}
		res.Destroyed = append(res.Destroyed, id)
	}
	return res, nil
}

func (a *api) update(ctx context.Context, id string, raw json.RawMessage) (*mailqueue.Recipient, *jmap.SetError) {
	var patch jmap.PatchObject
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

// export returns the messages of the given entries, each once with all its
// entries asked for as recipients. An id that is gone (delivered meanwhile)
// is left out.
func (a *api) export(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args adminapi.QueueExportArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	if len(args.IDs) > maxQueueObjects {
		return nil, jmap.Errorf("requestTooLarge", "at most %d ids per x:Queue/export", maxQueueObjects)
	}
	byMsg := map[string]*adminapi.QueueMessage{}
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
			e = &adminapi.QueueMessage{Envelope: r.Envelope, Body: base64.StdEncoding.EncodeToString(body)}
			byMsg[r.MessageID] = e
			order = append(order, r.MessageID)
		}
		e.Recipients = append(e.Recipients, mailqueue.RcptIn{Address: r.Address, ORCPT: r.ORCPT, Notify: r.Notify})
	}
	res := &adminapi.QueueExportResponse{Messages: make([]adminapi.QueueMessage, 0, len(order))}
	for _, id := range order {
		res.Messages = append(res.Messages, *byMsg[id])
	}
	return res, nil
}

// importMessages queues exported messages again (new message ids; the
// original arrival time and envelope are kept).
func (a *api) importMessages(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args adminapi.QueueImportArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	if len(args.Messages) > maxQueueObjects {
		return nil, jmap.Errorf("requestTooLarge", "%d messages; at most %d per x:Queue/import", len(args.Messages), maxQueueObjects)
	}
	res := &adminapi.QueueImportResponse{Imported: []string{}, NotImported: map[int]string{}}
	for i, m := range args.Messages {
		body, err := base64.StdEncoding.DecodeString(m.Body)
		if err != nil || len(m.Recipients) == 0 {
			res.NotImported[i] = "needs a base64 body and at least one recipient"
			continue
		}
		if why := checkImport(m); why != "" {
			res.NotImported[i] = why
			continue
		}
		id, err := a.q.Enqueue(ctx, m.Envelope, m.Recipients, body)
		if err != nil {
			res.NotImported[i] = err.Error()
			continue
		}
		res.Imported = append(res.Imported, id)
	}
	return res, nil
}

// checkImport says what is wrong with the envelope of an imported message,
// or "" when nothing is. Its addresses and the envelope fields that end
// up in SMTP commands, Received headers and DSNs must be free of control
// characters: a CR or LF there would inject commands or header lines, so
// the message is refused now rather than queued to fail (or worse) later.
func checkImport(m adminapi.QueueMessage) string {
	var bad []string
	addr := func(what, a string) {
		if why := controlChar(a); why != "" {
			bad = append(bad, fmt.Sprintf("%s %q %s", what, a, why))
		} else if _, err := address.Parse(a); err != nil {
			bad = append(bad, fmt.Sprintf("%s %q is not an address", what, a))
		}
	}
	field := func(what, v string) {
		if why := controlChar(v); why != "" {
			bad = append(bad, fmt.Sprintf("%s %q %s", what, v, why))
		}
	}
	if m.Envelope.Sender != "" { // empty is the null sender <>
		addr("sender", m.Envelope.Sender)
	}
	field("envelope envId", m.Envelope.EnvID)
	field("envelope helo", m.Envelope.Helo)
	field("envelope receivedFromIp", m.Envelope.ReceivedFromIP)
	for j, rc := range m.Recipients {
		addr("recipient", rc.Address)
		field(fmt.Sprintf("recipient %d ORCPT", j), rc.ORCPT)
	}
	return strings.Join(bad, "; ")
}

// controlChar describes the first control character of s (C0, DEL or C1:
// CR, LF, NUL, tab, ...), or returns "" when it has none.
func controlChar(s string) string {
	for i, r := range s {
		if unicode.IsControl(r) {
			return fmt.Sprintf("has a control character (U+%04X at byte %d): CR, LF, NUL and other control characters are not allowed", r, i)
		}
	}
	return ""
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
		return nil, fmt.Errorf("count queue entries: %w", err)
	}
	res := jmap.NewGetResponse[adminapi.VirtualQueue]()
	names := a.q.VirtualQueues()
	if args.IDs != nil {
		names = nil
		for _, id := range *args.IDs {
			if _, ok := a.q.VirtualQueueThreads(id); ok {
				names = append(names, id)
			} else {
				res.NotFound = append(res.NotFound, id)
			}
		}
	}
	for _, n := range names {
		threads, _ := a.q.VirtualQueueThreads(n)
		res.List = append(res.List, adminapi.VirtualQueue{ID: n, ThreadsPerNode: threads, Paused: paused[n], Queued: depth[n]})
	}
	return res, nil
}

func (a *api) vqSet(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.SetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	if args.Create != nil || args.Destroy != nil {
		return nil, jmap.Errorf("invalidArguments", "virtual queues are defined in the configuration (queue.virtual.<name>); only update {\"paused\": ...} is accepted")
	}
	res := jmap.NewSetResponse[jmap.None, jmap.None]()
	for id, raw := range args.Update {
		var patch adminapi.VirtualQueuePatch
		if err := jmap.Args(raw, &patch); err != nil || patch.Paused == nil {
			res.NotUpdated[id] = &jmap.SetError{Type: "invalidProperties", Properties: []string{"paused"}, Description: "update paused: true or false"}
			continue
		}
		var err error
		if *patch.Paused {
			err = a.q.Pause(ctx, id)
		} else {
			err = a.q.Resume(ctx, id)
		}
		if err != nil {
			res.NotUpdated[id] = &jmap.SetError{Type: "notFound", Description: err.Error()}
			continue
		}
		res.Updated[id] = nil
	}
	return res, nil
}
