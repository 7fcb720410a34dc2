package cluster_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/roles"
)

func buckets(t *testing.T) *cluster.Buckets {
	t.Helper()
	js, err := jetstream.New(jetmailtest.Conn(t, jetmailtest.Server(t)))
	require.NoError(t, err)
	b, err := cluster.EnsureBuckets(context.Background(), js, 1, time.Second)
	require.NoError(t, err)
	return b
}

func membership(b *cluster.Buckets, id string) *cluster.Membership {
	return cluster.NewMembership(cluster.MembershipParams{Buckets: b, NodeID: id, Interval: 100 * time.Millisecond, Timeout: time.Second, Logger: jetmailtest.Logger()})
}

func TestMembership(t *testing.T) {
	t.Parallel()
	b := buckets(t)
	ctx := context.Background()
	m1 := membership(b, "1")
	require.NoError(t, m1.Start(ctx))
	require.NoError(t, m1.AddWorker(ctx, roles.FtsIndexing, 4))
	live, err := cluster.LiveMembers(ctx, b)
	require.NoError(t, err)
	require.Len(t, live, 1)
	require.True(t, live[0].Consumes(roles.FtsIndexing))
	require.Equal(t, 4, live[0].WorkerSlots[roles.FtsIndexing])

	// Heartbeats keep the key past its TTL.
	time.Sleep(1500 * time.Millisecond)
	live, err = cluster.LiveMembers(ctx, b)
	require.NoError(t, err)
	require.Len(t, live, 1)

	// A second live process with the same id is refused.
	err = membership(b, "1").Start(ctx)
	require.ErrorIs(t, err, cluster.ErrNodeIDInUse)

	// A clean shutdown leaves at once.
	require.NoError(t, m1.Shutdown(ctx))
	live, err = cluster.LiveMembers(ctx, b)
	if !errors.Is(err, jetstream.ErrNoKeysFound) {
		require.NoError(t, err)
	}
	require.Empty(t, live)
}

func TestLeaderHandOver(t *testing.T) {
	t.Parallel()
	b := buckets(t)
	var leading [2]atomic.Bool
	ctxs := make([]context.CancelFunc, 2)
	for i := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		ctxs[i] = cancel
		go cluster.RunLeader(ctx, b, []string{"a", "b"}[i], 100*time.Millisecond, jetmailtest.Logger(), func(ctx context.Context) {
			leading[i].Store(true)
			<-ctx.Done()
			leading[i].Store(false)
		})
	}
	defer ctxs[0]()
	defer ctxs[1]()
	one := func() int {
		if leading[0].Load() == leading[1].Load() {
			return -1
		}
		if leading[0].Load() {
			return 0
		}
		return 1
	}
	require.Eventually(t, func() bool { return one() >= 0 }, 5*time.Second, 10*time.Millisecond)
	first := one()
	// Never two leaders at once while it holds.
	for range 20 {
		require.Equal(t, first, one())
		time.Sleep(25 * time.Millisecond)
	}
	ctxs[first]()
	require.Eventually(t, func() bool { return one() == 1-first }, 5*time.Second, 10*time.Millisecond, "the other node did not take over")
}

// A role's shards are checked against the live members: a node down or
// unknown, or not running the role's service, is named; a shard with no
// node able to work the role is idle.
func TestNodeProblems(t *testing.T) {
	t.Parallel()
	members := []cluster.Member{
		{ID: "1", Services: []string{"indexer"}, Workers: []roles.Role{roles.FtsIndexing}},
		{ID: "2", Services: []string{"delivery", "smtp"}},
	}
	shards := roles.Shards{{"1", "2"}, {"2", "3"}}
	require.Equal(t, []string{
		"node 2 does not run the service that works fts-indexing (it runs delivery, smtp)",
		"node 3 is not live (down, or not started yet)",
	}, cluster.NodeProblems(roles.FtsIndexing, shards, members))
	require.Equal(t, []int{1}, cluster.Idle(roles.FtsIndexing, shards, members))
	require.Nil(t, cluster.NodeProblems(roles.FtsIndexing, roles.Shards{{"1"}}, members))
	require.Nil(t, cluster.Idle(roles.FtsIndexing, roles.Shards{{"1"}}, members))
}
