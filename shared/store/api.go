package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jmap"
)

// Permissions of the store's API. An account calling with its own
// credentials needs none to reach its own mail, and reaches nothing else.
const (
	PermAccountGet     = adminapi.PermAccountGet
	PermAccountQuery   = adminapi.PermAccountQuery
	PermAccountCreate  = "sysAccountCreate"
	PermAccountUpdate  = "sysAccountUpdate"
	PermAccountDestroy = "sysAccountDestroy"
	PermDomainGet      = "sysDomainGet"
	PermDomainCreate   = "sysDomainCreate"
	PermDomainQuery    = "sysDomainQuery"
	PermTenantGet      = "sysTenantGet"
	PermTenantQuery    = "sysTenantQuery"
	PermTenantCreate   = "sysTenantCreate"
	PermTenantUpdate   = "sysTenantUpdate"
	PermTenantDestroy  = "sysTenantDestroy"
	// PermMailGet lets an API user read any account's mail.
	PermMailGet = "sysMailGet"
	// PermMailSet lets an API user change any account's mailboxes and
	// emails (Mailbox/set, Email/set, Email/import).
	PermMailSet = "sysMailSet"
	// PermBlobUpload lets an API user upload blobs to any account.
	PermBlobUpload = "sysBlobUpload"
	// PermCalendarGet and PermCalendarSet let an API user read and change
	// any account's calendar events.
	PermCalendarGet = "sysCalendarGet"
	PermCalendarSet = "sysCalendarSet"
	// PermContactsGet and PermContactsSet: any account's contact cards.
	PermContactsGet = "sysContactsGet"
	PermContactsSet = "sysContactsSet"
	// PermFilesGet and PermFilesSet: any account's file nodes.
	PermFilesGet = "sysFilesGet"
	PermFilesSet = "sysFilesSet"
)

// maxObjects bounds the objects of one call, as the admin API's limits do.
const maxObjects = jmap.MaxObjectsInSet

type api struct{ s *Store }

// RegisterAPI serves the store's methods on srv, and lets accounts call
// them with their own credentials.
func RegisterAPI(srv *jmap.Server, s *Store) {
	a := &api{s}
	srv.Handle(adminapi.MethodAccountGet, PermAccountGet, a.accountGet)
	srv.Handle(adminapi.MethodAccountQuery, PermAccountQuery, a.accountQuery)
	srv.Handle(adminapi.MethodAccountSet, "", a.accountSet) // each operation checks its own permission
	srv.Handle(adminapi.MethodDomainGet, PermDomainGet, a.domainGet)
	srv.Handle(adminapi.MethodDomainSet, PermDomainCreate, a.domainSet)
	srv.Handle(adminapi.MethodMailboxGet, "", a.mailboxGet) // by account: CanAccount
	srv.Handle(adminapi.MethodEmailGet, "", a.emailGet)
	srv.Handle(adminapi.MethodEmailQuery, "", a.emailQuery)
	srv.Handle(adminapi.MethodMailboxSet, "", a.mailboxSet)
	srv.Handle(adminapi.MethodEmailSet, "", a.emailSet)
	srv.Handle(adminapi.MethodEmailImport, "", a.emailImport)
	srv.Handle(adminapi.MethodTenantGet, PermTenantGet, a.tenantGet)
	srv.Handle(adminapi.MethodTenantQuery, PermTenantQuery, a.tenantQuery)
	srv.Handle(adminapi.MethodTenantSet, "", a.tenantSet) // each operation checks its own permission
	srv.Handle(adminapi.MethodDomainQuery, PermDomainQuery, a.domainQuery)
	registerDocuments(srv, a)
	srv.SetAccountAuth(func(name, secret string) *jmap.Principal {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		acc, err := s.AccountByName(ctx, name)
		if err != nil || !acc.CheckSecret(secret) {
			return nil
		}
		return &jmap.Principal{Name: acc.Name, Account: acc.ID}
	})
}

func accountOut(a *Account) adminapi.Account {
	return adminapi.Account{ID: a.ID, Name: a.Name, Type: string(a.Type), Domain: a.Domain, Tenant: a.Tenant,
		Addresses: a.Addresses, Quota: a.Quota, Used: a.Used, State: string(a.State), Created: a.Created,
		Deleted: a.Deleted, ArchivedUntil: a.ArchivedUntil}
}

