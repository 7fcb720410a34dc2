package calendar_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/calendar"
	"github.com/jetmail/jetmail/services/delivery"
	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/store/storetest"
)

// On a three-server cluster with three calendar nodes, an alarm still
// fires when the node that made its task dies before it is due.
func TestAlarmFiresWhenItsNodeIsDead(t *testing.T) {
	t.Parallel()
	servers := jetmailtest.Cluster(t, 3)
	js, err := jetstream.New(jetmailtest.Dial(t, jetmailtest.URLs(servers)))
	require.NoError(t, err)
	nodes := map[string]*node.Node{}
	for i, id := range []string{"1", "2", "3"} {
		cfg, err := config.Parse([]byte(calConfig))
		require.NoError(t, err)
		base := jetmailtest.Config(t, id)
		cfg.Cluster, cfg.HTTP = base.Cluster, base.HTTP
		cfg.Task.Periodic = map[string]config.Periodic{}
		cfg.NATS.Replicas = 3
		cfg.Cluster.Roles[roles.CalendarAlerts] = roles.Shards{{"1", "2", "3"}}
		sc := store.NewComponent(store.Params{})
		q := mailqueue.New(mailqueue.Params{})
		nodes[id] = jetmailtest.Node(t, jetmailtest.Dial(t, servers[i].URL), cfg, sc, q, delivery.New(cfg, q).WithStore(sc),
			calendar.New(cfg, sc, calendar.Params{Queue: q}))
	}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Params{JS: js, Replicas: 3})
	require.NoError(t, err)
	alice, err := st.AccountByAddress(ctx, "alice@example.org")
	require.NoError(t, err)
	n := &calNode{js: js, st: st, alice: alice}

	start := time.Now().Add(5*time.Minute + 8*time.Second).Truncate(time.Second)
	doc := n.put(t, "", event("planning@x", "Planning", start, "-PT5M"))
	require.Eventually(t, func() bool { return n.pending(t, doc)["alarm-1"] != "" }, 20*time.Second, 50*time.Millisecond, "the alarm has its task")

	// The node that made the task (the feed's) dies, with no goodbye.
	leases, err := js.KeyValue(ctx, cluster.BucketLeases)
	require.NoError(t, err)
	e, err := leases.Get(ctx, cluster.DutyKey("calendar-alerts feed"))
	require.NoError(t, err)
	dead := nodes[string(e.Value())]
	require.NotNil(t, dead, "the feed runs on node %q", e.Value())
	dead.Deps().Conn.Close()
	for _, c := range dead.Deps().JetStreams {
		c.Conn().Close()
	}
	require.Eventually(t, func() bool {
		msgs, err := storetest.Mail(js, "alice@example.org")
		return err == nil && len(msgs) == 1
	}, 60*time.Second, 100*time.Millisecond, "the reminder arrives from another node")
	t.Logf("node %s died; the alarm due %s was in the Inbox %s after", e.Value(), start.Add(-5*time.Minute).Format(time.TimeOnly), time.Since(start.Add(-5*time.Minute)).Round(time.Millisecond))
}
