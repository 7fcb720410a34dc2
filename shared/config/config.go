// Package config loads jetmail's TOML configuration.
//
// The keys of the reference (cluster.roles.*, queue.virtual.*,
// queue.schedule.*, queue.strategy.*) load as written there. Loading reports
// every problem at once, each with its key path and reason, as a Problems
// error; a caller that gets one must not start anything.
//
// Sections jetmail owns (cluster, queue, nats, http, storage, smtp, task,
// api, dkim, and the SQL stores of store) are strict: an unknown key is a
// problem. Other top-level sections, such as the rest of a Stalwart
// configuration, are ignored and listed in Config.Ignored.
package config

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/jetmail/jetmail/shared/duration"
	"github.com/jetmail/jetmail/shared/queueexpr"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/shard"
)

// Config is a loaded, validated configuration with defaults filled in.
type Config struct {
	Cluster Cluster
	Queue   Queue
	NATS    NATS
	HTTP    HTTP
	Storage Storage
	Task    Task
	API     API
	SMTP    SMTP
	Spam    Spam
	Push    Push
	DNS     DNS
	ACME    ACME
	Metrics Metrics
	Report  Report
	// DKIM is dkim.<domain>: signing keys per sender domain.
	DKIM map[string]DKIMKey
	// Stores is store.<id>: the SQL stores sql_query reads.
	Stores map[string]Store
	// Ignored lists the top-level sections that jetmail does not read.
	Ignored []string
	// Warnings are settings that are valid but probably unwise, such as
	// an admin API that takes bearer tokens in clear on a public address.
	// `jetmail config check` prints them; a node logs them and starts.
	Warnings []Problem
}

// Cluster is the cluster.* section.
type Cluster struct {
	// NodeID is cluster.node-id: this node's id. Default "1".
	NodeID string
	// Partitions is cluster.partitions: how many partitions each role's work
	// is spread over; a role can use at most this many shards. Default 16.
	// Fixed for the life of a cluster's streams.
	Partitions int
	// HeartbeatInterval is cluster.heartbeat-interval: how often a node renews
	// its membership. Default 1s.
	HeartbeatInterval time.Duration
	// NodeTimeout is cluster.node-timeout: how long after its last heartbeat a
	// node drops out of the cluster. Default 5s.
	NodeTimeout time.Duration
	// Roles is cluster.roles.*: the shards of each role. A role absent from
	// the file defaults to a single shard holding only this node.
	Roles map[roles.Role]roles.Shards
	// RolesSet says which roles the file set explicitly.
	RolesSet map[roles.Role]bool
}

// Queue is the queue.* section.
type Queue struct {
	// Virtual is queue.virtual.<name>: the virtual queues. If the file
	// defines none, the defaults are local, remote, dsn and report.
	Virtual map[string]VirtualQueue
	// Schedule is queue.schedule.<id>: the scheduling strategies. If the file
	// defines none, the defaults are local, remote, dsn and report.
	Schedule map[string]Schedule
	// Strategy is queue.strategy.
	Strategy Strategy
	// Route is queue.route.<id>: where deliveries go. "mx" (MX lookup) and
	// "local" (the local mailbox store) always exist.
	Route map[string]Route
	// StartTLS is queue.tls.starttls: TLSOpportunistic (default) uses
	// STARTTLS when offered; TLSRequire fails a delivery without it.
	StartTLS TLSMode
	// MTASTS is queue.tls.mta-sts: apply the recipient domain's MTA-STS
	// policy (RFC 8461): in enforce mode only its MX hosts, each with a
	// certificate valid for its name, or no delivery. Default true.
	MTASTS bool
	// DANE is queue.tls.dane: an MX host with DNSSEC-validated TLSA
	// records (the AD bit of queue.resolver, which must then be a
	// validating resolver) gets mail only over TLS matching them (RFC
	// 7672). Default true.
	DANE bool
	// TLSCAFile is queue.tls.ca-file: a PEM file of CA certificates that
	// verified TLS (MTA-STS, its policy fetch) trusts beside the
	// system's. Default none.
	TLSCAFile string
	// Resolver is queue.resolver: "system" (default) or the address of a DNS
	// server ("127.0.0.1:53") for MX lookups.
	Resolver string
	// MXPort is queue.mx-port: the port MX hosts are dialled on, as
	// Postfix's smtp_tcp_port. Default 25.
	MXPort int
	// MaxPerHost is queue.limits.per-host: concurrent connections to one
	// remote host from a node. Default 10.
	MaxPerHost int
	// ConnectTimeout and CommandTimeout bound a delivery's connection and
	// each SMTP command. Defaults 30s and 5m.
	ConnectTimeout, CommandTimeout time.Duration
	// TraceRetention is queue.trace.retention: how long the traces of
	// messages (stream jetmail-traces, package trace) are kept. Default 7d
	// (1h to 365d).
	TraceRetention time.Duration
}

