package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/store"
)

const note = "Message-ID: <n1@shop.test>\r\nFrom: Ann <ann@shop.test>\r\nTo: bo@shop.test\r\nSubject: a note\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\nHello\r\n"

// Blobs are uploaded over HTTP as RFC 8620 6.1 says, by the account
// itself or an API user with sysBlobUpload, up to maxSizeUpload; the
// account may then download them.
func TestUploadAPI(t *testing.T) {
	t.Parallel()
	a := startStoreAPI(t)
	ctx := context.Background()
	ann, annSelf := a.account("ann", 0)
	bo, _ := a.account("bo", 0)

	up, err := annSelf.Upload(ctx, ann, "text/plain; charset=utf-8", strings.NewReader("some text"))
	require.NoError(t, err)
	require.Equal(t, jmap.UploadResponse{AccountID: ann, BlobID: up.BlobID, Type: "text/plain; charset=utf-8", Size: 9}, *up)
	require.True(t, strings.HasPrefix(up.BlobID, "sha256-"))
	rc, err := annSelf.Download(ctx, ann, up.BlobID)
	require.NoError(t, err)
	b, _ := io.ReadAll(rc)
	rc.Close()
	require.Equal(t, "some text", string(b))

	var p *jmap.Problem
	for _, tc := range []struct {
		name    string
		cl      *jmap.Client
		account string
		status  int
	}{
		{"another account's", annSelf, bo, http.StatusForbidden},
		{"an API user without sysBlobUpload", a.reader, ann, http.StatusForbidden},
		{"no such account", a.admin, "nosuch", http.StatusNotFound},
		{"no credentials", &jmap.Client{URL: a.url}, ann, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cl.Upload(ctx, tc.account, "", strings.NewReader("x"))
			require.ErrorAs(t, err, &p)
			require.Equal(t, tc.status, p.Status, p.Detail)
		})
	}
	_, err = a.admin.Upload(ctx, bo, "", strings.NewReader("by the admin"))
	require.NoError(t, err)

	// Over maxSizeUpload, said up front or found while streaming: 413,
	// naming the limit.
	for name, body := range map[string]io.Reader{
		"Content-Length": bytes.NewReader(make([]byte, store.MaxSizeUpload+1)),
		"chunked":        io.LimitReader(zeros{}, store.MaxSizeUpload+1),
	} {
		_, err := a.admin.Upload(ctx, ann, "", body)
		require.ErrorAs(t, err, &p, name)
		require.Equal(t, http.StatusRequestEntityTooLarge, p.Status, name)
		require.Equal(t, "maxSizeUpload", p.Limit, name)
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// Email/import stores uploaded messages as delivery does (threaded,
// charged, once per blob); each bad message is its own SetError.
func TestEmailImportAPI(t *testing.T) {
	t.Parallel()
	a := startStoreAPI(t)
	ann, annSelf := a.account("ann", 4096)
	bo, boSelf := a.account("bo", 0)
	blob := a.upload(annSelf, ann, "message/rfc822", note)
	boBlob := a.upload(boSelf, bo, "message/rfc822", "Subject: bo's\r\n\r\nmine\r\n")
	notMail := a.upload(annSelf, ann, "", "\x00\x01 binary")
	big := a.upload(annSelf, ann, "", "Subject: big\r\n\r\n"+strings.Repeat("x", 5000))
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	r := call[adminapi.EmailImportResponse](t, annSelf, adminapi.MethodEmailImport, map[string]any{"emails": map[string]any{
		"ok":          adminapi.EmailImport{BlobID: blob, MailboxIDs: map[string]bool{"archive": true}, Keywords: map[string]bool{"$Seen": true}, ReceivedAt: at},
		"other's":     adminapi.EmailImport{BlobID: boBlob, MailboxIDs: map[string]bool{"inbox": true}},
		"no mailbox":  adminapi.EmailImport{BlobID: blob, MailboxIDs: map[string]bool{"nosuch": true}},
		"no blobId":   map[string]any{"mailboxIds": map[string]bool{"inbox": true}},
		"bad date":    map[string]any{"blobId": blob, "mailboxIds": map[string]bool{"inbox": true}, "receivedAt": "yesterday"},
		"bad keyword": adminapi.EmailImport{BlobID: blob, MailboxIDs: map[string]bool{"inbox": true}, Keywords: map[string]bool{"no space": true}},
		"odd":         map[string]any{"blobId": blob, "mailboxIds": map[string]bool{"inbox": true}, "colour": "red"},
		"not mail":    adminapi.EmailImport{BlobID: notMail, MailboxIDs: map[string]bool{"inbox": true}},
		"over quota":  adminapi.EmailImport{BlobID: big, MailboxIDs: map[string]bool{"inbox": true}},
	}})
	require.Len(t, r.Created, 1, "%v", r.NotCreated)
	for cid, want := range map[string]struct{ typ, prop string }{
		"other's":     {"invalidProperties", "blobId"},
		"no mailbox":  {"invalidProperties", "mailboxIds"},
		"no blobId":   {"invalidProperties", "blobId"},
		"bad date":    {"invalidProperties", "receivedAt"},
		"bad keyword": {"invalidProperties", "keywords"},
		"odd":         {"invalidProperties", "colour"},
		"not mail":    {"invalidEmail", ""},
		"over quota":  {"overQuota", ""},
	} {
		e := r.NotCreated[cid]
		require.NotNil(t, e, cid)
		require.Equal(t, want.typ, e.Type, "%s: %s", cid, e.Description)
		if want.prop != "" {
			require.Equal(t, []string{want.prop}, e.Properties, cid)
		}
	}
	ok := r.Created["ok"]
	require.Equal(t, blob, ok.BlobID)
	require.EqualValues(t, len(note), ok.Size)
	require.NotEqual(t, r.OldState, r.NewState)

	g := call[adminapi.EmailGetResponse](t, a.admin, adminapi.MethodEmailGet, map[string]any{"accountId": ann, "ids": []string{ok.ID}})
	require.Len(t, g.List, 1)
	e := g.List[0]
	require.Equal(t, "a note", e.Subject)
	require.Equal(t, map[string]bool{"archive": true}, e.MailboxIDs)
	require.Equal(t, map[string]bool{"$seen": true}, e.Keywords)
	require.True(t, at.Equal(e.ReceivedAt))
	require.Equal(t, ok.ThreadID, e.ThreadID)

	// The same blob again: alreadyExists, naming the email.
	again := call[adminapi.EmailImportResponse](t, annSelf, adminapi.MethodEmailImport, map[string]any{"emails": map[string]any{
		"x": adminapi.EmailImport{BlobID: blob, MailboxIDs: map[string]bool{"inbox": true}}}})
	require.Equal(t, "alreadyExists", again.NotCreated["x"].Type)
	require.Equal(t, ok.ID, again.NotCreated["x"].ExistingID)

	require.Equal(t, "forbidden", methodErr(t, boSelf, adminapi.MethodEmailImport, map[string]any{"accountId": ann, "emails": map[string]any{}}))
	require.Equal(t, "forbidden", methodErr(t, a.reader, adminapi.MethodEmailImport, map[string]any{"accountId": ann, "emails": map[string]any{}}))
	require.Equal(t, "invalidArguments", methodErr(t, annSelf, adminapi.MethodEmailImport, map[string]any{}))
	require.Equal(t, "stateMismatch", methodErr(t, annSelf, adminapi.MethodEmailImport, map[string]any{"ifInState": "nope", "emails": map[string]any{}}))
	require.Equal(t, "accountNotFound", methodErr(t, a.admin, adminapi.MethodEmailImport, map[string]any{"accountId": "nosuch", "emails": map[string]any{}}))
}

// Email/set moves emails and sets keywords, whole or by patch path, and
// destroys them (archived, bytes given back); a bad update names its
// property.
func TestEmailSetAPI(t *testing.T) {
	t.Parallel()
	a := startStoreAPI(t)
	ctx := context.Background()
	ann, annSelf := a.account("ann", 0)
	imp := call[adminapi.EmailImportResponse](t, annSelf, adminapi.MethodEmailImport, map[string]any{"emails": map[string]any{
		"n": adminapi.EmailImport{BlobID: a.upload(annSelf, ann, "", note), MailboxIDs: map[string]bool{"inbox": true}}}})
	id := imp.Created["n"].ID
	mb := call[adminapi.MailboxSetResponse](t, annSelf, adminapi.MethodMailboxSet, map[string]any{"create": map[string]any{"w": map[string]any{"name": "Work"}}})
	work := mb.Created["w"].ID
	get := func() adminapi.Email {
		t.Helper()
		g := call[adminapi.EmailGetResponse](t, annSelf, adminapi.MethodEmailGet, map[string]any{"ids": []string{id}})
		require.Len(t, g.List, 1)
		return g.List[0]
	}

	steps := []struct {
		name      string
		patch     json.RawMessage
		mailboxes map[string]bool
		keywords  map[string]bool
	}{
		{"flag by path", raw(map[string]any{"keywords/$seen": true, "keywords/$Flagged": true}), map[string]bool{"inbox": true}, map[string]bool{"$seen": true, "$flagged": true}},
		{"move by path", raw(map[string]any{"mailboxIds/" + work: true, "mailboxIds/inbox": nil}), map[string]bool{work: true}, map[string]bool{"$seen": true, "$flagged": true}},
		{"unflag", raw(map[string]any{"keywords/$flagged": nil}), map[string]bool{work: true}, map[string]bool{"$seen": true}},
		{"whole", raw(map[string]any{"mailboxIds": map[string]bool{"archive": true, "inbox": true}, "keywords": map[string]bool{"$Answered": true}}), map[string]bool{"archive": true, "inbox": true}, map[string]bool{"$answered": true}},
	}
	for _, s := range steps {
		r := call[adminapi.EmailSetResponse](t, annSelf, adminapi.MethodEmailSet, map[string]any{"update": map[string]any{id: s.patch}})
		require.Contains(t, r.Updated, id, "%s: %v", s.name, r.NotUpdated)
		e := get()
		require.Equal(t, s.mailboxes, e.MailboxIDs, s.name)
		require.Equal(t, s.keywords, e.Keywords, s.name)
	}

	for _, tc := range []struct {
		name  string
		patch any
		typ   string
		prop  string
	}{
		{"unknown mailbox", map[string]any{"mailboxIds/nosuch": true}, "invalidProperties", "mailboxIds"},
		{"no mailbox left", map[string]any{"mailboxIds": map[string]bool{}}, "invalidProperties", "mailboxIds"},
		{"mailboxIds not a map", map[string]any{"mailboxIds": "inbox"}, "invalidProperties", "mailboxIds"},
		{"false in a map", map[string]any{"keywords": map[string]bool{"$seen": false}}, "invalidProperties", "keywords/$seen"},
		{"bad keyword", map[string]any{"keywords/a(b": true}, "invalidProperties", "keywords/a(b"},
		{"keyword set to 1", map[string]any{"keywords/$seen": 1}, "invalidProperties", "keywords/$seen"},
		{"immutable", map[string]any{"subject": "new"}, "invalidProperties", "subject"},
		{"whole and path", map[string]any{"keywords": map[string]bool{}, "keywords/$seen": true}, "invalidPatch", "keywords"},
		{"not an object", "seen", "invalidPatch", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call[adminapi.EmailSetResponse](t, annSelf, adminapi.MethodEmailSet, map[string]any{"update": map[string]any{id: tc.patch}})
			e := r.NotUpdated[id]
			require.NotNil(t, e)
			require.Equal(t, tc.typ, e.Type, e.Description)
			if tc.prop != "" {
				require.Equal(t, []string{tc.prop}, e.Properties, e.Description)
			}
		})
	}
	r := call[adminapi.EmailSetResponse](t, annSelf, adminapi.MethodEmailSet, map[string]any{"update": map[string]any{"nosuch": map[string]any{"keywords/$seen": true}}})
	require.Equal(t, "notFound", r.NotUpdated["nosuch"].Type)
	r = call[adminapi.EmailSetResponse](t, annSelf, adminapi.MethodEmailSet, map[string]any{"create": map[string]any{"c": map[string]any{}}})
	require.Equal(t, "forbidden", r.NotCreated["c"].Type)
	require.Contains(t, r.NotCreated["c"].Description, "Email/import")
	require.Equal(t, "forbidden", methodErr(t, a.reader, adminapi.MethodEmailSet, map[string]any{"accountId": ann, "destroy": []string{id}}))

	r = call[adminapi.EmailSetResponse](t, annSelf, adminapi.MethodEmailSet, map[string]any{"destroy": []string{id, "nosuch"}})
	require.Equal(t, []string{id}, r.Destroyed)
	require.Equal(t, "notFound", r.NotDestroyed["nosuch"].Type)
	acc := call[adminapi.AccountGetResponse](t, a.admin, adminapi.MethodAccountGet, map[string]any{"ids": []string{ann}})
	require.Zero(t, acc.List[0].Used, "the destroyed email's bytes are given back")
	g := call[adminapi.EmailGetResponse](t, annSelf, adminapi.MethodEmailGet, map[string]any{"ids": []string{id}})
	require.Equal(t, []string{id}, g.NotFound)
	_ = ctx
}

