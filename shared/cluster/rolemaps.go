package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/roles"
)

// RoleMap is a role's shard list as kept in jetmail-roles.
type RoleMap struct {
	Role      roles.Role   `json:"role"`
	Shards    roles.Shards `json:"shards"`
	UpdatedAt time.Time    `json:"updatedAt"`
	UpdatedBy string       `json:"updatedBy,omitempty"`
	// Revision is the KV revision the map was read at; it is not stored.
	Revision uint64 `json:"-"`
}

// SeedRoles writes the given role maps for roles that have none yet.
// Maps already in KV win: they may have been changed at run time.
func SeedRoles(ctx context.Context, b *Buckets, maps map[roles.Role]roles.Shards, by string) error {
	for _, r := range roles.All {
		shards, ok := maps[r]
		if !ok {
			continue
		}
		if _, err := SeedRole(ctx, b, r, shards, by); err != nil {
			return err
		}
	}
	return nil
}

// SeedRole writes a role's map if it has none yet (KV Create: the first
// writer wins) and reports whether it did. A node seeds a role from its
// configuration when it first works the role (see the package doc).
func SeedRole(ctx context.Context, b *Buckets, r roles.Role, shards roles.Shards, by string) (bool, error) {
	data, _ := json.Marshal(RoleMap{Role: r, Shards: shards, UpdatedAt: time.Now().UTC(), UpdatedBy: by})
	_, err := b.Roles.Create(ctx, string(r), data)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyExists):
		return false, nil
	default:
		return false, fmt.Errorf("seed role %s: %w", r, err)
	}
}

// GetRole reads a role's map.
func GetRole(ctx context.Context, b *Buckets, r roles.Role) (RoleMap, error) {
	e, err := b.Roles.Get(ctx, string(r))
	if err != nil {
		return RoleMap{}, fmt.Errorf("read role %s: %w", r, err)
	}
	return decodeRoleMap(e)
}

func decodeRoleMap(e jetstream.KeyValueEntry) (RoleMap, error) {
	var m RoleMap
	if err := json.Unmarshal(e.Value(), &m); err != nil {
		return RoleMap{}, fmt.Errorf("decode role map %s: %w", e.Key(), err)
	}
	m.Revision = e.Revision()
	return m, nil
}

// SetRole validates and stores a role's new shard list. partitions is the
// cluster's partition count, which bounds the number of shards.
func SetRole(ctx context.Context, b *Buckets, r roles.Role, shards roles.Shards, partitions int, by string) (RoleMap, error) {
	if err := roles.Check(r, shards); err != nil {
		return RoleMap{}, err
	}
	if len(shards) > partitions {
		return RoleMap{}, fmt.Errorf("%d shards but only %d partitions: every shard needs a partition", len(shards), partitions)
	}
	m := RoleMap{Role: r, Shards: shards, UpdatedAt: time.Now().UTC(), UpdatedBy: by}
	data, _ := json.Marshal(m)
	rev, err := b.Roles.Put(ctx, string(r), data)
	if err != nil {
		return RoleMap{}, fmt.Errorf("store role %s: %w", r, err)
	}
	m.Revision = rev
	return m, nil
}

// NodeProblems says, for each node a role's shards name, why it cannot
// work the role now: it is not a live member (down, or never started), or
// it does not run the service that works r. A shard with no node able to
// work it leaves its partitions' work waiting. Nil when every node can.
func NodeProblems(r roles.Role, shards roles.Shards, members []Member) []string {
	live := map[string]Member{}
	for _, m := range members {
		live[m.ID] = m
	}
	var out []string
	seen := map[string]bool{}
	for _, sh := range shards {
		for _, id := range sh {
			if seen[id] {
				continue
			}
			seen[id] = true
			m, ok := live[id]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("node %s is not live (down, or not started yet)", id))
			case !m.Consumes(r):
				runs := strings.Join(m.Services, ", ")
				if runs == "" {
					runs = "no service"
				}
				out = append(out, fmt.Sprintf("node %s does not run the service that works %s (it runs %s)", id, r, runs))
			}
		}
	}
	return out
}

// Idle are the shards (from 0) of shards with no live node that works r:
// their partitions' work of r waits until one starts.
func Idle(r roles.Role, shards roles.Shards, members []Member) []int {
	able := map[string]bool{}
	for _, m := range members {
		if m.Consumes(r) {
			able[m.ID] = true
		}
	}
	var out []int
	for i, sh := range shards {
		if !slices.ContainsFunc(sh, func(id string) bool { return able[id] }) {
			out = append(out, i)
		}
	}
	return out
}
