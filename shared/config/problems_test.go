package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Each strict section reports an unknown key with its full path and the
// keys it takes.
func TestUnknownKeyInEachStrictSection(t *testing.T) {
	t.Parallel()
	for doc, want := range map[string]string{
		"[cluster]\nnode-idd = 1\n":                      "cluster.node-idd: unknown key (known: heartbeat-interval, node-id, node-timeout, partitions, roles)",
		"[cluster]\nPartitions = 3\n":                    "cluster.Partitions: unknown key (known: heartbeat-interval, node-id, node-timeout, partitions, roles)",
		"[queue]\nlimit = 1\n":                           "queue.limit: unknown key (known: limits, mx-port, resolver, route, schedule, strategy, timeout, tls, trace, virtual)",
		"[queue.strategy]\nschedul = []\n":               "queue.strategy.schedul: unknown key (known: route, schedule)",
		"[queue.route.a]\ntype = \"mx\"\nhost = \"x\"\n": "queue.route.a.host: unknown key (known: address, auth, port, tls, type)",
		"[queue.route.a]\ntype = \"relay\"\naddress = \"x\"\n[queue.route.a.auth]\nuser = \"x\"\n": "queue.route.a.auth.user: unknown key (known: secret, username)",
		"[queue.tls]\nstarttl = \"require\"\n":                                                     "queue.tls.starttl: unknown key (known: ca-file, dane, mta-sts, starttls)",
		"[queue.limits]\nhost = 1\n":                                                               "queue.limits.host: unknown key (known: per-host)",
		"[queue.timeout]\nread = \"1s\"\n":                                                         "queue.timeout.read: unknown key (known: command, connect)",
		"[nats]\nurls = \"x\"\n":                                                                   "nats.urls: unknown key (known: connections, creds, nkey, password, replicas, tls, token, url, user)",
		"[nats.tls]\ncrt = \"x\"\n":                                                                "nats.tls.crt: unknown key (known: ca, cert, key)",
		"[http]\naddress = \"x\"\n":                                                                "http.address: unknown key (known: listen, tls)",
		"[storage]\ndir = \"x\"\n":                                                                 "storage.dir: unknown key (known: data-dir, index-dir)",
		"[task]\nworkers = 1\n":                                                                    "task.workers: unknown key (known: concurrency, periodic)",
		"[task.periodic.a]\nschedule = \"@every 1h\"\ntask = { \"@type\" = \"SpamFilterMaintenance\", maintenanceType = \"train\" }\nevery = 1\n": "task.periodic.a.every: unknown key (known: per-partition, schedule, task)",
		"[smtp]\nport = 25\n": "smtp.port: unknown key (known: allow-plain-auth-on-loopback, checks, greylist, hostname, limits, listen, local-domains, max-message-size, postmaster, relay-networks, tls, users)",
		"[smtp.tls]\ncert = \"x\"\nkey = \"y\"\nca = \"z\"\n":                          "smtp.tls.ca: unknown key (known: cert, key)",
		"[smtp.users.a]\nsecret = \"0123456789abc\"\npassword = \"y\"\n":               "smtp.users.a.password: unknown key (known: addresses, secret)",
		"[dkim.\"Example.ORG\"]\nselector = \"s\"\nprivate-key = \"k\"\nkey = \"x\"\n": "dkim.Example.ORG.key: unknown key (known: algorithm, grace, private-key, selector)",
		"[store.db]\ntype = \"sqlite\"\npath = \"x\"\ndsn = \"y\"\n":                   "store.db.dsn: unknown key (known: path, type)",
		"[store.pg]\ntype = \"postgresql\"\ndsn = \"x\"\npath = \"y\"\n":               "store.pg.path: unknown key (known: dsn, type)",
		"[api]\nuser = 1\n": "api.user: unknown key (known: users)",
		"[api.users.a]\nsecret = \"0123456789abc\"\npermissions = [\"admin\"]\nrole = \"x\"\n": "api.users.a.role: unknown key (known: permissions, secret)",
		"[cluster.roles.purge]\nstores = [\"1\"]\n[cluster.roles.purge.extra]\nx = 1\n":        `cluster.roles.purge.extra: unknown role "purge.extra" (roles: purge.stores, purge.accounts, acme.renew, metrics.calculate, metrics.push, push-notifications, fts-indexing, bayes-training, imip-processing, calendar-alerts)`,
	} {
		require.Equal(t, []string{want}, problemsOf(t, doc), doc)
	}

	// Unknown keys inside a rule, and beside the queues' other problems.
	require.Equal(t, []string{
		`queue.strategy.schedule[0].then: schedule "a" is not defined (define queue.schedule.a)`,
		"queue.strategy.schedule[0].when: unknown key (known: else, if, then)",
		`queue.strategy.schedule[1].else: schedule "a" is not defined (define queue.schedule.a)`,
	}, problemsOf(t, "[queue.strategy]\nschedule = [ { if = \"true\", then = \"'a'\", when = 1 }, { else = \"'a'\" } ]\n"))
	require.Equal(t, []string{
		"queue.schedule.a.queue: unknown key (known: expire, max-attempts, notify, queue-name, retry)",
		"queue.schedule.a.queue-name: missing: a schedule must name its virtual queue",
		"queue.strategy.schedule: missing: list the rules that choose a schedule, ending with an else",
	}, problemsOf(t, "[queue.schedule.a]\nqueue = \"a\"\n"))
}