// methodErr maps a store error to the method error a client branches on;
// its text names only what the caller asked about.
func methodErr(err error) error {
	switch {
	case errors.Is(err, ErrInvalid):
		return jmap.Errorf("invalidArguments", "%v", err)
	case errors.Is(err, ErrNotFound):
		return jmap.Errorf("accountNotFound", "%v", err)
	}
	return err
}

func setErr(err error) *jmap.SetError {
	var pe *PropertyError
	var se *jmap.SetError
	switch {
	case errors.As(err, &se):
		return se
	case errors.As(err, &pe):
		return &jmap.SetError{Type: "invalidProperties", Properties: []string{pe.Property}, Description: err.Error()}
	case errors.Is(err, ErrMailboxHasEmail):
		return &jmap.SetError{Type: "mailboxHasEmail", Description: err.Error() + "; destroy it with onDestroyRemoveEmails: true, or move them first"}
	case errors.Is(err, ErrSystemMailbox), errors.Is(err, ErrInUse):
		return &jmap.SetError{Type: "forbidden", Description: err.Error()}
	case errors.Is(err, ErrInvalid):
		return &jmap.SetError{Type: "invalidProperties", Description: err.Error()}
	case errors.Is(err, ErrExists):
		return &jmap.SetError{Type: "alreadyExists", Description: err.Error()}
	case errors.Is(err, ErrNotFound):
		return &jmap.SetError{Type: "notFound", Description: err.Error()}
	case errors.Is(err, ErrConflict):
		return &jmap.SetError{Type: "stateMismatch", Description: err.Error()}
	case errors.Is(err, ErrOverQuota):
		return &jmap.SetError{Type: "overQuota", Description: err.Error()}
	}
	return &jmap.SetError{Type: "serverFail", Description: err.Error()}
}

func (a *api) accountGet(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.GetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	res := jmap.NewGetResponse[adminapi.Account]()
	if args.IDs == nil {
		all, err := a.s.Accounts(ctx)
		if err != nil {
			return nil, err
		}
		if len(all) > jmap.MaxObjectsInGet {
			return nil, jmap.Errorf("requestTooLarge", "%d accounts; ask for ids (x:Account/query pages through them), at most %d", len(all), jmap.MaxObjectsInGet)
		}
		for _, acc := range all {
			res.List = append(res.List, accountOut(acc))
		}
		return res, nil
	}
	for _, id := range *args.IDs {
		acc, err := a.s.Account(ctx, id)
		if errors.Is(err, ErrNotFound) {
			res.NotFound = append(res.NotFound, id)
			continue
		}
		if err != nil {
			return nil, err
		}
		res.List = append(res.List, accountOut(acc))
	}
	return res, nil
}

func (a *api) accountQuery(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	args, err := jmap.DecodeQuery[adminapi.AccountFilter](raw)
	if err != nil {
		return nil, err
	}
	for _, c := range args.Sort {
		if c.Property != "name" {
			return nil, jmap.Errorf("unsupportedSort", "accounts sort by name only, not %q", c.Property)
		}
	}
	all, err := a.s.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, acc := range all {
		if f := args.Filter; f != nil {
			if f.Domain != "" && !strings.EqualFold(f.Domain, acc.Domain) ||
				f.Name != "" && !strings.Contains(strings.ToLower(acc.Name), strings.ToLower(f.Name)) ||
				f.State != "" && f.State != string(acc.State) {
				continue
			}
		}
		ids = append(ids, acc.ID)
	}
	if len(args.Sort) > 0 && args.Sort[0].Descending() {
		for i, j := 0, len(ids)-1; i < j; i, j = i+1, j-1 {
			ids[i], ids[j] = ids[j], ids[i]
		}
	}
	return page(ids, args.Position, args.LimitOr(jmap.MaxObjectsInGet)), nil
}

func page(ids []string, position, limit int) *jmap.QueryResponse {
	total := len(ids)
	from := min(position, total)
	to := min(from+limit, total)
	return jmap.NewQueryResponse(ids[from:to], position, total)
}

