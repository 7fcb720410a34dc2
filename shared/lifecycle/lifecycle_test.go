package lifecycle_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/lifecycle"
)

func TestStartOnceStopOnceInReverse(t *testing.T) {
	t.Parallel()
	var l lifecycle.Lifecycle
	ctx := context.Background()
	var log []string
	starts := 0
	start := func(_ context.Context, u *lifecycle.Undo) error {
		starts++
		u.Add(func(context.Context) error { log = append(log, "a"); return nil })
		u.Add(func(context.Context) error { log = append(log, "b"); return nil })
		return nil
	}
	require.NoError(t, l.Stop(ctx), "stopping what never started does nothing")
	require.NoError(t, l.Start(ctx, start))
	require.NoError(t, l.Start(ctx, start))
	require.Equal(t, 1, starts, "a second Start does nothing")
	require.True(t, l.Started())
	require.NoError(t, l.Stop(ctx))
	require.NoError(t, l.Stop(ctx))
	require.Equal(t, []string{"b", "a"}, log, "undone once, newest first")
	require.False(t, l.Started())
}

func TestFailedStartRollsBack(t *testing.T) {
	t.Parallel()
	var l lifecycle.Lifecycle
	ctx := context.Background()
	var undone []string
	boom := errors.New("listen: address in use")
	err := l.Start(ctx, func(_ context.Context, u *lifecycle.Undo) error {
		u.Add(func(context.Context) error { undone = append(undone, "consumer"); return nil })
		u.Add(func(context.Context) error { undone = append(undone, "bucket"); return nil })
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.Equal(t, []string{"bucket", "consumer"}, undone)
	require.False(t, l.Started())
	require.NoError(t, l.Stop(ctx), "nothing is left to stop")
	require.Equal(t, []string{"bucket", "consumer"}, undone)

	// It may be tried again.
	require.NoError(t, l.Start(ctx, func(context.Context, *lifecycle.Undo) error { return nil }))
	require.True(t, l.Started())
}
