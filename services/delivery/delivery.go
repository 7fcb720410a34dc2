// Package delivery is the delivery service: it works the virtual queues on
// its node, threads-per-node deliveries each, to MX hosts, relays and the
// local mailbox store.
package delivery

import (
	"context"
	"os"
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
	// QueueParams tune the node's queue (tests shorten the rescue timings);
	// Node and Hostname are filled in by Start.
	QueueParams mailqueue.Params

	cfg *config.Config
	// Queue is the node's queue, set by Start.
	Queue *mailqueue.Queue
	d     *sdelivery.Deliverer
}

// New returns the service.
func New(cfg *config.Config) *Service { return &Service{cfg: cfg} }

// Name implements node.Service.
func (s *Service) Name() string { return Name }

// Start implements node.Service.
func (s *Service) Start(ctx context.Context, n *node.Node) error {
	host := s.cfg.SMTP.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	mb, err := mailbox.Open(ctx, n.JS, s.cfg.NATS.Replicas)
	if err != nil {
		return err
	}
	if s.d, err = sdelivery.New(sdelivery.Params{Config: s.cfg, Mailbox: mb, Logger: n.Logger.With("service", Name), Hostname: host}); err != nil {
		return err
	}
	qp := s.QueueParams
	qp.Node, qp.Hostname = n, host
	s.Queue = mailqueue.Shared(qp)
	if err := s.Queue.StartDelivery(ctx, s.d); err != nil {
		return err
	}
	registerAPI(n, s.Queue)
	_, err = n.AddMicro("jetmail-delivery", "jetmail outbound queue: delivers virtual queues, serves x:Queue and x:VirtualQueue", func() any {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		depth, err := s.Queue.Depth(ctx)
		if err != nil {
			return map[string]any{"node": n.ID, "error": err.Error(), "paused": s.Queue.Paused()}
		}
		return map[string]any{"node": n.ID, "queued": depth, "paused": s.Queue.Paused()}
	})
	return err
}

// Shutdown implements node.Service.
func (s *Service) Shutdown(ctx context.Context) error {
	var err error
	if s.Queue != nil {
		err = s.Queue.Shutdown(ctx)
	}
	if s.d != nil {
		s.d.Close()
	}
	return err
}
