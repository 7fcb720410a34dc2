// Package delivery is the delivery service: it works the virtual queues on
// its node, threads-per-node deliveries each, to MX hosts, relays and the
// accounts of the store (the local route).
package delivery

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jetmail/jetmail/shared/aggreport"
	"github.com/jetmail/jetmail/shared/config"
	sdelivery "github.com/jetmail/jetmail/shared/delivery"
	"github.com/jetmail/jetmail/shared/dkimkey"
	"github.com/jetmail/jetmail/shared/dupid"
	"github.com/jetmail/jetmail/shared/itip"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/spam"
	"github.com/jetmail/jetmail/shared/spamstore"
	"github.com/jetmail/jetmail/shared/store"
)

// Name is the service's name for `jetmail serve`.
const Name = "delivery"

// Service is the delivery service.
type Service struct {
	cfg *config.Config
	// Queue is the queue it delivers from (started before it).
	Queue *mailqueue.Queue
	// Store is where local mail goes (started before it); when nil, Start
	// opens one of its own.
	Store *store.Component
	d     *sdelivery.Deliverer
	// stopSpam ends the spam filter's watch of the trained models.
	stopSpam context.CancelFunc
	// stopDKIM ends the watch of the rotated DKIM keys; dkimWG waits for it.
	stopDKIM context.CancelFunc
	dkimWG   sync.WaitGroup
}

// New returns the service, delivering from q.
func New(cfg *config.Config, q *mailqueue.Queue) *Service { return &Service{cfg: cfg, Queue: q} }

// WithStore makes local mail go to the node's store component, which it
// needs whole (NeedAll).
func (s *Service) WithStore(c *store.Component) *Service { c.NeedAll(); s.Store = c; return s }

// Name implements node.Service.
func (s *Service) Name() string { return Name }

// WithoutRoleWork implements node.WithoutRoleWork: it uses no role streams.
func (*Service) WithoutRoleWork() {}

// Start implements node.Service.
func (s *Service) Start(ctx context.Context, d node.Deps) error {
	host := mailqueue.Hostname(s.cfg)
	if s.Store == nil {
		s.Store = store.NewComponent(store.Params{})
		if err := s.Store.Start(ctx, d); err != nil {
			return err
		}
	}
	var dups *dupid.List
	if r := s.cfg.Storage.DuplicateRetention; r > 0 {
		var err error
		if dups, err = dupid.Open(ctx, dupid.Params{JS: d.JS(), Replicas: s.cfg.NATS.Replicas, Retention: r, Clock: d.Clock, Metrics: d.Metrics}); err != nil {
			return fmt.Errorf("store.duplicates: %w", err)
		}
	}
	filter, err := s.spamFilter(ctx, d)
	if err != nil {
		return err
	}
	// Every node signs with a domain's current key as DkimManagement
	// rotates it.
	ring, err := dkimkey.OpenRing(ctx, d.JS(), s.cfg.NATS.Replicas)
	if err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	bg, stop := context.WithCancel(context.Background())
	s.stopDKIM = stop
	if err := ring.Follow(ctx, bg, &s.dkimWG); err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	reports, err := aggreport.Open(ctx, d.JS(), d.Config.NATS.Replicas, d.Logger.With("service", Name))
	if err != nil {
		return err
	}
	if s.d, err = sdelivery.New(sdelivery.Params{Config: s.cfg, Store: s.Store.Store(), Logger: d.Logger.With("service", Name), Hostname: host,
		Trace: s.Queue.Trace(), Duplicates: dups, Spam: filter, DKIM: ring, Reports: reports,
		Itip: itip.NewReceiver(itip.ReceiverParams{Store: s.Store.Store(), Logger: d.Logger.With("service", Name), Metrics: d.Metrics})}); err != nil {
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
	if s.stopSpam != nil {
		s.stopSpam()
	}
	if s.stopDKIM != nil {
		s.stopDKIM()
		s.dkimWG.Wait()
	}
	if s.d != nil {
		s.d.Close()
	}
	return err
}

// spamFilter opens the spam filter local delivery scores with
// (spam.enable), following the trainer's models until Shutdown.
func (s *Service) spamFilter(ctx context.Context, d node.Deps) (*spamstore.Filter, error) {
	if !s.cfg.Spam.Enable {
		return nil, nil
	}
	st, err := spamstore.OpenModels(ctx, d.JS(), s.cfg.NATS.Replicas)
	if err != nil {
		return nil, fmt.Errorf("spam filter: %w", err)
	}
	f, err := spamstore.NewFilter(st, spam.Params{}, d.Logger.With("service", Name))
	if err != nil {
		return nil, fmt.Errorf("spam filter: %w", err)
	}
	watch, stop := context.WithCancel(context.WithoutCancel(ctx))
	if err := f.Start(watch); err != nil {
		stop()
		return nil, fmt.Errorf("spam filter: %w", err)
	}
	s.stopSpam = stop
	return f, nil
}
