package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/store"
)

// MergeThreads folds two threads into the first's: both emails move, and
// a later reply to the second joins the merged thread.
func TestMergeThreads(t *testing.T) {
	t.Parallel()
	s, _ := open(t)
	ctx := context.Background()
	a := account(t, s, "wile", 0)
	threadOf := func(d *store.Document) string {
		got, err := s.Document(ctx, a.ID, store.EmailType, d.ID)
		require.NoError(t, err)
		var e store.Email
		require.NoError(t, got.Decode(&e))
		return e.ThreadID
	}
	one, err := s.StoreEmail(ctx, a.ID, []byte("Message-ID: <one@x>\r\nSubject: Plans\r\n\r\na\r\n"), store.NewEmail{})
	require.NoError(t, err)
	two, err := s.StoreEmail(ctx, a.ID, []byte("Message-ID: <two@x>\r\nSubject: Re: Plans\r\n\r\nb\r\n"), store.NewEmail{})
	require.NoError(t, err)
	require.NotEqual(t, threadOf(one), threadOf(two), "no header links them")

	target, moved, err := s.MergeThreads(ctx, a.ID, []string{"one@x", "<two@x>", "unknown@x"})
	require.NoError(t, err)
	require.Equal(t, threadOf(one), target)
	require.Equal(t, 1, moved)
	require.Equal(t, target, threadOf(two))

	reply, err := s.StoreEmail(ctx, a.ID, []byte("Message-ID: <three@x>\r\nIn-Reply-To: <two@x>\r\nSubject: Re: Plans\r\n\r\nc\r\n"), store.NewEmail{})
	require.NoError(t, err)
	require.Equal(t, target, threadOf(reply))

	again, moved, err := s.MergeThreads(ctx, a.ID, []string{"one@x", "two@x"})
	require.NoError(t, err)
	require.Equal(t, target, again)
	require.Zero(t, moved, "one thread already")
}
