package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/roles"
)

// A plan changes only the roles whose shards differ, names the problems of
// each, and Apply stores them; a map changed after the plan refuses it.
func TestPlanRoles(t *testing.T) {
	t.Parallel()
	b := buckets(t)
	ctx := context.Background()
	m1 := membership(b, "1")
	require.NoError(t, m1.Start(ctx))
	t.Cleanup(func() { _ = m1.Shutdown(context.Background()) })
	require.NoError(t, m1.AddWorker(ctx, roles.FtsIndexing, 1))
	require.NoError(t, cluster.SeedRoles(ctx, b, map[roles.Role]roles.Shards{
		roles.FtsIndexing: {{"1"}},
		roles.AcmeRenew:   {{"1", "2"}},
	}, "test"))

	desired := map[roles.Role]roles.Shards{
		roles.FtsIndexing:       {{"1"}, {"2"}},
		roles.AcmeRenew:         {{"2", "1"}}, // the same nodes in another order: no change
		roles.PushNotifications: {{"1", "3"}}, // no map yet; refused by roles.Check
	}
	plan, err := cluster.PlanRoles(ctx, b, desired)
	require.NoError(t, err)
	require.Len(t, plan.Changes, 2)
	push, fts := plan.Changes[0], plan.Changes[1]
	require.Equal(t, roles.PushNotifications, push.Role, "in the order of roles.All")
	require.Equal(t, roles.FtsIndexing, fts.Role)
	require.Equal(t, roles.Shards{{"1"}}, fts.From)
	require.NotZero(t, fts.FromRevision)
	require.Equal(t, []string{"node 2 is not live (down, or not started yet)"}, fts.Problems)
	require.Empty(t, push.From)
	require.Zero(t, push.FromRevision)
	require.Equal(t, []string{
		"push-notifications must be sharded: on 2 nodes it needs at least two shards, got 1",
		"node 1 does not run the service that works push-notifications (it runs no service)",
		"node 3 is not live (down, or not started yet)",
	}, push.Problems)
	require.Len(t, plan.Problems(), 4)
	require.Equal(t, "fts-indexing: node 2 is not live (down, or not started yet)", plan.Problems()[3])
	require.Equal(t, `push-notifications: (no map yet) -> 1,3
  problem: push-notifications must be sharded: on 2 nodes it needs at least two shards, got 1
  problem: node 1 does not run the service that works push-notifications (it runs no service)
  problem: node 3 is not live (down, or not started yet)
fts-indexing: 1 -> 1 | 2
  problem: node 2 is not live (down, or not started yet)
`, plan.String())

	// Apply stores what SetRole accepts, in order, and stops at the first
	// it refuses, saying what it applied.
	seventeen := make(roles.Shards, 17)
	for i := range seventeen {
		seventeen[i] = roles.Shard{"1"}
	}
	plan, err = cluster.PlanRoles(ctx, b, map[roles.Role]roles.Shards{roles.FtsIndexing: {{"1"}, {"2"}}, roles.CalendarAlerts: seventeen})
	require.NoError(t, err)
	require.Len(t, plan.Changes, 2)
	err = plan.Apply(ctx, b, "test plan")
	require.ErrorContains(t, err, "calendar-alerts: 17 shards but only 16 partitions")
	require.ErrorContains(t, err, "(already applied: fts-indexing)")
	m, err := cluster.GetRole(ctx, b, roles.FtsIndexing)
	require.NoError(t, err)
	require.Equal(t, roles.Shards{{"1"}, {"2"}}, m.Shards)
	require.Equal(t, "test plan", m.UpdatedBy)
	require.Equal(t, m.Revision, plan.Changes[0].Revision)
	require.Zero(t, plan.Changes[1].Revision)

	// Nothing left to change.
	again, err := cluster.PlanRoles(ctx, b, map[roles.Role]roles.Shards{roles.FtsIndexing: {{"1"}, {"2"}}})
	require.NoError(t, err)
	require.Empty(t, again.Changes)
	require.Contains(t, again.String(), "nothing to change")

	// A map changed between the plan and Apply: the plan is stale.
	stale, err := cluster.PlanRoles(ctx, b, map[roles.Role]roles.Shards{roles.FtsIndexing: {{"1"}}})
	require.NoError(t, err)
	_, err = cluster.SetRole(ctx, b, roles.FtsIndexing, roles.Shards{{"2"}}, 16, "someone else")
	require.NoError(t, err)
	require.ErrorIs(t, stale.Apply(ctx, b, "test"), cluster.ErrPlanStale)
	m, err = cluster.GetRole(ctx, b, roles.FtsIndexing)
	require.NoError(t, err)
	require.Equal(t, roles.Shards{{"2"}}, m.Shards, "a stale plan changes nothing")

	_, err = cluster.PlanRoles(ctx, b, map[roles.Role]roles.Shards{"purge.nothing": {{"1"}}})
	require.ErrorContains(t, err, "unknown role")
}

