package mailqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/engine"
	"github.com/jetmail/jetmail/shared/kvwatch"
	"github.com/jetmail/jetmail/shared/lifecycle"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/sqlstore"
	"github.com/jetmail/jetmail/shared/trace"
	"github.com/jetmail/jetmail/shared/work"
)

// Names of the queue's JetStream assets.
const (
	BucketMessages = "jetmail-messages"
	BucketQueue    = "jetmail-queue"
	BucketControl  = "jetmail-queue-control"
	Stream         = "jetmail-queue"
)

// HeaderNotify marks a message's delayed-DSN trigger.
const HeaderNotify = "Jetmail-Notify"

// dueSubject is where a virtual queue's triggers go, each on its own
// subject below it: <entry key> for a recipient (and, from before delayed
// DSNs had their own consumer, notify.<message id> for a delayed DSN).
func dueSubject(vq string) string        { return "jetmail.queue.due." + vq }
func schedSubject(vq, key string) string { return "jetmail.queue.sched." + vq + "." + key }
func notifySubject(id string) string     { return "jetmail.queue.notify." + id }
func consumerName(vq string) string      { return "vq-" + vq }

// A message's delayed-DSN schedule (on notifySubject) fires on
// notifyDueSubject, which NotifyConsumer reads on every delivery node.
// It is no virtual queue's: pausing a queue holds its deliveries, not the
// notices that they are late.
func notifyDueSubject(id string) string { return "jetmail.queue.delayed." + id }

// NotifyConsumer is the durable consumer of the delayed-DSN triggers.
const NotifyConsumer = "delayed-dsn"

// notifyThreads is how many delayed-DSN triggers a node works at once:
// each is a few reads and writes and a DSN queued, no delivery.
const notifyThreads = 4

// AnchorSubject holds the queue stream's anchor, a message no consumer
// reads (see work.EnsureAnchor).
const AnchorSubject = "jetmail.queue.anchor"

// schedCounterName names a virtual queue's counting consumer: never pulled,
// its pending count is how many of the queue's recipients wait for a later
// attempt (see Depth).
func schedCounterName(vq string) string { return "vq-" + vq + "-scheduled" }
func pausedKey(vq string) string        { return "paused." + vq }
func isPausedKey(k string) (string, bool) {
	if len(k) > 7 && k[:7] == "paused." {
		return k[7:], true
	}
	return "", false
}

// Errors callers branch on.
var (
	ErrNotFound = errors.New("queue entry not found")
	ErrConflict = errors.New("queue entry changed meanwhile; try again")
)

func entryErr(err error) error { return engine.DomainErr(err, ErrNotFound, ErrConflict) }

// entry is a recipient's queue entry as the engine keeps it.
type entry = engine.Item[Recipient]

// Params configures a Queue.
type Params struct {
	// Clock tells the time; default the node's (Deps.Clock).
	Clock clock.Clock
	// Hostname is this MTA's name in DSNs; default smtp.hostname, else the
	// machine's host name.
	Hostname string
	// Lookups answer the strategy's functions; default from the config.
	Lookups *Lookups
	// RescueAfter is how long past due an entry must be, with no trigger
	// waiting, before the leader triggers it again. Default 1m.
	RescueAfter time.Duration
	// RescueInterval is how often the leader looks. Default 30s.
	RescueInterval time.Duration
	// SweepAge is how old a body with no queue entry must be before the
	// leader deletes it. Default 10m.
	SweepAge time.Duration
	// SweepInterval is how often the leader sweeps bodies. Default 10m.
	SweepInterval time.Duration
	// InlineBodyMax is the largest body of a one-recipient message that
	// travels in its entry rather than in the body store: such a message is
	// then queued with one write and gone with its trigger's ack. Default
	// 64 KiB; negative stores every body apart.
	InlineBodyMax int
	// Trace records each message's life (package trace). Default: one
	// the queue makes at Start, on the node's last NATS connection, and
	// flushes at Shutdown. The queue creates the traces stream either way.
	Trace *trace.Recorder
}

// DefaultInlineBodyMax is Params.InlineBodyMax's default.
const DefaultInlineBodyMax = 64 << 10

