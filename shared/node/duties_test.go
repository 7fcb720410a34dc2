package node_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
)

// A duty runs on a node that registered it, whichever node leads the
// cluster; of two nodes that registered it, one at a time, and the other
// takes it over when the first stops.
func TestDutyRunsOnANodeThatRegisteredIt(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	// The first node leads the cluster and registers no duty.
	leader := jetmailtest.Node(t, jetmailtest.Conn(t, srv), jetmailtest.Config(t, "lead"))
	require.Eventually(t, leader.IsLeader, 5*time.Second, 10*time.Millisecond)

	var running atomic.Int32
	var ran [2]atomic.Bool
	duty := func(i int) func(ctx context.Context) {
		return func(ctx context.Context) {
			if running.Add(1) > 1 {
				t.Errorf("the duty runs on two nodes at once")
			}
			ran[i].Store(true)
			<-ctx.Done()
			running.Add(-1)
		}
	}
	a := jetmailtest.Node(t, jetmailtest.Conn(t, srv), jetmailtest.Config(t, "a"))
	a.LeaderDuty("sweep things", duty(0))
	require.Eventually(t, ran[0].Load, 5*time.Second, 10*time.Millisecond, "the duty never ran, though the leader does not do it")
	require.True(t, leader.IsLeader())

	b := jetmailtest.Node(t, jetmailtest.Conn(t, srv), jetmailtest.Config(t, "b"))
	b.LeaderDuty("sweep things", duty(1))
	time.Sleep(500 * time.Millisecond) // b's lease loop tries and must wait
	require.False(t, ran[1].Load(), "b took a duty that a holds")

	jetmailtest.StopNode(a)
	require.Eventually(t, ran[1].Load, 5*time.Second, 10*time.Millisecond, "b did not take the duty over")
}
