package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/store"
)

func uidsOf(t *testing.T, s *store.Store, account, id string) map[string]store.UID {
	t.Helper()
	d, err := s.Document(context.Background(), account, store.EmailType, id)
	require.NoError(t, err)
	var e store.Email
	require.NoError(t, d.Decode(&e))
	return e.UIDs
}

// Emails delivered at once to one mailbox get distinct UIDs of one
// validity, and one that comes into another mailbox gets a UID there.
func TestUIDsGivenOnArrival(t *testing.T) {
	t.Parallel()
	s, _ := open(t)
	ctx := context.Background()
	a := account(t, s, "uids", 0)
	const n = 20
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d, err := s.StoreEmail(ctx, a.ID, fmt.Appendf(nil, "Message-ID: <%d@x>\r\nSubject: s\r\n\r\nbody %d\r\n", i, i), store.NewEmail{})
			require.NoError(t, err)
			ids[i] = d.ID
		})
	}
	wg.Wait()
	seen := map[uint32]bool{}
	var validity uint32
	for _, id := range ids {
		u := uidsOf(t, s, a.ID, id)
		require.Len(t, u, 1)
		require.False(t, seen[u["inbox"].UID], "UID %d given twice", u["inbox"].UID)
		seen[u["inbox"].UID] = true
		if validity == 0 {
			validity = u["inbox"].Validity
		}
		require.Equal(t, validity, u["inbox"].Validity)
	}
	for i := 1; i <= n; i++ {
		require.True(t, seen[uint32(i)], "UIDs are 1 to %d", n)
	}

	_, err := s.UpdateEmail(ctx, a.ID, ids[0], func(e *store.Email) error {
		e.MailboxIDs = map[string]bool{"archive": true}
		return nil
	})
	require.NoError(t, err)
	u := uidsOf(t, s, a.ID, ids[0])
	require.Equal(t, map[string]store.UID{"archive": {Validity: u["archive"].Validity, UID: 1}}, u, "the inbox's UID left with it")
}

// RecalculateUIDs numbers a mailbox 1 to n in the order of arrival under a
// new validity, then finds nothing to do; a later email gets n+1.
func TestRecalculateUIDs(t *testing.T) {
	t.Parallel()
	s, _ := open(t)
	ctx := context.Background()
	a := account(t, s, "renumber", 0)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Stored newest first, so the UIDs they were given run against their
	// order of arrival.
	var ids []string
	for i := 4; i >= 0; i-- {
		d, err := s.StoreEmail(ctx, a.ID, fmt.Appendf(nil, "Message-ID: <r%d@x>\r\n\r\n%d\r\n", i, i), store.NewEmail{ReceivedAt: base.Add(time.Duration(i) * time.Hour)})
		require.NoError(t, err)
		ids = append([]string{d.ID}, ids...)
	}
	old := uidsOf(t, s, a.ID, ids[0])["inbox"]
	require.Equal(t, uint32(5), old.UID)

	got, err := s.RecalculateUIDs(ctx, a.ID)
	require.NoError(t, err)
	var inbox store.UIDRecount
	for _, r := range got {
		if r.Mailbox == "inbox" {
			inbox = r
		}
	}
	require.Equal(t, 5, inbox.Emails)
	require.Equal(t, 5, inbox.Changed, "a new validity changes every UID, the middle one's number too")
	require.Greater(t, inbox.Validity, old.Validity)
	for i, id := range ids {
		require.Equal(t, store.UID{Validity: inbox.Validity, UID: uint32(i + 1)}, uidsOf(t, s, a.ID, id)["inbox"])
	}

	again, err := s.RecalculateUIDs(ctx, a.ID)
	require.NoError(t, err)
	for _, r := range again {
		require.Zero(t, r.Changed, "mailbox %s", r.Mailbox)
		if r.Mailbox == "inbox" {
			require.Equal(t, inbox.Validity, r.Validity, "nothing changed, so neither does the validity")
		}
	}

	d, err := s.StoreEmail(ctx, a.ID, []byte("Message-ID: <later@x>\r\n\r\nlater\r\n"), store.NewEmail{})
	require.NoError(t, err)
	require.Equal(t, store.UID{Validity: inbox.Validity, UID: 6}, uidsOf(t, s, a.ID, d.ID)["inbox"])
}

// One message delivered at once to many addresses of an account is stored
// once and takes one UID: the next email's is the one after it, no gap.
func TestConcurrentDuplicatesTakeOneUID(t *testing.T) {
	t.Parallel()
	s, _ := open(t)
	ctx := context.Background()
	a := account(t, s, "many", 0)
	raw := []byte("Message-ID: <dup@x>\r\n\r\nonce\r\n")
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, err := s.StoreEmail(ctx, a.ID, raw, store.NewEmail{ID: "q1-" + a.ID})
			if err != nil {
				require.ErrorIs(t, err, store.ErrDuplicate)
			}
		})
	}
	wg.Wait()
	require.Equal(t, uint32(1), uidsOf(t, s, a.ID, "q1-"+a.ID)["inbox"].UID)
	d, err := s.StoreEmail(ctx, a.ID, []byte("Message-ID: <next@x>\r\n\r\nnext\r\n"), store.NewEmail{})
	require.NoError(t, err)
	require.Equal(t, uint32(2), uidsOf(t, s, a.ID, d.ID)["inbox"].UID)
}

// An email's move is in its change: the mailboxes it came into and left.
func TestChangeSaysWhereAnEmailMoved(t *testing.T) {
	t.Parallel()
	s, _ := open(t)
	ctx := context.Background()
	a := account(t, s, "mover", 0)
	d, err := s.StoreEmail(ctx, a.ID, []byte("Message-ID: <m@x>\r\n\r\nmove me\r\n"), store.NewEmail{})
	require.NoError(t, err)
	_, err = s.UpdateEmail(ctx, a.ID, d.ID, func(e *store.Email) error {
		e.MailboxIDs = map[string]bool{"junk": true}
		return nil
	})
	require.NoError(t, err)
	changes, _, err := s.Changes(ctx, a.ID, store.EmailType, "", 10)
	require.NoError(t, err)
	require.Len(t, changes, 2)
	require.Empty(t, changes[0].Into, "a new email moved nowhere")
	require.Equal(t, []string{"junk"}, changes[1].Into)
	require.Equal(t, []string{"inbox"}, changes[1].OutOf)
}