// Queue is the outbound queue of one node: a component of its own, built
// once and given to the services that use it (the SMTP intake enqueues,
// the delivery service delivers).
type Queue struct {
	life      lifecycle.Lifecycle
	p         Params
	d         node.Deps
	deliverer Deliverer
	log       *slog.Logger
	js        jetstream.JetStream
	bodies    jetstream.ObjectStore
	eng       *engine.Engine[Recipient]
	control   jetstream.KeyValue
	strategy  *Strategy
	stores    *sqlstore.Stores
	metrics   *metrics
	trace     *trace.Recorder // Params.Trace, or the queue's own
	delivered atomic.Uint64

	mu     sync.Mutex
	paused map[string]bool
	queues map[string]*vqRunner
	// notifier works NotifyConsumer; never paused.
	notifier *vqRunner

	delivery lifecycle.Lifecycle
	bg       sync.WaitGroup
}

// Name is the queue's name among a node's services.
const Name = "queue"

// New returns a Queue; Start opens it on a node.
func New(p Params) *Queue {
	if p.Lookups == nil {
		p.Lookups = &Lookups{}
	}
	if p.RescueInterval == 0 {
		p.RescueInterval = 30 * time.Second
	}
	if p.SweepAge == 0 {
		p.SweepAge = 10 * time.Minute
	}
	if p.SweepInterval == 0 {
		p.SweepInterval = 10 * time.Minute
	}
	if p.InlineBodyMax == 0 {
		p.InlineBodyMax = DefaultInlineBodyMax
	}
	return &Queue{p: p, paused: map[string]bool{}, queues: map[string]*vqRunner{}}
}

// Name implements node.Service.
func (q *Queue) Name() string { return Name }

// WithoutRoleWork implements node.WithoutRoleWork: it uses no role streams.
func (*Queue) WithoutRoleWork() {}

// Start creates the queue's assets on node n and follows its controls; a
// node that only accepts mail needs no more. Calling it again does
// nothing; a failed Start leaves nothing running.
func (q *Queue) Start(ctx context.Context, d node.Deps) error {
	return q.life.Start(ctx, func(ctx context.Context, undo *lifecycle.Undo) error {
		q.d, q.log, q.js = d, d.Logger.With("service", Name), d.JS()
		if q.p.Clock == nil {
			q.p.Clock = d.Clock
		}
		if q.p.Hostname == "" {
			q.p.Hostname = Hostname(d.Config)
		}
		return q.open(ctx, undo)
	})
}

// Shutdown stops deliveries, if they run, and the queue's watchers.
// Calling it again does nothing.
func (q *Queue) Shutdown(ctx context.Context) error {
	if err := q.StopDelivery(ctx); err != nil {
		return err
	}
	return q.life.Stop(ctx)
}

// Hostname is this MTA's name: smtp.hostname, else the machine's host name.
func Hostname(cfg *config.Config) string {
	if cfg.SMTP.Hostname != "" {
		return cfg.SMTP.Hostname
	}
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return "localhost"
}

// due is when a recipient is attempted next; held ones never.
func due(r *Recipient) (time.Time, bool) { return r.Due, !r.Held }

// route places a recipient's triggers: on its own subject below its virtual
// queue's, jetmail.queue.due.<queue>.<entry key>, its schedule on
// jetmail.queue.sched.<queue>.<entry key>.
func route(key string, r *Recipient) engine.Route {
	return engine.Route{Stream: Stream, Subject: dueSubject(r.Queue) + "." + key, Sched: schedSubject(r.Queue, key), Consumer: consumerName(r.Queue)}
}

// inline puts a new recipient in its trigger alone (package engine), on
// its own subject.
func inline(key string, r *Recipient) string { return route(key, r).Subject }

// inlinePlaces are where an inline recipient may be: its trigger below any
// virtual queue's subject, or its schedule there. Keys have two tokens.
func inlinePlaces(key string) []engine.Place {
	if key == "*" {
		key = "*.*"
	}
	return []engine.Place{{Stream: Stream, Subject: "jetmail.queue.due.*." + key}, {Stream: Stream, Subject: schedSubject("*", key)}}
}

// claimed reports a recipient that a transaction of a sibling holds.
func claimed(r *Recipient, now time.Time) bool { return r.DeliveringUntil.After(now) }

