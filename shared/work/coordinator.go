package work

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/roles"
)

// CoordinatorParams configures a Coordinator.
type CoordinatorParams struct {
	JS      jetstream.JetStream
	Buckets *cluster.Buckets
	View    *cluster.View
	Params  Params
	Metrics *Metrics
	Logger  *slog.Logger
}

// Coordinator builds each role's consumers for its current shard count. Only
// the cluster leader runs one; see the package doc for the protocol.
type Coordinator struct {
	p   CoordinatorParams
	log *slog.Logger
}

// NewCoordinator returns a Coordinator.
func NewCoordinator(p CoordinatorParams) *Coordinator {
	p.Params = p.Params.withDefaults()
	return &Coordinator{p: p, log: p.Logger.With("component", "coordinator")}
}

// Run keeps every role's layout fitting its role map until ctx ends.
func (c *Coordinator) Run(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-c.p.View.Ready():
	}
	done := make(chan struct{}, len(roles.All))
	for _, r := range roles.All {
		go func() { c.follow(ctx, r); done <- struct{}{} }()
	}
	for range roles.All {
		<-done
	}
}

func (c *Coordinator) follow(ctx context.Context, r roles.Role) {
	verified := uint64(0) // epoch whose consumers were checked to exist
	for ctx.Err() == nil {
		m, layout, changed := c.p.View.Role(r)
		var err error
		switch {
		case m.Revision == 0:
		case !layout.Fits(m):
			err = c.reshard(ctx, r, m, layout)
		case verified != layout.Epoch:
			// A new leader makes sure the layout's consumers exist.
			if err = c.createConsumers(ctx, r, m, *layout); err == nil {
				verified = layout.Epoch
			}
		}
		retry := (<-chan time.Time)(nil)
		if err != nil && ctx.Err() == nil {
			c.log.Error("role layout", "role", r, "err", err)
			retry = time.After(time.Second)
		}
		select {
		case <-ctx.Done():
		case <-changed:
		case <-retry:
		}
	}
}

func (c *Coordinator) reshard(ctx context.Context, r roles.Role, m cluster.RoleMap, old *cluster.Layout) error {
	from := 0
	if old != nil {
		from = old.Shards
	}
	log := c.log.With("role", r, "revision", m.Revision, "from_shards", from, "to_shards", len(m.Shards))
	log.Info("building partition layout")
	if err := c.awaitDrains(ctx, r, m, log); err != nil {
		return err
	}
	stream, err := c.p.JS.Stream(ctx, StreamName(r))
	if err != nil {
		return fmt.Errorf("open stream %s: %w", StreamName(r), err)
	}
	c.awaitAcks(ctx, stream, log)
	names := stream.ConsumerNames(ctx)
	var old_ []string
	for name := range names.Name() {
		old_ = append(old_, name)
	}
	if err := names.Err(); err != nil {
		return fmt.Errorf("list consumers of %s: %w", StreamName(r), err)
	}
	for _, name := range old_ {
		if err := stream.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("delete consumer %s: %w", name, err)
		}
	}
	l := cluster.Layout{Role: r, Epoch: m.Revision, Shards: len(m.Shards), Partitions: c.p.Params.Partitions}
	if err := c.createConsumers(ctx, r, m, l); err != nil {
		return err
	}
	if err := cluster.PutLayout(ctx, c.p.Buckets, l); err != nil {
		return err
	}
	// Wait until our own view shows the new layout; otherwise the next pass
	// would see the old one and rebuild, deleting consumers now in use.
	for {
		_, seen, changed := c.p.View.Role(r)
		if seen != nil && seen.Epoch == l.Epoch {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
	if c.p.Metrics != nil {
		c.p.Metrics.reshards.WithLabelValues(string(r)).Inc()
	}
	log.Info("partition layout ready", "epoch", l.Epoch, "removed_consumers", strings.Join(old_, ","))
	return nil
}

// awaitDrains waits until every live node consuming r acknowledged the drain
// for m, or DrainTimeout passes.
func (c *Coordinator) awaitDrains(ctx context.Context, r roles.Role, m cluster.RoleMap, log *slog.Logger) error {
	deadline := time.Now().Add(c.p.Params.DrainTimeout)
	for {
		members, err := cluster.LiveMembers(ctx, c.p.Buckets)
		if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
			return err
		}
		var waiting []string
		for _, mem := range members {
			if !mem.Consumes(r) {
				continue
			}
			ok, err := cluster.Drained(ctx, c.p.Buckets, r, mem.ID, m.Revision)
			if err != nil {
				return err
			}
			if !ok {
				waiting = append(waiting, mem.ID)
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			log.Warn("nodes did not drain in time; their in-flight items may run again", "nodes", strings.Join(waiting, ","))
			return nil
		}
		if cur, _, _ := c.p.View.Role(r); cur.Revision != m.Revision {
			return nil // superseded; the next pass handles the newer map
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// awaitAcks waits briefly for the server to have processed the acks of
// drained nodes, so that deleting consumers redelivers nothing finished.
func (c *Coordinator) awaitAcks(ctx context.Context, stream jetstream.Stream, log *slog.Logger) {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		pending := 0
		infos := stream.ListConsumers(ctx)
		for info := range infos.Info() {
			pending += info.NumAckPending
		}
		if pending == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Warn("items still unacknowledged after drain (a node died mid-item?); they will be redelivered")
}

// createConsumers makes sure layout l's consumers exist, each limited to
// the slots of the live nodes of its shard in m (Limits keeps it so).
func (c *Coordinator) createConsumers(ctx context.Context, r roles.Role, m cluster.RoleMap, l cluster.Layout) error {
	members, err := cluster.LiveMembers(ctx, c.p.Buckets)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return err
	}
	for i := 0; i < l.Shards; i++ {
		cfg := consumerConfig(r, i, l.Shards, l.Partitions, l.Epoch, shardLimit(members, r, m, i), c.p.Params)
		if _, err := c.p.JS.CreateOrUpdateConsumer(ctx, StreamName(r), cfg); err != nil {
			return fmt.Errorf("create consumer %s: %w", cfg.Durable, err)
		}
	}
	return nil
}
