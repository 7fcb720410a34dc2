package maintenance

import (
	"context"
	"fmt"
	"log/slog"

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
const Name = "maintenance"

// Roles are the roles whose tasks the service runs.
var Roles = []roles.Role{roles.PurgeStores, roles.PurgeAccounts}

// Params tune the service. Zero fields take the defaults.
type Params struct {
	// Tasks tune the service's task runner (Node is filled in by Start;
	// Concurrency defaults to task.concurrency).
	Tasks taskmanager.Params
	// Queue is the node's outbound queue (started before the service):
	// DestroyAccount cancels the messages the account sent that are still
	// queued. Default none: they are left to the queue, and the task's log
	// says so.
	Queue *mailqueue.Queue
}

// Service is the maintenance service.
type Service struct {
	life   lifecycle.Lifecycle
	p      Params
	storeC *store.Component

	d   node.Deps
	log *slog.Logger
	st  *store.Store
	mgr *taskmanager.Manager
}

// New returns the service; it works on sc, the node's store (opened
// whole).
func New(_ *config.Config, sc *store.Component, p Params) *Service {
	return &Service{p: p, storeC: sc}
}

// Name implements node.Service.
func (s *Service) Name() string { return Name }

// Start implements node.Service: it starts the task runner of the
// maintenance roles.
func (s *Service) Start(ctx context.Context, d node.Deps) error {
	return s.life.Start(ctx, func(ctx context.Context, undo *lifecycle.Undo) error {
		s.d, s.log = d, d.Logger.With("service", Name)
		s.st = s.storeC.Store()
		if s.st == nil {
			return fmt.Errorf("maintenance: the store is not open")
		}
		var err error
		if s.mgr, err = taskmanager.StartRunner(ctx, s.p.Tasks, d, Roles, map[task.Variant]task.Handler{
			task.AccountMaintenance: s.accountMaintenance, task.TenantMaintenance: s.tenantMaintenance,
			task.StoreMaintenance: s.storeMaintenance, task.RestoreArchivedItem: s.restoreArchivedItem,
			task.DestroyAccount: s.destroyAccount, task.MergeThreads: s.mergeThreads,
		}); err != nil {
			return err
		}
		undo.Add(s.mgr.Shutdown)
		return nil
	})
}

// Shutdown implements node.Service: in-flight tasks finish first.
func (s *Service) Shutdown(ctx context.Context) error { return s.life.Stop(ctx) }

// Manager is the service's task runner; nil before Start.
func (s *Service) Manager() *taskmanager.Manager { return s.mgr }

// errNotYet is the failure of a maintenance type this version does not do.
func errNotYet(variant task.Variant, typ string) error {
	return fmt.Errorf("%s %s is not done by this version of jetmail yet", variant, typ)
}
