package config

import (
	"fmt"
	"time"

	"github.com/jetmail/jetmail/shared/duration"
)

// The allowed range of every numeric and duration key. A value outside its
// range is a problem "key: must be between MIN and MAX, got V": none of
// them is a matter of taste, each is a value with which a node would run
// out of memory, connections or disk, spin, or never do the work at all.
// The README's configuration reference lists the same ranges.
var (
	// PartitionsRange is cluster.partitions (default 16): one consumer
	// filter subject per partition; past 1024 the server's filter lists
	// grow past what it handles well.
	PartitionsRange = intRange{1, 1024}
	// HeartbeatRange is cluster.heartbeat-interval (default 1s): faster
	// than 100ms floods the membership bucket, slower than a minute leaves
	// a node's death unnoticed for that long.
	HeartbeatRange = durationRange{100 * time.Millisecond, time.Minute}
	// NodeTimeoutRange is cluster.node-timeout (default 5s), which must
	// also be longer than cluster.heartbeat-interval. It is the TTL of a
	// node's membership: a dead node's work waits that long.
	NodeTimeoutRange = durationRange{time.Second, 10 * time.Minute}
	// ThreadsPerNodeRange is queue.virtual.<name>.threads-per-node
	// (required): one goroutine and at most one SMTP connection each.
	ThreadsPerNodeRange = intRange{1, 10000}
	// RetryRange is each interval of queue.schedule.<id>.retry (default
	// 2m ... 2h): zero would retry in a loop; a month is a lost message.
	RetryRange = durationRange{time.Second, 30 * 24 * time.Hour}
	// NotifyRange is each time of queue.schedule.<id>.notify (default
	// none), from queue entry; a notify at or after expire is never sent.
	NotifyRange = durationRange{time.Second, 30 * 24 * time.Hour}
	// ExpireRange is queue.schedule.<id>.expire (default 5d when
	// max-attempts is not set).
	ExpireRange = durationRange{time.Second, 90 * 24 * time.Hour}
	// MaxAttemptsRange is queue.schedule.<id>.max-attempts (default unset).
	MaxAttemptsRange = intRange{1, 1000}
	// PortRange is queue.route.<id>.port (default 25).
	PortRange = intRange{1, 65535}
	// PerHostRange is queue.limits.per-host (default 10): connections from
	// one node to one remote host; receivers block senders long before 1000.
	PerHostRange = intRange{1, 1000}
	// ConnectTimeoutRange is queue.timeout.connect (default 30s).
	ConnectTimeoutRange = durationRange{time.Second, 10 * time.Minute}
	// CommandTimeoutRange is queue.timeout.command (default 5m, the
	// shortest RFC 5321 4.5.3.2 allows for DATA's end).
	CommandTimeoutRange = durationRange{time.Second, time.Hour}
	// TraceRetentionRange is queue.trace.retention (default 7d): an hour
	// is the least an operator needs to look; a year of traces is as much
	// disk as a busy node should give them.
	TraceRetentionRange = durationRange{time.Hour, 365 * 24 * time.Hour}
	// ReplicasRange is nats.replicas (default 1): JetStream allows at most 5.
	ReplicasRange = intRange{1, 5}
	// ConnectionsRange is nats.connections (default 4).
	ConnectionsRange = intRange{1, 64}
	// MaxMessageSizeRange is smtp.max-message-size in bytes (default
	// 25 MiB): intake streams a message to the store, but a delivery and
	// a DSN hold it in memory, so 1 GiB is the most a node accepts.
	MaxMessageSizeRange = intRange{1024, 1 << 30}
	// TaskConcurrencyRange is task.concurrency (default 128): goroutines
	// per role on a node.
	TaskConcurrencyRange = intRange{1, 10000}
	// ChangelogRetentionRange is store.changelog.retention (default 30d).
	ChangelogRetentionRange = durationRange{time.Hour, 365 * 24 * time.Hour}
	// ArchiveRetentionRange is store.archive.retention (default 30d), and
	// store.trash.retention and store.junk.retention (default 30d each).
	ArchiveRetentionRange = durationRange{time.Hour, 365 * 24 * time.Hour}
	// SMTPConnectionsRange is smtp.limits.max-connections (default 1000)
	// and smtp.limits.max-connections-per-ip (default 50, and at most
	// max-connections): one file descriptor and one goroutine each.
	SMTPConnectionsRange = intRange{1, 100000}
	// SMTPIdleRange is smtp.limits.idle-timeout (default 5m): the time a
	// line may take to arrive.
	SMTPIdleRange = durationRange{time.Second, time.Hour}
	// SMTPSessionRange is smtp.limits.session-timeout (default 30m).
	SMTPSessionRange = durationRange{time.Minute, 24 * time.Hour}
	// AuthFailuresPerConnectionRange is
	// smtp.limits.auth-failures-per-connection (default 3).
	AuthFailuresPerConnectionRange = intRange{1, 100}
	// AuthFailuresPerIPRange is smtp.limits.auth-failures-per-ip (default 10).
	AuthFailuresPerIPRange = intRange{1, 10000}
	// AuthLockoutRange is smtp.limits.auth-lockout (default 15m).
	AuthLockoutRange = durationRange{time.Second, 24 * time.Hour}
	// AuthFailureDelayRange is smtp.limits.auth-failure-delay (default 1s).
	AuthFailureDelayRange = durationRange{0, time.Minute}
	// RateCountRange is the count of smtp.limits.rate.ip, .sender and
	// .account (default none): "0/1h" would refuse all mail; leave the
	// key out for no limit.
	RateCountRange = intRange{1, 1_000_000_000}
	// RateWindowRange is the window of those rates: a window is a counter
	// in the cluster's KV bucket that lives as long, in whole seconds.
	RateWindowRange = durationRange{time.Second, 30 * 24 * time.Hour}
	// GreylistDelayRange is smtp.greylist.delay (default 5m): senders
	// retry after minutes; past a day, mail is lost to their expiry.
	GreylistDelayRange = durationRange{time.Second, 24 * time.Hour}
	// GreylistMaxAgeRange is smtp.greylist.max-age (default 35d), longer
	// than the delay.
	GreylistMaxAgeRange = durationRange{time.Hour, 365 * 24 * time.Hour}
	// GreylistRetryWindowRange is smtp.greylist.retry-window (default
	// 2d), longer than the delay: no retry could pass otherwise.
	GreylistRetryWindowRange = durationRange{time.Minute, 30 * 24 * time.Hour}
	// AutoWhitelistClientsRange is smtp.greylist.auto-whitelist-clients
	// (default 5; 0 whitelists no client).
	AutoWhitelistClientsRange = intRange{0, 1_000_000}
	// DuplicateRetentionRange is store.duplicates.retention (default 1d),
	// which may also be 0 (off): one KV entry per message and account
	// stored within it.
	DuplicateRetentionRange = durationRange{time.Minute, 30 * 24 * time.Hour}
	// SpamSamplesRange is spam.samples.max-per-account (default 1000).
	SpamSamplesRange = intRange{1, 100_000}
	// PushMaxFailuresRange is push.max-failures (default 10).
	PushMaxFailuresRange = intRange{1, 1000}
	// PushTimeoutRange is push.timeout (default 10s).
	PushTimeoutRange = durationRange{time.Second, 5 * time.Minute}
	// PushCoalesceRange is push.coalesce (default 100ms): the longest a
	// change waits before it is pushed, besides the POST.
	PushCoalesceRange = durationRange{10 * time.Millisecond, 10 * time.Second}
	// PushConcurrencyRange is push.concurrency (default 16).
	PushConcurrencyRange = intRange{1, 10000}
	// MXPortRange is queue.mx-port (default 25).
	MXPortRange = intRange{1, 65535}
	// ChecksTimeoutRange is smtp.checks.timeout (default 10s).
	ChecksTimeoutRange = durationRange{100 * time.Millisecond, 5 * time.Minute}
	// MetricsIntervalRange is metrics.calculate.interval and
	// metrics.push.interval (default 1m).
	MetricsIntervalRange = durationRange{5 * time.Second, 24 * time.Hour}
	// MetricsPushTimeoutRange is metrics.push.timeout (default 10s).
	MetricsPushTimeoutRange = durationRange{time.Second, 5 * time.Minute}
	// RenewBeforeRange is acme.renew-before (default 30d).
	RenewBeforeRange = durationRange{time.Hour, 90 * 24 * time.Hour}
	// DKIMGraceRange is dkim.<domain>.grace (default 7d).
	DKIMGraceRange = durationRange{time.Hour, 90 * 24 * time.Hour}
	// DNSTTLRange is dns.ttl (default 1h).
	DNSTTLRange = durationRange{time.Minute, 7 * 24 * time.Hour}
	// DNSTimeoutRange is dns.server.<id>.timeout (default 10s).
	DNSTimeoutRange = durationRange{time.Second, 5 * time.Minute}
)

