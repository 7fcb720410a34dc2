package taskmanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/engine"
	"github.com/jetmail/jetmail/shared/kvwatch"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/shard"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/work"
)

// Buckets of the task manager.
const (
	BucketTasks    = "jetmail-tasks"
	BucketSettings = "jetmail-settings"
	settingsKey    = "task-manager"
)

// HeaderPeriodic names the periodic schedule that fired a trigger.
const HeaderPeriodic = "Jetmail-Periodic"

// Errors callers branch on.
var (
	ErrNotFound = errors.New("task not found")
	// ErrConflict means the task changed while the request was applied.
	ErrConflict = errors.New("task changed meanwhile; try again")
	// ErrNotRunnable is returned when rescheduling a Failed task.
	ErrNotRunnable = errors.New("a Failed task has no due time: retry it instead")
)

func taskErr(err error) error { return engine.DomainErr(err, ErrNotFound, ErrConflict) }

// Params configures a Manager.
type Params struct {
	// Deps are the node's: connections, cluster view, workers, leader
	// duties, metrics. Required.
	Deps node.Deps
	// Handlers are the task variants this node runs; the composition root
	// shares one registry between the scheduler and the services that
	// handle tasks. Default an empty registry (see Manager.Handle).
	Handlers *task.Handlers
	// Clock tells the time; default Deps.Clock.
	Clock clock.Clock
	// Rand returns numbers in [0, 1) for retry jitter; default math/rand.
	Rand func() float64
	// RescueAfter is how long past due a task must be, with no trigger
	// waiting, before the rescuer triggers it again. Default 1m.
	RescueAfter time.Duration
	// RescueInterval is how often the rescuer looks. Default 30s.
	RescueInterval time.Duration
	// Roles are the roles whose triggers this manager runs on its node.
	// Default every role. A role that has a service of its own (the
	// indexer runs fts-indexing) is run by that service's manager, and
	// left out of the scheduler's.
	Roles []roles.Role
	// RunOnly makes the manager a runner of its Roles' triggers only: it
	// installs no periodic schedules and does not rescue, which the
	// scheduler service's manager does. Default false.
	RunOnly bool
	// Concurrency is how many tasks of each of its roles the manager runs
	// at once on its node. Default task.concurrency.
	Concurrency int
	// FireEarly is how long before its due time a scheduled task's trigger
	// fires; the run waits, holding its slot, until the due time (see
	// engine.Params.FireEarly). The server's schedules fire some 400 ms
	// late under a burst, which this hides. Default 1s; negative: fire on
	// time.
	FireEarly time.Duration
	// Jobs handle the role work of its Roles that is not a task: an item
	// whose work.HeaderJob header names one of them (a service's periodic
	// job, work.FamilyJobs). An item naming no job here is dropped.
	// Default none.
	Jobs map[string]work.Handler
}

// Manager is the task manager of one node.
type Manager struct {
	p       Params
	d       node.Deps
	log     *slog.Logger
	js      jetstream.JetStream
	eng     *engine.Engine[task.Task]
	setKV   jetstream.KeyValue
	metrics *metrics

	mu       sync.RWMutex
	settings task.Settings

	// views caches the cluster view per role (roles.Role -> *roleSnapshot).
	views sync.Map

	workers []*work.Worker
	cancel  context.CancelFunc
	bg      sync.WaitGroup
}

