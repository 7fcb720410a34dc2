package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/lifecycle"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/push"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/work"
)

// Name is the service's name for `jetmail serve`.
const Name = "push"

// Role is the role whose work the service does.
const Role = push.Role

// FeedConsumer is the durable consumer of the change log that the feed
// reads with.
const FeedConsumer = "push-notifications-feed"

// feedDuty is the cluster duty of the feed.
const feedDuty = "push-notifications feed"

// Params tune the service. Zero fields take the defaults noted.
type Params struct {
	// Clock tells expiries. Default the node's.
	Clock clock.Clock
	// Client sends the POSTs. Default one that follows no redirect.
	Client *http.Client
	// RetryBase is the wait before the first retry of a failed POST,
	// doubling with each attempt up to RetryMax. Default 1s.
	RetryBase time.Duration
	// RetryMax caps the wait between retries. Default 5m.
	RetryMax time.Duration
}

// Service is the push service.
type Service struct {
	life   lifecycle.Lifecycle
	p      Params
	cfg    config.Push
	storeC *store.Component

	d      node.Deps
	log    *slog.Logger
	clock  clock.Clock
	reg    *push.Registry
	sender *push.Sender
	worker *work.Worker
	wg     sync.WaitGroup
	m      metrics
}

// New returns the service; it reads the store sc (opened whole: the
// account credentials the API checks, and the change log).
func New(cfg *config.Config, sc *store.Component, p Params) *Service {
	if p.RetryBase <= 0 {
		p.RetryBase = time.Second
	}
	if p.RetryMax <= 0 {
		p.RetryMax = 5 * time.Minute
	}
	return &Service{p: p, cfg: cfg.Push, storeC: sc}
}

// Name implements node.Service.
func (s *Service) Name() string { return Name }

type metrics struct {
	posts    *prometheus.CounterVec
	disabled prometheus.Counter
	lag      prometheus.Histogram
}

// Start implements node.Service: the subscriptions (and their API), the
// worker of push-notifications and the feed duty.
func (s *Service) Start(ctx context.Context, d node.Deps) error {
	return s.life.Start(ctx, func(ctx context.Context, undo *lifecycle.Undo) error {
		s.d, s.log, s.clock = d, d.Logger.With("service", Name), s.p.Clock
		if s.clock == nil {
			s.clock = d.Clock
		}
		st := s.storeC.Store()
		if st == nil {
			return errors.New("push: the store is not open")
		}
		s.m = metrics{
			posts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetmail_push_posts_total",
				Help: "POSTs to push subscriptions, by what they carried (state, alert, verification is not counted) and result (ok, failed)."},
				[]string{"kind", "result"}),
			disabled: prometheus.NewCounter(prometheus.CounterOpts{Name: "jetmail_push_subscriptions_disabled_total",
				Help: "Push subscriptions disabled after push.max-failures POSTs failed in a row."}),
			lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "jetmail_push_lag_seconds",
				Help:    "From a batch of changes entering the push work stream to its push being answered.",
				Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}),
		}
		for _, c := range []prometheus.Collector{s.m.posts, s.m.disabled, s.m.lag} {
			if err := d.Metrics.Register(c); err != nil {
				return fmt.Errorf("push: metrics: %w", err)
			}
		}
		var err error
		if s.reg, err = push.Open(ctx, d.JS(), d.Config.NATS.Replicas); err != nil {
			return fmt.Errorf("push: %w", err)
		}
		bg, cancel := context.WithCancel(context.Background())
		undo.Add(func(context.Context) error { cancel(); s.wg.Wait(); return nil })
		if err := s.reg.Follow(ctx, bg, &s.wg); err != nil {
			return fmt.Errorf("push: %w", err)
		}
		s.sender = &push.Sender{Client: s.p.Client, Timeout: s.cfg.Timeout}
		push.RegisterAPI(d.API, push.APIParams{Registry: s.reg, Sender: s.sender, Clock: s.clock,
			Account: func(ctx context.Context, id string) error { _, err := st.Account(ctx, id); return err }})
		if s.worker, err = d.Workers.RunWorker(ctx, Role, s.cfg.Concurrency, s.deliver); err != nil {
			return fmt.Errorf("push: %w", err)
		}
		undo.Add(s.worker.Shutdown)
		d.Leader.LeaderDuty(feedDuty, s.follow)
		return nil
	})
}

// Shutdown implements node.Service: pushes in flight finish first.
func (s *Service) Shutdown(ctx context.Context) error { return s.life.Stop(ctx) }