// RouteType is queue.route.<id>.type: how a route delivers.
type RouteType string

// Route types.
const (
	// RouteMX delivers to the recipient domain's MX hosts.
	RouteMX RouteType = "mx"
	// RouteRelay delivers to one relay host (Route.Address).
	RouteRelay RouteType = "relay"
	// RouteLocal delivers to the local mailbox store.
	RouteLocal RouteType = "local"
)

// TLSMode is how a delivery uses STARTTLS (queue.tls.starttls,
// queue.route.<id>.tls).
type TLSMode string

// TLS modes.
const (
	// TLSOpportunistic uses STARTTLS when the server offers it.
	TLSOpportunistic TLSMode = "opportunistic"
	// TLSRequire fails a delivery (temporarily) without STARTTLS.
	TLSRequire TLSMode = "require"
	// TLSNone never uses STARTTLS.
	TLSNone TLSMode = "none"
)

// Route is queue.route.<id>.
type Route struct {
	// Type is RouteMX, RouteRelay or RouteLocal.
	Type RouteType
	// Address and Port are a relay's host and port (default 25).
	Address string
	Port    int
	// TLS is the route's TLS mode; empty means queue.tls.starttls.
	TLS TLSMode
	// Username and Secret authenticate to a relay (AUTH PLAIN).
	Username, Secret string
}

// SMTP is the smtp.* section: mail intake.
type SMTP struct {
	// Listen is smtp.listen: addresses of the SMTP listeners. Default
	// ["127.0.0.1:2525"].
	Listen []string
	// Hostname is smtp.hostname: the name in the greeting and in DSNs.
	// Default the machine's host name.
	Hostname string
	// MaxMessageSize is smtp.max-message-size in bytes. Default 25 MiB.
	MaxMessageSize int64
	// LocalDomains is smtp.local-domains: domains delivered to local
	// mailboxes (is_local_domain).
	LocalDomains []string
	// Postmaster is smtp.postmaster: where mail to the bare <postmaster>
	// (RFC 5321 §4.5.1, accepted without a domain) goes. Default
	// postmaster@ the first of smtp.local-domains; with none, <postmaster>
	// is refused as no local mailbox.
	Postmaster string
	// Users is smtp.users.<name>: accounts that may authenticate to relay,
	// and whose addresses receive local mail.
	Users map[string]SMTPUser
	// TLSCert and TLSKey are smtp.tls.cert and smtp.tls.key for STARTTLS.
	TLSCert, TLSKey string
	// RelayNetworks is smtp.relay-networks: client networks trusted to relay
	// without authenticating (like Postfix's mynetworks), in CIDR form.
	// Default none.
	RelayNetworks []*net.IPNet
	// AllowPlainAuthOnLoopback is smtp.allow-plain-auth-on-loopback: accept
	// AUTH without TLS from loopback clients (development). Default true.
	AllowPlainAuthOnLoopback bool
	// Checks is smtp.checks.enable: check SPF, DKIM and DMARC of mail
	// from other servers (not authenticated, not from smtp.relay-networks),
	// add Authentication-Results, and record DMARC results for the
	// aggregate reports. Default true.
	Checks bool
	// ChecksTimeout is smtp.checks.timeout: how long one message's
	// lookups may take (through queue.resolver). Default 10s.
	ChecksTimeout time.Duration
	// Limits is smtp.limits: what one client, and all of them, may take.
	Limits SMTPLimits
	// Greylist is smtp.greylist: greylisting of unknown clients. Default
	// off.
	Greylist SMTPGreylist
}

