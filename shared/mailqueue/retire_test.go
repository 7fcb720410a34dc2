package mailqueue

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
)

// twoQueues has virtual queues a and b, mail to b.test in b; without b,
// the strategy sends everything to a.
const twoQueues = `
[smtp]
hostname = "mx.example.org"
[queue.route.out]
type = "relay"
address = "127.0.0.1"
port = 2525
tls = "none"
[queue.strategy]
route = [ { else = "'out'" } ]
schedule = [ %s { else = "'a'" } ]
[queue.schedule.a]
queue-name = "a"
retry = ["1h"]
[queue.virtual.a]
threads-per-node = 2
`

const queueB = `
[queue.schedule.b]
queue-name = "b"
retry = ["1h"]
notify = ["1h"]
[queue.virtual.b]
threads-per-node = 2
`

func twoQueuesConfig(t *testing.T, withB bool) *config.Config {
	t.Helper()
	rule, extra := "", ""
	if withB {
		rule, extra = `{ if = "rcpt_domain == 'b.test'", then = "'b'" },`, queueB
	}
	cfg, err := config.Parse([]byte(replaceOnce(twoQueues, "%s", rule) + extra))
	require.NoError(t, err)
	base := jetmailtest.Config(t, "1")
	cfg.Cluster, cfg.HTTP = base.Cluster, base.HTTP
	cfg.Task.Periodic = map[string]config.Periodic{}
	return cfg
}

// A node started with a configuration that no longer has queue.virtual.b
// moves b's entries to the queue the strategy now picks, held, waiting
// for a retry or due now alike, and then deletes b's consumers.
func TestRemovedVirtualQueueIsRetired(t *testing.T) {
	t.Parallel()
	_, nc := testServer(t)
	ctx := context.Background()
	first := &recorder{answer: tempFail}
	q, n := deliveryNode(t, nc, twoQueuesConfig(t, true), longRescue, first)
	// Deferred: waits an hour for its retry, with a delayed DSN scheduled.
	deferred := enqueue(t, q, "carol@b.test")
	require.Eventually(t, func() bool { return len(first.attempts("carol@b.test")) == 1 }, 10*time.Second, 10*time.Millisecond)
	pause(t, q, "b")
	// Due now, in its trigger alone, and held.
	enqueue(t, q, "bob@b.test")
	held := enqueue(t, q, "dave@b.test")
	_, err := q.Hold(ctx, EntryKey(held, 0))
	require.NoError(t, err)
	require.NoError(t, q.Resume(ctx, "b")) // the control would outlive b
	jetmailtest.StopNode(n)
	_, err = q.js.Consumer(ctx, Stream, consumerName("b"))
	require.NoError(t, err, "b's consumer outlives the node")

	second := &recorder{}
	q2, _ := deliveryNode(t, nc, twoQueuesConfig(t, false), longRescue, second)
	gone := func(name string) bool {
		_, err := q2.js.Consumer(ctx, Stream, name)
		return err != nil
	}
	require.Eventually(t, func() bool { return gone(consumerName("b")) && gone(schedCounterName("b")) }, 20*time.Second, 50*time.Millisecond,
		"b's consumers are deleted")
	require.Eventually(t, func() bool { return second.delivered("bob@b.test", "hello") }, 10*time.Second, 20*time.Millisecond,
		"the entry due now is delivered from a")
	for _, id := range []string{deferred, held} {
		r, err := q2.Get(ctx, EntryKey(id, 0))
		require.NoError(t, err)
		require.Equal(t, "a", r.Queue, r.Address)
		require.Equal(t, "a", r.Schedule)
	}
	r, _ := q2.Get(ctx, EntryKey(held, 0))
	require.True(t, r.Held, "still held")
	require.Len(t, second.attempts("dave@b.test"), 0)
	require.Len(t, second.attempts("carol@b.test"), 0, "its retry is an hour away")

	// Nothing of b is left in the stream: no stale trigger or schedule.
	s, err := q2.js.Stream(ctx, Stream)
	require.NoError(t, err)
	for _, filter := range []string{"jetmail.queue.due.b.>", "jetmail.queue.sched.b.>"} {
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
		require.NoError(t, err)
		require.Empty(t, info.State.Subjects, filter)
	}
	depth, err := q2.Depth(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, depth["a"], "carol waits in a for her retry")
}
