package taskmanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/kvwatch"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/work"
)

// Buckets of the task manager.
const (
	BucketTasks    = "jetmail-tasks"
	BucketSettings = "jetmail-settings"
	settingsKey    = "task-manager"
)

// Errors callers branch on.
var (
	ErrNotFound = errors.New("task not found")
	// ErrConflict means the task changed while the request was applied.
	ErrConflict = errors.New("task changed meanwhile; try again")
)

// Params configures a Manager.
type Params struct {
	Node *node.Node
	// Clock tells the time; default the system clock.
	Clock clock.Clock
	// Rand returns numbers in [0, 1) for retry jitter; default math/rand.
	Rand func() float64
	// RescueAfter is how long past due a task must be, with its shard idle,
	// before the rescuer triggers it again. Default 1m.
	RescueAfter time.Duration
	// RescueInterval is how often the rescuer looks. Default 30s.
	RescueInterval time.Duration
}

// Manager is the task manager of one node.
type Manager struct {
	p     Params
	n     *node.Node
	log   *slog.Logger
	js    jetstream.JetStream
	tasks jetstream.KeyValue
	// kvs are handles to jetmail-tasks on each of the node's connections.
	kvs     []jetstream.KeyValue
	next    atomic.Uint64
	setKV   jetstream.KeyValue
	metrics *metrics
	index   *index

	mu       sync.RWMutex
	settings task.Settings

	streams sync.Map // roles.Role -> jetstream.Stream
	workers []*work.Worker
	cancel  context.CancelFunc
	bg      sync.WaitGroup
}

// New returns a Manager for node n; Start runs it.
func New(p Params) *Manager {
	if p.Clock == nil {
		p.Clock = clock.Real
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	if p.RescueAfter == 0 {
		p.RescueAfter = time.Minute
	}
	if p.RescueInterval == 0 {
		p.RescueInterval = 30 * time.Second
	}
	return &Manager{p: p, n: p.Node, log: p.Node.Logger.With("service", "scheduler"), js: p.Node.JS, settings: task.DefaultSettings}
}

// Start opens the buckets, loads the settings, installs the periodic
// schedules and starts consuming every role's triggers on this node.
func (m *Manager) Start(ctx context.Context) error {
	cfg := m.n.Config
	var err error
	if m.tasks, err = m.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: BucketTasks, Description: "jetmail tasks: one key per pending, retrying or failed task",
		History: 1, Storage: jetstream.FileStorage, Replicas: cfg.NATS.Replicas,
		// Lets the markers left by completed tasks expire (see markerTTL).
		LimitMarkerTTL: markerTTL,
	}); err != nil {
		return fmt.Errorf("create KV bucket %s: %w", BucketTasks, err)
	}
	if m.setKV, err = m.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: BucketSettings, Description: "jetmail run-time settings (the TaskManager singleton)",
		History: 5, Storage: jetstream.FileStorage, Replicas: cfg.NATS.Replicas,
	}); err != nil {
		return fmt.Errorf("create KV bucket %s: %w", BucketSettings, err)
	}
	for _, js := range m.n.JetStreams() {
		kv, err := js.KeyValue(ctx, BucketTasks)
		if err != nil {
			return fmt.Errorf("open KV bucket %s: %w", BucketTasks, err)
		}
		m.kvs = append(m.kvs, kv)
	}
	m.metrics = newMetrics(m)
	bgCtx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	if err := m.watchSettings(ctx, bgCtx); err != nil {
		return err
	}
	m.index = newIndex(m.log)
	if err := m.index.start(ctx, bgCtx, m.tasks, &m.bg); err != nil {
		return err
	}
	if err := m.installPeriodic(ctx); err != nil {
		return err
	}
	for _, r := range roles.All {
		w, err := m.n.RunWorker(ctx, r, cfg.Task.Concurrency, m.runTrigger)
		if err != nil {
			return err
		}
		m.workers = append(m.workers, w)
	}
	m.n.LeaderEvery("task rescuer", m.p.RescueInterval, m.rescueOnce)
	return nil
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

// kv returns a handle to jetmail-tasks, on the node's connections in turn.
func (m *Manager) kv() jetstream.KeyValue { return m.kvs[m.next.Add(1)%uint64(len(m.kvs))] }

func (m *Manager) stream(ctx context.Context, r roles.Role) (jetstream.Stream, error) {
	if s, ok := m.streams.Load(r); ok {
		return s.(jetstream.Stream), nil
	}
	s, err := m.js.Stream(ctx, work.StreamName(r))
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", work.StreamName(r), err)
	}
	m.streams.Store(r, s)
	return s, nil
}
