package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
)

var allRoles = []string{"purge-stores", "purge-accounts", "acme-renew", "metrics-calculate", "metrics-push",
	"push-notifications", "fts-indexing", "bayes-training", "imip-processing", "calendar-alerts"}

// `jetmail dev` as a new user runs it: streams and buckets with descriptive
// names, a role change, a clean SIGTERM, and a restart that keeps state.
func TestDevLifecycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	natsAddr, httpAddr := jetmailtest.FreePort(t), jetmailtest.FreePort(t)
	url := "nats://" + natsAddr
	dev := start(t, dir, "dev", "--nats-listen", natsAddr, "--http", httpAddr)
	waitReady(t, dev, httpAddr)
	require.DirExists(t, filepath.Join(dir, "data", "jetstream"), "dev keeps its state in ./data by default")

	// Only jetmail's NATS user gets in: its seed is in the data dir, for the
	// owner only.
	seed := filepath.Join(dir, "data", "nats-user.nk")
	st, err := os.Stat(seed)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	_, err = nats.Connect(url)
	require.ErrorContains(t, err, "Authorization Violation", "a client without credentials is refused")
	nkey, err := nats.NkeyOptionFromSeed(seed)
	require.NoError(t, err)
	nc, err := nats.Connect(url, nkey)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	streams := map[string]string{}
	for info := range js.ListStreams(ctx).Info() {
		streams[info.Config.Name] = info.Config.Description
	}
	for _, r := range allRoles {
		desc, ok := streams["jetmail-work-"+r]
		require.True(t, ok, "stream jetmail-work-%s missing; have %v", r, streams)
		require.Contains(t, desc, "work of role")
	}
	buckets := map[string]bool{}
	for name := range js.KeyValueStoreNames(ctx).Name() {
		buckets[name] = true
	}
	for _, b := range []string{"jetmail-nodes", "jetmail-roles", "jetmail-shards", "jetmail-leases"} {
		require.True(t, buckets[b], "bucket %s missing; have %v", b, buckets)
	}

	// What a user sees with the nats CLI, when it is installed.
	if natsCLI, err := exec.LookPath("nats"); err == nil {
		out, err := exec.Command(natsCLI, "--server", url, "stream", "ls").CombinedOutput()
		require.Error(t, err, "the nats CLI without the seed is refused: %s", out)
		out, err = exec.Command(natsCLI, "--server", url, "--nkey", seed, "stream", "ls").CombinedOutput()
		require.NoError(t, err, string(out))
		require.Contains(t, string(out), "jetmail-work-fts-indexing")
		out, err = exec.Command(natsCLI, "--server", url, "--nkey", seed, "kv", "ls").CombinedOutput()
		require.NoError(t, err, string(out))
		require.Contains(t, string(out), "jetmail-roles")
		require.Contains(t, string(out), "jetmail-tasks")
		out, err = exec.Command(natsCLI, "--server", url, "--nkey", seed, "micro", "ls").CombinedOutput()
		require.NoError(t, err, string(out))
		require.Contains(t, string(out), "jetmail-node")
		require.Contains(t, string(out), "jetmail-scheduler")
	} else if os.Getenv("JETMAIL_REQUIRE_TOOLS") == "1" {
		t.Fatal("the nats CLI is required (make tools installs it into .tools/bin)")
	} else {
		t.Log("nats CLI not installed; listed streams and buckets through the API instead")
	}

	out, code := run(t, "health", "--http", httpAddr, "--ready")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, `"leader":true`)
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(metrics), "jetmail_node_leader 1")
	require.Contains(t, string(metrics), `jetmail_node_info{node_id="1"`)

	// Node 7 has not started: refused, unless forced.
	out, code = runIn(t, dir, "roles", "set", "--nats-url", url, "fts-indexing", "1,7")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "node 7 is not live (down, or not started yet)")
	require.Equal(t, []string{"1"}, rolesJSON(t, url, "--nats-nkey", seed).shards("fts-indexing"), "a refused change changes nothing")
	out, code = runIn(t, dir, "roles", "set", "--nats-url", url, "fts-indexing", "1,7", "--force")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "fts-indexing: 1,7")
	require.Contains(t, out, "warning: fts-indexing: node 7 is not live")

	// SIGTERM drains and exits 0.
	require.Equal(t, 0, dev.stop(20*time.Second), dev.Logs())
	require.Contains(t, dev.Logs(), "node stopped")

	out, code = run(t, "health", "--http", httpAddr)
	require.Equal(t, 1, code, "a stopped node is not healthy: %s", out)

	// Restarted on the same data dir, the change is still there.
	dev = start(t, dir, "dev", "--nats-listen", natsAddr, "--http", httpAddr)
	waitReady(t, dev, httpAddr)
	rep := rolesJSON(t, url, "--nats-nkey", seed)
	require.Equal(t, []string{"1,7"}, rep.shards("fts-indexing"))
	require.Equal(t, []string{"1"}, rep.shards("purge.stores"))
	require.Equal(t, []string{"1"}, rep.liveNodes())
	require.Equal(t, 0, dev.stop(20*time.Second))
}

func TestHelpExplainsEveryCommand(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"dev", "--help"}, {"serve", "--help"}, {"config", "check", "--help"}, {"roles", "show", "--help"}, {"roles", "set", "--help"}} {
		out, code := run(t, args...)
		require.Equal(t, 0, code, out)
		require.Contains(t, out, "USAGE", strings.Join(args, " "))
	}
	out, code := run(t, "roles", "set", "fts-indexing", "--bogus", "1")
	require.Equal(t, 2, code)
	require.Contains(t, out, "unknown flag --bogus")
	out, code = run(t, "task", "create", "IndexDocument", "--help")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "--field", "help after an argument shows help")
	out, code = run(t, "nonsense")
	require.NotEqual(t, 0, code, out)
}
