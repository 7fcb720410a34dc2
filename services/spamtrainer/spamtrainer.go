package spamtrainer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/lifecycle"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/spam"
	"github.com/jetmail/jetmail/shared/spamstore"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// Name is the service's name for `jetmail serve`.
const Name = "spam-trainer"

// Role is the role whose tasks the service runs.
const Role = roles.BayesTraining

// Params tune the service. Zero fields take the defaults.
type Params struct {
	// Tasks tune the service's task runner (Concurrency defaults to
	// task.concurrency).
	Tasks taskmanager.Params
	// HTTPClient downloads the rule file. Default a client with a 1
	// minute timeout.
	HTTPClient *http.Client
	// Progress, when set, is called after each sample a training learnt
	// from, with the count so far (the service logs progress every
	// 1,000 samples either way).
	Progress func(done int)
}

// Service is the spam-trainer service.
type Service struct {
	life   lifecycle.Lifecycle
	p      Params
	cfg    *config.Config
	storeC *store.Component

	d    node.Deps
	log  *slog.Logger
	st   *store.Store
	spam *spamstore.Store
	mgr  *taskmanager.Manager

	mu      sync.Mutex
	running context.CancelFunc // the training this node runs, if any
	aborted bool
}

// New returns the service; it reads the store sc (opened whole).
func New(cfg *config.Config, sc *store.Component, p Params) *Service {
	if p.HTTPClient == nil {
		p.HTTPClient = &http.Client{Timeout: time.Minute}
	}
	return &Service{p: p, cfg: cfg, storeC: sc}
}

// Name implements node.Service.
func (s *Service) Name() string { return Name }

// Start implements node.Service: it opens the spam filter's buckets,
// listens for aborts and starts the task runner of bayes-training.
func (s *Service) Start(ctx context.Context, d node.Deps) error {
	return s.life.Start(ctx, func(ctx context.Context, undo *lifecycle.Undo) error {
		s.d, s.log = d, d.Logger.With("service", Name)
		if s.st = s.storeC.Store(); s.st == nil {
			return errors.New("spam-trainer: the store is not open")
		}
		var err error
		if s.spam, err = spamstore.Open(ctx, d.JS(), d.Config.NATS.Replicas); err != nil {
			return err
		}
		sub, err := d.Conn.Subscribe(spamstore.AbortSubject, func(*nats.Msg) { s.abort() })
		if err != nil {
			return fmt.Errorf("spam-trainer: listen on %s: %w", spamstore.AbortSubject, err)
		}
		undo.Add(func(context.Context) error { return sub.Unsubscribe() })
		if s.mgr, err = taskmanager.StartRunner(ctx, s.p.Tasks, d, []roles.Role{Role}, map[task.Variant]task.Handler{
			task.SpamFilterMaintenance: s.maintenance,
		}); err != nil {
			return err
		}
		undo.Add(s.mgr.Shutdown)
		return nil
	})
}

// Shutdown implements node.Service: a running training is stopped, its
// task left to run again.
func (s *Service) Shutdown(ctx context.Context) error { return s.life.Stop(ctx) }

// Manager is the service's task runner; nil before Start.
func (s *Service) Manager() *taskmanager.Manager { return s.mgr }

// Spam is the spam filter's store; nil before Start.
func (s *Service) Spam() *spamstore.Store { return s.spam }

func (s *Service) maintenance(ctx context.Context, t *task.Task) error {
	p := t.Payload.(*task.SpamFilterMaintenanceTask)
	switch p.MaintenanceType {
	case "train":
		return s.training(ctx, false)
	case "retrain":
		return s.training(ctx, true)
	case "abort":
		if err := s.d.Conn.Publish(spamstore.AbortSubject, nil); err != nil {
			return fmt.Errorf("ask the trainers to stop: %w", err)
		}
		s.log.Info("spam filter: abort asked of the running training, if any")
		return s.d.Conn.Flush()
	case "reset":
		n, err := s.spam.ResetModels(ctx)
		if err != nil {
			return err
		}
		st, err := s.spam.State(ctx)
		if err != nil {
			return err
		}
		st.TrainedAt, st.Trained = time.Time{}, 0
		if err := s.spam.PutState(ctx, st); err != nil {
			return err
		}
		s.log.Info("spam filter reset to the default model", "models_removed", n)
		return nil
	case "updateRules":
		return s.updateRules(ctx)
	}
	return fmt.Errorf("SpamFilterMaintenance %s is not done by this version of jetmail", p.MaintenanceType)
}

// abort stops the training this node runs.
func (s *Service) abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running != nil {
		s.aborted = true
		s.running()
	}
}

// updateRules downloads, checks and stores the rule file.
func (s *Service) updateRules(ctx context.Context) error {
	url := s.cfg.Spam.RulesURL
	if url == "" {
		return errors.New("updateRules: spam.rules.url is not set: there is nowhere to download rules from")
	}
	data, rs, err := spam.FetchRules(ctx, s.p.HTTPClient, url, spam.FetchOptions{SHA256: s.cfg.Spam.RulesSHA256})
	if err != nil {
		return fmt.Errorf("updateRules: the rules in use stay: %w", err)
	}
	if err := s.spam.PutRules(ctx, data, rs.SHA256()); err != nil {
		return err
	}
	s.log.Info("spam rules updated", "url", url, "rules", rs.Len(), "name", rs.Name(), "sha256", rs.SHA256())
	return nil
}