// SMTPLimits is smtp.limits: bounds on the intake's connections, time and
// authentication attempts, so that no client can exhaust the node.
type SMTPLimits struct {
	// MaxConnections is smtp.limits.max-connections: open SMTP connections
	// per node, all clients together; past it a client gets 421 4.7.0.
	// Default 1000 (1 to 100000). A node also keeps it to half its file
	// descriptor limit, so that health checks always answer.
	MaxConnections int
	// MaxConnectionsPerIP is smtp.limits.max-connections-per-ip: open
	// connections from one client address. Default 50 (1 to 100000).
	MaxConnectionsPerIP int
	// IdleTimeout is smtp.limits.idle-timeout: how long a command line (or
	// a line of DATA) may take to arrive, however slowly its bytes trickle
	// in. Default 5m (1s to 1h).
	IdleTimeout time.Duration
	// SessionTimeout is smtp.limits.session-timeout: how long a connection
	// may stay open in all. Default 30m (1m to 24h).
	SessionTimeout time.Duration
	// AuthFailuresPerConnection is smtp.limits.auth-failures-per-connection:
	// failed AUTH attempts before the connection is closed with 421.
	// Default 3 (1 to 100).
	AuthFailuresPerConnection int
	// AuthFailuresPerIP is smtp.limits.auth-failures-per-ip: failed AUTH
	// attempts from one address, within AuthLockout, before AUTH is refused
	// to it (454 4.7.0) for AuthLockout. Default 10 (1 to 10000).
	AuthFailuresPerIP int
	// AuthLockout is smtp.limits.auth-lockout. Default 15m (1s to 24h).
	AuthLockout time.Duration
	// AuthFailureDelay is smtp.limits.auth-failure-delay: how long a failed
	// AUTH waits before its reply. Default 1s (0 to 1m).
	AuthFailureDelay time.Duration
	// RateIP is smtp.limits.rate.ip: transactions (MAIL FROM commands
	// accepted) from one client address, an IPv6 client's /64, per
	// window, counted across the cluster; past it MAIL FROM gets 451
	// 4.7.1. Clients in smtp.relay-networks are not limited, as Postfix
	// exempts mynetworks from its client rate limits. Default none (no
	// limit).
	RateIP Rate
	// RateSender is smtp.limits.rate.sender: transactions per envelope
	// sender address, whoever the client; the null sender (bounces) is
	// not counted. Default none.
	RateSender Rate
	// RateAccount is smtp.limits.rate.account: transactions per
	// authenticated account. Default none.
	RateAccount Rate
}

// Rate is a limit of Count events per Window, written "count/window" as
// Stalwart writes its throttles ("100/1h"). The zero Rate is no limit.
type Rate struct {
	// Count is how many events a window admits (1 to 10^9).
	Count int
	// Window is the length of a window, in whole seconds (1s to 30d).
	Window time.Duration
}

// Off reports the zero Rate: no limit.
func (r Rate) Off() bool { return r.Count == 0 }

// String writes the rate as the configuration does ("100/1h"), or "off".
func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	return fmt.Sprintf("%d/%s", r.Count, duration.Format(r.Window))
}

// SMTPGreylist is smtp.greylist: greylisting with Postfix postgrey's
// semantics. A triplet (the client's network, the envelope sender, the
// recipient) seen for the first time is refused with 451 4.7.1 until
// Delay has passed since; a retry after it passes, and the triplet then
// passes at once until it has not been seen for MaxAge. A triplet that is
// not retried after Delay within RetryWindow of its last attempt is
// forgotten. A client network whose triplets have passed
// AutoWhitelistClients times is let through without greylisting until it
// has not been seen for MaxAge. Only clients that are neither
// authenticated nor in smtp.relay-networks are greylisted, at RCPT TO.
type SMTPGreylist struct {
	// Enable is smtp.greylist.enable. Default false.
	Enable bool
	// Delay is smtp.greylist.delay: how long a new triplet is refused
	// (postgrey's --delay). Default 5m (1s to 1d).
	Delay time.Duration
	// MaxAge is smtp.greylist.max-age: how long a triplet that passed,
	// and an auto-whitelisted client, are kept since last seen
	// (postgrey's --max-age). Default 35d (1h to 365d), longer than delay.
	MaxAge time.Duration
	// RetryWindow is smtp.greylist.retry-window: how long after its last
	// attempt a triplet that has not passed is kept (postgrey's
	// --retry-window). Default 2d (1m to 30d), longer than delay.
	RetryWindow time.Duration
	// AutoWhitelistClients is smtp.greylist.auto-whitelist-clients: after
	// how many passed triplets a client network is whitelisted
	// (postgrey's --auto-whitelist-clients); 0 whitelists none. Default 5
	// (0 to 1000000).
	AutoWhitelistClients int
}

