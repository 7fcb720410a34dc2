package acme

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jetmail/jetmail/shared/certs"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/dkimkey"
	"github.com/jetmail/jetmail/shared/lifecycle"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// Name is the service's name for `jetmail serve`.
const Name = "acme"

// Role is the role of the tasks the service runs.
const Role = roles.AcmeRenew

// Params tune the service. Zero fields take the defaults.
type Params struct {
	// Tasks tune the service's task runner (Concurrency defaults to
	// task.concurrency).
	Tasks taskmanager.Params
}

// Service is the acme service.
type Service struct {
	life   lifecycle.Lifecycle
	p      Params
	cfg    *config.Config
	storeC *store.Component
	certsC *certs.Component

	log   *slog.Logger
	st    *store.Store
	certs *certs.Store
	ring  *dkimkey.Ring
	mgr   *taskmanager.Manager
}

// New returns the service; it reads the domains of the store sc and
// keeps the certificates in cc (both started before it).
func New(cfg *config.Config, sc *store.Component, cc *certs.Component, p Params) *Service {
	return &Service{p: p, cfg: cfg, storeC: sc, certsC: cc}
}

// Name implements node.Service.
func (s *Service) Name() string { return Name }

// Start implements node.Service: the task runner of acme.renew.
func (s *Service) Start(ctx context.Context, d node.Deps) error {
	return s.life.Start(ctx, func(ctx context.Context, undo *lifecycle.Undo) error {
		s.log = d.Logger.With("service", Name)
		if s.st = s.storeC.Store(); s.st == nil {
			return errors.New("acme: the store is not open")
		}
		if s.certs = s.certsC.Store(); s.certs == nil {
			return errors.New("acme: the certificates are not open")
		}
		var err error
		if s.ring, err = dkimkey.OpenRing(ctx, d.JS(), d.Config.NATS.Replicas); err != nil {
			return fmt.Errorf("acme: %w", err)
		}
		if s.mgr, err = taskmanager.StartRunner(ctx, s.p.Tasks, d, []roles.Role{Role}, map[task.Variant]task.Handler{
			task.DnsManagement: s.dnsManagement, task.AcmeRenewal: s.acmeRenewal,
			task.DkimManagement: s.dkimManagement,
		}); err != nil {
			return err
		}
		undo.Add(s.mgr.Shutdown)
		return nil
	})
}

// Shutdown implements node.Service: running tasks finish first.
func (s *Service) Shutdown(ctx context.Context) error { return s.life.Stop(ctx) }

// Manager is the service's task runner; nil before Start.
func (s *Service) Manager() *taskmanager.Manager { return s.mgr }