func (q *Queue) open(ctx context.Context, undo *lifecycle.Undo) error {
	cfg := q.d.Config
	var err error
	if q.p.Lookups.SQL == nil && len(cfg.Stores) > 0 {
		if q.stores, err = sqlstore.Open(cfg); err != nil {
			return err
		}
		q.p.Lookups.SQL = q.stores.Query
		undo.Add(func(context.Context) error { q.stores.Close(); return nil })
	}
	if q.strategy, err = NewStrategy(cfg, q.p.Lookups); err != nil {
		return err
	}
	q.metrics = newMetrics(q)
	if q.eng, err = engine.New(engine.Params[Recipient]{
		Bucket: BucketQueue, Description: "jetmail outbound queue: one entry per queued recipient",
		Replicas: cfg.NATS.Replicas, JetStreams: q.d.JetStreams, Route: route, Due: due, Busy: claimed,
		Clock: q.p.Clock, Logger: q.log, RescueAfter: q.p.RescueAfter, Stale: q.metrics.stale, Rescued: q.metrics.rescued,
		// A recipient due now lives in its trigger alone until it changes:
		// one write to queue it, its trigger's ack once it is delivered.
		Inline: inline, InlinePlaces: inlinePlaces,
	}); err != nil {
		return err
	}
	if err := q.eng.Open(ctx); err != nil {
		return err
	}
	if err := q.openTrace(ctx, undo); err != nil {
		return err
	}
	if q.bodies, err = q.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: BucketMessages, Description: "jetmail queued message bodies, by message id",
		Storage: jetstream.FileStorage, Replicas: cfg.NATS.Replicas,
	}); err != nil {
		return fmt.Errorf("create object store %s: %w", BucketMessages, err)
	}
	if q.control, err = q.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: BucketControl, Description: "jetmail outbound queue controls: paused virtual queues",
		History: 1, Storage: jetstream.FileStorage, Replicas: cfg.NATS.Replicas,
	}); err != nil {
		return fmt.Errorf("create KV bucket %s: %w", BucketControl, err)
	}
	s, err := q.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: Stream, Description: "jetmail outbound queue triggers: jetmail.queue.due.<virtual queue>, schedules on jetmail.queue.sched.<virtual queue>",
		Subjects: []string{"jetmail.queue.>"}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
		Replicas: cfg.NATS.Replicas, AllowMsgSchedules: true,
		// Direct gets name the subject they read in their own subject, so
		// that an intake node's NATS identity may read the anchor alone.
		AllowDirect: true,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", Stream, err)
	}
	// Each recipient due now has a subject of its own: see work.EnsureAnchor.
	if err := work.EnsureAnchor(ctx, q.js, s, AnchorSubject); err != nil {
		return err
	}
	bgCtx, cancel := context.WithCancel(context.Background())
	undo.Add(func(context.Context) error { cancel(); q.bg.Wait(); return nil })
	return kvwatch.Follow(ctx, bgCtx, q.control, "", &q.bg, q.applyControl)
}

// ensureConsumers creates each virtual queue's consumer and its counting
// consumer. Only delivery nodes do: an intake-only node's NATS identity
// may not make consumers of the queue stream (natsauth).
func (q *Queue) ensureConsumers(ctx context.Context) error {
	cfg := q.d.Config
	for name, vq := range cfg.Queue.Virtual {
		// MaxAckPending is threads-per-node times the nodes delivering the
		// queue, kept so by the leader (work.Limits): a consumer that
		// exists keeps the limit it has.
		limit := vq.ThreadsPerNode
		if c, err := q.js.Consumer(ctx, Stream, consumerName(name)); err == nil {
			limit = c.CachedInfo().Config.MaxAckPending
		}
		if _, err := q.js.CreateOrUpdateConsumer(ctx, Stream, jetstream.ConsumerConfig{
			Durable: consumerName(name), Description: fmt.Sprintf("virtual queue %s: deliveries, %d per node", name, vq.ThreadsPerNode),
			FilterSubject: dueSubject(name) + ".>", AckPolicy: jetstream.AckExplicitPolicy, AckWait: q.d.Work.AckWait,
			MaxDeliver: -1, MaxAckPending: limit, MaxWaiting: 1024, Replicas: cfg.NATS.Replicas,
		}); err != nil {
			return fmt.Errorf("create consumer for virtual queue %s: %w", name, err)
		}
		// Explicit acks and one pending at most: should anyone pull from it,
		// nothing is taken out of the queue.
		if _, err := q.js.CreateOrUpdateConsumer(ctx, Stream, jetstream.ConsumerConfig{
			Durable: schedCounterName(name), Description: fmt.Sprintf("virtual queue %s: counts its scheduled recipients (never pulled)", name),
			FilterSubject: schedSubject(name, ">"), AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 1, Replicas: cfg.NATS.Replicas,
		}); err != nil {
			return fmt.Errorf("create counting consumer for virtual queue %s: %w", name, err)
		}
	}
	limit := notifyThreads
	if c, err := q.js.Consumer(ctx, Stream, NotifyConsumer); err == nil {
		limit = c.CachedInfo().Config.MaxAckPending
	}
	if _, err := q.js.CreateOrUpdateConsumer(ctx, Stream, jetstream.ConsumerConfig{
		Durable: NotifyConsumer, Description: fmt.Sprintf("delayed DSNs of every virtual queue, paused or not: %d per node", notifyThreads),
		FilterSubject: notifyDueSubject(">"), AckPolicy: jetstream.AckExplicitPolicy, AckWait: q.d.Work.AckWait,
		MaxDeliver: -1, MaxAckPending: limit, MaxWaiting: 1024, Replicas: cfg.NATS.Replicas,
	}); err != nil {
		return fmt.Errorf("create consumer %s: %w", NotifyConsumer, err)
	}
	return nil
}