// A value of the wrong type is reported with its path and the type it must
// have, beside every other problem of the file.
func TestWrongTypes(t *testing.T) {
	t.Parallel()
	for doc, want := range map[string][]string{
		"[cluster]\nnode-id = 1.5\npartitions = \"x\"\nheartbeat-interval = 1\nnode-timeout = \"soon\"\n": {
			"cluster.heartbeat-interval: must be a string, got an integer",
			"cluster.node-id: must be a string or an integer, got a float",
			`cluster.node-timeout: duration "soon": expected a number at "soon"`,
			"cluster.partitions: must be an integer, got a string",
		},
		"[cluster]\nnode-id = \"a b\"\n": {
			`cluster.node-id: node id "a b" must be 1 to 64 letters, digits, '-', '_' or '.'`,
		},
		"[smtp]\nlisten = \"x\"\nhostname = 1\nallow-plain-auth-on-loopback = \"yes\"\nlocal-domains = [\"a\", 2]\nrelay-networks = [\"10.0.0.0/8\", \"x\"]\nmax-message-size = 10\npostmaster = \"nobody\"\n": {
			"smtp.allow-plain-auth-on-loopback: must be true or false, got a string",
			"smtp.hostname: must be a string, got an integer",
			"smtp.listen: must be a list of strings, got a string",
			"smtp.local-domains[1]: must be a string, got an integer",
			"smtp.max-message-size: must be at least 1024 bytes, got 10",
			`smtp.postmaster: "nobody" is not an address (name@domain)`,
			`smtp.relay-networks[1]: "x" is not a network in CIDR form (127.0.0.0/8)`,
		},
		"[smtp.limits]\nmax-connections = 0\nmax-connections-per-ip = 10\nidle-timeout = \"0s\"\nsession-timeout = \"48h\"\nauth-failures-per-connection = 1000\nauth-lockout = \"x\"\nauth-failure-delay = \"-1s\"\nfds = 3\n": {
			`smtp.limits.auth-failure-delay: duration "-1s" is negative`,
			"smtp.limits.auth-failures-per-connection: must be between 1 and 100, got 1000",
			`smtp.limits.auth-lockout: duration "x": expected a number at "x"`,
			"smtp.limits.fds: unknown key (known: auth-failure-delay, auth-failures-per-connection, auth-failures-per-ip, auth-lockout, idle-timeout, max-connections, max-connections-per-ip, rate, session-timeout)",
			"smtp.limits.idle-timeout: must be between 1s and 1h, got 0s",
			"smtp.limits.max-connections: must be between 1 and 100000, got 0",
			"smtp.limits.session-timeout: must be between 1m and 1d, got 2d",
		},
		"[push]\nmax-failures = 0\ntimeout = \"0s\"\ncoalesce = \"1m\"\nconcurrency = \"many\"\nretries = 3\n": {
			"push.coalesce: must be between 10ms and 10s, got 1m",
			"push.concurrency: must be an integer, got a string",
			"push.max-failures: must be between 1 and 1000, got 0",
			"push.retries: unknown key (known: coalesce, concurrency, max-failures, timeout)",
			"push.timeout: must be between 1s and 5m, got 0s",
		},
		"[spam]\nenable = \"yes\"\nlimit = 3\n[spam.threshold]\njunk = 1.5\nreject = 0.5\n[spam.rules]\nurl = \"ftp://x\"\nsha256 = \"abc\"\n[spam.samples]\nmax-per-account = 0\n": {
			"spam.enable: must be true or false, got a string",
			"spam.limit: unknown key (known: enable, rules, samples, threshold)",
			`spam.rules.sha256: must be 64 hex digits (a SHA-256), got "abc"`,
			`spam.rules.url: must be an http:// or https:// URL, got "ftp://x"`,
			"spam.samples.max-per-account: must be between 1 and 100000, got 0",
			"spam.threshold.junk: must be above 0 and at most 1 (a spam score), got 1.5",
			"spam.threshold.reject: must be 0 (off) or from spam.threshold.junk (1.5) to 1, got 0.5",
		},
		"[smtp.limits]\nmax-connections = 5\nmax-connections-per-ip = 10\n": {
			"smtp.limits.max-connections-per-ip: must not exceed smtp.limits.max-connections (5), got 10",
		},
		"[queue.schedule.a]\nqueue-name = 1\nretry = \"5m\"\nnotify = [\"1d\", 3, \"x\"]\nexpire = 5\nmax-attempts = \"3\"\n": {
			"queue.schedule.a.expire: must be a string, got an integer",
			"queue.schedule.a.max-attempts: must be an integer, got a string",
			"queue.schedule.a.notify[1]: must be a string, got an integer",
			"queue.schedule.a.queue-name: must be a string, got an integer",
			"queue.schedule.a.queue-name: missing: a schedule must name its virtual queue",
			"queue.schedule.a.retry: must be a list of strings, got a string",
			"queue.strategy.schedule: missing: list the rules that choose a schedule, ending with an else",
		},
		"[queue.strategy]\nschedule = \"'remote'\"\nroute = [ \"x\", { if = 1, then = \"'mx'\" }, { if = \"true\" }, { else = \"'mx'\" }, { else = \"'mx'\" } ]\n": {
			`queue.strategy.route[0]: must be a table such as { if = "...", then = "..." }, got a string`,
			"queue.strategy.route[1].if: must be a string, got an integer",
			`queue.strategy.route[1].if: expression "" does not compile: unexpected token EOF`,
			"queue.strategy.route[2]: a rule has either if and then, or else alone",
			"queue.strategy.route[3]: an else rule must come last",
			"queue.strategy.schedule: must be a list of { if = ..., then = ... } and a final { else = ... }, got a string",
		},
		"[task.periodic.a]\nschedule = 5\ntask = \"purge\"\n[task.periodic.b]\nschedule = \"@every 1h\"\ntask = { \"@type\" = \"StoreMaintenance\", maintenanceType = \"purgeData\", status = \"x\" }\n": {
			"task.periodic.a.schedule: must be a string, got an integer",
			`task.periodic.a.schedule: missing: a cron expression such as "0 0 * * * *" or "@every 1h"`,
			`task.periodic.a.task: must be a table such as { "@type" = "StoreMaintenance", maintenanceType = "purgeData" }, got a string`,
			"task.periodic.a.task: missing: the task to create",
			"task.periodic.b.task.status: a periodic task runs when its schedule fires; it has no status",
		},
		"[cluster.roles]\npurge = 5\nacme = { renew = 5 }\nfts-indexing = [\"1\", 2]\n[cluster.roles.metrics]\ncalculate = { x = 1 }\n": {
			"cluster.roles.acme.renew: must be a list of strings, got an integer",
			"cluster.roles.fts-indexing[1]: must be a string, got an integer",
			"cluster.roles.metrics.calculate: must be a list of strings, got a table",
			`cluster.roles.purge: unknown role "purge" (roles: purge.stores, purge.accounts, acme.renew, metrics.calculate, metrics.push, push-notifications, fts-indexing, bayes-training, imip-processing, calendar-alerts)`,
		},
	} {
		require.Equal(t, want, problemsOf(t, doc), doc)
	}
}

