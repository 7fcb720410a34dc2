package indexer

import (
	"context"
	"slices"
	"time"

	"github.com/jetmail/jetmail/shared/cluster"
)

// holdLoop keeps the partitions this node holds as the cluster says,
// every HoldInterval and whenever the role map changes.
func (s *Service) holdLoop(ctx context.Context) {
	t := time.NewTicker(s.p.HoldInterval)
	defer t.Stop()
	for {
		_, _, changed := s.d.View.Role(Role)
		s.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-changed:
		}
	}
}

// reconcile gains the partitions this node should hold and loses the
// others.
func (s *Service) reconcile(ctx context.Context) {
	want, ok := s.wanted(ctx)
	if !ok {
		return
	}
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	s.mu.Lock()
	var lost []int
	for n := range s.held {
		if !want[n] {
			lost = append(lost, n)
		}
	}
	s.mu.Unlock()
	for _, n := range lost {
		s.lose(n)
	}
	for n := range want {
		if s.local(n) != nil {
			continue
		}
		if err := s.gain(n); err != nil {
			s.log.Error("cannot hold partition", "partition", n, "err", err)
		}
	}
}

// wanted are the partitions this node holds by the role map, the layout
// and the live members (see the package documentation); ok is false when
// that cannot be told now (no role map yet, a re-shard under way, the
// members unreadable), and the holdings then stay as they are.
func (s *Service) wanted(ctx context.Context) (map[int]bool, bool) {
	rm, layout, _ := s.d.View.Role(Role)
	if rm.Revision == 0 || !layout.Fits(rm) {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	members, err := cluster.LiveMembers(ctx, s.d.Buckets)
	if err != nil {
		s.log.Warn("read members", "err", err)
		return nil, false
	}
	return Holdings(rm, members, s.d.Config.Cluster.Partitions)[s.d.NodeID], true
}

// Holdings says which node holds each partition of role fts-indexing: the
// live members that run its worker share their shard's partitions, in
// the order of their ids. A partition whose shard has no such member is
// held by none.
func Holdings(rm cluster.RoleMap, members []cluster.Member, partitions int) map[string]map[int]bool {
	live := map[string]bool{}
	for _, m := range members {
		if m.Consumes(Role) {
			live[m.ID] = true
		}
	}
	out := map[string]map[int]bool{}
	shards := len(rm.Shards)
	for i, sh := range rm.Shards {
		var nodes []string
		for _, id := range sh {
			if live[id] && !slices.Contains(nodes, id) {
				nodes = append(nodes, id)
			}
		}
		if len(nodes) == 0 {
			continue
		}
		slices.Sort(nodes)
		for p := i; p < partitions; p += shards {
			id := nodes[(p/shards)%len(nodes)]
			if out[id] == nil {
				out[id] = map[int]bool{}
			}
			out[id][p] = true
		}
	}
	return out
}
