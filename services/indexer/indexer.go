package indexer

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/lifecycle"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/search"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
	"github.com/jetmail/jetmail/shared/trace"
)

// Name is the service's name for `jetmail serve`.
const Name = "indexer"

// Role is the role whose work the indexer does.
const Role = roles.FtsIndexing

// Params tune the service. Zero fields take the defaults.
type Params struct {
	// Dir holds one index directory per partition. Default
	// storage.index-dir (<data-dir>/index).
	Dir string
	// HoldInterval is how often the node works out which partitions it
	// holds. Default cluster.heartbeat-interval.
	HoldInterval time.Duration
	// BatchWait is how long a partition's batch waits for more entries
	// after its first. Default 250ms.
	BatchWait time.Duration
	// FeedWait is how long the feed waits for more changes before it
	// turns what it has into tasks. Default 50ms.
	FeedWait time.Duration
	// CheckpointInterval is how often the feed works out up to which
	// change every index task is done, and gives the partitions that
	// checkpoint (see watermark). Default 30s.
	CheckpointInterval time.Duration
	// Concurrency is how many index tasks the node runs at once. A task
	// mostly waits for its batch's commit, so this bounds how many
	// entries a batch can gather: with C slots over the P partitions a
	// node holds, a batch holds at most about C/P. Default 1024.
	Concurrency int
	// Tasks tune the service's task runner (Node is filled in by Start).
	Tasks taskmanager.Params
}

// Service is the indexer service.
type Service struct {
	life   lifecycle.Lifecycle
	p      Params
	storeC *store.Component

	d      node.Deps
	log    *slog.Logger
	st     *store.Store
	mgr    *taskmanager.Manager
	client search.Client
	m      *metrics

	// holdMu orders the gains and losses of partitions (the holdings
	// loop, a rebuild).
	holdMu   sync.Mutex
	mu       sync.Mutex
	held     map[int]*partition
	batchers map[int]*batcher

	// ctx ends at shutdown, after the task runner has stopped: the
	// batchers and the holdings loop run in it.
	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup
}

// New returns the service; it reads and indexes the documents of sc, the
// node's store (opened whole).
func New(_ *config.Config, sc *store.Component, p Params) *Service {
	return &Service{p: p, storeC: sc, held: map[int]*partition{}, batchers: map[int]*batcher{}}
}

// Name implements node.Service.
func (s *Service) Name() string { return Name }

// Start implements node.Service: it starts the task runner of role
// fts-indexing, the feed duty and the holdings loop.
func (s *Service) Start(ctx context.Context, d node.Deps) error {
	return s.life.Start(ctx, func(ctx context.Context, undo *lifecycle.Undo) error {
		s.d, s.log = d, d.Logger.With("service", Name)
		s.st = s.storeC.Store()
		if s.st == nil {
			return fmt.Errorf("indexer: the store is not open")
		}
		if s.p.Dir == "" {
			s.p.Dir = d.Config.Storage.IndexPath()
		}
		if s.p.HoldInterval == 0 {
			s.p.HoldInterval = d.Config.Cluster.HeartbeatInterval
		}
		if s.p.BatchWait == 0 {
			s.p.BatchWait = 250 * time.Millisecond
		}
		if s.p.FeedWait == 0 {
			s.p.FeedWait = 50 * time.Millisecond
		}
		if s.p.CheckpointInterval == 0 {
			s.p.CheckpointInterval = 30 * time.Second
		}
		s.client = search.Client{Conn: d.Conn}
		s.m = newMetrics(d.Metrics)
		// The queue creates the traces stream too; the indexer does so that
		// trace searches work before a first message.
		if err := trace.EnsureStream(ctx, d.JS(), s.traceRetention(), d.Config.NATS.Replicas); err != nil {
			return err
		}
		registerTraceAPI(d.API, s)

		bg, cancel := context.WithCancel(context.Background())
		s.ctx, s.cancel = bg, cancel
		undo.Add(func(ctx context.Context) error {
			cancel()
			s.bg.Wait()
			s.releaseAll()
			return nil
		})

		if s.p.Concurrency == 0 {
			s.p.Concurrency = 1024
		}
		tp := s.p.Tasks
		tp.Concurrency = s.p.Concurrency
		var err error
		if s.mgr, err = taskmanager.StartRunner(ctx, tp, d, []roles.Role{Role}, map[task.Variant]task.Handler{
			task.IndexDocument: s.indexDocument, task.UnindexDocument: s.indexDocument, task.IndexTrace: s.indexTrace,
		}); err != nil {
			return err
		}
		undo.Add(s.mgr.Shutdown)

		s.bg.Add(1)
		go func() { defer s.bg.Done(); s.holdLoop(bg) }()
		d.Leader.LeaderDuty("fts-indexing feed", s.feed)
		return nil
	})
}

// Shutdown implements node.Service: in-flight tasks finish, then the
// indexes are closed.
func (s *Service) Shutdown(ctx context.Context) error { return s.life.Stop(ctx) }

// Manager is the service's task runner; nil before Start.
func (s *Service) Manager() *taskmanager.Manager { return s.mgr }