// A value where a table belongs is reported, and the rest of the file is
// still checked: the entry it stands for is checked as an empty table.
func TestValueWhereATableBelongs(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{
		"nats.replicas: must be between 1 and 5, got 9",
		"nats.tls: must be a table, got a boolean",
		"queue.limits.per-host: must be an integer, got a string",
		"queue.tls: must be a table, got a string",
		"queue.virtual: must be a table, got an integer",
	}, problemsOf(t, "[queue]\ntls = \"require\"\nvirtual = 3\nlimits = { per-host = \"x\" }\n[nats]\ntls = true\nreplicas = 9\n"))
	require.Equal(t, []string{
		"dkim.a.org: must be a table, got an integer",
		"dkim.a.org.private-key: missing: a PEM file",
		"dkim.a.org.selector: missing",
		"queue.route.a: must be a table, got a list",
		`queue.route.a.type: missing: "mx", "relay" or "local"`,
		"task.periodic: must be a table, got an integer",
		"task.periodic2: unknown key (known: concurrency, periodic)",
	}, problemsOf(t, "[[queue.route.a]]\ntype = \"mx\"\n[dkim]\n\"a.org\" = 5\n[task]\nperiodic = 1\n[task.periodic2]\n"))
	got := problemsOf(t, "queue = 5\n[cluster]\npartitions = 0\n")
	require.Contains(t, got, "queue: must be a table, got an integer")
	require.Contains(t, got, "cluster.partitions: must be between 1 and 1024, got 0")

	// task.periodic = 1 still counts as the file's own periodic tasks.
	_, err := Parse([]byte("[task]\nperiodic = 1\n"))
	require.Error(t, err)
}

