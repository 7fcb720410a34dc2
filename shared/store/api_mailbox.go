package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jmap"
)

// mailboxSet serves Mailbox/set (RFC 8621 2.5): user mailboxes are
// created, renamed, moved and destroyed; the standard ones stay as they
// are (forbidden).
func (a *api) mailboxSet(ctx context.Context, p *jmap.Principal, raw json.RawMessage) (any, error) {
	var args adminapi.MailboxSetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	id, err := a.accountFor(ctx, p, args.AccountID, PermMailSet)
	if err != nil {
		return nil, err
	}
	res := jmap.NewSetResponse[adminapi.MailboxCreated, jmap.None]()
	res.AccountID = &id
	if res.OldState, err = a.state(ctx, id, MailboxType, args.IfInState); err != nil {
		return nil, err
	}
	created := map[string]string{} // creation id -> mailbox id, for "#cid" parents
	parent := func(ref string) (string, *jmap.SetError) {
		cid, isRef := strings.CutPrefix(ref, "#")
		if !isRef {
			return ref, nil
		}
		if mid, ok := created[cid]; ok {
			return mid, nil
		}
		return "", invalidProps("parentId", "no mailbox was created as %s in this call", ref)
	}
	for _, cid := range createOrder(args.Create) {
		var c adminapi.MailboxCreate
		if se := decodeProps(args.Create[cid], &c); se != nil {
			res.NotCreated[cid] = se
			continue
		}
		pid, se := parent(c.ParentID)
		if se != nil {
			res.NotCreated[cid] = se
			continue
		}
		mid, err := a.s.CreateMailbox(ctx, id, Mailbox{Name: c.Name, ParentID: pid})
		if err != nil {
			res.NotCreated[cid] = setErr(err)
			continue
		}
		created[cid] = mid
		res.Created[cid] = adminapi.MailboxCreated{ID: mid}
	}
	for _, mid := range sortedKeys(args.Update) {
		var patch struct {
			Name     *string `json:"name"`
			ParentID *string `json:"parentId"`
		}
		if se := decodeProps(args.Update[mid], &patch); se != nil {
			res.NotUpdated[mid] = se
			continue
		}
		var pid string
		if patch.ParentID != nil {
			var se *jmap.SetError
			if pid, se = parent(*patch.ParentID); se != nil {
				res.NotUpdated[mid] = se
				continue
			}
		}
		// A null parentId moves it to the top; one left out leaves it.
		var props map[string]json.RawMessage
		_ = json.Unmarshal(args.Update[mid], &props)
		_, moves := props["parentId"]
		_, err := a.s.UpdateMailbox(ctx, id, mid, func(m *Mailbox) error {
			if patch.Name != nil {
				m.Name = *patch.Name
			}
			if moves {
				m.ParentID = pid
			}
			return nil
		})
		if err != nil {
			res.NotUpdated[mid] = mailboxSetErr(err)
			continue
		}
		res.Updated[mid] = nil
	}
	for _, mid := range args.Destroy {
		if err := a.s.DestroyMailbox(ctx, id, mid, args.OnDestroyRemoveEmails); err != nil {
			res.NotDestroyed[mid] = mailboxSetErr(err)
			continue
		}
		res.Destroyed = append(res.Destroyed, mid)
	}
	if res.NewState, err = a.s.State(ctx, id, MailboxType); err != nil {
		return nil, err
	}
	return res, nil
}

// mailboxSetErr is setErr with RFC 8621's mailboxHasChild, and the
// property a standard mailbox keeps.
func mailboxSetErr(err error) *jmap.SetError {
	switch {
	case errors.Is(err, ErrInUse):
		return &jmap.SetError{Type: "mailboxHasChild", Description: err.Error()}
	case errors.Is(err, ErrSystemMailbox):
		se := &jmap.SetError{Type: "forbidden", Description: err.Error()}
		var sm *systemMailboxError
		if errors.As(err, &sm) && sm.property != "" {
			se.Properties = []string{sm.property}
		}
		return se
	}
	return setErr(err)
}

// createOrder orders Mailbox/set creates so that one whose parentId is
// "#<creation id>" comes after that creation, whatever their ids.
func createOrder(creates map[string]json.RawMessage) []string {
	refs := map[string]string{}
	for cid, raw := range creates {
		var c struct {
			ParentID any `json:"parentId"`
		}
		if json.Unmarshal(raw, &c) == nil {
			if p, ok := c.ParentID.(string); ok && strings.HasPrefix(p, "#") {
				refs[cid] = p[1:]
			}
		}
	}
	var out []string
	done := map[string]bool{}
	var visit func(cid string, depth int)
	visit = func(cid string, depth int) {
		if done[cid] || depth > len(creates) {
			return
		}
		if p, ok := refs[cid]; ok && creates[p] != nil {
			visit(p, depth+1)
		}
		if !done[cid] {
			done[cid] = true
			out = append(out, cid)
		}
	}
	for _, cid := range sortedKeys(creates) {
		visit(cid, 0)
	}
	return out
}