// New returns a Manager for node n; Start runs it.
func New(p Params) *Manager {
	if p.Clock == nil {
		p.Clock = p.Deps.Clock
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	if p.RescueInterval == 0 {
		p.RescueInterval = 30 * time.Second
	}
	if p.FireEarly == 0 {
		p.FireEarly = time.Second
	}
	if p.Handlers == nil {
		p.Handlers = task.NewHandlers()
	}
	if p.Roles == nil {
		p.Roles = roles.All
	}
	return &Manager{p: p, d: p.Deps, log: p.Deps.Logger.With("service", "scheduler"), js: p.Deps.JS(), settings: task.DefaultSettings}
}

// Start opens the buckets, loads the settings, installs the periodic
// schedules and starts consuming every role's triggers on this node.
func (m *Manager) Start(ctx context.Context) error {
	cfg := m.d.Config
	m.metrics = newMetrics(m)
	var err error
	if m.eng, err = engine.New(engine.Params[task.Task]{
		Bucket: BucketTasks, Description: "jetmail tasks: one key per pending, retrying or failed task",
		Replicas: cfg.NATS.Replicas, JetStreams: m.d.JetStreams, Route: m.route, Due: due,
		Encode: func(t *task.Task) ([]byte, error) { return t.Encode() }, Decode: task.Decode,
		Clock: m.p.Clock, Logger: m.log, RescueAfter: m.p.RescueAfter, FireEarly: max(m.p.FireEarly, 0),
		Stale: m.metrics.stale, Rescued: m.metrics.rescued,
		// A task due now lives in its trigger alone until it changes: one
		// write to create it, its trigger's ack to complete it.
		Inline:       m.inlineSubject,
		InlinePlaces: inlinePlaces,
	}); err != nil {
		return err
	}
	if err := m.eng.Open(ctx); err != nil {
		return err
	}
	if m.setKV, err = m.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: BucketSettings, Description: "jetmail run-time settings (the TaskManager singleton)",
		History: 5, Storage: jetstream.FileStorage, Replicas: cfg.NATS.Replicas,
	}); err != nil {
		return fmt.Errorf("create KV bucket %s: %w", BucketSettings, err)
	}
	bgCtx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	if err := m.watchSettings(ctx, bgCtx); err != nil {
		return err
	}
	if !m.p.RunOnly {
		if err := m.installPeriodic(ctx); err != nil {
			return err
		}
	}
	run := m.eng.WorkHandler(m.runTask)
	for _, r := range m.p.Roles {
		slots := m.p.Concurrency
		if slots == 0 {
			slots = cfg.Task.Concurrency
		}
		w, err := m.d.Workers.RunWorker(ctx, r, slots, func(ctx context.Context, job *work.Job) error {
			if name := job.Header.Get(HeaderPeriodic); name != "" {
				return m.runPeriodic(ctx, job, name)
			}
			if name := job.Header.Get(work.HeaderJob); name != "" {
				h, ok := m.p.Jobs[name]
				if !ok {
					return work.Permanent(fmt.Errorf("no handler for job %q of %s on this node", name, job.Role))
				}
				return h(ctx, job)
			}
			return run(ctx, job)
		})
		if err != nil {
			return err
		}
		m.workers = append(m.workers, w)
	}
	if !m.p.RunOnly {
		m.d.Leader.LeaderEvery("task rescuer", m.p.RescueInterval, func(ctx context.Context) {
			if _, err := m.eng.Rescue(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("task rescue pass", "err", err)
			}
		})
	}
	return nil
}

// due is when a task runs next: Pending and Retry tasks at their due time;
// Failed tasks never.
func due(t *task.Task) (time.Time, bool) { return t.Status.Due, t.Status.Runnable() }

// route places a task's triggers: on its own subject below the partition of
// its shard key in its role's work stream, jetmail.work.<role>.p.<n>.<task
// id> (so that the rescuer can tell whether it has one waiting), its
// schedule on jetmail.work.<role>.sched.<task id>.
func (m *Manager) route(id string, t *task.Task) engine.Route {
	role, part, key := m.place(id, t)
	r := engine.Route{Stream: work.StreamName(role), Subject: work.Subject(role, part) + "." + id,
		Sched: work.SubjectPrefix(role) + "sched." + id, Header: nats.Header{work.HeaderKey: []string{key}}}
	if rm, layout := m.roleView(role); layout.Fits(rm) {
		r.Consumer = work.ConsumerName(role, shard.Owner(part, layout.Shards), layout.Epoch)
	}
	return r
}

// place is a task's role, partition and shard key.
func (m *Manager) place(id string, t *task.Task) (roles.Role, int, string) {
	it := work.Item{Key: task.ShardKey(t.Payload, id)}
	switch p := t.Payload.(type) {
	case *task.StoreMaintenanceTask:
		if p.ShardIndex != nil {
			it.Partition = p.ShardIndex // partition i belongs to shard i
		}
	case *task.AccountMaintenanceTask:
		if p.AccountID == task.EveryAccount {
			it.Partition = p.Partition // with the accounts it works on
		}
	}
	return task.RoleOf(t.Variant()), m.d.Publisher.PartitionOf(it), it.Key
}

// inlineSubject is the subject of an inline task's trigger: its own, below
// its partition's.
func (m *Manager) inlineSubject(id string, t *task.Task) string {
	role, part, _ := m.place(id, t)
	return work.Subject(role, part) + "." + id
}

// roleSnapshot is the cluster view of one role as last read, valid until
// changed is closed.
type roleSnapshot struct {
	rm      cluster.RoleMap
	layout  *cluster.Layout
	changed <-chan struct{}
}

