package reports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetmail/jetmail/shared/aggreport"
	"github.com/jetmail/jetmail/shared/clusterstats"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/lifecycle"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
	"github.com/jetmail/jetmail/shared/work"
)

// Name is the service's name for `jetmail serve`.
const Name = "reports"

// Roles are the roles whose work the service does.
var Roles = []roles.Role{roles.MetricsCalculate, roles.MetricsPush}

// Job names (work.HeaderJob) of the service's periodic work.
const (
	JobCalculate = "metrics.calculate"
	JobPush      = "metrics.push"
)

// Params tune the service. Zero fields take the defaults noted.
type Params struct {
	// Tasks tune the task runner of metrics.push (the report tasks).
	Tasks taskmanager.Params
	// Client sends the pushes. Default http.DefaultClient's transport
	// with metrics.push.timeout.
	Client *http.Client
	// RetryBase is the wait before a failed push is retried, doubling up
	// to a minute. Default 1s.
	RetryBase time.Duration
}

// Service is the reports service.
type Service struct {
	life   lifecycle.Lifecycle
	p      Params
	cfg    *config.Config
	storeC *store.Component
	statsC *clusterstats.Component
	queue  *mailqueue.Queue

	d     node.Deps
	log   *slog.Logger
	st    *store.Store
	stats *clusterstats.Stats
	mgr   *taskmanager.Manager
	// reportKV is jetmail-reports (aggreport.Bucket).
	reportKV jetstream.KeyValue
	worker   *work.Worker
	pushes   *prometheus.CounterVec
}

// New returns the service: it counts the queue q and the accounts of the
// store sc, and keeps the figures in sc's cluster stats (all started
// before it).
func New(cfg *config.Config, sc *store.Component, stats *clusterstats.Component, q *mailqueue.Queue, p Params) *Service {
	if p.RetryBase <= 0 {
		p.RetryBase = time.Second
	}
	if p.Client == nil {
		p.Client = &http.Client{Timeout: cfg.Metrics.PushTimeout}
	}
	return &Service{p: p, cfg: cfg, storeC: sc, statsC: stats, queue: q}
}

// Name implements node.Service.
func (s *Service) Name() string { return Name }

// Start implements node.Service: the calculation worker, the task runner
// of metrics.push with the push job, and the schedules of both.
func (s *Service) Start(ctx context.Context, d node.Deps) error {
	return s.life.Start(ctx, func(ctx context.Context, undo *lifecycle.Undo) error {
		s.d, s.log = d, d.Logger.With("service", Name)
		if s.st = s.storeC.Store(); s.st == nil {
			return errors.New("reports: the store is not open")
		}
		if s.stats = s.statsC.Stats(); s.stats == nil {
			return errors.New("reports: the cluster stats are not open")
		}
		s.pushes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetmail_metrics_pushes_total",
			Help: "Pushes of the cluster figures to metrics.push.url by this node, by result (ok, failed)."}, []string{"result"})
		if err := d.Metrics.Register(s.pushes); err != nil {
			return fmt.Errorf("reports: metrics: %w", err)
		}
		var err error
		if s.worker, err = d.Workers.RunWorker(ctx, roles.MetricsCalculate, len(groups), s.calculate); err != nil {
			return fmt.Errorf("reports: %w", err)
		}
		undo.Add(s.worker.Shutdown)
		if _, err := aggreport.Open(ctx, d.JS(), d.Config.NATS.Replicas, s.log); err != nil {
			return fmt.Errorf("reports: %w", err)
		}
		if s.reportKV, err = store.ConsistentKV(ctx, d.JS(), jetstream.KeyValueConfig{Bucket: aggreport.Bucket,
			Description: "jetmail aggregate reports: report.<id> to send, sent.<id>, cursor.<kind>",
			TTL:         aggreport.MaxAge + 24*time.Hour, Storage: jetstream.FileStorage, Replicas: max(d.Config.NATS.Replicas, 1)}); err != nil {
			return fmt.Errorf("reports: %w", err)
		}
		tp := s.p.Tasks
		tp.Jobs = map[string]work.Handler{JobPush: s.push, JobClose: s.closeWindows}
		if s.mgr, err = taskmanager.StartRunner(ctx, tp, d, []roles.Role{roles.MetricsPush}, map[task.Variant]task.Handler{
			task.DmarcReport: s.sendReport, task.TlsReport: s.sendReport,
		}); err != nil {
			return fmt.Errorf("reports: %w", err)
		}
		undo.Add(s.mgr.Shutdown)
		return s.installSchedules(ctx)
	})
}

// Shutdown implements node.Service: computations and pushes in flight
// finish first.
func (s *Service) Shutdown(ctx context.Context) error { return s.life.Stop(ctx) }

// installSchedules makes the server fire one calculation per group every
// metrics.calculate.interval, and one push every metrics.push.interval
// when metrics.push.url is set (and none when it is not).
func (s *Service) installSchedules(ctx context.Context) error {
	interval := s.cfg.Metrics.CalculateInterval
	now := s.d.Clock.Now()
	for _, g := range groups {
		item := work.Item{Key: "group:" + g.name, Data: []byte(g.name), Header: nats.Header{work.HeaderJob: []string{JobCalculate}}}
		if _, err := s.d.Publisher.InstallSchedule(ctx, work.Schedule{Role: roles.MetricsCalculate, Family: work.FamilyJobs, Name: g.name,
			Pattern: "@every " + interval.String(), Item: item}); err != nil {
			return fmt.Errorf("reports: metrics.calculate.interval: %w", err)
		}
		// A group not computed within the interval (a new cluster) is
		// computed now, not at the first firing; nodes starting together
		// ask once (the message id is the interval's).
		if last, ok := s.stats.Group(g.name); !ok || now.Sub(last.At) > interval {
			item.MsgID = fmt.Sprintf("metrics.calculate:%s:%d", g.name, now.UnixNano()/int64(interval))
			if err := s.d.Publisher.Submit(ctx, roles.MetricsCalculate, item); err != nil {
				return fmt.Errorf("reports: %w", err)
			}
		}
	}
	if _, err := s.d.Publisher.InstallSchedule(ctx, work.Schedule{Role: roles.MetricsPush, Family: work.FamilyJobs, Name: "report-close",
		Pattern: "@every " + closeEvery(s.cfg.Report.Window).String(), Item: work.Item{Key: "report-close", Header: nats.Header{work.HeaderJob: []string{JobClose}}}}); err != nil {
		return fmt.Errorf("reports: report.window: %w", err)
	}
	if s.cfg.Metrics.PushURL == "" {
		return s.d.Publisher.RemoveSchedule(ctx, roles.MetricsPush, work.ScheduleSubject(roles.MetricsPush, work.FamilyJobs, "push"))
	}
	_, err := s.d.Publisher.InstallSchedule(ctx, work.Schedule{Role: roles.MetricsPush, Family: work.FamilyJobs, Name: "push",
		Pattern: "@every " + s.cfg.Metrics.PushInterval.String(), Item: work.Item{Key: "push", Header: nats.Header{work.HeaderJob: []string{JobPush}}}})
	if err != nil {
		return fmt.Errorf("reports: metrics.push.interval: %w", err)
	}
	return nil
}

// Stats are the cluster figures the service keeps; nil before Start.
func (s *Service) Stats() *clusterstats.Stats { return s.stats }

// Manager is the task runner of metrics.push; nil before Start.
func (s *Service) Manager() *taskmanager.Manager { return s.mgr }