// Sections and stores that are not jetmail's are not checked.
func TestOtherSoftwaresKeysPass(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte("title = \"x\"\n[server]\nx = 1\n[store.rocks]\ntype = \"rocksdb\"\npath = 5\n[store.rocks.pool]\nmax = 1\n[store.odd]\ntype = 5\nfoo = 1\n"))
	require.NoError(t, err)
	require.Equal(t, []string{"server", "title"}, cfg.Ignored)
	require.Equal(t, Store{Type: "rocksdb"}, cfg.Stores["rocks"])
}

// toml.Decode would take a key for a field whatever its case; a key in the
// wrong case is unknown, and its value is not taken for the key's.
func TestKeyInTheWrongCaseIsNotTaken(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{
		"queue.strategy.schedule: missing: list the rules that choose a schedule, ending with an else",
		"queue.virtual.a.Threads-Per-Node: unknown key (known: threads-per-node)",
		"queue.virtual.a.threads-per-node: must be between 1 and 10000, got 0",
	}, problemsOf(t, "[queue.virtual.a]\nThreads-Per-Node = 10\n"))

	cfg, err := Parse([]byte("[Cluster]\npartitions = 4\n"))
	require.NoError(t, err)
	require.Equal(t, 16, cfg.Cluster.Partitions)
	require.Equal(t, []string{"Cluster"}, cfg.Ignored)
}

// metrics.* values are checked, and a secret never appears in a message.
func TestMetricsProblems(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte("[metrics.push]\nurl = \"http://gw:9091\"\nusername = \"u\"\nsecret = \"s3cret\"\n"))
	require.NoError(t, err)
	require.Equal(t, "http://gw:9091", cfg.Metrics.PushURL)
	require.Equal(t, time.Minute, cfg.Metrics.CalculateInterval)
	require.Equal(t, "jetmail", cfg.Metrics.PushJob)
	for doc, want := range map[string][]string{
		"[metrics.push]\nurl = \"http://u:hunter2@gw:9091\"\n": {"metrics.push.url: must not hold credentials (set metrics.push.username and metrics.push.secret)"},
		"[metrics.push]\nurl = \"ftp://gw\"\n":                 {`metrics.push.url: must be an http:// or https:// URL of a Prometheus Pushgateway, got "ftp://gw"`},
		"[metrics.push]\njob = \"a/b\"\n":                      {`metrics.push.job: must be a non-empty name without / or spaces, got "a/b"`},
		"[metrics.push]\nusername = \"u\"\n":                   {"metrics.push.secret: metrics.push.username and metrics.push.secret go together: set both or neither"},
		"[metrics.calculate]\ninterval = \"1s\"\n":             {"metrics.calculate.interval: must be between 5s and 1d, got 1s"},
		"[metrics]\nprometheus = 1\n":                          {"metrics.prometheus: unknown key (known: calculate, push)"},
		"[report]\nwindow = \"7h\"\n":                          {"report.window: must divide a day, from 1m to 1d (1h, 6h, 1d), got 7h"},
		"[report]\naddress = \"nobody\"\n":                     {`report.address: must be an email address, got "nobody"`},
		"[smtp.checks]\ntimeout = \"1ms\"\n":                   {"smtp.checks.timeout: must be between 100ms and 5m, got 1ms"},
	} {
		require.Equal(t, want, problemsOf(t, doc), doc)
	}
}
