package config

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// queues is a minimal set of queues for documents that set queue keys.
const queues = `
[queue.strategy]
schedule = [ { else = "'remote'" } ]
[queue.virtual.remote]
threads-per-node = 4
[queue.schedule.remote]
queue-name = "remote"
`

// Every numeric and duration key refuses absurd values and says its range;
// all problems come at once.
func TestOutOfRangeValues(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{
		"cluster.heartbeat-interval: must be between 100ms and 1m, got 10ms",
		"cluster.node-timeout: must be between 1s and 10m, got 1d",
		"cluster.partitions: must be between 1 and 1024, got 5000",
		"nats.connections: must be between 1 and 64, got 0",
		"nats.replicas: must be between 1 and 5, got 7",
		"queue.limits.per-host: must be between 1 and 1000, got 1000000",
		"queue.route.relay.port: must be between 1 and 65535, got 70000",
		"queue.schedule.remote.expire: must be between 1s and 90d, got 0s",
		"queue.schedule.remote.notify[0]: must be between 1s and 30d, got 0s",
		"queue.schedule.remote.retry[0]: must be between 1s and 30d, got 0s",
		"queue.schedule.remote.retry[1]: must be between 1s and 30d, got 364d",
		"queue.timeout.command: must be between 1s and 1h, got 0s",
		"queue.timeout.connect: must be between 1s and 10m, got 0s",
		"queue.trace.retention: must be between 1h and 365d, got 30m",
		"queue.virtual.remote.threads-per-node: must be between 1 and 10000, got 100000000",
		"smtp.max-message-size: must be between 1024 and 1073741824 bytes (1 GiB), got 9223372036854775807",
		"task.concurrency: must be between 1 and 10000, got 1000000000",
	}, problemsOf(t, `
[cluster]
partitions = 5000
heartbeat-interval = "10ms"
node-timeout = "1d"
[nats]
replicas = 7
connections = 0
[queue.strategy]
schedule = [ { else = "'remote'" } ]
[queue.virtual.remote]
threads-per-node = 100000000
[queue.schedule.remote]
queue-name = "remote"
retry = ["0s", "52w"]
notify = ["0s"]
expire = "0s"
[queue.route.relay]
type = "relay"
address = "10.0.0.1"
port = 70000
[queue.limits]
per-host = 1000000
[queue.timeout]
connect = "0s"
command = "0s"
[queue.trace]
retention = "30m"
[smtp]
max-message-size = 9223372036854775807
[task]
concurrency = 1000000000
`))
}

// The limits of each range are themselves allowed.
func TestRangeBoundsAreAllowed(t *testing.T) {
	t.Parallel()
	for _, b := range []string{"Min", "Max"} {
		pick := func(r intRange) int {
			if b == "Min" {
				return r.Min
			}
			return r.Max
		}
		pickD := func(r durationRange) string {
			if b == "Min" {
				return fmtDur(r.Min)
			}
			return fmtDur(r.Max)
		}
		doc := fmt.Sprintf(`
[cluster]
partitions = %d
heartbeat-interval = %q
node-timeout = %q
[nats]
replicas = %d
connections = %d
[queue.strategy]
schedule = [ { else = "'remote'" } ]
[queue.virtual.remote]
threads-per-node = %d
[queue.schedule.remote]
queue-name = "remote"
retry = [%q]
max-attempts = %d
[queue.route.relay]
type = "relay"
address = "10.0.0.1"
port = %d
[queue.limits]
per-host = %d
[queue.timeout]
connect = %q
command = %q
[queue.trace]
retention = %q
[smtp]
max-message-size = %d
[task]
concurrency = %d
`, pick(PartitionsRange), pickD(HeartbeatRange), pickD(NodeTimeoutRange), pick(ReplicasRange), pick(ConnectionsRange),
			pick(ThreadsPerNodeRange), pickD(RetryRange), pick(MaxAttemptsRange), pick(PortRange), pick(PerHostRange),
			pickD(ConnectTimeoutRange), pickD(CommandTimeoutRange), pickD(TraceRetentionRange), pick(MaxMessageSizeRange), pick(TaskConcurrencyRange))
		cfg, err := Parse([]byte(doc))
		require.NoError(t, err, b)
		require.Equal(t, pick(ThreadsPerNodeRange), cfg.Queue.Virtual["remote"].ThreadsPerNode)
	}
	for _, expire := range []time.Duration{ExpireRange.Min, ExpireRange.Max} {
		_, err := Parse([]byte(queues + fmt.Sprintf("expire = %q\n", fmtDur(expire))))
		require.NoError(t, err, expire)
	}
}

func fmtDur(d time.Duration) string { return d.String() }

// Keys whose zero would mean "unset" are refused at zero when the file sets
// them, instead of silently taking the default.
func TestZeroIsNotUnset(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"queue.schedule.remote.expire: must be between 1s and 90d, got 0s"},
		problemsOf(t, queues+"expire = \"0s\"\n"))
	require.Equal(t, []string{"queue.schedule.remote.max-attempts: must be between 1 and 1000, got 0"},
		problemsOf(t, queues+"max-attempts = 0\n"))
	require.Equal(t, []string{"queue.schedule.remote.max-attempts: must be between 1 and 1000, got -3"},
		problemsOf(t, queues+"max-attempts = -3\n"))
}

// A delayed DSN due at or after the expiry would never be sent.
func TestNotifyBeforeExpire(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{
		"queue.schedule.remote.notify[1]: 5d is not before expire (5d): the delayed DSN would never be sent",
		"queue.schedule.remote.notify[2]: 6d is not before expire (5d): the delayed DSN would never be sent",
	}, problemsOf(t, queues+"notify = [\"1d\", \"5d\", \"6d\"]\n"), "against the default expire")
	require.Equal(t, []string{
		"queue.schedule.remote.notify[0]: 2h is not before expire (1h): the delayed DSN would never be sent",
	}, problemsOf(t, queues+"notify = [\"2h\"]\nexpire = \"1h\"\n"))
	// With max-attempts there is no expiry time to compare with.
	_, err := Parse([]byte(queues + "notify = [\"20d\"]\nmax-attempts = 5\n"))
	require.NoError(t, err)
}

// SMTP secrets are held to the same length as API secrets.
func TestShortSecrets(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{
		"api.users.ops.secret: must be at least 12 characters",
		"smtp.users.bob.secret: must be at least 12 characters",
		"smtp.users.carol.secret: missing",
	}, problemsOf(t, `
[smtp.users.alice]
secret = "twelve-chars"
[smtp.users.bob]
secret = "eleven-char"
[smtp.users.carol]
addresses = ["carol@example.org"]
[api.users.ops]
secret = "short"
permissions = ["admin"]
`))
}