// A configuration that sets a role to other shards than the cluster's map
// drifts; a role with no map, or one the configuration leaves out, does
// not.
func TestDrifts(t *testing.T) {
	t.Parallel()
	config := map[roles.Role]roles.Shards{
		roles.FtsIndexing: {{"1", "2"}},
		roles.AcmeRenew:   {{"2", "1"}},
		roles.PurgeStores: {{"1"}},
	}
	have := map[roles.Role]roles.Shards{
		roles.FtsIndexing:   {{"1"}, {"2"}},
		roles.AcmeRenew:     {{"1", "2"}},
		roles.PurgeAccounts: {{"3"}},
	}
	require.Equal(t, []cluster.Drift{{Role: roles.FtsIndexing, Config: roles.Shards{{"1", "2"}}, Cluster: roles.Shards{{"1"}, {"2"}}}},
		cluster.Drifts(config, have))
	require.True(t, cluster.SameShards(roles.Shards{{"1", "2"}, {"3"}}, roles.Shards{{"2", "1"}, {"3"}}))
	require.False(t, cluster.SameShards(roles.Shards{{"1"}, {"2"}}, roles.Shards{{"2"}, {"1"}}), "the order of shards decides their partitions")
}

// The report lists each role's shards and the live nodes whose
// configuration disagrees with its map.
func TestReportShowsConfigDrift(t *testing.T) {
	t.Parallel()
	b := buckets(t)
	ctx := context.Background()
	m := cluster.NewMembership(cluster.MembershipParams{Buckets: b, NodeID: "2", Interval: 100 * time.Millisecond, Timeout: time.Second,
		ConfigRoles: map[roles.Role]roles.Shards{roles.FtsIndexing: {{"1", "2"}}, roles.AcmeRenew: {{"2"}}}, Logger: jetmailtest.Logger()})
	require.NoError(t, m.Start(ctx))
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	require.NoError(t, cluster.SeedRoles(ctx, b, map[roles.Role]roles.Shards{roles.FtsIndexing: {{"1"}, {"2"}}, roles.AcmeRenew: {{"2"}}}, "test"))

	rep, err := cluster.Report(ctx, b)
	require.NoError(t, err)
	require.Len(t, rep.Roles, 2)
	require.Equal(t, roles.AcmeRenew, rep.Roles[0].Role)
	require.Empty(t, rep.Roles[0].ConfigDrift)
	require.Equal(t, roles.FtsIndexing, rep.Roles[1].Role)
	require.Equal(t, []cluster.NodeDrift{{Node: "2", Shards: roles.Shards{{"1", "2"}}}}, rep.Roles[1].ConfigDrift)
	require.Len(t, rep.Roles[1].Shards, 2)
	require.Equal(t, []cluster.NodeEntry{{ID: "2", Live: true}}, rep.Roles[1].Shards[1].Nodes)
	require.Equal(t, "no live node of this shard runs the service that works fts-indexing: its work waits", rep.Roles[1].Shards[0].Warning)
	require.Equal(t, roles.Shards{{"1", "2"}}, rep.Nodes[0].ConfigRoles[roles.FtsIndexing], "the member record carries the node's configured roles")
}
