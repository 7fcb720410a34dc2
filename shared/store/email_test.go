package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/store"
)

const parent = "Message-ID: <p1@example.org>\r\nFrom: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: plans\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\nShall we?\r\n"
const reply = "Message-ID: <r1@example.org>\r\nIn-Reply-To: <p1@example.org>\r\nReferences: <p1@example.org>\r\nFrom: bob@example.org\r\nTo: alice@example.org\r\nSubject: Re: plans\r\n\r\nYes.\r\n"
const other = "Message-ID: <o1@example.org>\r\nFrom: carol@example.org\r\nSubject: other\r\n\r\nHi\r\n"

// An email is stored in the Inbox with its parsed envelope, its raw
// message as a blob shared by every copy, and its thread: a reply joins
// its parent's thread, whichever comes first.
func TestStoreEmailThreadsAndBlobs(t *testing.T) {
	t.Parallel()
	s, _ := open(t)
	ctx := context.Background()
	bob := account(t, s, "bob", 0, "bob@example.org")
	ann := account(t, s, "ann", 0, "ann@example.org")

	// The reply first, then its parent: one thread all the same.
	r, err := s.StoreEmail(ctx, bob.ID, []byte(reply), store.NewEmail{})
	require.NoError(t, err)
	p, err := s.StoreEmail(ctx, bob.ID, []byte(parent), store.NewEmail{})
	require.NoError(t, err)
	o, err := s.StoreEmail(ctx, bob.ID, []byte(other), store.NewEmail{})
	require.NoError(t, err)
	var re, pe, oe store.Email
	require.NoError(t, r.Decode(&re))
	require.NoError(t, p.Decode(&pe))
	require.NoError(t, o.Decode(&oe))
	require.Equal(t, re.ThreadID, pe.ThreadID)
	require.NotEqual(t, pe.ThreadID, oe.ThreadID)
	require.Equal(t, map[string]bool{"inbox": true}, pe.MailboxIDs)
	require.Equal(t, "plans", pe.Subject)
	require.Equal(t, "alice@example.org", pe.From[0].Email)
	require.Equal(t, "p1@example.org", pe.MessageID)
	require.Equal(t, 2026, pe.SentAt.Year())
	require.EqualValues(t, len(parent), p.Size)

	// The same message for another account: another email, the same blob.
	p2, err := s.StoreEmail(ctx, ann.ID, []byte(parent), store.NewEmail{})
	require.NoError(t, err)
	require.Equal(t, p.BlobID, p2.BlobID)
	acc, _ := s.Account(ctx, bob.ID)
	require.EqualValues(t, len(reply)+len(parent)+len(other), acc.Used)
}

// Storing an email under an id it has already is a duplicate: nothing
// changes, nothing more is charged.
func TestStoreEmailOnce(t *testing.T) {
	t.Parallel()
	s, _ := open(t)
	ctx := context.Background()
	a := account(t, s, "dora", 0, "dora@example.org")
	_, err := s.StoreEmail(ctx, a.ID, []byte(other), store.NewEmail{ID: "msg1-0"})
	require.NoError(t, err)
	_, err = s.StoreEmail(ctx, a.ID, []byte(other), store.NewEmail{ID: "msg1-0"})
	require.True(t, errors.Is(err, store.ErrDuplicate), "%v", err)
	n := 0
	require.NoError(t, s.Documents(ctx, a.ID, store.EmailType, func(*store.Document) bool { n++; return true }))
	require.Equal(t, 1, n)
	acc, _ := s.Account(ctx, a.ID)
	require.EqualValues(t, len(other), acc.Used)

	// Over quota: refused, nothing stored.
	_, err = s.UpdateAccount(ctx, a.ID, func(x *store.Account) error { x.Quota = int64(len(other)) + 10; return nil })
	require.NoError(t, err)
	_, err = s.StoreEmail(ctx, a.ID, []byte(other), store.NewEmail{ID: "msg2-0"})
	require.ErrorIs(t, err, store.ErrOverQuota)
	_, err = s.Document(ctx, a.ID, store.EmailType, "msg2-0")
	require.ErrorIs(t, err, store.ErrNotFound)
}

// A large message stored in a second account is not written again: its
// blob is named before it is written, and found stored.
func TestStoreEmailWritesALargeBlobOnce(t *testing.T) {
	t.Parallel()
	s, js := open(t)
	ctx := context.Background()
	big := []byte(other + strings.Repeat("a line of a long letter\r\n", 200_000)) // 5 MB
	// written counts the messages ever written to the blob store.
	written := func() uint64 {
		st, err := js.Stream(ctx, "OBJ_"+store.BucketBlobs)
		require.NoError(t, err)
		info, err := st.Info(ctx)
		require.NoError(t, err)
		return info.State.LastSeq
	}
	var blob string
	var once uint64
	for i, name := range []string{"eve", "fay", "gil"} {
		a := account(t, s, name, 0, name+"@example.org")
		d, err := s.StoreEmail(ctx, a.ID, big, store.NewEmail{})
		require.NoError(t, err)
		if i == 0 {
			blob, once = d.BlobID, written()
			continue
		}
		require.Equal(t, blob, d.BlobID)
	}
	require.Equal(t, once, written(), "written once (%d chunk and meta messages), not once per account", once)
}
