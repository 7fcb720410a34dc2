package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/store"
)

func open(t *testing.T) (*store.Store, jetstream.JetStream) {
	t.Helper()
	js, err := jetstream.New(jetmailtest.Conn(t, jetmailtest.Server(t)))
	require.NoError(t, err)
	s, err := store.Open(context.Background(), store.Params{JS: js, Logger: jetmailtest.Logger()})
	require.NoError(t, err)
	return s, js
}

func account(t *testing.T, s *store.Store, name string, quota int64, addrs ...string) *store.Account {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateDomain(ctx, store.Domain{Name: "example.org"}); err != nil {
		require.ErrorIs(t, err, store.ErrExists)
	}
	a, err := s.CreateAccount(ctx, store.Account{Name: name, Domain: "example.org", Quota: quota, Addresses: addrs}, name+"-secret-123")
	require.NoError(t, err)
	return a
}

// Accounts are found by name and address, which each belong to one
// active account; a destroyed account frees them.
func TestAccounts(t *testing.T) {
	t.Parallel()
	s, _ := open(t)
	ctx := context.Background()
	require.ErrorIs(t, s.CreateDomain(ctx, store.Domain{Name: "bad_domain"}), store.ErrInvalid)
	alice := account(t, s, "alice", 0, "Alice@Example.org", "al@example.org")
	require.Equal(t, []string{"alice@example.org", "al@example.org"}, alice.Addresses)
	require.Equal(t, store.Active, alice.State)

	got, err := s.AccountByAddress(ctx, "AL@example.ORG")
	require.NoError(t, err)
	require.Equal(t, alice.ID, got.ID)
	got, err = s.AccountByName(ctx, "alice")
	require.NoError(t, err)
	require.True(t, got.CheckSecret("alice-secret-123"))
	require.False(t, got.CheckSecret("wrong"))
	require.NotContains(t, strings.Join(got.SecretHashes, ""), "alice-secret-123", "secrets are kept hashed")

	_, err = s.CreateAccount(ctx, store.Account{Name: "alice", Domain: "example.org"})
	require.ErrorIs(t, err, store.ErrExists)
	_, err = s.CreateAccount(ctx, store.Account{Name: "bob", Domain: "example.org", Addresses: []string{"al@example.org"}})
	require.ErrorIs(t, err, store.ErrExists)
	require.ErrorContains(t, err, `address "al@example.org"`)
	_, err = s.CreateAccount(ctx, store.Account{Name: "carol", Domain: "nowhere.test"})
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.CreateAccount(ctx, store.Account{Name: "dave", Domain: "example.org", Addresses: []string{"not an address"}})
	require.ErrorIs(t, err, store.ErrInvalid)
	// A refused account leaves no claim behind: bob may have his name.
	bob := account(t, s, "bob", 0, "bob@example.org")

	mailboxes, err := s.Mailboxes(ctx, alice.ID)
	require.NoError(t, err)
	require.Len(t, mailboxes, 5)
	require.Equal(t, "Inbox", mailboxes["inbox"].Name)

	require.NoError(t, s.DestroyAccount(ctx, alice.ID))
	_, err = s.AccountByAddress(ctx, "al@example.org")
	require.ErrorIs(t, err, store.ErrNotFound)
	gone, err := s.Account(ctx, alice.ID)
	require.NoError(t, err)
	require.Equal(t, store.Deleted, gone.State)
	require.True(t, gone.ArchivedUntil.After(gone.Deleted), "kept for a restore")
	again := account(t, s, "alice", 0, "al@example.org")
	require.NotEqual(t, alice.ID, again.ID)

	all, err := s.Accounts(ctx)
	require.NoError(t, err)
	require.Len(t, all, 3)
	_ = bob
}

// A login key left pointing to no account (a crash between the index and
// the record) is taken over, not trusted.
func TestIndexKeyLeftByACrash(t *testing.T) {
	t.Parallel()
	s, js := open(t)
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, store.BucketDirectory)
	require.NoError(t, err)
	_, err = kv.Create(ctx, "login."+fmt.Sprintf("%x", "erin"), []byte("NoSuchAccount"))
	require.NoError(t, err)
	_, err = s.AccountByName(ctx, "erin")
	require.ErrorIs(t, err, store.ErrNotFound)
	erin := account(t, s, "erin", 0)
	got, err := s.AccountByName(ctx, "erin")
	require.NoError(t, err)
	require.Equal(t, erin.ID, got.ID)
}

