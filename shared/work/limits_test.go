package work_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/work"
)

// A shard consumer's MaxAckPending is the worker slots of the live nodes
// serving it, kept current as they come and go; and a node whose pool is
// broken (it asks for far more than it announced) still gets no more than
// that from the server.
func TestConsumerLimitFollowsNodesAndBindsABrokenPool(t *testing.T) {
	t.Parallel()
	s := jetmailtest.Server(t)
	ctx := context.Background()
	role := roles.FtsIndexing
	n1 := jetmailtest.Node(t, jetmailtest.Conn(t, s), jetmailtest.Config(t, "1", withRole(role, "1,2")))
	_, err := n1.RunWorker(ctx, role, 3, func(context.Context, *work.Job) error { return nil })
	require.NoError(t, err)
	require.Eventually(t, func() bool { return shardLimit(n1, role) == 3 }, 10*time.Second, 20*time.Millisecond, "one node with 3 slots")

	// Node 2 joins the shard with a broken pool: it announces 2 slots but
	// asks the server for up to 50 at a time.
	n2 := jetmailtest.Node(t, jetmailtest.Conn(t, s), jetmailtest.Config(t, "2", withRole(role, "1,2")))
	require.NoError(t, n2.Deps().Membership.AddWorker(ctx, role, 2))
	require.Eventually(t, func() bool { return shardLimit(n1, role) == 5 }, 10*time.Second, 20*time.Millisecond, "3 + 2 slots")

	// Stop node 1's worker by leaving: the limit follows the live nodes.
	jetmailtest.StopNode(n1)
	require.Eventually(t, func() bool { return shardLimit(n2, role) == 2 }, 10*time.Second, 20*time.Millisecond, "node 1 left")

	var running, peak, done atomic.Int64
	release := make(chan struct{})
	broken := work.NewPool(work.PoolParams{Slots: 50, Logger: jetmailtest.Logger(), PollWait: 200 * time.Millisecond,
		Handler: func(context.Context, *work.Job) error {
			now := running.Add(1)
			for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
			}
			<-release
			running.Add(-1)
			done.Add(1)
			return nil
		}})
	for i := range 40 {
		require.NoError(t, n2.Deps().Publisher.Submit(ctx, role, work.Item{Key: fmt.Sprint("k", i)}))
	}
	c, err := shardConsumer(n2, role)
	require.NoError(t, err)
	pctx, cancel := context.WithCancel(ctx)
	go broken.Consume(pctx, c, "broken", nil)
	require.Eventually(t, func() bool { return running.Load() == 2 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(500 * time.Millisecond) // more fetches: the server hands out nothing more
	require.EqualValues(t, 2, running.Load(), "the server holds the broken pool to the limit")
	close(release)
	require.Eventually(t, func() bool { return done.Load() == 40 }, 10*time.Second, 10*time.Millisecond, "and the work still flows")
	require.EqualValues(t, 2, peak.Load())
	cancel()
	broken.Wait()
}

// shardConsumer is the consumer of role r's first shard, as n sees it.
func shardConsumer(n *node.Node, r roles.Role) (jetstream.Consumer, error) {
	_, layout, _ := n.Deps().View.Role(r)
	if layout == nil {
		return nil, fmt.Errorf("no layout for %s yet", r)
	}
	return n.Deps().JS().Consumer(context.Background(), work.StreamName(r), work.ConsumerName(r, 0, layout.Epoch))
}

// shardLimit is the MaxAckPending of role r's first shard, or -1.
func shardLimit(n *node.Node, r roles.Role) int {
	c, err := shardConsumer(n, r)
	if err != nil {
		return -1
	}
	info, err := c.Info(context.Background())
	if err != nil {
		return -1
	}
	return info.Config.MaxAckPending
}