// roleView is role r's map and layout. It keeps the last answer of the
// cluster view per role until the view changes: every trigger published
// asks, and the view answers under one lock for all.
func (m *Manager) roleView(r roles.Role) (cluster.RoleMap, *cluster.Layout) {
	if v, ok := m.views.Load(r); ok {
		snap := v.(*roleSnapshot)
		select {
		case <-snap.changed:
		default:
			return snap.rm, snap.layout
		}
	}
	rm, layout, changed := m.d.View.Role(r)
	m.views.Store(r, &roleSnapshot{rm: rm, layout: layout, changed: changed})
	return rm, layout
}

// inlinePlaces are where an inline task's trigger may be: below any
// partition of any role's work stream, or its schedule there.
func inlinePlaces(id string) []engine.Place {
	out := make([]engine.Place, 0, 2*len(roles.All))
	for _, r := range roles.All {
		out = append(out, engine.Place{Stream: work.StreamName(r), Subject: work.SubjectPrefix(r) + "p.*." + id},
			engine.Place{Stream: work.StreamName(r), Subject: work.SubjectPrefix(r) + "sched." + id})
	}
	return out
}

// Shutdown stops the workers (in-flight tasks finish or are cancelled when
// ctx ends) and the watchers.
func (m *Manager) Shutdown(ctx context.Context) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, w := range m.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Shutdown(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if m.cancel != nil {
		m.cancel()
	}
	m.bg.Wait()
	return errors.Join(errs...)
}

// Handle registers the handler of a task variant on this node.
func (m *Manager) Handle(v task.Variant, h task.Handler) { m.p.Handlers.Handle(v, h) }

// Settings returns the TaskManager settings in force.
func (m *Manager) Settings() task.Settings {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.settings
}

// UpdateSettings applies a JMAP patch to the settings and stores them. It
// returns the property errors of an invalid patch, with nothing written.
func (m *Manager) UpdateSettings(ctx context.Context, patch json.RawMessage) (task.Settings, []task.PropertyError, error) {
	for attempt := 0; attempt < 5; attempt++ {
		cur, rev := task.DefaultSettings, uint64(0)
		if e, err := m.setKV.Get(ctx, settingsKey); err == nil {
			if err := json.Unmarshal(e.Value(), &cur); err != nil {
				return cur, nil, err
			}
			rev = e.Revision()
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return cur, nil, fmt.Errorf("read task manager settings: %w", err)
		}
		next, perrs := task.ApplySettings(cur, patch)
		if len(perrs) > 0 {
			return cur, perrs, nil
		}
		data, _ := json.Marshal(next)
		if rev == 0 {
			_, err := m.setKV.Create(ctx, settingsKey, data)
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue
			}
			if err != nil {
				return cur, nil, fmt.Errorf("store task manager settings: %w", err)
			}
		} else if _, err := m.setKV.Update(ctx, settingsKey, data, rev); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue // changed meanwhile: apply the patch to the new value
			}
			return cur, nil, fmt.Errorf("store task manager settings: %w", err)
		}
		m.mu.Lock()
		m.settings = next
		m.mu.Unlock()
		m.log.Info("task manager settings changed", "maxAttempts", next.MaxAttempts, "strategy", next.Strategy.Type, "totalDeadline", next.TotalDeadline)
		return next, nil, nil
	}
	return task.Settings{}, nil, ErrConflict
}

// watchSettings loads the settings and follows their changes.
func (m *Manager) watchSettings(ctx, bgCtx context.Context) error {
	return kvwatch.Follow(ctx, bgCtx, m.setKV, settingsKey, &m.bg, func(e jetstream.KeyValueEntry) {
		s := task.DefaultSettings
		if e.Operation() == jetstream.KeyValuePut {
			if err := json.Unmarshal(e.Value(), &s); err != nil {
				m.log.Error("ignoring bad task manager settings", "err", err)
				return
			}
		}
		m.mu.Lock()
		m.settings = s
		m.mu.Unlock()
	})
}

// StartRunner starts a service's own task runner on node d: a Manager
// with RunOnly that runs the tasks of roles rs with handlers (added to
// p.Handlers, a new registry when nil), as the indexer and the maintenance
// service do for their roles. Shut it down with Shutdown.
func StartRunner(ctx context.Context, p Params, d node.Deps, rs []roles.Role, handlers map[task.Variant]task.Handler) (*Manager, error) {
	p.Deps, p.Roles, p.RunOnly = d, rs, true
	if p.Handlers == nil {
		p.Handlers = task.NewHandlers()
	}
	for v, h := range handlers {
		p.Handlers.Handle(v, h)
	}
	m := New(p)
	if err := m.Start(ctx); err != nil {
		return nil, err
	}
	return m, nil
}