// Concurrent charges keep used bytes exact and never past the quota; a
// tenant's refusal gives the account's bytes back.
func TestQuotaExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	s, _ := open(t)
	ctx := context.Background()
	a := account(t, s, "frank", 1000)
	var ok, over atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := s.Charge(ctx, a.ID, 30); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrOverQuota):
				over.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 33, ok.Load())
	require.EqualValues(t, 17, over.Load())
	got, err := s.Account(ctx, a.ID)
	require.NoError(t, err)
	require.EqualValues(t, 990, got.Used)
	require.NoError(t, s.Charge(ctx, a.ID, -2000))
	got, _ = s.Account(ctx, a.ID)
	require.Zero(t, got.Used, "never below zero")

	tid, err := s.CreateTenant(ctx, store.Tenant{Name: "acme", Quota: 100})
	require.NoError(t, err)
	require.NoError(t, s.CreateDomain(ctx, store.Domain{Name: "acme.test", Tenant: tid}))
	g, err := s.CreateAccount(ctx, store.Account{Name: "grace", Domain: "acme.test", Quota: 1000})
	require.NoError(t, err)
	require.Equal(t, tid, g.Tenant, "an account takes its domain's tenant")
	require.NoError(t, s.Charge(ctx, g.ID, 60))
	require.ErrorIs(t, s.Charge(ctx, g.ID, 60), store.ErrOverQuota)
	got, _ = s.Account(ctx, g.ID)
	require.EqualValues(t, 60, got.Used, "the tenant's refusal gave the account's bytes back")
	tn, err := s.Tenant(ctx, tid)
	require.NoError(t, err)
	require.EqualValues(t, 60, tn.Used)
}

