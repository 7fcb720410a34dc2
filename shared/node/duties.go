package node

import (
	"context"
	"sync"
	"time"
)

// LeaderDuty runs fn while this node is the cluster leader: it starts when
// the node becomes leader (at once if it already is) and its context ends
// when leadership is lost or the node stops. A duty must be idempotent: a
// new leader may redo what the old one left half done.
func (n *Node) LeaderDuty(name string, fn func(ctx context.Context)) {
	n.duties.add(name, fn)
}

// LeaderEvery runs fn every interval while this node is the cluster
// leader (see LeaderDuty).
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

// duties runs the registered duties during each term of leadership.
type duties struct {
	mu      sync.Mutex
	list    []duty
	ctx     context.Context // the current term; nil when not leader
	running sync.WaitGroup
}

func (d *duties) add(name string, fn func(context.Context)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.list = append(d.list, duty{name, fn})
	if d.ctx != nil {
		d.start(duty{name, fn})
	}
}

// lead starts every duty for the term that ctx spans.
func (d *duties) lead(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ctx = ctx
	for _, du := range d.list {
		d.start(du)
	}
}

func (d *duties) start(du duty) {
	d.running.Add(1)
	go func() {
		defer d.running.Done()
		du.fn(d.ctx)
	}()
}

// stop waits for the term's duties to return (their context is done).
func (d *duties) stop() {
	d.mu.Lock()
	d.ctx = nil
	d.mu.Unlock()
	d.running.Wait()
}
