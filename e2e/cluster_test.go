package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/jetmailtest"
)

// Two `jetmail serve` nodes on one NATS server: both follow `roles set`
// within 2 s; a node killed with SIGKILL drops out within seconds and comes
// back when restarted.
func TestServeNodesFollowRolesAndLiveness(t *testing.T) {
	t.Parallel()
	natsAddr := jetmailtest.FreePort(t)
	srv, err := embedded.Start(embedded.Options{DataDir: t.TempDir(), Listen: natsAddr})
	require.NoError(t, err)
	defer srv.Stop()
	url := "nats://" + natsAddr

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "jetmail.toml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(`
[cluster]
heartbeat-interval = "250ms"
node-timeout = "2s"

[cluster.roles.fts-indexing]
fts-indexing = ["1,2"]
`), 0o600))
	serve := func(id string) (*proc, string) {
		addr := jetmailtest.FreePort(t)
		p := start(t, dir, "serve", "--nats-url", url, "--config", cfgPath, "--node-id", id, "--http", addr)
		waitReady(t, p, addr)
		return p, addr
	}
	n1, _ := serve("1")
	n2, _ := serve("2")
	require.Equal(t, []string{"1", "2"}, rolesJSON(t, url).liveNodes())

	out, code := run(t, "roles", "set", "--nats-url", url, "fts-indexing", "1", "2")
	require.Equal(t, 0, code, out)
	rev := regexp.MustCompile(`revision (\d+)`).FindStringSubmatch(out)
	require.Len(t, rev, 2, out)
	followed := regexp.MustCompile(`role=fts-indexing shards="1 \| 2" revision=` + rev[1])
	for _, n := range []*proc{n1, n2} {
		require.Eventually(t, func() bool { return followed.MatchString(n.Logs()) }, 2*time.Second, 20*time.Millisecond,
			"a node did not follow the role change within 2s")
	}

	// Node 2 crashes: it drops out of the membership within a few seconds.
	n2.kill()
	require.Eventually(t, func() bool { return !slices.Contains(rolesJSON(t, url).liveNodes(), "2") }, 8*time.Second, 250*time.Millisecond)
	out, code = run(t, "roles", "show", "--nats-url", url)
	require.Equal(t, 0, code)
	require.Regexp(t, `fts-indexing\s+2/2\s+2 \(down\)\s+\S+\s+WARNING: no live node of this shard runs the service that works fts-indexing`, out)

	// And is back when restarted.
	serve("2")
	require.Eventually(t, func() bool { return slices.Contains(rolesJSON(t, url).liveNodes(), "2") }, 8*time.Second, 250*time.Millisecond)
	require.Equal(t, 0, n1.stop(20*time.Second))
}
