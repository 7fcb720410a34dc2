package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/jetmailtest"
)

// The layout `jetmail nats-auth` writes, as an operator deploys it: a NATS
// server that includes auth.conf, an all-services node and an smtp-only
// node each with its own seed, and the CLI calling the admin API over NATS
// as the api-admin identity. The smtp identity may not call the API.
func TestNATSAuthLayout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	auth := filepath.Join(dir, "auth")
	out, code := run(t, "nats-auth", "--out", auth, "--api-user", "admin")
	require.Equal(t, 0, code, out)
	for _, id := range []string{"smtp", "delivery", "scheduler", "node", "api-admin", "admin"} {
		st, err := os.Stat(filepath.Join(auth, id+".nk"))
		require.NoError(t, err, out)
		require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "%s.nk", id)
	}
	// Running it again keeps every key.
	conf, err := os.ReadFile(filepath.Join(auth, "auth.conf"))
	require.NoError(t, err)
	out, code = run(t, "nats-auth", "--out", auth, "--api-user", "admin")
	require.Equal(t, 0, code, out)
	again, err := os.ReadFile(filepath.Join(auth, "auth.conf"))
	require.NoError(t, err)
	require.Equal(t, string(conf), string(again))

	// A NATS server configured as a nats-server including auth.conf is.
	natsAddr := jetmailtest.FreePort(t)
	serverConf := filepath.Join(dir, "nats.conf")
	require.NoError(t, os.WriteFile(serverConf, []byte("include \"auth/auth.conf\"\n"), 0o600))
	opts, err := server.ProcessConfigFile(serverConf)
	require.NoError(t, err)
	srv, err := embedded.Start(embedded.Options{DataDir: t.TempDir(), Listen: natsAddr, Users: opts.Nkeys})
	require.NoError(t, err)
	defer srv.Stop()
	url := "nats://" + natsAddr

	cfgPath := filepath.Join(dir, "jetmail.toml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(`
[cluster]
heartbeat-interval = "250ms"
node-timeout = "2s"

[api.users.admin]
secret = "admin-secret-123"
permissions = ["admin"]
`), 0o600))
	serve := func(id, seed string, services ...string) {
		addr := jetmailtest.FreePort(t)
		args := append([]string{"serve"}, services...)
		p := start(t, dir, append(args, "--nats-url", url, "--nats-nkey", filepath.Join(auth, seed), "--config", cfgPath, "--node-id", id, "--http", addr)...)
		waitReady(t, p, addr)
	}
	serve("all", "node.nk")
	serve("in", "smtp.nk", "smtp")

	cli := func(seed string, args ...string) (string, int) {
		return runIn(t, dir, append(args, "--api", "nats", "--nats-url", url, "--nats-nkey", filepath.Join(auth, seed))...)
	}
	out, code = cli("api-admin.nk", "task-manager", "get")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "maxAttempts")
	out, code = cli("api-admin.nk", "queue", "queues")
	require.Equal(t, 0, code, out)

	out, code = cli("smtp.nk", "task-manager", "get")
	require.NotEqual(t, 0, code, out)
	require.Contains(t, out, `NATS refused this identity`)
	require.Contains(t, out, `Permissions Violation for Publish to "jetmail.api.x-taskmanager.admin"`)

	// Without a seed, no connection at all.
	out, code = runIn(t, dir, "roles", "show", "--nats-url", url)
	require.NotEqual(t, 0, code, out)
	require.Contains(t, out, "Authorization Violation")
}
