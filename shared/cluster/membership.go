package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/jetmail/jetmail/shared/roles"
)

// Member is a live node's record in jetmail-nodes.
type Member struct {
	ID       string `json:"id"`
	Instance string `json:"instance"`
	Host     string `json:"host"`
	PID      int    `json:"pid"`
	Version  string `json:"version,omitempty"`
	// Services are the services this node runs.
	Services []string `json:"services,omitempty"`
	// Workers are the roles this node consumes work for.
	Workers []roles.Role `json:"workers,omitempty"`
	// WorkerSlots is how many items of each role the node works at once.
	WorkerSlots map[roles.Role]int `json:"workerSlots,omitempty"`
	// ConsumerSlots is how many messages the node takes at once from each
	// shared consumer it works ("<stream>/<consumer>": a virtual queue).
	ConsumerSlots map[string]int `json:"consumerSlots,omitempty"`
	// ConfigRoles are the roles this node's configuration sets
	// (cluster.roles.*, the roles the file names), so that `roles show`
	// can tell whose configuration disagrees with the cluster's maps.
	ConfigRoles map[roles.Role]roles.Shards `json:"configRoles,omitempty"`
	StartedAt   time.Time                   `json:"startedAt"`
	SeenAt      time.Time                   `json:"seenAt"`
}

// Consumes reports whether the node runs a worker for r.
func (m Member) Consumes(r roles.Role) bool { return slices.Contains(m.Workers, r) }

// ErrNodeIDInUse is returned when another live process holds the node id.
var ErrNodeIDInUse = errors.New("node id is in use by another live process")

// Membership keeps this node's key in jetmail-nodes alive.
type Membership struct {
	kv       jetstream.KeyValue
	interval time.Duration
	timeout  time.Duration
	log      *slog.Logger

	mu   sync.Mutex
	self Member
	rev  uint64

	stop chan struct{}
	done chan struct{}
}

// MembershipParams configures a Membership.
type MembershipParams struct {
	Buckets *Buckets
	NodeID  string
	Version string
	// ConfigRoles are the roles the node's configuration sets (Member.ConfigRoles).
	ConfigRoles map[roles.Role]roles.Shards
	Interval    time.Duration // heartbeat interval
	Timeout     time.Duration // node timeout (the bucket's TTL)
	Logger      *slog.Logger
}

// NewMembership returns a Membership for the node; Start registers it.
func NewMembership(p MembershipParams) *Membership {
	host, _ := os.Hostname()
	return &Membership{
		kv: p.Buckets.Nodes, interval: p.Interval, timeout: p.Timeout, log: p.Logger,
		self: Member{ID: p.NodeID, Instance: nuid.Next(), Host: host, PID: os.Getpid(), Version: p.Version, ConfigRoles: maps.Clone(p.ConfigRoles)},
	}
}

// Self returns this node's current record.
func (m *Membership) Self() Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.self
}

// SetServices records the services and worker roles this node runs; the
// next heartbeat publishes them.
func (m *Membership) SetServices(services []string, workers []roles.Role) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.self.Services = slices.Clone(services)
	m.self.Workers = slices.Clone(workers)
}

// AddWorker records that this node consumes work for r with slots at a
// time, and publishes it at once, so that a coordinator waiting for drains
// and the leader's consumer limits see it.
func (m *Membership) AddWorker(ctx context.Context, r roles.Role, slots int) error {
	m.mu.Lock()
	if !slices.Contains(m.self.Workers, r) {
		m.self.Workers = append(m.self.Workers, r)
	}
	if m.self.WorkerSlots == nil {
		m.self.WorkerSlots = map[roles.Role]int{}
	}
	m.self.WorkerSlots[r] = slots
	m.mu.Unlock()
	return m.beat(ctx)
}

// SetConsumerSlots records that this node takes up to slots messages at a
// time from a shared consumer (0: none any more), and publishes it at once.
func (m *Membership) SetConsumerSlots(ctx context.Context, stream, consumer string, slots int) error {
	m.mu.Lock()
	if m.self.ConsumerSlots == nil {
		m.self.ConsumerSlots = map[string]int{}
	}
	if slots > 0 {
		m.self.ConsumerSlots[stream+"/"+consumer] = slots
	} else {
		delete(m.self.ConsumerSlots, stream+"/"+consumer)
	}
	m.mu.Unlock()
	return m.beat(ctx)
}

// Start registers the node and starts the heartbeat. If the id is live it
// waits up to the node timeout for the old key to age out.
func (m *Membership) Start(ctx context.Context) error {
	m.mu.Lock()
	m.self.StartedAt = time.Now().UTC()
	m.self.SeenAt = m.self.StartedAt
	data, _ := json.Marshal(m.self)
	m.mu.Unlock()

	deadline := time.Now().Add(m.timeout + 2*m.interval)
	for {
		rev, err := m.kv.Create(ctx, m.self.ID, data)
		if err == nil {
			m.mu.Lock()
			m.rev = rev
			m.mu.Unlock()
			break
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("register node %s: %w", m.self.ID, err)
		}
		if time.Now().After(deadline) {
			other := "unknown"
			if e, gerr := m.kv.Get(ctx, m.self.ID); gerr == nil {
				var o Member
				_ = json.Unmarshal(e.Value(), &o)
				other = fmt.Sprintf("host %s pid %d", o.Host, o.PID)
			}
			return fmt.Errorf("register node %s: %w (%s)", m.self.ID, ErrNodeIDInUse, other)
		}
		m.log.Info("node id still registered, waiting for it to expire", "node_id", m.self.ID)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(m.interval):
		}
	}
	m.stop, m.done = make(chan struct{}), make(chan struct{})
	go m.loop()
	return nil
}

func (m *Membership) loop() {
	defer close(m.done)
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
			if err := m.beat(ctx); err != nil {
				m.log.Warn("heartbeat failed", "err", err)
			}
			cancel()
		}
	}
}

func (m *Membership) beat(ctx context.Context) error {
	m.mu.Lock()
	m.self.SeenAt = time.Now().UTC()
	data, _ := json.Marshal(m.self) // maps are copied here, under the lock
	rev := m.rev
	m.mu.Unlock()
	newRev, err := m.kv.Update(ctx, m.self.ID, data, rev)
	if err != nil {
		// Our key aged out (a long pause) or the revision moved: write it
		// afresh rather than vanish from the cluster.
		if newRev, err = m.kv.Put(ctx, m.self.ID, data); err != nil {
			return fmt.Errorf("renew node %s: %w", m.self.ID, err)
		}
		m.log.Warn("membership key was lost and has been written again", "node_id", m.self.ID)
	}
	m.mu.Lock()
	m.rev = newRev
	m.mu.Unlock()
	return nil
}

// Shutdown stops the heartbeat and removes the node's key so that it leaves
// the cluster at once.
func (m *Membership) Shutdown(ctx context.Context) error {
	if m.stop == nil {
		return nil
	}
	close(m.stop)
	<-m.done
	m.stop = nil
	if err := m.kv.Delete(ctx, m.self.ID); err != nil {
		return fmt.Errorf("leave cluster: %w", err)
	}
	return nil
}

// LiveMembers lists the nodes whose keys are alive, sorted by id.
func LiveMembers(ctx context.Context, b *Buckets) ([]Member, error) {
	lister, err := b.Nodes.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var out []Member
	for key := range lister.Keys() {
		e, err := b.Nodes.Get(ctx, key)
		if err != nil {
			continue // expired between list and get
		}
		var mem Member
		if err := json.Unmarshal(e.Value(), &mem); err != nil {
			continue
		}
		out = append(out, mem)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
