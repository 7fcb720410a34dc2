package node

import (
	"context"
	"sync"
	"time"

	"github.com/jetmail/jetmail/shared/cluster"
)

// LeaderDuty runs fn on one node of the cluster at a time: of the nodes
// that registered a duty of this name, the one that holds its lease (see
// cluster.DutyKey). fn starts when the node takes the lease (at once if the
// node is started and the lease is free) and its context ends when the
// lease is lost or the node stops. Each duty has its own lease, so that a
// duty a service registers runs on a node of that service, whatever node
// leads the cluster. A duty must be idempotent: a new holder may redo what
// the old one left half done.
func (n *Node) LeaderDuty(name string, fn func(ctx context.Context)) {
	n.duties.add(duty{name, fn})
}

// LeaderEvery runs fn every interval while this node holds the duty's
// lease (see LeaderDuty).
func (n *Node) LeaderEvery(name string, interval time.Duration, fn func(ctx context.Context)) {
	n.LeaderDuty(name, func(ctx context.Context) {
		t := n.clock.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.Chan():
				fn(ctx)
			}
		}
	})
}

type duty struct {
	name string
	fn   func(ctx context.Context)
}

// duties competes for the lease of each registered duty, from the node's
// start to its stop.
type duties struct {
	mu      sync.Mutex
	pending []duty
	run     func(duty) // set by begin; nil before the node starts
}

func (d *duties) add(du duty) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.run == nil {
		d.pending = append(d.pending, du)
		return
	}
	d.run(du)
}

// begin runs the duties registered so far and those registered later
// with run.
func (d *duties) begin(run func(duty)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.run = run
	for _, du := range d.pending {
		run(du)
	}
	d.pending = nil
}

// runDuty competes for du's lease until the node stops.
func (n *Node) runDuty(ctx context.Context, du duty) {
	n.goBackground(func() {
		cluster.RunLease(ctx, n.buckets, cluster.DutyKey(du.name), n.id, n.cfg.Cluster.HeartbeatInterval,
			n.log.With("duty", du.name), du.fn)
	})
}