func (a *api) accountSet(ctx context.Context, p *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.SetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	if n := len(args.Create) + len(args.Update) + len(args.Destroy); n > maxObjects {
		return nil, jmap.Errorf("requestTooLarge", "%d operations; at most %d per x:Account/set", n, maxObjects)
	}
	res := jmap.NewSetResponse[adminapi.AccountCreated, jmap.None]()
	forbidden := func(perm string) *jmap.SetError {
		return &jmap.SetError{Type: "forbidden", Description: fmt.Sprintf("needs the %s permission, which %s lacks", perm, p.Name)}
	}
	for _, cid := range sortedKeys(args.Create) {
		if p.Account != "" || !p.Can(PermAccountCreate) {
			res.NotCreated[cid] = forbidden(PermAccountCreate)
			continue
		}
		var c adminapi.AccountCreate
		if err := strictJSON(args.Create[cid], &c); err != nil {
			res.NotCreated[cid] = &jmap.SetError{Type: "invalidProperties", Description: err.Error()}
			continue
		}
		for _, sec := range c.Secrets {
			if len(sec) < 12 {
				res.NotCreated[cid] = &jmap.SetError{Type: "invalidProperties", Properties: []string{"secrets"}, Description: "secrets: each must be at least 12 characters"}
				break
			}
		}
		if res.NotCreated[cid] != nil {
			continue
		}
		acc, err := a.s.CreateAccount(ctx, Account{Name: c.Name, Type: AccountType(c.Type), Domain: c.Domain, Addresses: c.Addresses, Quota: c.Quota}, c.Secrets...)
		if err != nil {
			res.NotCreated[cid] = setErr(err)
			continue
		}
		res.Created[cid] = adminapi.AccountCreated{ID: acc.ID}
	}
	for _, id := range sortedKeys(args.Update) {
		if !p.CanAccount(id, PermAccountUpdate) || p.Account != "" {
			res.NotUpdated[id] = forbidden(PermAccountUpdate)
			continue
		}
		var patch adminapi.AccountPatch
		if err := strictJSON(args.Update[id], &patch); err != nil {
			res.NotUpdated[id] = &jmap.SetError{Type: "invalidPatch", Description: err.Error()}
			continue
		}
		_, err := a.s.UpdateAccount(ctx, id, func(acc *Account) error {
			if patch.Quota != nil {
				acc.Quota = *patch.Quota
			}
			if patch.Type != nil {
				if t := AccountType(*patch.Type); t != Individual && t != Group {
					return fmt.Errorf("%w: type %q is not individual or group", ErrInvalid, t)
				}
				acc.Type = AccountType(*patch.Type)
			}
			if patch.Secrets != nil {
				for _, sec := range patch.Secrets {
					if len(sec) < 12 {
						return fmt.Errorf("%w: secrets: each must be at least 12 characters", ErrInvalid)
					}
				}
				return acc.SetSecrets(patch.Secrets...)
			}
			return nil
		})
		if err != nil {
			res.NotUpdated[id] = setErr(err)
			continue
		}
		res.Updated[id] = nil
	}
	for _, id := range args.Destroy {
		if p.Account != "" || !p.Can(PermAccountDestroy) {
			res.NotDestroyed[id] = forbidden(PermAccountDestroy)
			continue
		}
		if err := a.s.DestroyAccount(ctx, id); err != nil {
			res.NotDestroyed[id] = setErr(err)
			continue
		}
		res.Destroyed = append(res.Destroyed, id)
	}
	return res, nil
}

func (a *api) domainGet(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.GetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	res := jmap.NewGetResponse[adminapi.Domain]()
	all, err := a.s.Domains(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]Domain{}
	for _, d := range all {
		byName[d.Name] = d
	}
	if args.IDs == nil {
		for _, d := range all {
			res.List = append(res.List, adminapi.Domain{ID: d.Name, Tenant: d.Tenant, Created: d.Created})
		}
		return res, nil
	}
	for _, id := range *args.IDs {
		d, ok := byName[strings.ToLower(id)]
		if !ok {
			res.NotFound = append(res.NotFound, id)
			continue
		}
		res.List = append(res.List, adminapi.Domain{ID: d.Name, Tenant: d.Tenant, Created: d.Created})
	}
	return res, nil
}

