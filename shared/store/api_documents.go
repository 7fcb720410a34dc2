package store

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jmap"
)

// docSpec is how one document type is served by a /get and a /set:
// CalendarEvent, ContactCard and FileNode are written whole from their
// properties, so one shape serves them all.
type docSpec[T any] struct {
	typ Type
	// getPerm and setPerm let an API user reach any account's documents.
	getPerm, setPerm string
	// out is a document as its /get shows it.
	out func(*Document) (T, error)
	// fill sets a document's Data (and Size, BlobID) from properties: a
	// create's (d new, Data nil) or an update's (d as stored). A problem
	// is a *jmap.SetError or a store error.
	fill func(ctx context.Context, account string, d *Document, props json.RawMessage) error
}

// registerDocuments serves CalendarEvent, ContactCard and FileNode.
func registerDocuments(srv *jmap.Server, a *api) {
	handleDocs(srv, a, adminapi.MethodCalendarEventGet, adminapi.MethodCalendarEventSet, calendarSpec)
	handleDocs(srv, a, adminapi.MethodContactCardGet, adminapi.MethodContactCardSet, contactSpec)
	handleDocs(srv, a, adminapi.MethodFileNodeGet, adminapi.MethodFileNodeSet, fileSpec(a.s))
}

// handleDocs registers spec's /get and /set.
func handleDocs[T any](srv *jmap.Server, a *api, getMethod, setMethod string, spec docSpec[T]) {
	// By account: accountFor checks the account or the permission.
	srv.Handle(getMethod, "", func(ctx context.Context, p *jmap.Principal, raw json.RawMessage) (any, error) {
		return docGet(ctx, a, p, raw, spec)
	})
	srv.Handle(setMethod, "", func(ctx context.Context, p *jmap.Principal, raw json.RawMessage) (any, error) {
		return docSet(ctx, a, p, raw, spec)
	})
}

func docGet[T any](ctx context.Context, a *api, p *jmap.Principal, raw json.RawMessage, spec docSpec[T]) (any, error) {
	var args jmap.GetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	id, err := a.accountFor(ctx, p, args.AccountID, spec.getPerm)
	if err != nil {
		return nil, err
	}
	res := jmap.NewGetResponse[T]()
	res.AccountID = &id
	if res.State, err = a.s.State(ctx, id, spec.typ); err != nil {
		return nil, err
	}
	if args.IDs == nil {
		var derr error
		n := 0
		err := a.s.Documents(ctx, id, spec.typ, func(d *Document) bool {
			if n++; n > jmap.MaxObjectsInGet {
				derr = jmap.Errorf("requestTooLarge", "more than %d %s documents; ask for ids, at most %d", jmap.MaxObjectsInGet, spec.typ, jmap.MaxObjectsInGet)
				return false
			}
			var o T
			if o, derr = spec.out(d); derr != nil {
				return false
			}
			res.List = append(res.List, o)
			return true
		})
		if err == nil {
			err = derr
		}
		if err != nil {
			return nil, err
		}
		return res, nil
	}
	for _, did := range *args.IDs {
		d, err := a.s.Document(ctx, id, spec.typ, did)
		if errors.Is(err, ErrNotFound) {
			res.NotFound = append(res.NotFound, did)
			continue
		}
		if err != nil {
			return nil, err
		}
		o, err := spec.out(d)
		if err != nil {
			return nil, err
		}
		res.List = append(res.List, o)
	}
	return res, nil
}

func docSet[T any](ctx context.Context, a *api, p *jmap.Principal, raw json.RawMessage, spec docSpec[T]) (any, error) {
	var args jmap.SetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	id, err := a.accountFor(ctx, p, args.AccountID, spec.setPerm)
	if err != nil {
		return nil, err
	}
	res := jmap.NewSetResponse[adminapi.DocumentCreated, jmap.None]()
	res.AccountID = &id
	if res.OldState, err = a.state(ctx, id, spec.typ, args.IfInState); err != nil {
		return nil, err
	}
	for _, cid := range sortedKeys(args.Create) {
		d := &Document{Account: id, Type: spec.typ}
		if err := spec.fill(ctx, id, d, args.Create[cid]); err != nil {
			res.NotCreated[cid] = setErr(err)
			continue
		}
		if err := a.s.CreateDocument(ctx, d); err != nil {
			res.NotCreated[cid] = setErr(err)
			continue
		}
		res.Created[cid] = adminapi.DocumentCreated{ID: d.ID}
	}
	for _, did := range sortedKeys(args.Update) {
		_, err := a.s.UpdateDocument(ctx, id, spec.typ, did, func(d *Document) error {
			return spec.fill(ctx, id, d, args.Update[did])
		})
		if err != nil {
			res.NotUpdated[did] = setErr(err)
			continue
		}
		res.Updated[did] = nil
	}
	for _, did := range args.Destroy {
		if _, err := a.s.Document(ctx, id, spec.typ, did); err != nil {
			res.NotDestroyed[did] = setErr(err)
			continue
		}
		if err := a.s.DestroyDocument(ctx, id, spec.typ, did); err != nil {
			res.NotDestroyed[did] = setErr(err)
			continue
		}
		res.Destroyed = append(res.Destroyed, did)
	}
	if res.NewState, err = a.s.State(ctx, id, spec.typ); err != nil {
		return nil, err
	}
	return res, nil
}