// DefaultSMTPGreylist are smtp.greylist's defaults, postgrey's.
var DefaultSMTPGreylist = SMTPGreylist{Delay: 5 * time.Minute, MaxAge: 35 * 24 * time.Hour, RetryWindow: 2 * 24 * time.Hour,
	AutoWhitelistClients: 5}

// DefaultSMTPLimits are smtp.limits' defaults.
var DefaultSMTPLimits = SMTPLimits{MaxConnections: 1000, MaxConnectionsPerIP: 50, IdleTimeout: 5 * time.Minute,
	SessionTimeout: 30 * time.Minute, AuthFailuresPerConnection: 3, AuthFailuresPerIP: 10, AuthLockout: 15 * time.Minute,
	AuthFailureDelay: time.Second}

// Spam is the spam.* section: the spam filter that scores every message
// at local delivery, and its trainer (role bayes-training).
type Spam struct {
	// Enable is spam.enable: score every message delivered locally,
	// stamping X-Spam-Status and X-Spam-Score. Default true.
	Enable bool
	// JunkThreshold is spam.threshold.junk: from this score (0 to 1) a
	// message goes into the recipient's Junk. Default 0.9.
	JunkThreshold float64
	// RejectThreshold is spam.threshold.reject: from this score a message
	// is refused at DATA (550 5.7.1), scored with the global model. Default
	// 0: off.
	RejectThreshold float64
	// RulesURL is spam.rules.url: where SpamFilterMaintenance updateRules
	// downloads the rule file (JSON, data only). Default none.
	RulesURL string
	// RulesSHA256 is spam.rules.sha256: the file's hex SHA-256; when
	// empty, it is read from RulesURL + ".sha256". Default empty.
	RulesSHA256 string
	// MaxSamplesPerAccount is spam.samples.max-per-account: the samples
	// kept for each account, the oldest dropped past it. Default 1000
	// (1 to 100000).
	MaxSamplesPerAccount int
}

// DefaultSpam are spam.*'s defaults.
var DefaultSpam = Spam{Enable: true, JunkThreshold: 0.9, MaxSamplesPerAccount: 1000}

// Push is the push.* section: how the push service sends JMAP pushes.
type Push struct {
	// MaxFailures is push.max-failures: after this many POSTs to a
	// subscription failed in a row, it is disabled (PushSubscription/get
	// shows why). Default 10.
	MaxFailures int
	// Timeout is push.timeout: how long one POST may take. Default 10s.
	Timeout time.Duration
	// Coalesce is push.coalesce: how long the push feed gathers changes
	// before it pushes them, so that a burst in an account becomes one
	// push of its latest state. Default 100ms.
	Coalesce time.Duration
	// Concurrency is push.concurrency: how many accounts' pushes a node
	// sends at once. Default 16.
	Concurrency int
}

