package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
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
push-notifications = ["1"]
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
