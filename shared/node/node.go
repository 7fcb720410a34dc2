// Package node runs one jetmail node: it creates the cluster's JetStream
// assets, joins the membership, follows the role maps (seeding a role's
// map from cluster.roles when it first works the role, and saying where
// its configuration disagrees with a map: ConfigDrift), competes for the
// leader lease (the leader builds partition layouts) and for the lease of
// each duty its services register, serves /health, /ready and /metrics
// and the admin API over HTTP and NATS, and starts the node's services.
//
// Lifecycle: New, then Start; Shutdown stops services first (they drain
// in-flight work), then workers, then leaves the cluster.
package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/work"
)

// Service is a part of jetmail that runs on a node (delivery, scheduler, ...).
type Service interface {
	// Name is the service's name, as given to `jetmail serve`.
	Name() string
	// Start starts the service's background work with the node's deps and
	// returns.
	Start(ctx context.Context, d Deps) error
	// Shutdown stops taking new work and waits for in-flight work until ctx ends.
	Shutdown(ctx context.Context) error
}

// WithoutRoleWork is implemented by a service that neither submits nor
// consumes role work (the jetmail.work.<role> streams). A node whose
// services all implement it leaves the role streams alone: it does not
// create them or compete to lead the cluster (the leader builds the role
// consumers), so its NATS identity needs no access to them (natsauth).
type WithoutRoleWork interface {
	WithoutRoleWork()
}

// usesRoleWork reports whether any of the node's services may use role
// work; a node with no services does (tests run workers on it directly).
func (n *Node) usesRoleWork() bool {
	for _, s := range n.p.Services {
		if _, ok := s.(WithoutRoleWork); !ok {
			return true
		}
	}
	return len(n.p.Services) == 0
}

// Params configures a Node.
type Params struct {
	Config *config.Config
	// Conn is the node's NATS connection; the node does not close it.
	Conn *nats.Conn
	// Services to start, in order.
	Services []Service
	Version  string
	Logger   *slog.Logger
	// Work overrides work settings (tests shorten AckWait); Partitions and
	// Replicas come from Config when zero.
	Work work.Params
	// ExtraUsers are API users beyond api.users (jetmail dev adds its admin).
	ExtraUsers []jmap.User
	// Clock keeps the node's timers (leader duties); default the system
	// clock.
	Clock clock.Clock
	// Dial opens another connection like Conn. With it the node keeps
	// nats.connections connections, so that the server works the node's
	// traffic on several cores; without it, Conn carries everything.
	Dial func() (*nats.Conn, error)
	// HTTPTimeouts bound the connections of the HTTP server; zero fields
	// take the defaults (tests shorten them).
	HTTPTimeouts HTTPTimeouts
}

// Node is a running jetmail node. What runs on it is given Deps, not the
// node.
type Node struct {
	// httpCert, once set, picks the HTTPS listener's certificate before
	// http.tls.cert (SetHTTPCertificate).
	httpCert   atomic.Pointer[func(*tls.ClientHelloInfo) (*tls.Certificate, error)]
	cfg        *config.Config
	id         string
	conn       *nats.Conn
	js         jetstream.JetStream
	buckets    *cluster.Buckets
	view       *cluster.View
	membership *cluster.Membership
	publisher  *work.Publisher
	registry   *prometheus.Registry
	workParams work.Params
	log        *slog.Logger
	api        *jmap.Server

	p           Params
	pool        []jetstream.JetStream
	poolConns   []*nats.Conn
	next        atomic.Uint64
	workMetrics *work.Metrics
	cancel      context.CancelFunc
	bg          sync.WaitGroup
	mu          sync.Mutex
	workers     []*work.Worker
	started     []Service
	http        *http.Server
	micros      []micro.Service
	micro       micro.Service // the node's own
	httpAddr    string
	ready       atomic.Bool
	leader      atomic.Bool
	duties      duties
	clock       clock.Clock
}

// New prepares a node; nothing runs until Start.
func New(p Params) (*Node, error) {
	if p.Config == nil || p.Conn == nil || p.Logger == nil {
		return nil, errors.New("node: Config, Conn and Logger are required")
	}
	js, err := jetstream.New(p.Conn)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	wp := p.Work
	if wp.Partitions == 0 {
		wp.Partitions = p.Config.Cluster.Partitions
	}
	if wp.Replicas == 0 {
		wp.Replicas = p.Config.NATS.Replicas
	}
	wp = wp.WithDefaults()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	id := p.Config.Cluster.NodeID
	n := &Node{
		cfg: p.Config, id: id, conn: p.Conn, js: js, registry: reg, workParams: wp,
		publisher: work.NewPublisher(js, wp.Partitions), log: p.Logger.With("node_id", id),
		p: p, workMetrics: work.NewMetrics(reg),
	}
	n.clock = p.Clock
	if n.clock == nil {
		n.clock = clock.Real
	}
	n.api = newAPI(n)
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jetmail_node_leader", Help: "1 while this node holds the cluster leader lease.",
		}, func() float64 { return boolFloat(n.leader.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jetmail_node_ready", Help: "1 while this node is started and connected to NATS.",
		}, func() float64 { return boolFloat(n.ready.Load() && n.conn.IsConnected()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jetmail_node_info", Help: "Always 1; labels name the node and version.",
			ConstLabels: prometheus.Labels{"node_id": id, "version": p.Version},
		}, func() float64 { return 1 }),
	)
	return n, nil
}

