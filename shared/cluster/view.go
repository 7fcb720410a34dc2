package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/roles"
)

// View follows the role maps and layouts in KV and tells its readers when
// they change. It is how every node follows `jetmail roles set` within
// moments, without a restart.
type View struct {
	b   *Buckets
	log *slog.Logger

	mu      sync.Mutex
	maps    map[roles.Role]RoleMap
	layouts map[roles.Role]*Layout
	changed chan struct{}
	ready   chan struct{}
}

// NewView returns a View; Run feeds it.
func NewView(b *Buckets, log *slog.Logger) *View {
	return &View{b: b, log: log, maps: map[roles.Role]RoleMap{}, layouts: map[roles.Role]*Layout{},
		changed: make(chan struct{}), ready: make(chan struct{})}
}

// Role returns a role's current map and layout (nil if none yet), and a
// channel closed at the next change of either.
func (v *View) Role(r roles.Role) (RoleMap, *Layout, <-chan struct{}) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.maps[r], v.layouts[r], v.changed
}

// Ready is closed once the view holds the state KV had when Run started.
func (v *View) Ready() <-chan struct{} { return v.ready }

// Run watches the buckets until ctx ends.
func (v *View) Run(ctx context.Context) error {
	rw, err := v.b.Roles.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch role maps: %w", err)
	}
	defer func() { _ = rw.Stop() }()
	lw, err := v.b.Shards.Watch(ctx, "layout.*")
	if err != nil {
		return fmt.Errorf("watch layouts: %w", err)
	}
	defer func() { _ = lw.Stop() }()
	rolesReady, layoutsReady := false, false
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-rw.Updates():
			if !ok {
				return fmt.Errorf("role map watch ended")
			}
			if e == nil {
				rolesReady = true
			} else {
				v.applyRole(e)
			}
		case e, ok := <-lw.Updates():
			if !ok {
				return fmt.Errorf("layout watch ended")
			}
			if e == nil {
				layoutsReady = true
			} else {
				v.applyLayout(e)
			}
		}
		if rolesReady && layoutsReady {
			select {
			case <-v.ready:
			default:
				close(v.ready)
			}
		}
	}
}

func (v *View) applyRole(e jetstream.KeyValueEntry) {
	r := roles.Role(e.Key())
	v.mu.Lock()
	defer v.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(v.maps, r)
	} else if m, err := decodeRoleMap(e); err != nil {
		v.log.Error("ignoring bad role map", "role", r, "err", err)
		return
	} else {
		v.maps[r] = m
		v.log.Info("role map", "role", r, "shards", strings.Join(m.Shards.Strings(), " | "), "revision", m.Revision)
	}
	v.notify()
}

func (v *View) applyLayout(e jetstream.KeyValueEntry) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		return
	}
	var l Layout
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		v.log.Error("ignoring bad layout", "key", e.Key(), "err", err)
		return
	}
	v.layouts[l.Role] = &l
	v.notify()
}

// notify wakes every reader waiting on the current channel. Callers hold mu.
func (v *View) notify() {
	close(v.changed)
	v.changed = make(chan struct{})
}
