package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jmap"
)

// emailSet serves Email/set (RFC 8621 4.6): an email's mailboxes and
// keywords change, whole ({"keywords": {...}}) or by patch path
// ({"keywords/$seen": true}, {"mailboxIds/<id>": null}); a destroyed
// email is archived and its bytes are given back to the quota. Emails are
// created by Email/import.
func (a *api) emailSet(ctx context.Context, p *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.SetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	id, err := a.accountFor(ctx, p, args.AccountID, PermMailSet)
	if err != nil {
		return nil, err
	}
	res := jmap.NewSetResponse[jmap.None, jmap.None]()
	res.AccountID = &id
	if res.OldState, err = a.state(ctx, id, EmailType, args.IfInState); err != nil {
		return nil, err
	}
	for _, cid := range sortedKeys(args.Create) {
		res.NotCreated[cid] = &jmap.SetError{Type: "forbidden",
			Description: "Email/set does not create emails: upload the message (POST /jmap/upload/<accountId>) and use Email/import"}
	}
	for _, eid := range sortedKeys(args.Update) {
		change, se := emailPatch(args.Update[eid])
		if se != nil {
			res.NotUpdated[eid] = se
			continue
		}
		if _, err := a.s.UpdateEmail(ctx, id, eid, change); err != nil {
			res.NotUpdated[eid] = setErr(err)
			continue
		}
		res.Updated[eid] = nil
	}
	for _, eid := range args.Destroy {
		if _, err := a.s.Document(ctx, id, EmailType, eid); err != nil {
			res.NotDestroyed[eid] = setErr(err)
			continue
		}
		if err := a.s.DestroyDocument(ctx, id, EmailType, eid); err != nil {
			res.NotDestroyed[eid] = setErr(err)
			continue
		}
		res.Destroyed = append(res.Destroyed, eid)
	}
	if res.NewState, err = a.s.State(ctx, id, EmailType); err != nil {
		return nil, err
	}
	return res, nil
}