// ACME is the acme.* section: where AcmeRenewal obtains certificates.
type ACME struct {
	// Directory is acme.directory: the CA's ACME directory URL
	// ("https://acme-v02.api.letsencrypt.org/directory"). Default none:
	// AcmeRenewal fails, asking for it.
	Directory string
	// Contact is acme.contact: the account's contacts ("mailto:...").
	Contact []string
	// RenewBefore is acme.renew-before: how long before a certificate
	// expires its renewal is due. Default 30d.
	RenewBefore time.Duration
	// Challenge is acme.challenge: how names are validated, "http-01"
	// (default: every node's HTTP listener answers), "dns-01" (a TXT
	// record by RFC 2136 on the domain's dns.server) or "tls-alpn-01"
	// (every node's HTTPS listener, http.tls, answers on port 443).
	Challenge string
	// CAFile is acme.ca-file: a PEM file of the CA certificates the
	// directory's HTTPS is verified with, beside the system's (a private
	// or test CA). Default none.
	CAFile string
}

// Metrics is the metrics.* section: the cluster-wide figures that the
// metrics.calculate nodes compute and the metrics.push nodes push.
type Metrics struct {
	// CalculateInterval is metrics.calculate.interval: how often the
	// figures are computed. Default 1m.
	CalculateInterval time.Duration
	// PushURL is metrics.push.url: the Prometheus Pushgateway the
	// figures are pushed to ("http://pushgateway:9091"). Default none:
	// nothing is pushed.
	PushURL string
	// PushInterval is metrics.push.interval: how often they are pushed.
	// Default 1m.
	PushInterval time.Duration
	// PushJob is metrics.push.job: the job label of the pushed group.
	// Default "jetmail".
	PushJob string
	// PushTimeout is metrics.push.timeout: how long one push may take.
	// Default 10s.
	PushTimeout time.Duration
	// PushUsername and PushSecret are metrics.push.username and
	// metrics.push.secret: HTTP basic auth for the gateway. Default none.
	PushUsername, PushSecret string
}

// Report is the report.* section: the DMARC and TLS aggregate reports
// jetmail sends to the domains that ask for them.
type Report struct {
	// Window is report.window: the time each report covers, aligned on
	// the Unix epoch; it divides a day. Default 1d.
	Window time.Duration
	// OrgName is report.org-name: the reporting organization. Default
	// smtp.hostname.
	OrgName string
	// Address is report.address: the reports' sender and contact.
	// Default noreply-reports@<smtp.hostname>.
	Address string
}

// DefaultMetrics are metrics.*'s defaults.
var DefaultMetrics = Metrics{CalculateInterval: time.Minute, PushInterval: time.Minute, PushJob: "jetmail", PushTimeout: 10 * time.Second}

// DNS is the dns.* section: the servers that take RFC 2136 updates for
// the domains' zones (DnsManagement).
type DNS struct {
	// Servers is dns.server.<id>.
	Servers map[string]DNSServer
	// CAAIssuers is dns.caa-issuers: the CAs the CAA record authorizes
	// ("letsencrypt.org"). Default none: a CAA update is refused.
	CAAIssuers []string
	// TTL is dns.ttl: the TTL of the records published. Default 1h.
	TTL time.Duration
}

// DNSServer is dns.server.<id>: a primary server that accepts dynamic
// updates (RFC 2136) for the zones of Domains, each domain its own zone.
type DNSServer struct {
	// Address is address: host:port. Required.
	Address string
	// Protocol is protocol: "tcp" (default) or "udp".
	Protocol string
	// Domains is domains: the domains whose zones the server holds.
	Domains []string
	// TSIGName, TSIGAlgorithm and TSIGSecret are tsig.name,
	// tsig.algorithm (hmac-sha256 by default; hmac-sha512, hmac-sha1)
	// and tsig.secret (base64): the key updates are signed with. Without
	// tsig.name updates go unsigned.
	TSIGName, TSIGAlgorithm, TSIGSecret string
	// Timeout is timeout: how long one exchange may take. Default 10s.
	Timeout time.Duration
}

// DefaultPush are push.*'s defaults.
var DefaultPush = Push{MaxFailures: 10, Timeout: 10 * time.Second, Coalesce: 100 * time.Millisecond, Concurrency: 16}

// Store is store.<id>. Types other than sqlite and postgresql are other
// software's stores: they are kept but not opened.
type Store struct {
	// Type is "sqlite" or "postgresql".
	Type string
	// Path is a SQLite database file.
	Path string
	// DSN is a PostgreSQL connection string (postgres://user:pass@host/db).
	DSN string
}

