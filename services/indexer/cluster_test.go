package indexer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/indexer"
	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/fts"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/search"
	"github.com/jetmail/jetmail/shared/store"
)

// clusterIndexers starts a 3-server cluster and one store+indexer node
// per id, each on its own server, with role fts-indexing as shards.
func clusterIndexers(t *testing.T, shards roles.Shards, ids ...string) (*nats.Conn, map[string]*node.Node, *store.Store) {
	t.Helper()
	servers := jetmailtest.Cluster(t, 3)
	client := jetmailtest.Dial(t, jetmailtest.URLs(servers))
	js, err := jetstream.New(client)
	require.NoError(t, err)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Params{JS: js, Replicas: 3})
	require.NoError(t, err)
	require.NoError(t, st.CreateDomain(ctx, store.Domain{Name: "example.org"}))
	nodes := map[string]*node.Node{}
	for i, id := range ids {
		cfg := jetmailtest.Config(t, id, func(c *config.Config) {
			c.Cluster.Roles[indexer.Role] = shards
			c.NATS.Replicas = 3
		})
		sc := store.NewComponent(store.Params{})
		nc := jetmailtest.Dial(t, servers[i%len(servers)].URL)
		nodes[id] = jetmailtest.Node(t, nc, cfg, sc, indexer.New(cfg, sc, indexer.Params{Dir: t.TempDir()}))
	}
	return client, nodes, st
}

// answers are each account's search results for its own word and for a
// word all share.
type answers map[string][2][]string

func collect(ctx context.Context, c search.Client, st *store.Store, accounts []*store.Account) (answers, bool) {
	out, why := collectWhy(ctx, c, st, accounts)
	return out, why == ""
}

// collectWhy is collect saying why an answer is missing ("" when none is).
func collectWhy(ctx context.Context, c search.Client, st *store.Store, accounts []*store.Account) (answers, string) {
	out := answers{}
	for _, a := range accounts {
		var got [2][]string
		for i, text := range []string{"word" + a.Name, "shared"} {
			p := st.Partition(a.ID)
			r, err := c.Search(ctx, p, fts.Query{Account: a.ID, Text: text, Limit: 100})
			if err != nil {
				return nil, fmt.Sprintf("account %s (partition %d): %v", a.Name, p, err)
			}
			if r.Partial {
				return nil, fmt.Sprintf("account %s (partition %d): partial answer", a.Name, p)
			}
			got[i] = r.IDs
		}
		out[a.ID] = got
	}
	return out, ""
}

// fill creates n accounts with a few emails each, spread over the
// partitions.
func fill(t *testing.T, st *store.Store, n int) []*store.Account {
	t.Helper()
	ctx := context.Background()
	var accounts []*store.Account
	for i := range n {
		a, err := st.CreateAccount(ctx, store.Account{Name: fmt.Sprintf("u%d", i), Domain: "example.org", Addresses: []string{fmt.Sprintf("u%d@example.org", i)}})
		require.NoError(t, err)
		for j := range 3 {
			_, err := st.StoreEmail(ctx, a.ID, mail(fmt.Sprintf("note %d", j), fmt.Sprintf("shared text word%s number%d", a.Name, j)), store.NewEmail{})
			require.NoError(t, err)
		}
		accounts = append(accounts, a)
	}
	return accounts
}

func wantAll(t *testing.T, c search.Client, st *store.Store, accounts []*store.Account) answers {
	t.Helper()
	var got answers
	var why string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got, why = collectWhy(context.Background(), c, st, accounts)
		for _, a := range accounts {
			if why == "" && (len(got[a.ID][0]) != 3 || len(got[a.ID][1]) != 3) {
				why = fmt.Sprintf("account %s (partition %d): %d and %d results, want 3", a.Name, st.Partition(a.ID), len(got[a.ID][0]), len(got[a.ID][1]))
			}
		}
		if why == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("every account's mail is not searchable after 60s: %s", why)
		}
	}
	return got
}

// After fts-indexing goes from one shard to two, every account's search
// gives the same answers as before.
func TestReshardKeepsAnswers(t *testing.T) {
	t.Parallel()
	nc, nodes, st := clusterIndexers(t, roles.Shards{{"1", "2", "3"}}, "1", "2", "3")
	c := search.Client{Conn: nc}
	accounts := fill(t, st, 24)
	before := wantAll(t, c, st, accounts)

	ctx := context.Background()
	b := nodes["1"].Deps().Buckets
	_, err := cluster.SetRole(ctx, b, indexer.Role, roles.Shards{{"1"}, {"2", "3"}}, nodes["1"].Deps().Config.Cluster.Partitions, "test")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		rm, layout, _ := nodes["1"].Deps().View.Role(indexer.Role)
		return layout.Fits(rm) && len(rm.Shards) == 2
	}, 60*time.Second, 100*time.Millisecond, "re-sharded")
	// A change made after the re-shard is indexed too.
	extra, err := st.StoreEmail(ctx, accounts[0].ID, mail("late", "shared wordu0 after"), store.NewEmail{})
	require.NoError(t, err)
	var after answers
	require.Eventually(t, func() bool {
		var ok bool
		after, ok = collect(ctx, c, st, accounts)
		return ok && len(after[accounts[0].ID][1]) == 4
	}, 60*time.Second, 100*time.Millisecond)
	require.Contains(t, after[accounts[0].ID][1], extra.ID)
	after[accounts[0].ID] = [2][]string{remove(after[accounts[0].ID][0], extra.ID), remove(after[accounts[0].ID][1], extra.ID)}
	require.Equal(t, before, after, "the same answers after re-sharding")
}

func remove(ids []string, id string) []string {
	var out []string
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// When one node of a two-node shard dies, the other takes its partitions,
// builds their indexes and answers, within node-timeout plus the rebuild.
func TestNodeOfShardKilled(t *testing.T) {
	t.Parallel()
	nc, nodes, st := clusterIndexers(t, roles.Shards{{"1", "2"}}, "1", "2")
	c := search.Client{Conn: nc}
	accounts := fill(t, st, 16)
	before := wantAll(t, c, st, accounts)

	// Node 2 dies: its connection drops, with no goodbye.
	killed := time.Now()
	nodes["2"].Deps().Conn.Close()
	for _, js := range nodes["2"].Deps().JetStreams {
		js.Conn().Close()
	}
	var after answers
	require.Eventually(t, func() bool {
		var ok bool
		after, ok = collect(context.Background(), c, st, accounts)
		return ok
	}, 60*time.Second, 100*time.Millisecond, "node 1 answers for every account")
	t.Logf("every account answered again %v after the kill (node-timeout %v)", time.Since(killed).Round(time.Millisecond), nodes["1"].Deps().Config.Cluster.NodeTimeout)
	require.Equal(t, before, after)
}
