package node

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/work"
)

// Deps is what a service and the components it builds are given by the
// node they run on, explicitly: nothing else of the node is reachable. A
// component takes the fields it needs; all are set once the node has
// joined the cluster, before its services start.
type Deps struct {
	NodeID string
	Config *config.Config
	// Logger carries the node id.
	Logger *slog.Logger
	// Clock tells the time and keeps timers.
	Clock clock.Clock
	// Conn is the node's own NATS connection.
	Conn *nats.Conn
	// JetStreams has one JetStream context per connection (nats.connections),
	// the node's own first; spread independent traffic over them.
	JetStreams []jetstream.JetStream
	// Metrics registers metrics on the node's /metrics.
	Metrics prometheus.Registerer
	// Leader runs single-holder duties: each on one node at a time.
	Leader Leader
	// Workers consumes a role's work on this node.
	Workers Workers
	// Buckets, View and Membership are the cluster's state: role maps and
	// layouts, and this node's record.
	Buckets    *cluster.Buckets
	View       *cluster.View
	Membership *cluster.Membership
	// Publisher submits role work, partitioned as the cluster is.
	Publisher *work.Publisher
	// Work are the cluster's work settings (AckWait, PollWait, ...).
	Work work.Params
	// API is the admin API: services register their methods on it.
	API *jmap.Server
	// Micro registers NATS micro services ("nats micro ls").
	Micro Micro
	// HTTP adds handlers to the node's HTTP server (beside /jmap); it does
	// nothing when http.listen is empty.
	HTTP HTTP
}

// HTTP adds handlers to the node's HTTP server.
type HTTP interface {
	HandleHTTP(pattern string, h http.Handler)
	// SetHTTPCertificate makes the HTTPS listener serve what get returns
	// (when it returns a certificate) before http.tls.cert.
	SetHTTPCertificate(get func(*tls.ClientHelloInfo) (*tls.Certificate, error))
}

// Leader runs duties that one node of the cluster does at a time.
type Leader interface {
	// LeaderDuty runs fn on one of the nodes that registered the duty
	// name, for each term of its lease; its context ends with the term.
	LeaderDuty(name string, fn func(ctx context.Context))
	// LeaderEvery runs fn every interval while this node holds the duty.
	LeaderEvery(name string, interval time.Duration, fn func(ctx context.Context))
}

// Workers starts consumers of role work on this node.
type Workers interface {
	RunWorker(ctx context.Context, r roles.Role, concurrency int, h work.Handler) (*work.Worker, error)
}

// Micro registers NATS micro services that the node stops on Shutdown.
type Micro interface {
	AddMicro(name, description string, status func() any) (micro.Service, error)
}

// Deps returns what the node gives the services it runs. It is complete
// once Start has joined the cluster (before services start).
func (n *Node) Deps() Deps {
	return Deps{
		NodeID: n.id, Config: n.cfg, Logger: n.log, Clock: n.clock, Conn: n.conn, JetStreams: n.pool,
		Metrics: n.registry, Leader: n, Workers: n, Buckets: n.buckets, View: n.view, Membership: n.membership,
		Publisher: n.publisher, Work: n.workParams, API: n.api, Micro: n, HTTP: n,
	}
}

// JS is the node's own JetStream context.
func (d Deps) JS() jetstream.JetStream { return d.JetStreams[0] }
