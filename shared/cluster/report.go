package cluster

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/shard"
)

// RoleReport is what `jetmail roles show` prints (its JSON form): each
// role's shards with their nodes and partitions, and the live nodes.
type RoleReport struct {
	Roles []RoleEntry `json:"roles"`
	Nodes []Member    `json:"nodes"`
}

// RoleEntry is one role in a RoleReport.
type RoleEntry struct {
	Role      roles.Role   `json:"role"`
	Revision  uint64       `json:"revision"`
	UpdatedAt time.Time    `json:"updatedAt"`
	UpdatedBy string       `json:"updatedBy,omitempty"`
	Layout    *Layout      `json:"layout,omitempty"`
	Shards    []ShardEntry `json:"shards"`
	// ConfigDrift are the live nodes whose configuration sets the role
	// (cluster.roles.*) to other shards than the cluster's map: the map
	// wins, and `jetmail roles apply --config FILE` makes it match a file.
	ConfigDrift []NodeDrift `json:"configDrift,omitempty"`
}

// ShardEntry is one shard of a RoleEntry.
type ShardEntry struct {
	Shard      int         `json:"shard"`
	Partitions []int       `json:"partitions,omitempty"`
	Nodes      []NodeEntry `json:"nodes"`
	// Warning says why the shard's work waits: no live node of it works
	// the role.
	Warning string `json:"warning,omitempty"`
}

// NodeEntry is one node of a ShardEntry.
type NodeEntry struct {
	ID   string `json:"id"`
	Live bool   `json:"live"`
}

// NodeDrift is a live node whose configuration sets a role to Shards,
// other than the cluster's map.
type NodeDrift struct {
	Node   string       `json:"node"`
	Shards roles.Shards `json:"shards"`
}

// Report reads the role maps, their layouts and the live members into a
// RoleReport. Roles with no map yet (no node has worked them) are left out.
func Report(ctx context.Context, b *Buckets) (*RoleReport, error) {
	members, err := LiveMembers(ctx, b)
	if err != nil {
		return nil, err
	}
	live := map[string]bool{}
	for _, m := range members {
		live[m.ID] = true
	}
	rep := &RoleReport{Nodes: members}
	for _, r := range roles.All {
		m, err := GetRole(ctx, b, r)
		if err != nil {
			continue // not seeded yet
		}
		l, err := GetLayout(ctx, b, r)
		if err != nil {
			return nil, err
		}
		e := RoleEntry{Role: r, Revision: m.Revision, UpdatedAt: m.UpdatedAt, UpdatedBy: m.UpdatedBy, Layout: l}
		var owned [][]int
		if l.Fits(m) {
			owned = shard.Assign(l.Partitions, l.Shards)
		}
		idle := Idle(r, m.Shards, members)
		for i, s := range m.Shards {
			se := ShardEntry{Shard: i + 1}
			if slices.Contains(idle, i) {
				se.Warning = fmt.Sprintf("no live node of this shard runs the service that works %s: its work waits", r)
			}
			if owned != nil {
				se.Partitions = owned[i]
			}
			for _, id := range s {
				se.Nodes = append(se.Nodes, NodeEntry{ID: id, Live: live[id]})
			}
			e.Shards = append(e.Shards, se)
		}
		for _, mem := range members {
			if cs, ok := mem.ConfigRoles[r]; ok && !SameShards(cs, m.Shards) {
				e.ConfigDrift = append(e.ConfigDrift, NodeDrift{Node: mem.ID, Shards: cs})
			}
		}
		rep.Roles = append(rep.Roles, e)
	}
	return rep, nil
}
