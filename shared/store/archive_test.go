package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/store"
)

// openFake opens a store with p on a server of its own, its clock a fake
// one.
func openFake(t *testing.T, p store.Params) (*store.Store, *clock.Fake) {
	t.Helper()
	js, err := jetstream.New(jetmailtest.Conn(t, jetmailtest.Server(t)))
	require.NoError(t, err)
	clk := clock.NewFake(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	p.JS, p.Clock = js, clk
	s, err := store.Open(context.Background(), p)
	require.NoError(t, err)
	return s, clk
}

// The archive keeps a destroyed document for its retention: a purge
// before then keeps it, one after removes it and nothing else.
func TestPurgeArchive(t *testing.T) {
	t.Parallel()
	s, clk := openFake(t, store.Params{ArchiveRetention: 24 * time.Hour})
	ctx := context.Background()
	a := account(t, s, "wile", 0)
	var ids []string
	for i := range 3 {
		d, err := s.StoreEmail(ctx, a.ID, fmt.Appendf(nil, "Subject: n %d\r\n\r\nx\r\n", i), store.NewEmail{})
		require.NoError(t, err)
		ids = append(ids, d.ID)
	}
	require.NoError(t, s.DestroyDocument(ctx, a.ID, store.EmailType, ids[0]))
	clk.Advance(12 * time.Hour)
	require.NoError(t, s.DestroyDocument(ctx, a.ID, store.EmailType, ids[1]))

	n, err := s.PurgeArchive(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "within retention")
	clk.Advance(13 * time.Hour) // the first is 25 h old, the second 13 h
	n, err = s.PurgeArchive(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = s.Archived(ctx, a.ID, store.EmailType, ids[0])
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.Archived(ctx, a.ID, store.EmailType, ids[1])
	require.NoError(t, err, "still within its retention")
	_, err = s.Document(ctx, a.ID, store.EmailType, ids[2])
	require.NoError(t, err, "a live document is never the archive's")
	n, err = s.PurgeArchive(ctx)
	require.NoError(t, err)
	require.Zero(t, n)

	// Restoring: within retention the document comes back with its id;
	// past it (before a purge removed it), it is refused as expired.
	d1, err := s.Archived(ctx, a.ID, store.EmailType, ids[1])
	require.NoError(t, err)
	back, err := s.RestoreArchived(ctx, a.ID, store.EmailType, d1.BlobID)
	require.NoError(t, err)
	require.Equal(t, ids[1], back.ID)
	_, err = s.Document(ctx, a.ID, store.EmailType, ids[1])
	require.NoError(t, err)
	_, err = s.Archived(ctx, a.ID, store.EmailType, ids[1])
	require.ErrorIs(t, err, store.ErrNotFound, "it left the archive")
	require.NoError(t, s.DestroyDocument(ctx, a.ID, store.EmailType, ids[2]))
	d2, err := s.Archived(ctx, a.ID, store.EmailType, ids[2])
	require.NoError(t, err)
	clk.Advance(25 * time.Hour)
	_, err = s.RestoreArchived(ctx, a.ID, store.EmailType, d2.BlobID)
	require.ErrorIs(t, err, store.ErrExpired)
	_, err = s.RestoreArchived(ctx, a.ID, store.EmailType, "no-such-blob")
	require.ErrorIs(t, err, store.ErrNotFound)
}

// A purge of Trash takes out the emails moved there before its bound: one
// only there is destroyed (into the archive), one also elsewhere leaves
// Trash; newer ones and other mailboxes' stay.
func TestPurgeMailbox(t *testing.T) {
	t.Parallel()
	s, clk := openFake(t, store.Params{})
	ctx := context.Background()
	a := account(t, s, "wile", 0)
	put := func(mailboxes ...string) string {
		in := map[string]bool{}
		for _, m := range mailboxes {
			in[m] = true
		}
		d, err := s.StoreEmail(ctx, a.ID, fmt.Appendf(nil, "Subject: %v\r\n\r\nx\r\n", mailboxes), store.NewEmail{MailboxIDs: in})
		require.NoError(t, err)
		return d.ID
	}
	oldTrash, oldBoth, oldInbox := put("trash"), put("trash", "archive"), put("inbox")
	clk.Advance(31 * 24 * time.Hour)
	newTrash := put("trash")
	n, err := s.PurgeMailbox(ctx, a.ID, "trash", clk.Now().Add(-30*24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 2, n)
	_, err = s.Document(ctx, a.ID, store.EmailType, oldTrash)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.Archived(ctx, a.ID, store.EmailType, oldTrash)
	require.NoError(t, err, "destroyed into the archive")
	both, err := s.Document(ctx, a.ID, store.EmailType, oldBoth)
	require.NoError(t, err)
	var e store.Email
	require.NoError(t, both.Decode(&e))
	require.Equal(t, map[string]bool{"archive": true}, e.MailboxIDs)
	for _, id := range []string{oldInbox, newTrash} {
		_, err := s.Document(ctx, a.ID, store.EmailType, id)
		require.NoError(t, err)
	}
}