// A document's life: created, updated by compare-and-set (concurrent
// updates all land), destroyed into the archive; each change logged, the
// state moving, the quota charged and released.
func TestDocumentLifecycle(t *testing.T) {
	t.Parallel()
	s, _ := open(t)
	ctx := context.Background()
	a := account(t, s, "heidi", 10_000)
	state0, err := s.State(ctx, a.ID, store.FileType)
	require.NoError(t, err)

	d := &store.Document{Account: a.ID, Type: store.FileType, Size: 100}
	require.NoError(t, d.Encode(map[string]any{"name": "notes.txt", "tags": []string{}}))
	require.NoError(t, s.CreateDocument(ctx, d))
	require.NotEmpty(t, d.ID)
	require.ErrorIs(t, s.CreateDocument(ctx, &store.Document{Account: a.ID, Type: store.FileType, ID: d.ID}), store.ErrExists)
	require.ErrorIs(t, s.CreateDocument(ctx, &store.Document{Account: a.ID, Type: "video"}), store.ErrInvalid)
	require.ErrorIs(t, s.CreateDocument(ctx, &store.Document{Account: a.ID, Type: store.FileType, Size: 20_000}), store.ErrOverQuota)

	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateDocument(ctx, a.ID, store.FileType, d.ID, func(doc *store.Document) error {
				var v struct {
					Name string   `json:"name"`
					Tags []string `json:"tags"`
				}
				if err := doc.Decode(&v); err != nil {
					return err
				}
				v.Tags = append(v.Tags, fmt.Sprint("t", i))
				doc.Size += 10
				return doc.Encode(v)
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := s.Document(ctx, a.ID, store.FileType, d.ID)
	require.NoError(t, err)
	var v struct{ Tags []string }
	require.NoError(t, got.Decode(&v))
	require.Len(t, v.Tags, 10, "every concurrent update landed")
	require.EqualValues(t, 200, got.Size)
	require.Greater(t, got.Modseq(), d.Modseq())
	acc, _ := s.Account(ctx, a.ID)
	require.EqualValues(t, 200, acc.Used)

	require.NoError(t, s.DestroyDocument(ctx, a.ID, store.FileType, d.ID))
	require.NoError(t, s.DestroyDocument(ctx, a.ID, store.FileType, d.ID), "destroying what is gone is no error")
	_, err = s.Document(ctx, a.ID, store.FileType, d.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	arch, err := s.Archived(ctx, a.ID, store.FileType, d.ID)
	require.NoError(t, err)
	require.False(t, arch.ArchivedUntil.IsZero())
	acc, _ = s.Account(ctx, a.ID)
	require.Zero(t, acc.Used)

	changes, state, err := s.Changes(ctx, a.ID, store.FileType, state0, 0)
	require.NoError(t, err)
	require.Len(t, changes, 12)
	require.Equal(t, store.Created, changes[0].Op)
	require.Equal(t, store.Updated, changes[5].Op)
	require.Equal(t, store.Destroyed, changes[11].Op)
	now, err := s.State(ctx, a.ID, store.FileType)
	require.NoError(t, err)
	require.Equal(t, now, state)
	none, same, err := s.Changes(ctx, a.ID, store.FileType, state, 0)
	require.NoError(t, err)
	require.Empty(t, none)
	require.Equal(t, state, same)
	part, mid, err := s.Changes(ctx, a.ID, store.FileType, state0, 3)
	require.NoError(t, err)
	require.Len(t, part, 3)
	rest, _, err := s.Changes(ctx, a.ID, store.FileType, mid, 0)
	require.NoError(t, err)
	require.Len(t, rest, 9)
	// Another account's changes are its own.
	other := account(t, s, "ivan", 0)
	mine, _, err := s.Changes(ctx, other.ID, store.FileType, "", 0)
	require.NoError(t, err)
	require.Empty(t, mine)
	_, _, err = s.Changes(ctx, a.ID, store.FileType, "yesterday", 0)
	require.ErrorIs(t, err, store.ErrInvalid)
}

// Blobs are named by their content: the same bytes, empty, small or large, are
// stored once, and no temporary object is left.
func TestBlobsAreContentAddressed(t *testing.T) {
	t.Parallel()
	s, js := open(t)
	ctx := context.Background()
	small := []byte("Subject: hi\r\n\r\nhello\r\n")
	large := make([]byte, 3<<20)
	_, err := rand.Read(large)
	require.NoError(t, err)
	for _, content := range [][]byte{{}, small, large} {
		r1, err := s.PutBlob(ctx, bytes.NewReader(content))
		require.NoError(t, err)
		r2, err := s.PutBlob(ctx, bytes.NewReader(content))
		require.NoError(t, err)
		require.Equal(t, r1, r2)
		require.EqualValues(t, len(content), r1.Size)
		rc, err := s.Blob(ctx, r1.ID)
		require.NoError(t, err)
		back, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		require.Equal(t, content, back)
	}
	obs, err := js.ObjectStore(ctx, store.BucketBlobs)
	require.NoError(t, err)
	list, err := obs.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 3)
	for _, o := range list {
		require.True(t, strings.HasPrefix(o.Name, "sha256-"), o.Name)
	}
	_, err = s.Blob(ctx, "sha256-00")
	require.ErrorIs(t, err, store.ErrNotFound)
}

// smtp.users seed the store once: a second seed creates nothing and keeps
// what was changed in the store.
func TestSeedFromConfig(t *testing.T) {
	t.Parallel()
	s, _ := open(t)
	ctx := context.Background()
	users := map[string]config.SMTPUser{
		"alice": {Secret: "alice-secret-123", Addresses: []string{"alice@example.org"}},
		"bob":   {Secret: "bob-secret-1234", Addresses: []string{"bob@other.test", "b@example.org"}},
	}
	created, err := s.Seed(ctx, users)
	require.NoError(t, err)
	require.Equal(t, []string{"alice", "bob"}, created)
	bob, err := s.AccountByAddress(ctx, "b@example.org")
	require.NoError(t, err)
	require.Equal(t, "other.test", bob.Domain)
	_, err = s.UpdateAccount(ctx, bob.ID, func(a *store.Account) error { a.Quota = 5000; return nil })
	require.NoError(t, err)
	created, err = s.Seed(ctx, users)
	require.NoError(t, err)
	require.Empty(t, created)
	bob, _ = s.Account(ctx, bob.ID)
	require.EqualValues(t, 5000, bob.Quota)
	domains, err := s.Domains(ctx)
	require.NoError(t, err)
	require.Len(t, domains, 2)

	// Destroyed in the store, it stays destroyed.
	require.NoError(t, s.DestroyAccount(ctx, bob.ID))
	created, err = s.Seed(ctx, users)
	require.NoError(t, err)
	require.Empty(t, created)
	seeded, err := s.Seeded(ctx, "bob")
	require.NoError(t, err)
	require.True(t, seeded)
	seeded, err = s.Seeded(ctx, "carol")
	require.NoError(t, err)
	require.False(t, seeded)
}