func (a *api) domainSet(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.SetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	if len(args.Update) > 0 || len(args.Destroy) > 0 {
		return nil, jmap.Errorf("invalidArguments", "domains can be created only, for now")
	}
	if len(args.Create) > maxObjects {
		return nil, jmap.Errorf("requestTooLarge", "%d creates; at most %d per x:Domain/set", len(args.Create), maxObjects)
	}
	res := jmap.NewSetResponse[adminapi.DomainCreated, jmap.None]()
	for _, cid := range sortedKeys(args.Create) {
		var c adminapi.DomainCreate
		if err := strictJSON(args.Create[cid], &c); err != nil {
			res.NotCreated[cid] = &jmap.SetError{Type: "invalidProperties", Description: err.Error()}
			continue
		}
		if err := a.s.CreateDomain(ctx, Domain{Name: c.Name, Tenant: c.Tenant}); err != nil {
			res.NotCreated[cid] = setErr(err)
			continue
		}
		res.Created[cid] = adminapi.DomainCreated{ID: strings.ToLower(strings.TrimSuffix(c.Name, "."))}
	}
	return res, nil
}

// mailAccount is the account a mail method works on: its accountId
// argument, which an account's own credentials may leave out. It must be
// an account (accountNotFound, RFC 8620 3.6.2): Email/query and Email/get
// answered for an id of none as for an empty account.
func (a *api) mailAccount(ctx context.Context, p *jmap.Principal, accountID *string) (string, error) {
	id := p.Account
	if accountID != nil {
		id = *accountID
	}
	if id == "" {
		return "", jmap.Errorf("invalidArguments", "accountId is required")
	}
	if !p.CanAccount(id, PermMailGet) {
		return "", jmap.Errorf("forbidden", "%s may not read account %s (needs the %s permission)", p.Name, id, PermMailGet)
	}
	if _, err := a.s.Account(ctx, id); errors.Is(err, ErrNotFound) {
		return "", jmap.Errorf("accountNotFound", "no account %s", id)
	} else if err != nil {
		return "", err
	}
	return id, nil
}

func (a *api) mailboxGet(ctx context.Context, p *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.GetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	id, err := a.mailAccount(ctx, p, args.AccountID)
	if err != nil {
		return nil, err
	}
	boxes, err := a.s.Mailboxes(ctx, id)
	if err != nil {
		return nil, err
	}
	res := jmap.NewGetResponse[adminapi.Mailbox]()
	res.AccountID = &id
	if res.State, err = a.s.State(ctx, id, MailboxType); err != nil {
		return nil, err
	}
	want := args.IDs
	if want == nil {
		all := make([]string, 0, len(boxes))
		for k := range boxes {
			all = append(all, k)
		}
		sort.Strings(all)
		want = &all
	}
	for _, k := range *want {
		m, ok := boxes[k]
		if !ok {
			res.NotFound = append(res.NotFound, k)
			continue
		}
		res.List = append(res.List, adminapi.Mailbox{ID: k, Name: m.Name, Role: m.Role, ParentID: m.ParentID})
	}
	return res, nil
}

func emailOut(d *Document) (adminapi.Email, error) {
	var e Email
	if err := d.Decode(&e); err != nil {
		return adminapi.Email{}, err
	}
	out := adminapi.Email{ID: d.ID, BlobID: d.BlobID, ThreadID: e.ThreadID, MailboxIDs: e.MailboxIDs, Keywords: e.Keywords,
		Size: d.Size, ReceivedAt: e.ReceivedAt, SentAt: e.SentAt, Subject: e.Subject, From: e.From, To: e.To, Cc: e.Cc,
		Preview: e.Preview, HasAttachment: len(e.Attachment) > 0, Attachments: e.Attachment}
	if out.Keywords == nil {
		out.Keywords = map[string]bool{}
	}
	if e.MessageID != "" {
		out.MessageID = []string{e.MessageID}
	}
	return out, nil
}

func (a *api) emailGet(ctx context.Context, p *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.GetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	id, err := a.mailAccount(ctx, p, args.AccountID)
	if err != nil {
		return nil, err
	}
	if args.IDs == nil {
		return nil, jmap.Errorf("invalidArguments", "ids is required: use Email/query to list emails")
	}
	if len(*args.IDs) > jmap.MaxObjectsInGet {
		return nil, jmap.Errorf("requestTooLarge", "at most %d ids per Email/get", jmap.MaxObjectsInGet)
	}
	res := jmap.NewGetResponse[adminapi.Email]()
	res.AccountID = &id
	if res.State, err = a.s.State(ctx, id, EmailType); err != nil {
		return nil, err
	}
	for _, eid := range *args.IDs {
		d, err := a.s.Document(ctx, id, EmailType, eid)
		if errors.Is(err, ErrNotFound) {
			res.NotFound = append(res.NotFound, eid)
			continue
		}
		if err != nil {
			return nil, err
		}
		e, err := emailOut(d)
		if err != nil {
			return nil, err
		}
		res.List = append(res.List, e)
	}
	return res, nil
}

