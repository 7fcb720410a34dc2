package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
)

func TestConfigCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	require.NoError(t, os.WriteFile(good, []byte("[cluster.roles.purge]\nstores = [\"1,4\", \"2,3\"]\n[server]\nhostname = \"mx\"\n"), 0o600))
	out, code := run(t, "config", "check", good)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "good.toml: valid")
	require.Contains(t, out, "ignored: server")

	bad := filepath.Join(dir, "bad.toml")
	require.NoError(t, os.WriteFile(bad, []byte(`
[cluster.roles.push-notifications]
push-notifications = ["1,2"]
[queue.strategy]
schedule = [ { else = "'remote'" } ]
[queue.schedule.remote]
queue-name = "mx"
expire = "1d"
max-attempts = 3
[queue.virtual.remote]
threads-per-node = 0
`), 0o600))
	out, code = run(t, "config", "check", bad)
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "bad.toml: 4 problem(s)")
	require.Contains(t, out, "cluster.roles.push-notifications.push-notifications: push-notifications must be sharded")
	require.Contains(t, out, "queue.schedule.remote: expire and max-attempts are both set")
	require.Contains(t, out, `queue.schedule.remote.queue-name: virtual queue "mx" is not defined`)
	require.Contains(t, out, "queue.virtual.remote.threads-per-node: must be between 1 and 10000, got 0")

	// A node given a bad file starts nothing: it never even tries NATS.
	out, code = run(t, "serve", "--nats-url", "nats://127.0.0.1:1", "--config", bad)
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "4 configuration problem(s)")
	require.NotContains(t, out, "connect")

	out, code = run(t, "config", "check", filepath.Join(dir, "missing.toml"))
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "no such file")
}

// config check, and every start, refuses absurd values with the allowed
// range, and short SMTP secrets as it does short API secrets.
func TestConfigCheckRanges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	absurd := filepath.Join(dir, "absurd.toml")
	require.NoError(t, os.WriteFile(absurd, []byte(`
[queue.strategy]
schedule = [ { else = "'remote'" } ]
[queue.schedule.remote]
queue-name = "remote"
retry = ["0s"]
[queue.virtual.remote]
threads-per-node = 100000000
[queue.limits]
per-host = 0
[queue.timeout]
command = "0s"
[smtp]
max-message-size = 9223372036854775807
[smtp.users.alice]
secret = "alice"
[task]
concurrency = 1000000000
[nats]
replicas = 9
`), 0o600))
	out, code := run(t, "config", "check", absurd)
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "absurd.toml: 8 problem(s)")
	for _, want := range []string{
		"nats.replicas: must be between 1 and 5, got 9",
		"queue.limits.per-host: must be between 1 and 1000, got 0",
		"queue.schedule.remote.retry[0]: must be between 1s and 30d, got 0s",
		"queue.timeout.command: must be between 1s and 1h, got 0s",
		"queue.virtual.remote.threads-per-node: must be between 1 and 10000, got 100000000",
		"smtp.max-message-size: must be between 1024 and 1073741824 bytes (1 GiB), got 9223372036854775807",
		"smtp.users.alice.secret: must be at least 12 characters",
		"task.concurrency: must be between 1 and 10000, got 1000000000",
	} {
		require.Contains(t, out, "  "+want+"\n")
	}
	out, code = run(t, "serve", "--nats-url", "nats://127.0.0.1:1", "--config", absurd)
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "8 configuration problem(s)")
}

// An admin API on a public address without TLS is a warning: the file is
// valid (exit 0), and the warning says what to do.
func TestConfigCheckWarnsOfPlainHTTPOnAPublicAddress(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.toml")
	require.NoError(t, os.WriteFile(plain, []byte("[http]\nlisten = \"0.0.0.0:8080\"\n"), 0o600))
	out, code := run(t, "config", "check", plain)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "plain.toml: valid")
	require.Contains(t, out, "  warning: http.listen: 0.0.0.0:8080 is reachable from other hosts and serves the admin API (/jmap) over plain HTTP, so API secrets cross the network in clear: set http.tls.cert and http.tls.key, or listen on 127.0.0.1\n")

	for name, doc := range map[string]string{
		"loopback.toml": "[http]\nlisten = \"127.0.0.1:8080\"\n",
		"tls.toml":      "[http]\nlisten = \"0.0.0.0:8443\"\n[http.tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n",
	} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
		out, code := run(t, "config", "check", path)
		require.Equal(t, 0, code, out)
		require.NotContains(t, out, "warning", name)
	}

	// The deployment's file serves TLS on its public address.
	out, code = run(t, "config", "check", repo("deploy", "jetmail.toml"))
	require.Equal(t, 0, code, out)
	require.NotContains(t, out, "warning")
}

// A node with http.tls serves its health checks and the admin API over
// HTTPS: `jetmail health --tls` probes it, the CLI trusts it with --ca, and
// the CLI without the CA refuses the certificate rather than send its token.
func TestAdminAPIOverTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTestPKI(t, dir)
	httpAddr, natsAddr := jetmailtest.FreePort(t), jetmailtest.FreePort(t)
	cfg := filepath.Join(dir, "tls.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf("[http]\nlisten = %q\n[http.tls]\ncert = %q\nkey = %q\n", httpAddr, certFile, keyFile)), 0o600))
	dev := start(t, dir, "dev", "--config", cfg, "--nats-listen", natsAddr)
	require.Eventually(t, func() bool {
		_, code := run(t, "health", "--tls", "--ready", "--http", httpAddr)
		return code == 0
	}, 30*time.Second, 100*time.Millisecond, dev.Logs())
	require.Contains(t, dev.Logs(), "https://"+httpAddr+"/jmap")
	require.NotContains(t, dev.Logs(), "admin API without TLS")

	out, code := run(t, "health", "--http", httpAddr)
	require.Equal(t, 1, code, "plain HTTP gets no health answer: %s", out)

	api := "--api=https://" + httpAddr + "/jmap"
	out, code = runIn(t, dir, "task", "query", api, "--ca", caFile)
	require.Equal(t, 0, code, out)
	out, code = runIn(t, dir, "task", "query", api)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "certificate")
	require.Equal(t, 0, dev.stop(20*time.Second))
}
