package kvttl_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/kvttl"
)

func open(t *testing.T) (jetstream.JetStream, *kvttl.Bucket) {
	t.Helper()
	js, err := jetstream.New(jetmailtest.Conn(t, jetmailtest.Server(t)))
	require.NoError(t, err)
	b, err := kvttl.Open(context.Background(), js, "test-ttl", "kvttl test", 1)
	require.NoError(t, err)
	return js, b
}

// Writes are compare-and-set: a create of an existing key and an update
// at an old revision are conflicts; the right revision wins.
func TestWriteIsCompareAndSet(t *testing.T) {
	t.Parallel()
	_, b := open(t)
	ctx := context.Background()
	v, rev, err := b.Get(ctx, "k")
	require.NoError(t, err)
	require.Nil(t, v)
	require.Zero(t, rev)

	r1, err := b.Write(ctx, "k", []byte("1"), 0, time.Hour)
	require.NoError(t, err)
	_, err = b.Write(ctx, "k", []byte("x"), 0, time.Hour)
	require.ErrorIs(t, err, kvttl.ErrConflict)
	r2, err := b.Write(ctx, "k", []byte("2"), r1, time.Hour)
	require.NoError(t, err)
	_, err = b.Write(ctx, "k", []byte("x"), r1, time.Hour)
	require.ErrorIs(t, err, kvttl.ErrConflict, "r1 is stale")
	v, rev, err = b.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "2", string(v))
	require.Equal(t, r2, rev)

	require.NoError(t, b.Delete(ctx, "k", r1), "a stale delete leaves the key alone")
	v, _, err = b.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "2", string(v))
	require.NoError(t, b.Delete(ctx, "k", r2))
	v, _, err = b.Get(ctx, "k")
	require.NoError(t, err)
	require.Nil(t, v)
	_, err = b.Write(ctx, "k", []byte("3"), 0, time.Hour)
	require.NoError(t, err, "a deleted key is created again")
}

// An entry expires its TTL after its last write, an updated one too, and
// the key can be created again; the server's clock does it, so this test
// waits a real second or two.
func TestEntriesExpire(t *testing.T) {
	t.Parallel()
	_, b := open(t)
	ctx := context.Background()
	rev, err := b.Write(ctx, "short", []byte("1"), 0, time.Hour)
	require.NoError(t, err)
	_, err = b.Write(ctx, "short", []byte("2"), rev, time.Second) // the update's TTL counts
	require.NoError(t, err)
	_, err = b.Write(ctx, "long", []byte("1"), 0, time.Hour)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		v, _, err := b.Get(ctx, "short")
		return err == nil && v == nil
	}, 10*time.Second, 50*time.Millisecond, "expired")
	v, _, err := b.Get(ctx, "long")
	require.NoError(t, err)
	require.Equal(t, "1", string(v))
	_, err = b.Write(ctx, "short", []byte("again"), 0, time.Hour)
	require.NoError(t, err, "an expired key is created again")
}

// Clear empties the bucket and counts its keys; a bucket never made has
// nothing to clear.
func TestClear(t *testing.T) {
	t.Parallel()
	js, b := open(t)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		_, err := b.Write(ctx, k, []byte("1"), 0, time.Hour)
		require.NoError(t, err)
	}
	n, err := kvttl.Clear(ctx, js, "test-ttl")
	require.NoError(t, err)
	require.Equal(t, 3, n)
	for _, k := range []string{"a", "b", "c"} {
		v, _, err := b.Get(ctx, k)
		require.NoError(t, err)
		require.Nil(t, v, k)
	}
	_, err = b.Write(ctx, "a", []byte("1"), 0, time.Hour)
	require.NoError(t, err, "the bucket still works")

	n, err = kvttl.Clear(ctx, js, "no-such-bucket")
	require.NoError(t, err)
	require.Zero(t, n)
}
