package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/node"
)

// A delivery-only node that starts first on a fresh cluster seeds no role,
// though its file names two; the node that runs the other services seeds
// them from its own file. The first node's file then disagrees with the
// maps, and roles show and its /ready say so. roles apply --config prints
// a plan, changes nothing without --yes, refuses a plan with problems
// unless --force, and says when nothing is to change.
func TestRolesApplyAndConfigDrift(t *testing.T) {
	t.Parallel()
	natsAddr := jetmailtest.FreePort(t)
	srv, err := embedded.Start(embedded.Options{DataDir: t.TempDir(), Listen: natsAddr})
	require.NoError(t, err)
	defer srv.Stop()
	url := "nats://" + natsAddr

	dir := t.TempDir()
	file := func(name, roles string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(`
[cluster]
heartbeat-interval = "250ms"
node-timeout = "2s"
`+roles), 0o600))
		return path
	}
	one := file("one.toml", `
[cluster.roles.fts-indexing]
fts-indexing = ["1"]

[cluster.roles.acme]
renew = ["1"]
`)
	two := file("two.toml", `
[cluster.roles.fts-indexing]
fts-indexing = ["2"]

[cluster.roles.metrics]
push = ["2"]
`)
	serve := func(id, cfg string, services ...string) string {
		addr := jetmailtest.FreePort(t)
		p := start(t, filepath.Join(dir, id), append([]string{"serve", "--nats-url", url, "--config", cfg, "--node-id", id, "--http", addr}, services...)...)
		waitReady(t, p, addr)
		return addr
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "1"), 0o700))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "2"), 0o700))

	http1 := serve("1", one, "delivery")
	rep := rolesJSON(t, url)
	require.Equal(t, []string{"1"}, rep.liveNodes())
	require.Empty(t, rep.Roles, "a delivery-only node seeds no role")

	serve("2", two)
	require.Equal(t, []string{"2"}, rolesJSON(t, url).shards("fts-indexing"))
	var full struct {
		Roles []struct {
			Role        string `json:"role"`
			UpdatedBy   string `json:"updatedBy"`
			ConfigDrift []struct {
				Node   string   `json:"node"`
				Shards []string `json:"shards"`
			} `json:"configDrift"`
		} `json:"roles"`
	}
	out, code := run(t, "roles", "show", "-o", "json", "--nats-url", url)
	require.Equal(t, 0, code, out)
	require.NoError(t, json.Unmarshal([]byte(out), &full), out)
	require.Len(t, full.Roles, 10, "node 2 runs every service and seeds every role")
	drift := map[string][]string{}
	for _, r := range full.Roles {
		require.Equal(t, "config of node 2", r.UpdatedBy, r.Role)
		for _, d := range r.ConfigDrift {
			drift[r.Role+" on "+d.Node] = d.Shards
		}
	}
	require.Equal(t, map[string][]string{"fts-indexing on 1": {"1"}, "acme.renew on 1": {"1"}}, drift)
	out, code = run(t, "roles", "show", "--nats-url", url)
	require.Equal(t, 0, code, out)
	require.Regexp(t, `CONFIG DRIFT\s+NODE\s+ITS CONFIG SAYS\s+THE CLUSTER HAS\n\s*acme.renew\s+1\s+1\s+2\n\s*fts-indexing\s+1\s+1\s+2\n`, out)

	// Node 1's /ready says it too, and stays ready.
	resp, err := http.Get("http://" + http1 + "/ready")
	require.NoError(t, err)
	var ready struct {
		Status      string `json:"status"`
		ConfigDrift []struct {
			Role    string   `json:"role"`
			Config  []string `json:"config"`
			Cluster []string `json:"cluster"`
		} `json:"configDrift"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ready))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, ready.ConfigDrift, 2)
	require.Equal(t, "acme.renew", ready.ConfigDrift[0].Role)
	require.Equal(t, []string{"1"}, ready.ConfigDrift[0].Config)
	require.Equal(t, []string{"2"}, ready.ConfigDrift[0].Cluster)

	// The file node 2 seeded from: nothing to change.
	out, code = run(t, "roles", "apply", "--nats-url", url, "--config", two)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "nothing to change: the cluster's role maps match "+two+" (2 roles)")

	// Node 1 does not run the indexer: the plan says so, and --yes alone
	// refuses it.
	three := file("three.toml", `
[cluster.roles.fts-indexing]
fts-indexing = ["1,2"]

[cluster.roles.metrics]
push = ["2"]
`)
	out, code = run(t, "roles", "apply", "--nats-url", url, "--config", three)
	require.Equal(t, 0, code, out)
	require.Regexp(t, `^fts-indexing: 2 -> 1,2
  problem: node 1 does not run the service that works fts-indexing \(it runs [^)]*\bdelivery\b[^)]*\)