// SMTPUser is smtp.users.<name>.
type SMTPUser struct {
	Secret    string
	Addresses []string
}

// DKIMKey is dkim.<domain>.
type DKIMKey struct {
	// Selector is selector: the DNS selector ("s1" for s1._domainkey).
	Selector string
	// PrivateKey is private-key: a PEM file with an RSA or Ed25519 key.
	PrivateKey string
	// Algorithm is algorithm: the kind of key DkimManagement rotates to,
	// "rsa" (2048 bits, the default: every verifier knows it) or
	// "ed25519" (RFC 8463).
	Algorithm string
	// Grace is grace: how long a rotated-out key stays published, so that
	// mail signed with it verifies until delivered. Default 7d.
	Grace time.Duration
}

// VirtualQueue is queue.virtual.<name>.
type VirtualQueue struct {
	// ThreadsPerNode is threads-per-node: concurrent deliveries from this
	// queue on each node. Required, at least 1.
	ThreadsPerNode int
}

// MaxQueueNameBytes is the reference's limit on virtual queue names.
const MaxQueueNameBytes = 8

// Schedule is queue.schedule.<id>.
type Schedule struct {
	// QueueName is queue-name: the virtual queue. Required.
	QueueName string
	// Retry is retry: intervals between attempts; the last one repeats.
	// Default ["2m", "5m", "10m", "15m", "30m", "1h", "2h"].
	Retry []time.Duration
	// Notify is notify: when to send delayed DSNs, relative to queue entry.
	// Default none.
	Notify []time.Duration
	// Expire is expire: how long a recipient may stay queued. Exclusive with
	// MaxAttempts; when neither is set, Expire defaults to 5d.
	Expire time.Duration
	// MaxAttempts is max-attempts: how many attempts before the recipient
	// expires. Exclusive with Expire.
	MaxAttempts int
}

// Strategy is queue.strategy.
type Strategy struct {
	// Schedule is queue.strategy.schedule: rules evaluated in order per
	// recipient; the first whose condition holds gives the schedule id.
	// Default: local domains to "local", dsn to "dsn", report to "report",
	// everything else to "remote".
	Schedule []Rule
	// Route is queue.strategy.route: rules that give the route id. Default:
	// local domains to "local", everything else to "mx".
	Route []Rule
}

// Rule is one if/then (or else) entry of a strategy list.
type Rule struct {
	// If is the condition; nil for the else rule.
	If *queueexpr.Program
	// Then is the expression giving the schedule id.
	Then *queueexpr.Program
}

// NATS is the nats.* section: how services reach JetStream.
type NATS struct {
	// URL is nats.url: an external server or cluster ("nats://a:4222,nats://b:4222").
	// Empty means the embedded server of `jetmail dev`.
	URL string
	// Replicas is nats.replicas: the replica count of jetmail's streams and
	// buckets. Default 1; use 3 on a three-server cluster.
	Replicas int
	// Connections is nats.connections: how many connections a node opens,
	// so that the server can work its traffic on several cores. Default 4.
	Connections int
	// Creds is nats.creds: a credentials file.
	Creds string
	// NKey is nats.nkey: a file holding an NKey user seed ("SU..."), as
	// `jetmail dev` writes into its data directory.
	NKey string
	// User and Password are nats.user and nats.password.
	User, Password string
	// Token is nats.token.
	Token string
	// TLSCA, TLSCert and TLSKey are nats.tls.ca, nats.tls.cert and nats.tls.key.
	TLSCA, TLSCert, TLSKey string
}

// HTTP is the http.* section.
type HTTP struct {
	// Listen is http.listen: the address of /health, /ready, /metrics and
	// the admin API (/jmap). Default "127.0.0.1:8080".
	Listen string
	// TLSCert and TLSKey are http.tls.cert and http.tls.key: PEM files.
	// When set, the node serves HTTPS only on http.listen. Default none.
	TLSCert, TLSKey string
}

// IndexPath is the directory of the full-text indexes: IndexDir, or
// <DataDir>/index when unset.
func (s Storage) IndexPath() string {
	if s.IndexDir != "" {
		return s.IndexDir
	}
	return filepath.Join(s.DataDir, "index")
}

