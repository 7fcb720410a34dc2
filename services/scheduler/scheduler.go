// Package scheduler is the scheduler service: it runs the task manager on
// its node (triggers of every role the node holds, periodic schedules, the
// rescuer when leader) and serves the task API methods x:Task/get, query
// and set, and x:TaskManager/get and set.
package scheduler

import (
	"context"
	"time"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// Name is the service's name for `jetmail serve`.
const Name = "scheduler"

// Service is the scheduler service.
type Service struct {
	// Manager is the running task manager, set by Start.
	Manager *taskmanager.Manager
	params  taskmanager.Params
}

// New returns the service; params may set a clock or rescue timings
// (Node is filled in by Start).
func New(_ *config.Config, params taskmanager.Params) *Service { return &Service{params: params} }

// Name implements node.Service.
func (s *Service) Name() string { return Name }

// Start implements node.Service.
func (s *Service) Start(ctx context.Context, d node.Deps) error {
	p := s.params
	p.Deps = d
	s.Manager = taskmanager.New(p)
	if err := s.Manager.Start(ctx); err != nil {
		return err
	}
	registerAPI(d.API, s.Manager)
	_, err := d.Micro.AddMicro("jetmail-scheduler", "jetmail task manager: runs background tasks and serves x:Task and x:TaskManager", func() any {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		counts := map[string]int{}
		for _, st := range []task.StatusType{task.Pending, task.Retry, task.Failed} {
			_, counts[string(st)], _ = s.Manager.Query(ctx, taskmanager.Query{Status: []task.StatusType{st}})
		}
		return map[string]any{"node": d.NodeID, "tasks": counts}
	})
	return err
}

// Shutdown implements node.Service.
func (s *Service) Shutdown(ctx context.Context) error {
	if s.Manager == nil {
		return nil
	}
	return s.Manager.Shutdown(ctx)
}