re-run with --yes --force to apply it despite the problems
$`, out)
	out, code = run(t, "roles", "apply", "--nats-url", url, "--config", three, "--yes")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "not applied: 1 problem(s):\n  fts-indexing: node 1 does not run the service that works fts-indexing")
	require.Equal(t, []string{"2"}, rolesJSON(t, url).shards("fts-indexing"), "a refused plan changes nothing")
	out, code = run(t, "roles", "apply", "--nats-url", url, "--config", three, "--yes", "--force")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "jetmail: warning: fts-indexing: node 1 does not run the service")
	require.Regexp(t, `fts-indexing: 1,2 \(revision \d+\)\napplied: 1 role\(s\) changed`, out)
	require.Equal(t, []string{"1,2"}, rolesJSON(t, url).shards("fts-indexing"))

	// Back to node 2's file: a plan with no problem, applied with --yes.
	out, code = run(t, "roles", "apply", "--nats-url", url, "--config", two)
	require.Equal(t, 0, code, out)
	require.Equal(t, "fts-indexing: 1,2 -> 2\nre-run with --yes to apply\n", out)
	require.Equal(t, []string{"1,2"}, rolesJSON(t, url).shards("fts-indexing"), "without --yes nothing changes")
	out, code = run(t, "roles", "apply", "--nats-url", url, "--config", two, "--yes", "-o", "json")
	require.Equal(t, 0, code, out)
	var applied struct {
		Changes []struct {
			Role     string   `json:"role"`
			From     []string `json:"from"`
			To       []string `json:"to"`
			Revision uint64   `json:"revision"`
		} `json:"changes"`
		Applied bool `json:"applied"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &applied), out)
	require.True(t, applied.Applied)
	require.Len(t, applied.Changes, 1)
	require.Equal(t, []string{"1,2"}, applied.Changes[0].From)
	require.Equal(t, []string{"2"}, applied.Changes[0].To)
	require.NotZero(t, applied.Changes[0].Revision)
	require.Equal(t, []string{"2"}, rolesJSON(t, url).shards("fts-indexing"))

	// A file with problems is refused with their key paths; so is a
	// missing --config.
	bad := file("bad.toml", `
[cluster.roles.fts-indexing]
fts-indexing = ["2,2"]
`)
	out, code = run(t, "roles", "apply", "--nats-url", url, "--config", bad)
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "cluster.roles.fts-indexing")
	require.Contains(t, out, "node 2 appears twice")
	out, code = run(t, "roles", "apply", "--nats-url", url)
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "roles apply needs --config FILE")

	// roles set plans and applies its one role the same way.
	out, code = run(t, "roles", "set", "--nats-url", url, "fts-indexing", "2")
	require.Equal(t, 0, code, out)
	require.Regexp(t, `^fts-indexing: 2 \(revision \d+, unchanged\)\n$`, out)
}

// Every NATS micro service of a node built as the e2e tests build it
// (no -ldflags: the version comes from the build information) shows the
// version jetmail --version prints.
func TestMicroServicesShowTheBuildVersion(t *testing.T) {
	t.Parallel()
	out, code := run(t, "--version")
	require.Equal(t, 0, code, out)
	m := regexp.MustCompile(`^jetmail version (\S+)\n$`).FindStringSubmatch(out)
	require.Len(t, m, 2, out)
	want := node.MicroVersion(m[1])

	natsAddr := jetmailtest.FreePort(t)
	srv, err := embedded.Start(embedded.Options{DataDir: t.TempDir(), Listen: natsAddr})
	require.NoError(t, err)
	defer srv.Stop()
	dir := t.TempDir()
	addr := jetmailtest.FreePort(t)
	p := start(t, dir, "serve", "--nats-url", "nats://"+natsAddr, "--http", addr, "delivery", "scheduler")
	waitReady(t, p, addr)

	nc, err := nats.Connect("nats://" + natsAddr)
	require.NoError(t, err)
	defer nc.Close()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	require.NoError(t, err)
	require.NoError(t, nc.PublishRequest("$SRV.INFO", inbox, nil))
	versions := map[string]string{}
	for {
		msg, err := sub.NextMsg(time.Second)
		if errors.Is(err, nats.ErrTimeout) {
			break
		}
		require.NoError(t, err)
		var info micro.Info
		require.NoError(t, json.Unmarshal(msg.Data, &info))
		versions[info.Name] = info.Version
	}
	require.Contains(t, versions, "jetmail-node")
	require.Contains(t, versions, "jetmail-delivery")
	require.Contains(t, versions, "jetmail-scheduler")
	for name, v := range versions {
		require.Equal(t, want, v, "%s shows another version than jetmail --version (%s)", name, strings.TrimSpace(out))
	}
}