// Storage is the storage.* section, with the mail store's retentions
// (store.changelog and store.archive, which are jetmail's, not store ids).
type Storage struct {
	// DataDir is storage.data-dir: where the embedded NATS server keeps its
	// JetStream files. Default "./data".
	DataDir string
	// IndexDir is storage.index-dir: where the indexer keeps the full-text
	// index of each partition it holds, on local disk (one directory per
	// partition). Default "" meaning <data-dir>/index.
	IndexDir string
	// ChangelogRetention is store.changelog.retention: how long the mail
	// store's change log keeps a change. Default 30d (1h to 365d).
	ChangelogRetention time.Duration
	// ArchiveRetention is store.archive.retention: how long a destroyed
	// document or account is kept for a restore. Default 30d (1h to 365d).
	ArchiveRetention time.Duration
	// TrashRetention and JunkRetention are store.trash.retention and
	// store.junk.retention: how long an email stays in an account's Trash
	// or Junk (since it was last changed, such as moved there) before
	// AccountMaintenance purge destroys it. Default 30d each (1h to 365d).
	TrashRetention, JunkRetention time.Duration
	// DuplicateRetention is store.duplicates.retention: how long local
	// delivery remembers a Message-ID it stored in an account (the
	// account's duplicate-ID list): within it, another message with the
	// same Message-ID to the same account is not stored again, and its
	// delivery is reported done. Counted from the first delivery. 0 turns
	// the suppression off. Default 1d (0, or 1m to 30d).
	DuplicateRetention time.Duration
}

// Task is the task.* section.
type Task struct {
	// Concurrency is task.concurrency: how many tasks of one role a node
	// runs at once. Default 128 (tasks mostly wait on I/O).
	Concurrency int
	// Periodic is task.periodic.<name>: tasks created by a server-side cron
	// schedule, once per cluster per tick (or once per account partition,
	// per-partition). When the file has no task.periodic, the defaults are
	// purge-data (StoreMaintenance purgeData, hourly), purge-blob
	// (StoreMaintenance purgeBlob, daily at 03:30), purge-accounts
	// (AccountMaintenance purge of every account, per partition, daily at
	// 04:00) and spam-train (SpamFilterMaintenance train, every 6 hours).
	Periodic map[string]Periodic
}

// Periodic is task.periodic.<name>.
type Periodic struct {
	// Schedule is schedule: a 6-field cron expression with seconds first
	// ("0 0 * * * *" is hourly), or "@every <duration>".
	Schedule string
	// Task is task: the task to create, as for x:Task/set create
	// ({ "@type" = "StoreMaintenance", maintenanceType = "purgeData" }).
	Task json.RawMessage
	// PerPartition is per-partition: one schedule per account partition,
	// each firing on the shard that owns its partition, for an
	// AccountMaintenance task with accountId "*" (every account of the
	// partition: its x:partition is filled in). Default false: one firing
	// per cluster.
	PerPartition bool
}

// API is the api.* section: the admin API on the node's HTTP address.
type API struct {
	// Users is api.users.<name>: who may call the admin API.
	Users map[string]APIUser
}

// APIUser is api.users.<name>.
type APIUser struct {
	// Secret is secret: the password for basic auth, and the bearer token.
	Secret string
	// Permissions is permissions: what the user may do, such as
	// sysTaskGet or sysTaskManagerUpdate; "admin" grants all.
	Permissions []string
}

// DefaultPeriodic are the periodic tasks of a file without task.periodic.
var DefaultPeriodic = map[string]Periodic{
	"purge-data": {Schedule: "0 0 * * * *", Task: json.RawMessage(`{"@type":"StoreMaintenance","maintenanceType":"purgeData"}`)},
	"purge-blob": {Schedule: "0 30 3 * * *", Task: json.RawMessage(`{"@type":"StoreMaintenance","maintenanceType":"purgeBlob"}`)},
	"purge-accounts": {Schedule: "0 0 4 * * *", PerPartition: true,
		Task: json.RawMessage(`{"@type":"AccountMaintenance","maintenanceType":"purge","accountId":"*"}`)},
	"spam-train": {Schedule: "0 0 */6 * * *", Task: json.RawMessage(`{"@type":"SpamFilterMaintenance","maintenanceType":"train"}`)},
}