// MinSecretLength is the shortest secret accepted for api.users.<name>.secret
// and smtp.users.<name>.secret.
const MinSecretLength = 12

type intRange struct{ Min, Max int }

func (r intRange) check(l *loader, key string, v int) {
	if v < r.Min || v > r.Max {
		l.fail(key, "must be between %d and %d, got %d", r.Min, r.Max, v)
	}
}

type durationRange struct{ Min, Max time.Duration }

func (r durationRange) check(l *loader, key string, v time.Duration) {
	if v < r.Min || v > r.Max {
		l.fail(key, "must be between %s and %s, got %s", duration.Format(r.Min), duration.Format(r.Max), duration.Format(v))
	}
}

// ranges checks every numeric and duration key against its range, and
// the secrets' lengths. Values the file does not set are the defaults,
// which are in range; keys whose zero means "unset" (expire,
// max-attempts) are checked only when the file sets them, so that
// expire = "0s" is refused instead of taken for the default.
func (l *loader) ranges(f *file) {
	c := l.cfg
	PartitionsRange.check(l, "cluster.partitions", c.Cluster.Partitions)
	HeartbeatRange.check(l, "cluster.heartbeat-interval", c.Cluster.HeartbeatInterval)
	NodeTimeoutRange.check(l, "cluster.node-timeout", c.Cluster.NodeTimeout)

	for _, name := range sortedKeys(c.Queue.Virtual) {
		ThreadsPerNodeRange.check(l, "queue.virtual."+name+".threads-per-node", c.Queue.Virtual[name].ThreadsPerNode)
	}
	for _, id := range sortedKeys(c.Queue.Schedule) {
		key := "queue.schedule." + id
		s := c.Queue.Schedule[id]
		for i, d := range s.Retry {
			RetryRange.check(l, fmt.Sprintf("%s.retry[%d]", key, i), d)
		}
		fs, inFile := f.Queue.Schedule[id]
		if inFile && fs.Expire.set {
			ExpireRange.check(l, key+".expire", s.Expire)
		}
		if inFile && fs.MaxAttempts.set {
			MaxAttemptsRange.check(l, key+".max-attempts", s.MaxAttempts)
		}
		expire := s.Expire
		if expire == 0 && s.MaxAttempts == 0 {
			expire = DefaultExpire
		}
		for i, d := range s.Notify {
			k := fmt.Sprintf("%s.notify[%d]", key, i)
			if d < NotifyRange.Min || d > NotifyRange.Max {
				NotifyRange.check(l, k, d)
			} else if expire > 0 && d >= expire {
				l.fail(k, "%s is not before expire (%s): the delayed DSN would never be sent", duration.Format(d), duration.Format(expire))
			}
		}
	}
	for _, id := range sortedKeys(c.Queue.Route) {
		PortRange.check(l, "queue.route."+id+".port", c.Queue.Route[id].Port)
	}
	PerHostRange.check(l, "queue.limits.per-host", c.Queue.MaxPerHost)
	ConnectTimeoutRange.check(l, "queue.timeout.connect", c.Queue.ConnectTimeout)
	CommandTimeoutRange.check(l, "queue.timeout.command", c.Queue.CommandTimeout)
	TraceRetentionRange.check(l, "queue.trace.retention", c.Queue.TraceRetention)

	ReplicasRange.check(l, "nats.replicas", c.NATS.Replicas)
	ConnectionsRange.check(l, "nats.connections", c.NATS.Connections)

	// The smallest sizes are refused where smtp.max-message-size is read.
	if m := c.SMTP.MaxMessageSize; m > int64(MaxMessageSizeRange.Max) {
		l.fail("smtp.max-message-size", "must be between %d and %d bytes (1 GiB), got %d", MaxMessageSizeRange.Min, MaxMessageSizeRange.Max, m)
	}
	TaskConcurrencyRange.check(l, "task.concurrency", c.Task.Concurrency)
	ChangelogRetentionRange.check(l, "store.changelog.retention", c.Storage.ChangelogRetention)
	ArchiveRetentionRange.check(l, "store.archive.retention", c.Storage.ArchiveRetention)
	ArchiveRetentionRange.check(l, "store.trash.retention", c.Storage.TrashRetention)
	ArchiveRetentionRange.check(l, "store.junk.retention", c.Storage.JunkRetention)
	SpamSamplesRange.check(l, "spam.samples.max-per-account", c.Spam.MaxSamplesPerAccount)
	PushMaxFailuresRange.check(l, "push.max-failures", c.Push.MaxFailures)
	PushTimeoutRange.check(l, "push.timeout", c.Push.Timeout)
	PushCoalesceRange.check(l, "push.coalesce", c.Push.Coalesce)
	PushConcurrencyRange.check(l, "push.concurrency", c.Push.Concurrency)
	DNSTTLRange.check(l, "dns.ttl", c.DNS.TTL)
	RenewBeforeRange.check(l, "acme.renew-before", c.ACME.RenewBefore)
	MXPortRange.check(l, "queue.mx-port", c.Queue.MXPort)
	ChecksTimeoutRange.check(l, "smtp.checks.timeout", c.SMTP.ChecksTimeout)
	MetricsIntervalRange.check(l, "metrics.calculate.interval", c.Metrics.CalculateInterval)
	MetricsIntervalRange.check(l, "metrics.push.interval", c.Metrics.PushInterval)
	MetricsPushTimeoutRange.check(l, "metrics.push.timeout", c.Metrics.PushTimeout)
	for _, id := range sortedKeys(c.DNS.Servers) {
		DNSTimeoutRange.check(l, "dns.server."+id+".timeout", c.DNS.Servers[id].Timeout)
	}

	lim := c.SMTP.Limits
	SMTPConnectionsRange.check(l, "smtp.limits.max-connections", lim.MaxConnections)
	SMTPConnectionsRange.check(l, "smtp.limits.max-connections-per-ip", lim.MaxConnectionsPerIP)
	if lim.MaxConnections >= 1 && lim.MaxConnectionsPerIP > lim.MaxConnections {
		l.fail("smtp.limits.max-connections-per-ip", "must not exceed smtp.limits.max-connections (%d), got %d", lim.MaxConnections, lim.MaxConnectionsPerIP)
	}
	SMTPIdleRange.check(l, "smtp.limits.idle-timeout", lim.IdleTimeout)
	SMTPSessionRange.check(l, "smtp.limits.session-timeout", lim.SessionTimeout)
	AuthFailuresPerConnectionRange.check(l, "smtp.limits.auth-failures-per-connection", lim.AuthFailuresPerConnection)
	AuthFailuresPerIPRange.check(l, "smtp.limits.auth-failures-per-ip", lim.AuthFailuresPerIP)
	AuthLockoutRange.check(l, "smtp.limits.auth-lockout", lim.AuthLockout)
	AuthFailureDelayRange.check(l, "smtp.limits.auth-failure-delay", lim.AuthFailureDelay)
	// The rates are checked where they are read (loader.rate).

	g := c.SMTP.Greylist
	GreylistDelayRange.check(l, "smtp.greylist.delay", g.Delay)
	GreylistMaxAgeRange.check(l, "smtp.greylist.max-age", g.MaxAge)
	GreylistRetryWindowRange.check(l, "smtp.greylist.retry-window", g.RetryWindow)
	AutoWhitelistClientsRange.check(l, "smtp.greylist.auto-whitelist-clients", g.AutoWhitelistClients)
	// Each is refused once: out of its range, or else not past the delay.
	for _, k := range []struct {
		key string
		d   time.Duration
		r   durationRange
	}{{"smtp.greylist.max-age", g.MaxAge, GreylistMaxAgeRange}, {"smtp.greylist.retry-window", g.RetryWindow, GreylistRetryWindowRange}} {
		if k.d >= k.r.Min && k.d <= k.r.Max && k.d <= g.Delay {
			l.fail(k.key, "must be longer than smtp.greylist.delay (%s), got %s: a retry must come after the delay and within it",
				duration.Format(g.Delay), duration.Format(k.d))
		}
	}
	if d := c.Storage.DuplicateRetention; d != 0 {
		DuplicateRetentionRange.check(l, "store.duplicates.retention", d)
	}

	// An empty SMTP secret is reported as missing where it is read.
	for _, name := range sortedKeys(f.SMTP.Users) {
		if s := f.SMTP.Users[name].Secret.v; s != "" && len(s) < MinSecretLength {
			l.fail("smtp.users."+name+".secret", "must be at least %d characters", MinSecretLength)
		}
	}
}