// StartDelivery starts a delivery pool per virtual queue on this node,
// threads-per-node slots each (paused queues wait for resume), delivering
// with d, and the duties of the delivery nodes: the rescuer, the body
// sweeper and the virtual queues' consumer limits. The queue must be
// started. Calling it again does nothing.
func (q *Queue) StartDelivery(ctx context.Context, d Deliverer) error {
	if !q.life.Started() {
		return errors.New("start the queue before its deliveries")
	}
	return q.delivery.Start(ctx, func(ctx context.Context, undo *lifecycle.Undo) error {
		q.deliverer = d
		if err := q.ensureConsumers(ctx); err != nil {
			return err
		}
		// In the background: moving a removed queue's entries reads the
		// whole queue, which a start should not wait for.
		retireCtx, cancelRetire := context.WithCancel(context.WithoutCancel(ctx))
		retired := make(chan struct{})
		go func() { defer close(retired); q.retireRemoved(retireCtx) }()
		undo.Add(func(context.Context) error { cancelRetire(); <-retired; return nil })
		q.d.Leader.LeaderEvery("queue rescuer", q.p.RescueInterval, func(ctx context.Context) {
			if _, err := q.eng.Rescue(ctx); err != nil && ctx.Err() == nil {
				q.log.Warn("queue rescue pass", "err", err)
			}
		})
		q.d.Leader.LeaderEvery("message body sweeper", q.p.SweepInterval, q.sweepOnce)
		limits := work.NewLimits(work.LimitsParams{
			JS: q.js, Buckets: q.d.Buckets, View: q.d.View, Logger: q.log,
			Interval: q.d.Config.Cluster.HeartbeatInterval, Stream: Stream,
		})
		q.d.Leader.LeaderDuty("queue consumer limits", limits.Run)
		undo.Add(func(ctx context.Context) error { q.stopRunners(ctx); return nil })
		cfg := q.d.Config
		names := make([]string, 0, len(cfg.Queue.Virtual))
		for name := range cfg.Queue.Virtual {
			names = append(names, name)
		}
		sort.Strings(names)
		handler := q.eng.WorkHandler(q.deliver)
		if err := q.d.Membership.SetConsumerSlots(ctx, Stream, NotifyConsumer, notifyThreads); err != nil {
			return fmt.Errorf("announce %s: %w", NotifyConsumer, err)
		}
		notifier := q.newRunner("delayed DSNs", NotifyConsumer, notifyThreads, func(ctx context.Context, job *work.Job) error {
			return q.runNotify(ctx, job.Header.Get(HeaderNotify))
		})
		q.mu.Lock()
		q.notifier = notifier
		q.mu.Unlock()
		notifier.resume()
		for _, name := range names {
			threads := cfg.Queue.Virtual[name].ThreadsPerNode
			// Announced even while paused: the limit is what this node may
			// take once the queue resumes.
			if err := q.d.Membership.SetConsumerSlots(ctx, Stream, consumerName(name), threads); err != nil {
				return fmt.Errorf("announce virtual queue %s: %w", name, err)
			}
			r := q.newRunner(name, consumerName(name), threads, func(ctx context.Context, job *work.Job) error {
				// A delayed DSN scheduled before NotifyConsumer existed
				// fires here.
				if id := job.Header.Get(HeaderNotify); id != "" {
					return q.runNotify(ctx, id)
				}
				return handler(ctx, job)
			})
			q.mu.Lock()
			q.queues[name] = r
			paused := q.paused[name]
			q.mu.Unlock()
			if !paused {
				r.resume()
			}
		}
		return nil
	})
}

