package calendar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/lifecycle"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// Name is the service's name for `jetmail serve`.
const Name = "calendar"

// Role is the role of the alarm tasks the service runs.
const Role = roles.CalendarAlerts

// RoleItip is the role of the iTIP tasks the service runs
// (CalendarItipMessage).
const RoleItip = roles.ImipProcessing

// BucketAlarms holds, per calendar event, the pending task of each of its
// alarms.
const BucketAlarms = "jetmail-calendar-alarms"

// FeedConsumer is the durable consumer of the change log that the feed
// reads calendar changes with.
const FeedConsumer = "calendar-alerts-feed"

// Params tune the service. Zero fields take the defaults.
type Params struct {
	// Tasks tune the service's task runner (Concurrency defaults to
	// task.concurrency).
	Tasks taskmanager.Params
	// Queue is the node's outbound queue (started before the service),
	// which alarm emails go through. Required.
	Queue *mailqueue.Queue
	// Clock tells the service the time: which trigger of an alarm is
	// next. Default the node's.
	Clock clock.Clock
	// FeedWait is how long the feed waits for more changes before it
	// works on those it has. Default 200ms.
	FeedWait time.Duration
}

// Service is the calendar service.
type Service struct {
	life   lifecycle.Lifecycle
	p      Params
	cfg    *config.Config
	storeC *store.Component

	d      node.Deps
	clock  clock.Clock
	log    *slog.Logger
	st     *store.Store
	alarms jetstream.KeyValue
	itip   jetstream.KeyValue
	mgr    *taskmanager.Manager
}

// New returns the service; it reads the store sc (opened whole).
func New(cfg *config.Config, sc *store.Component, p Params) *Service {
	if p.FeedWait == 0 {
		p.FeedWait = 200 * time.Millisecond
	}
	return &Service{p: p, cfg: cfg, storeC: sc}
}

// Name implements node.Service.
func (s *Service) Name() string { return Name }

// Start implements node.Service: the alarm bucket, the task runner of
// calendar-alerts and the feed duty.
func (s *Service) Start(ctx context.Context, d node.Deps) error {
	return s.life.Start(ctx, func(ctx context.Context, undo *lifecycle.Undo) error {
		s.d, s.log, s.clock = d, d.Logger.With("service", Name), s.p.Clock
		if s.clock == nil {
			s.clock = d.Clock
		}
		if s.st = s.storeC.Store(); s.st == nil {
			return errors.New("calendar: the store is not open")
		}
		if s.p.Queue == nil {
			return errors.New("calendar: Params.Queue is required (alarm emails go through it)")
		}
		var err error
		if s.alarms, err = d.JS().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: BucketAlarms, Description: "jetmail calendar: the pending task of each alarm of each event",
			Replicas: d.Config.NATS.Replicas, Storage: jetstream.FileStorage, History: 1,
		}); err != nil {
			return fmt.Errorf("calendar: open %s: %w", BucketAlarms, err)
		}
		if s.itip, err = d.JS().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: BucketItip, Description: "jetmail calendar: what each scheduled event's account last sent of it (iTIP)",
			Replicas: d.Config.NATS.Replicas, Storage: jetstream.FileStorage, History: 1,
		}); err != nil {
			return fmt.Errorf("calendar: open %s: %w", BucketItip, err)
		}
		if s.mgr, err = taskmanager.StartRunner(ctx, s.p.Tasks, d, []roles.Role{Role, RoleItip}, map[task.Variant]task.Handler{
			task.CalendarAlarmEmail: s.alarmEmail, task.CalendarAlarmNotification: s.alarmNotification,
			task.CalendarItipMessage: s.itipMessage,
		}); err != nil {
			return err
		}
		undo.Add(s.mgr.Shutdown)
		d.Leader.LeaderDuty("calendar-alerts feed", func(ctx context.Context) {
			s.follow(ctx, feed{duty: "calendar-alerts feed", consumer: FeedConsumer,
				description: "calendar changes: the calendar service keeps each alarm's task",
				work: func(ctx context.Context, account, docID string, _ time.Time) error {
					return s.schedule(ctx, account, docID, "")
				}})
		})
		d.Leader.LeaderDuty("imip-processing feed", func(ctx context.Context) {
			s.follow(ctx, feed{duty: "imip-processing feed", consumer: ItipConsumer,
				description: "calendar changes: the calendar service sends the iTIP messages each change calls for",
				work:        s.planItip})
		})
		return nil
	})
}

// Shutdown implements node.Service: running alarms finish first.
func (s *Service) Shutdown(ctx context.Context) error { return s.life.Stop(ctx) }

// Manager is the service's task runner; nil before Start.
func (s *Service) Manager() *taskmanager.Manager { return s.mgr }
