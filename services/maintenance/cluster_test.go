package maintenance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/maintenance"
	"github.com/jetmail/jetmail/services/scheduler"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

var okRuns = regexp.MustCompile(`(?m)^jetmail_task_runs_total\{result="ok",type="([A-Za-z]+)"\} (\d+)`)

// taskRuns reads a node's completed task attempts by type from /metrics.
func taskRuns(t *testing.T, n *node.Node) map[string]int {
	t.Helper()
	resp, err := http.Get(n.HTTPURL() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := map[string]int{}
	for _, m := range okRuns.FindAllStringSubmatch(string(b), -1) {
		out[m[1]], _ = strconv.Atoi(m[2])
	}
	return out
}

// With three maintenance nodes on a three-server cluster, a periodic
// purge runs once per firing across the cluster, not once per node, and a
// per-partition one once per partition, on the node of the shard that
// owns the partition.
func TestPeriodicPurgesOncePerCluster(t *testing.T) {
	t.Parallel()
	servers := jetmailtest.Cluster(t, 3)
	js, err := jetstream.New(jetmailtest.Dial(t, jetmailtest.URLs(servers)))
	require.NoError(t, err)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Params{JS: js, Replicas: 3})
	require.NoError(t, err)
	require.NoError(t, st.CreateDomain(ctx, store.Domain{Name: "example.org"}))
	for i := range 8 {
		_, err := st.CreateAccount(ctx, store.Account{Name: fmt.Sprintf("u%d", i), Domain: "example.org", Addresses: []string{fmt.Sprintf("u%d@example.org", i)}})
		require.NoError(t, err)
	}

	const every = 2 * time.Second
	start := time.Now() // no schedule is installed before this
	nodes := map[string]*node.Node{}
	partitions := 0
	for i, id := range []string{"1", "2", "3"} {
		cfg := jetmailtest.Config(t, id, func(c *config.Config) {
			c.NATS.Replicas = 3
			c.Cluster.Roles[roles.PurgeStores] = roles.Shards{{"1", "2", "3"}}
			c.Cluster.Roles[roles.PurgeAccounts] = roles.Shards{{"1"}, {"2"}, {"3"}}
			c.Task.Periodic = map[string]config.Periodic{
				"purge-data": {Schedule: "@every 2s", Task: json.RawMessage(`{"@type":"StoreMaintenance","maintenanceType":"purgeData"}`)},
				"purge-accounts": {Schedule: "@every 2s", PerPartition: true,
					Task: json.RawMessage(`{"@type":"AccountMaintenance","maintenanceType":"purge","accountId":"*"}`)},
			}
		})
		partitions = cfg.Cluster.Partitions
		sc := store.NewComponent(store.Params{})
		// The scheduler installs the periodic schedules (a maintenance
		// service only runs its roles' tasks); it runs no maintenance role.
		sched := scheduler.New(cfg, taskmanager.Params{Roles: []roles.Role{roles.AcmeRenew}})
		nodes[id] = jetmailtest.Node(t, jetmailtest.Dial(t, servers[i].URL), cfg, sc, maintenance.New(cfg, sc, maintenance.Params{}), sched)
	}

	total := func() (map[string]int, map[string]map[string]int) {
		sum, per := map[string]int{}, map[string]map[string]int{}
		for id, n := range nodes {
			per[id] = taskRuns(t, n)
			for k, v := range per[id] {
				sum[k] += v
			}
		}
		return sum, per
	}
	require.Eventually(t, func() bool {
		sum, _ := total()
		return sum["StoreMaintenance"] >= 2 && sum["AccountMaintenance"] >= 2*partitions
	}, 60*time.Second, 200*time.Millisecond)
	sum, per := total()
	// However slow the machine, the server cannot have fired more often
	// than this since the schedules were installed; three nodes each running
	// every firing would be three times as many.
	firings := int(time.Since(start)/every) + 1
	require.LessOrEqual(t, sum["StoreMaintenance"], firings, "purgeData once per firing (%d nodes: %v)", len(nodes), per)
	require.LessOrEqual(t, sum["AccountMaintenance"], firings*partitions, "the accounts' purge once per partition per firing: %v", per)
	for id, runs := range per {
		require.Positive(t, runs["AccountMaintenance"], "node %s's shard purges the accounts of its partitions", id)
	}
}
