package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/store"
)

// User mailboxes are created, renamed and moved within the account's
// tree; the standard ones stay; a mailbox with emails is destroyed only
// with its emails removed, and those in another mailbox too stay there.
func TestMailboxes(t *testing.T) {
	t.Parallel()
	s, _ := open(t)
	ctx := context.Background()
	a := account(t, s, "mia", 0, "mia@example.org")

	work, err := s.CreateMailbox(ctx, a.ID, store.Mailbox{Name: "Work"})
	require.NoError(t, err)
	proj, err := s.CreateMailbox(ctx, a.ID, store.Mailbox{Name: "Projects", ParentID: work})
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		m    store.Mailbox
		prop string
	}{
		{"empty name", store.Mailbox{Name: " "}, "name"},
		{"sibling name in another case", store.Mailbox{Name: "work"}, "name"},
		{"clash with Inbox", store.Mailbox{Name: "INBOX"}, "name"},
		{"unknown parent", store.Mailbox{Name: "x", ParentID: "nosuch"}, "parentId"},
		{"a role", store.Mailbox{Name: "x", Role: "inbox"}, "role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateMailbox(ctx, a.ID, tc.m)
			require.ErrorIs(t, err, store.ErrInvalid)
			var pe *store.PropertyError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.prop, pe.Property)
		})
	}

	_, err = s.UpdateMailbox(ctx, a.ID, work, func(m *store.Mailbox) error { m.ParentID = proj; return nil })
	require.ErrorIs(t, err, store.ErrInvalid, "not inside its own child")
	_, err = s.UpdateMailbox(ctx, a.ID, "inbox", func(m *store.Mailbox) error { m.Name = "In"; return nil })
	require.ErrorIs(t, err, store.ErrSystemMailbox)
	_, err = s.UpdateMailbox(ctx, a.ID, "trash", func(m *store.Mailbox) error { m.ParentID = work; return nil })
	require.ErrorIs(t, err, store.ErrSystemMailbox)
	require.ErrorIs(t, s.DestroyMailbox(ctx, a.ID, "archive", true), store.ErrSystemMailbox)
	m, err := s.UpdateMailbox(ctx, a.ID, proj, func(m *store.Mailbox) error { m.Name, m.ParentID = "Old projects", ""; return nil })
	require.NoError(t, err)
	require.Equal(t, store.Mailbox{Name: "Old projects"}, *m)

	only, err := s.StoreEmail(ctx, a.ID, []byte(other), store.NewEmail{MailboxIDs: map[string]bool{work: true}})
	require.NoError(t, err)
	both, err := s.StoreEmail(ctx, a.ID, []byte(parent), store.NewEmail{MailboxIDs: map[string]bool{work: true, "inbox": true}})
	require.NoError(t, err)
	require.ErrorIs(t, s.DestroyMailbox(ctx, a.ID, work, false), store.ErrMailboxHasEmail)
	require.NoError(t, s.DestroyMailbox(ctx, a.ID, work, true))
	_, err = s.Document(ctx, a.ID, store.EmailType, only.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "in no other mailbox: destroyed")
	d, err := s.Document(ctx, a.ID, store.EmailType, both.ID)
	require.NoError(t, err)
	var e store.Email
	require.NoError(t, d.Decode(&e))
	require.Equal(t, map[string]bool{"inbox": true}, e.MailboxIDs)
	acc, err := s.Account(ctx, a.ID)
	require.NoError(t, err)
	require.EqualValues(t, len(parent), acc.Used, "the destroyed email's bytes are given back")
	require.ErrorIs(t, s.DestroyMailbox(ctx, a.ID, work, false), store.ErrNotFound)
}

// An email's mailboxes and keywords change; it stays in one mailbox at
// least, each the account's, and its keywords are keywords.
func TestUpdateEmail(t *testing.T) {
	t.Parallel()
	s, _ := open(t)
	ctx := context.Background()
	a := account(t, s, "ned", 0, "ned@example.org")
	d, err := s.StoreEmail(ctx, a.ID, []byte(other), store.NewEmail{})
	require.NoError(t, err)

	d, err = s.UpdateEmail(ctx, a.ID, d.ID, func(e *store.Email) error {
		e.MailboxIDs = map[string]bool{"archive": true}
		e.Keywords["$Seen"] = true
		return nil
	})
	require.NoError(t, err)
	var e store.Email
	require.NoError(t, d.Decode(&e))
	require.Equal(t, map[string]bool{"archive": true}, e.MailboxIDs)
	require.Equal(t, map[string]bool{"$seen": true}, e.Keywords)
	require.Equal(t, "other", e.Subject, "the rest stays")

	for name, change := range map[string]func(*store.Email) error{
		"no mailbox":      func(e *store.Email) error { e.MailboxIDs = map[string]bool{}; return nil },
		"unknown mailbox": func(e *store.Email) error { e.MailboxIDs["nosuch"] = true; return nil },
		"bad keyword":     func(e *store.Email) error { e.Keywords["a b"] = true; return nil },
	} {
		_, err := s.UpdateEmail(ctx, a.ID, d.ID, change)
		require.ErrorIs(t, err, store.ErrInvalid, name)
	}
	_, err = s.UpdateEmail(ctx, a.ID, "nosuch", func(*store.Email) error { return nil })
	require.ErrorIs(t, err, store.ErrNotFound)
}
