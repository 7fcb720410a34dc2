package push_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/push"
	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/store/storetest"
)

// 10,000 changes across 100 accounts, with push-notifications in two
// shards of two nodes on a 3-server cluster; a third of the way in the
// role is re-sharded (three shards), two thirds in a node stops (planned).
// Every account's final state is pushed, and no state twice.
func TestExactlyOnceAcrossReshardAndStop(t *testing.T) {
	t.Parallel()
	servers := jetmailtest.Cluster(t, 3)
	client := jetmailtest.Dial(t, jetmailtest.URLs(servers))
	js, err := jetstream.New(client)
	require.NoError(t, err)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Params{JS: js, Replicas: 3})
	require.NoError(t, err)
	require.NoError(t, st.CreateDomain(ctx, store.Domain{Name: "example.org"}))

	ids := []string{"a", "b", "c", "d"}
	nodes := map[string]*node.Node{}
	for i, id := range ids {
		cfg := jetmailtest.Config(t, id, func(c *config.Config) {
			c.Cluster.Roles[push.Role] = roles.Shards{{"a", "b"}, {"c", "d"}}
			c.NATS.Replicas = 3
			c.API.Users = map[string]config.APIUser{"admin": {Secret: adminSecret, Permissions: []string{"admin"}}}
		})
		sc := store.NewComponent(store.Params{})
		nodes[id] = jetmailtest.Node(t, jetmailtest.Dial(t, servers[i%len(servers)].URL), cfg, sc, push.New(cfg, sc, push.Params{}))
	}
	admin := &jmap.Client{URL: nodes["a"].HTTPURL() + "/jmap", Authorization: "Bearer " + adminSecret}

	r := newReceiver(t)
	const accounts, perAccount = 100, 100
	var accs []*store.Account
	for i := range accounts {
		a, err := st.CreateAccount(ctx, store.Account{Name: fmt.Sprintf("u%d", i), Domain: "example.org", Addresses: []string{fmt.Sprintf("u%d@example.org", i)}})
		require.NoError(t, err)
		accs = append(accs, a)
		subscribeAs(t, admin, r, a.ID)
	}
	time.Sleep(500 * time.Millisecond) // every node's copy of the subscriptions has them

	// The changes: ten writers, an account at a time each.
	var done atomic.Int64
	accountIDs := make([]string, len(accs))
	for i, a := range accs {
		accountIDs[i] = a.ID
	}
	changed := make(chan error, 1)
	go func() { changed <- storetest.MailboxChanges(ctx, st, accountIDs, perAccount, 10, &done) }()
	waitDone := func(n int64) {
		require.Eventually(t, func() bool { return done.Load() >= n }, 120*time.Second, 10*time.Millisecond)
	}
	waitDone(accounts * perAccount / 3)
	_, err = cluster.SetRole(ctx, nodes["a"].Deps().Buckets, push.Role, roles.Shards{{"a"}, {"b"}, {"c", "d"}}, nodes["a"].Deps().Config.Cluster.Partitions, "test")
	require.NoError(t, err)
	t.Logf("re-shard asked after %d changes", done.Load())
	waitDone(2 * accounts * perAccount / 3)
	jetmailtest.StopNode(nodes["c"])
	t.Logf("node c stopped after %d changes", done.Load())
	require.NoError(t, <-changed)
	require.Equal(t, int64(accounts*perAccount), done.Load())

	require.Eventually(t, func() bool {
		rm, layout, _ := nodes["a"].Deps().View.Role(push.Role)
		return layout.Fits(rm) && len(rm.Shards) == 3
	}, 60*time.Second, 100*time.Millisecond, "re-sharded")
	pending := func() []string {
		var out []string
		for _, a := range accs {
			state, err := st.State(ctx, a.ID, store.MailboxType)
			require.NoError(t, err)
			if top, _ := r.latest(a.ID, "Mailbox"); fmt.Sprint(top) != state {
				out = append(out, a.Name)
			}
		}
		return out
	}
	require.Eventually(t, func() bool { return len(pending()) == 0 }, 60*time.Second, 100*time.Millisecond, "every account's final state is pushed")
	total := 0
	for _, a := range accs {
		_, n := r.latest(a.ID, "Mailbox")
		total += n
	}
	t.Logf("%d changes in %d accounts: %d pushes, %d duplicates", accounts*perAccount, accounts, total, r.duplicates())
	require.Zero(t, r.duplicates(), "no state is pushed twice")
}

// subscribeAs creates and verifies a subscription of the account, as an
// API user.
func subscribeAs(t testing.TB, admin *jmap.Client, r *receiver, account string) {
	t.Helper()
	var res adminapi.PushSubscriptionSetResponse
	require.NoError(t, admin.Call(context.Background(), adminapi.MethodPushSubscriptionSet, map[string]any{"accountId": account,
		"create": map[string]any{"s": map[string]any{"deviceClientId": "d", "url": r.url(account)}}}, &res))
	require.Empty(t, res.NotCreated)
	id := res.Created["s"].ID
	require.NoError(t, admin.Call(context.Background(), adminapi.MethodPushSubscriptionSet, map[string]any{"accountId": account,
		"update": map[string]any{id: map[string]any{"verificationCode": r.code(id)}}}, &res))
	require.Empty(t, res.NotUpdated)
}
