package clusterstats

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetmail/jetmail/shared/lifecycle"
	"github.com/jetmail/jetmail/shared/node"
)

// Name is the component's name among a node's services.
const Name = "cluster-stats"

// CounterDeliveries is the counter of recipients delivered (the queue's).
const CounterDeliveries = "deliveries"

// CounterInterval is how often a node writes its counters, when they
// changed.
const CounterInterval = 10 * time.Second

// Component follows the cluster's figures on a node and serves them on
// its /metrics, and writes the node's counters: built once per node
// (every node shows the figures), started before the services.
type Component struct {
	life    lifecycle.Lifecycle
	s       *Stats
	d       node.Deps
	since   time.Time
	sources map[string]func() uint64
	written map[string]uint64
	wg      sync.WaitGroup
	started atomic.Bool
}

// NewComponent returns the component.
func NewComponent() *Component {
	return &Component{sources: map[string]func() uint64{}, written: map[string]uint64{}}
}

// Name implements node.Service.
func (c *Component) Name() string { return Name }

// WithoutRoleWork implements node.WithoutRoleWork.
func (*Component) WithoutRoleWork() {}

// Count makes the node report counter name, read from value (a count
// since the process started). Call before Start.
func (c *Component) Count(name string, value func() uint64) {
	if c.started.Load() {
		panic("clusterstats: Count after Start")
	}
	c.sources[name] = value
}

// Start implements node.Service.
func (c *Component) Start(ctx context.Context, d node.Deps) error {
	return c.life.Start(ctx, func(ctx context.Context, undo *lifecycle.Undo) error {
		c.started.Store(true)
		s, err := Open(ctx, d.JS(), d.Config.NATS.Replicas)
		if err != nil {
			return err
		}
		bg, cancel := context.WithCancel(context.Background())
		undo.Add(func(ctx context.Context) error {
			cancel()
			c.wg.Wait()
			c.flush(ctx) // the last counts, so that none is lost from the rate
			return nil
		})
		if err := s.Follow(ctx, bg, &c.wg); err != nil {
			return err
		}
		if err := d.Metrics.Register(NewCollector(s)); err != nil {
			return fmt.Errorf("cluster stats: metrics: %w", err)
		}
		c.s, c.d, c.since = s, d, d.Clock.Now().UTC()
		if len(c.sources) > 0 {
			c.flush(ctx)
			c.wg.Add(1)
			go c.run(bg)
		}
		return nil
	})
}

func (c *Component) run(ctx context.Context) {
	defer c.wg.Done()
	t := c.d.Clock.NewTicker(CounterInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
			c.flush(ctx)
		}
	}
}

// flush writes the counters that changed since they were last written.
func (c *Component) flush(ctx context.Context) {
	for name, value := range c.sources {
		v := value()
		if w, ok := c.written[name]; ok && w == v {
			continue
		}
		err := c.s.PutCounter(ctx, name, Counter{Node: c.d.NodeID, Since: c.since, Value: v, At: c.d.Clock.Now().UTC()})
		if err != nil {
			if ctx.Err() == nil {
				c.d.Logger.Warn("write cluster counter", "counter", name, "err", err)
			}
			continue
		}
		c.written[name] = v
	}
}

// Shutdown implements node.Service.
func (c *Component) Shutdown(ctx context.Context) error { return c.life.Stop(ctx) }

// Stats is the open bucket; nil before Start.
func (c *Component) Stats() *Stats { return c.s }