// StopDelivery stops fetching and waits for in-flight deliveries until ctx
// ends; the queue still takes mail. Calling it again does nothing.
func (q *Queue) StopDelivery(ctx context.Context) error { return q.delivery.Stop(ctx) }

func (q *Queue) stopRunners(ctx context.Context) {
	q.mu.Lock()
	runners := make([]*vqRunner, 0, len(q.queues))
	for _, r := range q.queues {
		runners = append(runners, r)
	}
	q.queues = map[string]*vqRunner{}
	if q.notifier != nil {
		runners = append(runners, q.notifier)
		q.notifier = nil
	}
	q.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Add(1)
		go func() { defer wg.Done(); r.stop(ctx) }()
	}
	wg.Wait()
	for _, r := range runners {
		if err := q.d.Membership.SetConsumerSlots(ctx, Stream, r.consumer, 0); err != nil {
			q.log.Warn("withdraw consumer slots", "consumer", r.consumer, "err", err)
		}
	}
}

// vqRunner consumes one virtual queue on this node (or the delayed DSNs).
type vqRunner struct {
	q        *Queue
	name     string
	consumer string
	pool     *work.Pool
	mu       sync.Mutex
	cancel   context.CancelFunc
	done     chan struct{}
}

func (q *Queue) newRunner(name, consumer string, threads int, h work.Handler) *vqRunner {
	r := &vqRunner{q: q, name: name, consumer: consumer}
	r.pool = work.NewPool(work.PoolParams{Slots: threads, Handler: h, Label: "queue:" + name,
		Logger: q.log.With("queue", name), PollWait: q.d.Work.PollWait})
	return r
}

// resume starts fetching (again).
func (r *vqRunner) resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r.cancel, r.done = cancel, done
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cons, err := r.q.js.Consumer(ctx, Stream, r.consumer)
			if err != nil {
				r.q.log.Warn("open virtual queue consumer", "queue", r.name, "err", err)
				select {
				case <-ctx.Done():
				case <-r.q.p.Clock.After(time.Second):
				}
				continue
			}
			r.pool.Consume(ctx, cons, r.consumer, nil)
		}
	}()
	r.q.log.Info("virtual queue delivering", "queue", r.name)
}

// pause stops fetching at once and returns a channel closed when the
// fetches have run their course (nil when it was not fetching); in-flight
// deliveries finish. It takes effect before it returns, so that a resume
// after it always starts fetching again: a pause left to a goroutine could
// run after the resume that followed it and leave the queue paused.
func (r *vqRunner) pause() <-chan struct{} {
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.cancel = nil
	r.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	return done
}

func (r *vqRunner) stop(ctx context.Context) {
	if done := r.pause(); done != nil {
		<-done
	}
	done := make(chan struct{})
	go func() { r.pool.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		r.pool.Cancel()
		<-done
	}
}

func (q *Queue) applyControl(e jetstream.KeyValueEntry) {
	name, ok := isPausedKey(e.Key())
	if !ok {
		return
	}
	paused := e.Operation() == jetstream.KeyValuePut
	q.mu.Lock()
	q.paused[name] = paused
	r := q.queues[name]
	q.mu.Unlock()
	if r == nil {
		return
	}
	if !paused {
		r.resume()
		return
	}
	if done := r.pause(); done != nil {
		go func() { <-done; q.log.Info("virtual queue paused", "queue", name) }()
	}
}

// Pause stops deliveries from a virtual queue on every node.
func (q *Queue) Pause(ctx context.Context, vq string) error {
	if _, ok := q.d.Config.Queue.Virtual[vq]; !ok {
		return fmt.Errorf("no virtual queue %q", vq)
	}
	_, err := q.control.Put(ctx, pausedKey(vq), []byte(q.d.NodeID))
	return err
}

// Resume restarts deliveries from a paused virtual queue.
func (q *Queue) Resume(ctx context.Context, vq string) error {
	if _, ok := q.d.Config.Queue.Virtual[vq]; !ok {
		return fmt.Errorf("no virtual queue %q", vq)
	}
	return q.control.Delete(ctx, pausedKey(vq))
}

// Paused lists the paused virtual queues.
func (q *Queue) Paused() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []string
	for name, p := range q.paused {
		if p {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