// DefaultRetry is the retry list of a schedule that sets none.
var DefaultRetry = []time.Duration{2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour}

// DefaultDuplicateRetention is store.duplicates.retention's default.
const DefaultDuplicateRetention = 24 * time.Hour

// DefaultTraceRetention is queue.trace.retention's default.
const DefaultTraceRetention = 7 * 24 * time.Hour

// DefaultExpire is the expire of a schedule that sets neither expire nor max-attempts.
const DefaultExpire = 5 * 24 * time.Hour

// defaultQueueTOML is the queue configuration used when the file has none.
// It is parsed by the same code as a user's file, so the defaults obey the
// same rules.
const defaultQueueTOML = `
[queue.strategy]
schedule = [ { if = "is_local_domain('*', rcpt_domain)", then = "'local'" },
             { if = "source == 'dsn'", then = "'dsn'" },
             { if = "source == 'report'", then = "'report'" },
             { else = "'remote'" } ]

[queue.schedule.local]
queue-name = "local"
retry = ["2m", "5m", "10m", "15m", "30m", "1h", "2h"]
notify = ["1d", "3d"]
expire = "5d"

[queue.schedule.remote]
queue-name = "remote"
retry = ["2m", "5m", "10m", "15m", "30m", "1h", "2h"]
notify = ["1d", "3d"]
expire = "5d"

[queue.schedule.dsn]
queue-name = "dsn"
retry = ["15m", "30m", "1h", "2h"]
expire = "2d"

[queue.schedule.report]
queue-name = "report"
retry = ["30m", "1h", "2h"]
expire = "1d"

[queue.virtual.local]
threads-per-node = 16

[queue.virtual.remote]
threads-per-node = 32

[queue.virtual.dsn]
threads-per-node = 4

[queue.virtual.report]
threads-per-node = 4
`

func defaults() *Config {
	return &Config{
		Cluster: Cluster{
			NodeID:            "1",
			Partitions:        shard.DefaultPartitions,
			HeartbeatInterval: time.Second,
			NodeTimeout:       5 * time.Second,
			Roles:             map[roles.Role]roles.Shards{},
			RolesSet:          map[roles.Role]bool{},
		},
		Queue: Queue{Virtual: map[string]VirtualQueue{}, Schedule: map[string]Schedule{}, Route: map[string]Route{},
			StartTLS: TLSOpportunistic, Resolver: "system", MXPort: 25, MTASTS: true, DANE: true, MaxPerHost: 10, ConnectTimeout: 30 * time.Second, CommandTimeout: 5 * time.Minute,
			TraceRetention: DefaultTraceRetention},
		SMTP: SMTP{Listen: []string{"127.0.0.1:2525"}, MaxMessageSize: 25 << 20, Users: map[string]SMTPUser{}, AllowPlainAuthOnLoopback: true,
			Checks: true, ChecksTimeout: 10 * time.Second,
			Limits: DefaultSMTPLimits, Greylist: DefaultSMTPGreylist},
		DKIM:   map[string]DKIMKey{},
		Stores: map[string]Store{},
		NATS:   NATS{Replicas: 1, Connections: 4},
		HTTP:   HTTP{Listen: "127.0.0.1:8080"},
		Storage: Storage{DataDir: "./data", ChangelogRetention: 30 * 24 * time.Hour, ArchiveRetention: 30 * 24 * time.Hour,
			TrashRetention: 30 * 24 * time.Hour, JunkRetention: 30 * 24 * time.Hour, DuplicateRetention: DefaultDuplicateRetention},
		Task:    Task{Concurrency: 128},
		API:     API{Users: map[string]APIUser{}},
		Spam:    DefaultSpam,
		Push:    DefaultPush,
		Metrics: DefaultMetrics,
		Report:  Report{Window: 24 * time.Hour},
		DNS:     DNS{Servers: map[string]DNSServer{}, TTL: time.Hour},
		ACME:    ACME{RenewBefore: 30 * 24 * time.Hour, Challenge: "http-01"},
	}
}