func (a *api) emailQuery(ctx context.Context, p *jmap.Principal, raw json.RawMessage) (any, error) {
	args, err := jmap.DecodeQuery[adminapi.EmailFilter](raw)
	if err != nil {
		return nil, err
	}
	id, err := a.mailAccount(ctx, p, args.AccountID)
	if err != nil {
		return nil, err
	}
	ascending := false
	for _, c := range args.Sort {
		if c.Property != "receivedAt" {
			return nil, jmap.Errorf("unsupportedSort", "emails sort by receivedAt only, for now, not %q", c.Property)
		}
		ascending = !c.Descending() // RFC 8620: ascending unless said otherwise
	}
	if args.Filter.FullText() {
		return a.emailSearch(ctx, id, args, ascending)
	}
	type hit struct {
		id string
		at time.Time
	}
	var hits []hit
	var derr error
	err = a.s.Documents(ctx, id, EmailType, func(d *Document) bool {
		var e Email
		if derr = d.Decode(&e); derr != nil {
			return false
		}
		if f := args.Filter; f != nil {
			if f.InMailbox != "" && !e.MailboxIDs[f.InMailbox] ||
				!f.Before.IsZero() && !e.ReceivedAt.Before(f.Before) ||
				!f.After.IsZero() && e.ReceivedAt.Before(f.After) {
				return true
			}
		}
		hits = append(hits, hit{d.ID, e.ReceivedAt})
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, methodErr(err)
	}
	sort.Slice(hits, func(i, j int) bool {
		if !hits[i].at.Equal(hits[j].at) {
			return hits[i].at.Before(hits[j].at) == ascending
		}
		return hits[i].id < hits[j].id
	})
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.id
	}
	res := page(ids, args.Position, args.LimitOr(jmap.MaxObjectsInGet))
	res.AccountID = &id
	return res, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// strictJSON decodes an object, naming an unknown property.
func strictJSON(raw json.RawMessage, v any) error {
	if err := jmap.Args(raw, v); err != nil {
		var me *jmap.MethodError
		if errors.As(err, &me) {
			return errors.New(strings.Replace(me.Description, "argument", "property", 1))
		}
		return err
	}
	return nil
}

// DownloadPath is where a blob is downloaded over HTTP:
// GET /jmap/download/<accountId>/<blobId>[?type=<media type>&name=<file name>]
// (RFC 8620 6.2), with the API's credentials: an account's own, for a blob
// one of its documents refers to, or an API user's with sysMailGet.
const DownloadPath = "GET /jmap/download/{account}/{blob}"

// DownloadHandler serves DownloadPath from s, authenticating with srv.
func DownloadHandler(srv *jmap.Server, s *Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := httpPrincipal(srv, w, r)
		if p == nil {
			return
		}
		account, blob := r.PathValue("account"), r.PathValue("blob")
		if !p.CanAccount(account, PermMailGet) {
			httpFail(w, http.StatusForbidden, "forbidden", fmt.Sprintf("%s may not read account %s", p.Name, account))
			return
		}
		ok, err := s.Refers(r.Context(), account, blob)
		if err != nil {
			httpFail(w, http.StatusInternalServerError, "serverFail", err.Error())
			return
		}
		if !ok {
			httpFail(w, http.StatusNotFound, "notFound", fmt.Sprintf("account %s has no blob %s", account, blob))
			return
		}
		rc, err := s.Blob(r.Context(), blob)
		if err != nil {
			httpFail(w, http.StatusNotFound, "notFound", err.Error())
			return
		}
		defer rc.Close()
		typ := r.URL.Query().Get("type")
		if typ == "" {
			typ = "application/octet-stream"
		}
		w.Header().Set("Content-Type", typ)
		if name := r.URL.Query().Get("name"); name != "" {
			w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
		}
		w.Header().Set("Cache-Control", "private, immutable, max-age=31536000") // content-addressed
		_, _ = io.Copy(w, rc)
	})
}