// Start creates the assets, joins the cluster and starts the services.
func (n *Node) Start(ctx context.Context) error {
	cfg := n.cfg
	var err error
	n.pool = []jetstream.JetStream{n.js}
	if n.p.Dial != nil {
		for i := 1; i < cfg.NATS.Connections; i++ {
			nc, err := n.p.Dial()
			if err != nil {
				return fmt.Errorf("open NATS connection %d of %d (nats.connections): %w", i+1, cfg.NATS.Connections, err)
			}
			js, err := jetstream.New(nc)
			if err != nil {
				nc.Close()
				return err
			}
			n.poolConns = append(n.poolConns, nc)
			n.pool = append(n.pool, js)
		}
	}
	if n.buckets, err = cluster.EnsureBuckets(ctx, n.js, cfg.NATS.Replicas, cfg.Cluster.NodeTimeout); err != nil {
		return err
	}
	roleWork := n.usesRoleWork()
	for _, r := range roles.All {
		if !roleWork {
			break
		}
		if _, err := work.EnsureStream(ctx, n.js, r, n.workParams.Partitions, n.workParams.Replicas); err != nil {
			return err
		}
		l, err := cluster.GetLayout(ctx, n.buckets, r)
		if err != nil {
			return err
		}
		if l != nil && l.Partitions != n.workParams.Partitions {
			return fmt.Errorf("cluster.partitions is %d but role %s's streams were built with %d; the partition count is fixed for the life of a cluster", n.workParams.Partitions, r, l.Partitions)
		}
	}
	// cluster.roles seeds no role here: a role's map is seeded by the
	// first node that works it (RunWorker), so that a node never seeds
	// the role of a service it does not run.
	n.membership = cluster.NewMembership(cluster.MembershipParams{
		Buckets: n.buckets, NodeID: n.id, Version: n.p.Version, ConfigRoles: n.configRoles(),
		Interval: cfg.Cluster.HeartbeatInterval, Timeout: cfg.Cluster.NodeTimeout, Logger: n.log,
	})
	names := make([]string, len(n.p.Services))
	for i, s := range n.p.Services {
		names[i] = s.Name()
	}
	n.membership.SetServices(names, nil)
	if err := n.membership.Start(ctx); err != nil {
		return err
	}

	bgCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.view = cluster.NewView(n.buckets, n.log)
	n.goBackground(func() {
		if err := n.view.Run(bgCtx); err != nil && bgCtx.Err() == nil {
			n.log.Error("role view stopped", "err", err)
		}
	})
	select {
	case <-n.view.Ready():
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, d := range n.ConfigDrift() {
		n.log.Warn("the configuration's role differs from the cluster's role map, which wins",
			"key", "cluster.roles."+string(d.Role), "config", strings.Join(d.Config.Strings(), " | "),
			"cluster", strings.Join(d.Cluster.Strings(), " | "),
			"fix", "jetmail roles apply --config FILE makes the cluster match the file; or change the file")
	}
	if roleWork {
		coordinator := work.NewCoordinator(work.CoordinatorParams{
			JS: n.js, Buckets: n.buckets, View: n.view, Params: n.workParams, Metrics: n.workMetrics, Logger: n.log,
		})
		limits := work.NewLimits(work.LimitsParams{
			JS: n.js, Buckets: n.buckets, View: n.view, Logger: n.log, Interval: cfg.Cluster.HeartbeatInterval,
		})
		n.LeaderDuty("consumer limits", limits.Run)
		n.goBackground(func() {
			cluster.RunLeader(bgCtx, n.buckets, n.id, cfg.Cluster.HeartbeatInterval, n.log, func(ctx context.Context) {
				n.leader.Store(true)
				defer n.leader.Store(false)
				coordinator.Run(ctx)
			})
		})
	}
	n.duties.begin(func(du duty) { n.runDuty(bgCtx, du) })
	if err := n.startHTTP(); err != nil {
		return err
	}
	if err := n.startMicro(); err != nil {
		return err
	}
	n.serveAPIOverNATS()
	for _, s := range n.p.Services {
		if err := s.Start(ctx, n.Deps()); err != nil {
			return fmt.Errorf("start service %s: %w", s.Name(), err)
		}
		n.mu.Lock()
		n.started = append(n.started, s)
		n.mu.Unlock()
		n.log.Info("service started", "service", s.Name())
	}
	n.ready.Store(true)
	n.log.Info("node started", "services", names, "http", n.httpAddr)
	return nil
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (n *Node) goBackground(f func()) {
	n.bg.Add(1)
	go func() { defer n.bg.Done(); f() }()
}

// nextJetStream returns the node's JetStream contexts in turn, so that
// workers spread over its connections.
func (n *Node) nextJetStream() jetstream.JetStream {
	return n.pool[n.next.Add(1)%uint64(len(n.pool))]
}

// IsLeader reports whether this node holds the leader lease now: the
// leader builds the roles' consumers and partition layouts. Only nodes
// that use role work compete for it (see WithoutRoleWork).
func (n *Node) IsLeader() bool { return n.leader.Load() }

// RunWorker starts consuming role r's work on this node with handler and a
// pool of concurrency slots. The node stops the worker on Shutdown.
//
// Before the worker starts, r's map is seeded from cluster.roles.<r> if
// the cluster has none (cluster.SeedRole): a role is seeded by a node that
// works it, never by one that does not run its service.
func (n *Node) RunWorker(ctx context.Context, r roles.Role, concurrency int, h work.Handler) (*work.Worker, error) {
	if err := n.seedRole(ctx, r); err != nil {
		return nil, err
	}
	w := work.NewWorker(work.WorkerParams{
		JS: n.nextJetStream(), Buckets: n.buckets, View: n.view, Membership: n.membership, NodeID: n.id,
		Role: r, Concurrency: concurrency, Handler: h, Params: n.workParams, Metrics: n.workMetrics, Logger: n.log,
	})
	if err := w.Start(ctx); err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.workers = append(n.workers, w)
	n.mu.Unlock()
	return w, nil
}

// seedRole writes r's map from the configuration if the cluster has none.
func (n *Node) seedRole(ctx context.Context, r roles.Role) error {
	shards, ok := n.cfg.Cluster.Roles[r]
	if !ok {
		return nil
	}
	if n.view != nil {
		if m, _, _ := n.view.Role(r); m.Revision != 0 {
			return nil // seeded already (SeedRole would find it too)
		}
	}
	seeded, err := cluster.SeedRole(ctx, n.buckets, r, shards, "config of node "+n.id)
	if err != nil {
		return err
	}
	if seeded {
		n.log.Info("role map seeded from the configuration", "role", r, "shards", strings.Join(shards.Strings(), " | "))
	}
	return nil
}

// configRoles are the roles the node's configuration sets: the roles the
// file names (cluster.roles.*), not the single-node default of the others.
func (n *Node) configRoles() map[roles.Role]roles.Shards {
	out := map[roles.Role]roles.Shards{}
	for r, ss := range n.cfg.Cluster.Roles {
		if n.cfg.Cluster.RolesSet[r] {
			out[r] = ss
		}
	}
	return out
}

// ConfigDrift lists the roles the node's configuration sets to other
// shards than the cluster's maps, as the node follows them now; nil
// before Start.
func (n *Node) ConfigDrift() []cluster.Drift {
	if n.view == nil {
		return nil
	}
	have := map[roles.Role]roles.Shards{}
	for _, r := range roles.All {
		if m, _, _ := n.view.Role(r); m.Revision != 0 {
			have[r] = m.Shards
		}
	}
	return cluster.Drifts(n.configRoles(), have)
}

// Shutdown stops the services (each drains its in-flight work), the
// workers, the leader duties and the HTTP server, and leaves the cluster.
func (n *Node) Shutdown(ctx context.Context) error {
	n.ready.Store(false)
	var errs []error
	n.mu.Lock()
	started, workers := n.started, n.workers
	n.mu.Unlock()
	for i := len(started) - 1; i >= 0; i-- {
		if err := started[i].Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop service %s: %w", started[i].Name(), err))
		}
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Shutdown(ctx); err != nil {
				n.log.Warn("worker shutdown", "err", err)
			}
		}()
	}
	wg.Wait()
	n.mu.Lock()
	micros := n.micros
	n.micros = nil
	n.mu.Unlock()
	for _, m := range micros {
		_ = m.Stop()
	}
	if n.cancel != nil {
		n.cancel()
	}
	n.bg.Wait()
	if n.membership != nil {
		if err := n.membership.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if n.http != nil {
		if err := n.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop http: %w", err))
		}
	}
	for _, nc := range n.poolConns {
		nc.Close()
	}
	n.log.Info("node stopped")
	return errors.Join(errs...)
}

// HTTPAddr is the address /health, /ready, /metrics and /jmap listen on.
func (n *Node) HTTPAddr() string { return n.httpAddr }

// HTTPURL is the base URL of HTTPAddr: https:// when http.tls is set.
func (n *Node) HTTPURL() string {
	if n.cfg.HTTP.TLSCert != "" {
		return "https://" + n.httpAddr
	}
	return "http://" + n.httpAddr
}

// SetHTTPCertificate makes the HTTPS listener (http.tls) serve the
// certificate get returns for a client's hello, when it returns one, and
// http.tls.cert otherwise: certificates obtained by ACME, renewed without
// a restart.
func (n *Node) SetHTTPCertificate(get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) {
	n.httpCert.Store(&get)
}

// HandleHTTP adds a handler to the node's HTTP server (the admin API). It
// does nothing when http.listen is empty.
func (n *Node) HandleHTTP(pattern string, h http.Handler) {
	if n.http != nil {
		n.http.Handler.(*http.ServeMux).Handle(pattern, h)
	}
}
