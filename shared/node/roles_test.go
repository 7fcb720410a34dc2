package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/work"
)

// roleService stands for a service of the node: it works the roles given
// (as the indexer works fts-indexing) and registers a micro service of
// its own when micro is set.
type roleService struct {
	name  string
	works []roles.Role
	micro string
}

func (s *roleService) Name() string { return s.name }

func (s *roleService) Start(ctx context.Context, d node.Deps) error {
	for _, r := range s.works {
		if _, err := d.Workers.RunWorker(ctx, r, 1, func(context.Context, *work.Job) error { return nil }); err != nil {
			return err
		}
	}
	if s.micro != "" {
		if _, err := d.Micro.AddMicro(s.micro, "a test service", func() any { return "ok" }); err != nil {
			return err
		}
	}
	return nil
}

func (s *roleService) Shutdown(context.Context) error { return nil }

// withRoles sets cluster.roles.<role> in the configuration, as a file does.
func withRoles(set map[roles.Role]roles.Shards) func(*config.Config) {
	return func(c *config.Config) {
		for r, ss := range set {
			c.Cluster.Roles[r] = ss
			c.Cluster.RolesSet[r] = true
		}
	}
}

// runNode starts a node with the version and services, logging to logs.
func runNode(t *testing.T, nc *nats.Conn, cfg *config.Config, version string, logs *jetmailtest.LogBuffer, services ...node.Service) *node.Node {
	t.Helper()
	n, err := node.New(node.Params{Config: cfg, Conn: nc, Services: services, Version: version,
		Logger: slog.New(slog.NewTextHandler(logs, nil)), Work: work.Params{AckWait: 3 * time.Second, DrainTimeout: 15 * time.Second}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, n.Start(ctx))
	t.Cleanup(func() { jetmailtest.StopNode(n) })
	return n
}

// A node seeds a role's map from its configuration only when it works the
// role: a delivery-only node that starts first on a fresh cluster seeds
// none, though its file names roles; the first node that runs the
// indexer seeds fts-indexing from its own file. A node whose file then
// disagrees with a map says so: a WARN at start and in /ready, which
// stays ready.
func TestRolesAreSeededByTheNodesThatWorkThem(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	ctx := context.Background()
	// Node d's file points fts-indexing and acme.renew at itself.
	dLogs := &jetmailtest.LogBuffer{}
	d := runNode(t, jetmailtest.Conn(t, srv), jetmailtest.Config(t, "d", withRoles(map[roles.Role]roles.Shards{
		roles.FtsIndexing: {{"d"}}, roles.AcmeRenew: {{"d"}},
	})), "test", dLogs, &roleService{name: "delivery"})
	b := d.Deps().Buckets
	for _, r := range roles.All {
		_, err := cluster.GetRole(ctx, b, r)
		require.True(t, errors.Is(err, jetstream.ErrKeyNotFound), "role %s was seeded by a node that does not work it (%v)", r, err)
	}

	iLogs := &jetmailtest.LogBuffer{}
	runNode(t, jetmailtest.Conn(t, srv), jetmailtest.Config(t, "i", withRoles(map[roles.Role]roles.Shards{
		roles.FtsIndexing: {{"i"}},
	})), "test", iLogs, &roleService{name: "indexer", works: []roles.Role{roles.FtsIndexing}})
	m, err := cluster.GetRole(ctx, b, roles.FtsIndexing)
	require.NoError(t, err)
	require.Equal(t, roles.Shards{{"i"}}, m.Shards)
	require.Equal(t, "config of node i", m.UpdatedBy)
	require.Contains(t, iLogs.String(), `msg="role map seeded from the configuration" node_id=i role=fts-indexing shards=i`)
	for _, r := range roles.All {
		if r == roles.FtsIndexing {
			continue
		}
		_, err := cluster.GetRole(ctx, b, r)
		require.True(t, errors.Is(err, jetstream.ErrKeyNotFound), "role %s was seeded by a node that does not work it", r)
	}

	// Node d's file disagrees with the map now: /ready says so and is 200.
	want := []cluster.Drift{{Role: roles.FtsIndexing, Config: roles.Shards{{"d"}}, Cluster: roles.Shards{{"i"}}}}
	require.Eventually(t, func() bool { return len(d.ConfigDrift()) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, want, d.ConfigDrift())
	resp, err := http.Get("http://" + d.HTTPAddr() + "/ready")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "a drift does not make a node unready")
	var ready struct {
		Status      string          `json:"status"`
		ConfigDrift []cluster.Drift `json:"configDrift"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ready))
	require.Equal(t, "ready", ready.Status)
	require.Equal(t, want, ready.ConfigDrift)

	// A node that starts with such a file warns at start, and its member
	// record carries what its file sets, for roles show.
	lLogs := &jetmailtest.LogBuffer{}
	late := runNode(t, jetmailtest.Conn(t, srv), jetmailtest.Config(t, "late", withRoles(map[roles.Role]roles.Shards{
		roles.FtsIndexing: {{"late", "i"}},
	})), "test", lLogs, &roleService{name: "indexer", works: []roles.Role{roles.FtsIndexing}})
	require.Contains(t, lLogs.String(), `level=WARN msg="the configuration's role differs from the cluster's role map, which wins" node_id=late key=cluster.roles.fts-indexing config=late,i cluster=i fix="jetmail roles apply --config FILE makes the cluster match the file; or change the file"`)
	require.Equal(t, roles.Shards{{"late", "i"}}, late.Deps().Membership.Self().ConfigRoles[roles.FtsIndexing])
	m, err = cluster.GetRole(ctx, b, roles.FtsIndexing)
	require.NoError(t, err)
	require.Equal(t, roles.Shards{{"i"}}, m.Shards, "the map wins over a later node's file")
	require.NotContains(t, dLogs.String(), "level=WARN msg=\"the configuration's role", "no map existed when d started")
}

// Every NATS micro service a node registers, its own and its services',
// shows the node's version, in the semantic form micro needs.
func TestMicroServicesShowTheNodeVersion(t *testing.T) {
	t.Parallel()
	nc := jetmailtest.Conn(t, jetmailtest.Server(t))
	runNode(t, nc, jetmailtest.Config(t, "v"), "v1.4.0-2-gabc1234-dirty", &jetmailtest.LogBuffer{},
		&roleService{name: "one", micro: "jetmail-one"}, &roleService{name: "two", micro: "jetmail-two"})

	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	require.NoError(t, nc.PublishRequest("$SRV.INFO", inbox, nil))
	versions := map[string]string{}
	for {
		msg, err := sub.NextMsg(500 * time.Millisecond)
		if errors.Is(err, nats.ErrTimeout) {
			break
		}
		require.NoError(t, err)
		var info micro.Info
		require.NoError(t, json.Unmarshal(msg.Data, &info))
		require.Equal(t, "v", info.Metadata["node_id"])
		versions[info.Name] = info.Version
	}
	require.Equal(t, map[string]string{
		"jetmail-node": "1.4.0-2-gabc1234-dirty",
		"jetmail-one":  "1.4.0-2-gabc1234-dirty",
		"jetmail-two":  "1.4.0-2-gabc1234-dirty",
	}, versions)
}

func TestMicroVersion(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"v1.4.0":                  "1.4.0",
		"1.4.0":                   "1.4.0",
		"v1.4.0-2-gabc1234-dirty": "1.4.0-2-gabc1234-dirty",
		"v0.0.0-20250101120000-abcdef123456+dirty": "0.0.0-20250101120000-abcdef123456+dirty",
		"dev":            "0.0.0-dev",
		"test":           "0.0.0-test",
		"abc1234-dirty":  "0.0.0-abc1234-dirty",
		"0123456":        "0.0.0-r0123456",
		"1.4":            "0.0.0-1-4",
		"release/2 beta": "0.0.0-release-2-beta",
		"":               "0.0.0-unknown",
	} {
		require.Equal(t, want, node.MicroVersion(in), in)
	}
}