// Mailbox/set makes, renames, moves and destroys user mailboxes; the
// standard ones stay, and a mailbox with emails goes only with
// onDestroyRemoveEmails.
func TestMailboxSetAPI(t *testing.T) {
	t.Parallel()
	a := startStoreAPI(t)
	ann, annSelf := a.account("ann", 0)
	_, boSelf := a.account("bo", 0)

	r := call[adminapi.MailboxSetResponse](t, annSelf, adminapi.MethodMailboxSet, map[string]any{"create": map[string]any{
		"w":      map[string]any{"name": "Work"},
		"p":      map[string]any{"name": "Projects", "parentId": "#w"},
		"type":   map[string]any{"name": 5},
		"odd":    map[string]any{"name": "x", "colour": "red"},
		"orphan": map[string]any{"name": "x", "parentId": "nosuch"},
		"ref":    map[string]any{"name": "x", "parentId": "#nope"},
		"inbox":  map[string]any{"name": "Inbox"},
		"role":   map[string]any{"name": "x", "role": "trash"},
	}})
	work, proj := r.Created["w"].ID, r.Created["p"].ID
	require.NotEmpty(t, work)
	require.NotEmpty(t, proj)
	for cid, prop := range map[string]string{"type": "name", "odd": "colour", "orphan": "parentId", "ref": "parentId", "inbox": "name", "role": "role"} {
		require.Equal(t, "invalidProperties", r.NotCreated[cid].Type, cid)
		require.Equal(t, []string{prop}, r.NotCreated[cid].Properties, "%s: %s", cid, r.NotCreated[cid].Description)
	}
	g := call[adminapi.MailboxGetResponse](t, annSelf, adminapi.MethodMailboxGet, map[string]any{"ids": []string{proj}})
	require.Equal(t, adminapi.Mailbox{ID: proj, Name: "Projects", ParentID: work}, g.List[0])

	r = call[adminapi.MailboxSetResponse](t, annSelf, adminapi.MethodMailboxSet, map[string]any{"update": map[string]any{
		proj:    map[string]any{"name": "Old projects", "parentId": nil},
		work:    map[string]any{"parentId": proj},
		"inbox": map[string]any{"name": "In"},
		"trash": map[string]any{"parentId": work},
		"junk":  map[string]any{"name": "Junk"},
	}})
	require.Contains(t, r.Updated, proj)
	require.Contains(t, r.Updated, "junk", "its own name: no change")
	require.Equal(t, []string{"name"}, r.NotUpdated["inbox"].Properties)
	require.Equal(t, "forbidden", r.NotUpdated["inbox"].Type)
	require.Equal(t, []string{"parentId"}, r.NotUpdated["trash"].Properties)
	// proj moved to the top first (updates run in id order), so work may go under it, or not:
	if e := r.NotUpdated[work]; e != nil {
		require.Equal(t, "invalidProperties", e.Type)
	}
	g = call[adminapi.MailboxGetResponse](t, annSelf, adminapi.MethodMailboxGet, map[string]any{"ids": []string{proj}})
	require.Equal(t, "Old projects", g.List[0].Name)

	// Make the tree plain again: proj inside work.
	r = call[adminapi.MailboxSetResponse](t, annSelf, adminapi.MethodMailboxSet, map[string]any{"update": map[string]any{
		work: map[string]any{"parentId": nil}}})
	require.Contains(t, r.Updated, work)
	r = call[adminapi.MailboxSetResponse](t, annSelf, adminapi.MethodMailboxSet, map[string]any{"update": map[string]any{
		proj: map[string]any{"parentId": work}}})
	require.Contains(t, r.Updated, proj)

	imp := call[adminapi.EmailImportResponse](t, annSelf, adminapi.MethodEmailImport, map[string]any{"emails": map[string]any{
		"n": adminapi.EmailImport{BlobID: a.upload(annSelf, ann, "", note), MailboxIDs: map[string]bool{proj: true}}}})
	require.Len(t, imp.Created, 1, "%v", imp.NotCreated)

	r = call[adminapi.MailboxSetResponse](t, annSelf, adminapi.MethodMailboxSet, map[string]any{"destroy": []string{"inbox", work, proj, "nosuch"}})
	require.Equal(t, "forbidden", r.NotDestroyed["inbox"].Type)
	require.Equal(t, "mailboxHasChild", r.NotDestroyed[work].Type)
	require.Equal(t, "mailboxHasEmail", r.NotDestroyed[proj].Type)
	require.Equal(t, "notFound", r.NotDestroyed["nosuch"].Type)
	r = call[adminapi.MailboxSetResponse](t, annSelf, adminapi.MethodMailboxSet, map[string]any{"destroy": []string{proj, work}, "onDestroyRemoveEmails": true})
	require.Equal(t, []string{proj, work}, r.Destroyed, "%v", r.NotDestroyed)
	q := call[jmap.QueryResponse](t, annSelf, adminapi.MethodEmailQuery, map[string]any{})
	require.Zero(t, q.Total, "the email in no other mailbox went with it")

	require.Equal(t, "forbidden", methodErr(t, boSelf, adminapi.MethodMailboxSet, map[string]any{"accountId": ann, "destroy": []string{"x"}}))
	require.Equal(t, "invalidArguments", methodErr(t, annSelf, adminapi.MethodMailboxSet, map[string]any{"onDestroyRemoveEmail": true}))
}
