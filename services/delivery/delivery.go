// Package delivery is the delivery service: it works the virtual queues on
// its node, threads-per-node deliveries each, to MX hosts, relays and the
// local mailbox store.
package delivery

import (
	"context"
	"time"

	"github.com/jetmail/jetmail/shared/config"
	sdelivery "github.com/jetmail/jetmail/shared/delivery"
	"github.com/jetmail/jetmail/shared/mailbox"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/node"
)

// Name is the service's name for `jetmail serve`.
const Name = "delivery"

// Service is the delivery service.
type Service struct {
	cfg *config.Config
	// Queue is the queue it delivers from (started before it).
	Queue *mailqueue.Queue
	d     *sdelivery.Deliverer
}

// New returns the service, delivering from q.
func New(cfg *config.Config, q *mailqueue.Queue) *Service { return &Service{cfg: cfg, Queue: q} }

// Name implements node.Service.
func (s *Service) Name() string { return Name }

// WithoutRoleWork implements node.WithoutRoleWork: it uses no role streams.
func (*Service) WithoutRoleWork() {}

// Start implements node.Service.
func (s *Service) Start(ctx context.Context, d node.Deps) error {
	host := mailqueue.Hostname(s.cfg)
	mb, err := mailbox.Open(ctx, d.JS(), s.cfg.NATS.Replicas)
	if err != nil {
		return err
	}
	if s.d, err = sdelivery.New(sdelivery.Params{Config: s.cfg, Mailbox: mb, Logger: d.Logger.With("service", Name), Hostname: host}); err != nil {
		return err
	}
	if err := s.Queue.StartDelivery(ctx, s.d); err != nil {
		return err
	}
	registerAPI(d.API, s.Queue)
	_, err = d.Micro.AddMicro("jetmail-delivery", "jetmail outbound queue: delivers virtual queues, serves x:Queue and x:VirtualQueue", func() any {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		depth, err := s.Queue.Depth(ctx)
		if err != nil {
			return map[string]any{"node": d.NodeID, "error": err.Error(), "paused": s.Queue.Paused()}
		}
		return map[string]any{"node": d.NodeID, "queued": depth, "paused": s.Queue.Paused()}
	})
	return err
}

// Shutdown implements node.Service.
func (s *Service) Shutdown(ctx context.Context) error {
	err := s.Queue.StopDelivery(ctx)
	if s.d != nil {
		s.d.Close()
	}
	return err
}