// emailPatch reads an Email/set update into the change it makes. Only
// mailboxIds and keywords change, each whole or by path, not both ways in
// one patch (invalidPatch).
func emailPatch(raw json.RawMessage) (func(*Email) error, *jmap.SetError) {
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(raw, &patch); err != nil || patch == nil {
		return nil, &jmap.SetError{Type: "invalidPatch", Description: "an update must be a JSON object of properties or patch paths"}
	}
	var steps []func(*Email) error
	whole, paths := map[string]bool{}, map[string]bool{}
	for _, key := range sortedKeys(patch) {
		prop, rest, nested := patchPath(key)
		v := patch[key]
		if prop != "mailboxIds" && prop != "keywords" {
			return nil, invalidProps(key, "cannot be changed: Email/set changes mailboxIds and keywords only")
		}
		if nested {
			paths[prop] = true
		} else {
			whole[prop] = true
		}
		if whole[prop] && paths[prop] {
			return nil, &jmap.SetError{Type: "invalidPatch", Properties: []string{prop},
				Description: fmt.Sprintf("%s is patched both whole and by path; give one or the other", prop)}
		}
		set := func(e *Email) map[string]bool {
			if prop == "keywords" {
				return e.Keywords
			}
			return e.MailboxIDs
		}
		if !nested {
			var m map[string]bool
			if err := json.Unmarshal(v, &m); err != nil || m == nil {
				return nil, invalidProps(key, "must be an object of %s to true", map[string]string{"keywords": "keywords", "mailboxIds": "mailbox ids"}[prop])
			}
			steps = append(steps, func(e *Email) error {
				if prop == "keywords" {
					e.Keywords = m
				} else {
					e.MailboxIDs = m
				}
				return nil
			})
			continue
		}
		name := rest
		if prop == "keywords" {
			kw, err := CheckKeyword(rest)
			if err != nil {
				return nil, invalidProps(key, "%v", err)
			}
			name = kw
		} else if name == "" {
			return nil, invalidProps(key, "names no mailbox")
		}
		switch string(bytes.TrimSpace(v)) {
		case "true":
			steps = append(steps, func(e *Email) error { set(e)[name] = true; return nil })
		case "null":
			steps = append(steps, func(e *Email) error { delete(set(e), name); return nil })
		default:
			return nil, invalidProps(key, "must be true (to add) or null (to remove), not %s", v)
		}
	}
	return func(e *Email) error {
		for _, s := range steps {
			if err := s(e); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// importID is the id an imported message gets: made from its blob, so
// that importing the same message again (a bulk import run twice) is
// alreadyExists, not a second copy.
func importID(blobID string) string {
	h := strings.TrimPrefix(blobID, "sha256-")
	if len(h) > 40 {
		h = h[:40]
	}
	return "i" + h
}

// headerLine is how a message starts: a header field (RFC 5322 2.2).
var headerLine = regexp.MustCompile(`^[!-9;-~]+[ \t]*:`)

// emailImport serves Email/import (RFC 8621 4.8): each message is an
// uploaded blob, stored as delivery stores mail (threaded, charged to the
// quota) in the mailboxes given.
func (a *api) emailImport(ctx context.Context, p *jmap.Principal, raw json.RawMessage) (any, error) {
	var args adminapi.EmailImportArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	if args.Emails == nil {
		return nil, jmap.Errorf("invalidArguments", "emails is required: the messages to import by creation id")
	}
	if len(args.Emails) > maxObjects {
		return nil, jmap.Errorf("requestTooLarge", "%d emails; at most %d per Email/import", len(args.Emails), maxObjects)
	}
	id, err := a.accountFor(ctx, p, args.AccountID, PermMailSet)
	if err != nil {
		return nil, err
	}
	res := &adminapi.EmailImportResponse{AccountID: &id, Created: map[string]adminapi.EmailImported{}, NotCreated: map[string]*jmap.SetError{}}
	if res.OldState, err = a.state(ctx, id, EmailType, args.IfInState); err != nil {
		return nil, err
	}
	for _, cid := range sortedKeys(args.Emails) {
		out, se := a.importOne(ctx, id, args.Emails[cid])
		if se != nil {
			res.NotCreated[cid] = se
			continue
		}
		res.Created[cid] = *out
	}
	if res.NewState, err = a.s.State(ctx, id, EmailType); err != nil {
		return nil, err
	}
	return res, nil
}

func (a *api) importOne(ctx context.Context, account string, raw json.RawMessage) (*adminapi.EmailImported, *jmap.SetError) {
	var in adminapi.EmailImport
	if se := decodeProps(raw, &in); se != nil {
		return nil, se
	}
	if in.BlobID == "" {
		return nil, invalidProps("blobId", "is required: upload the message first (POST /jmap/upload/<accountId>)")
	}
	if in.MailboxIDs == nil {
		return nil, invalidProps("mailboxIds", "is required: one mailbox at least")
	}
	ok, err := a.s.Refers(ctx, account, in.BlobID)
	if err != nil {
		return nil, setErr(err)
	}
	if !ok {
		return nil, invalidProps("blobId", "account %s has no blob %s: upload it first", account, in.BlobID)
	}
	e := Email{MailboxIDs: in.MailboxIDs, Keywords: in.Keywords}
	if err := a.s.checkEmailPlace(ctx, account, &e); err != nil {
		return nil, setErr(err)
	}
	rc, err := a.s.Blob(ctx, in.BlobID)
	if err != nil {
		return nil, invalidProps("blobId", "%v", err)
	}
	msg, err := io.ReadAll(io.LimitReader(rc, MaxSizeUpload+1))
	rc.Close()
	if err != nil {
		return nil, setErr(fmt.Errorf("read blob %s: %w", in.BlobID, err))
	}
	if len(msg) > MaxSizeUpload {
		return nil, &jmap.SetError{Type: "tooLarge", Description: fmt.Sprintf("a message is at most %d bytes", MaxSizeUpload)}
	}
	if !headerLine.Match(msg) {
		return nil, &jmap.SetError{Type: "invalidEmail", Description: fmt.Sprintf("blob %s is not a message (RFC 5322): it does not start with a header field", in.BlobID)}
	}
	d, err := a.s.StoreEmail(ctx, account, msg, NewEmail{ID: importID(in.BlobID), MailboxIDs: e.MailboxIDs, Keywords: e.Keywords, ReceivedAt: in.ReceivedAt})
	if errors.Is(err, ErrDuplicate) {
		return nil, &jmap.SetError{Type: "alreadyExists", ExistingID: d.ID, Description: fmt.Sprintf("blob %s is imported already, as email %s", in.BlobID, d.ID)}
	}
	if err != nil {
		return nil, setErr(err)
	}
	var stored Email
	if err := d.Decode(&stored); err != nil {
		return nil, setErr(err)
	}
	return &adminapi.EmailImported{ID: d.ID, BlobID: d.BlobID, ThreadID: stored.ThreadID, Size: d.Size}, nil
}
