package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/shard"
)

// ErrPlanStale is returned by Plan.Apply when a role's map changed after
// the plan read it: the plan would undo a change it never showed. Plan
// again.
var ErrPlanStale = errors.New("the role map changed since the plan was made")

// RoleChange is one role a Plan changes.
type RoleChange struct {
	Role roles.Role `json:"role"`
	// From are the role's shards now; empty when it has no map yet.
	From roles.Shards `json:"from"`
	// To are the shards the plan sets.
	To roles.Shards `json:"to"`
	// Problems say why To cannot be worked as it stands: a shard list the
	// role's rules refuse (roles.Check), a node down, unknown or not
	// running the role's service (NodeProblems). Applying it anyway
	// (--force) is for nodes planned but not started yet.
	Problems []string `json:"problems,omitempty"`
	// FromRevision is the revision of the map From was read at; 0 when
	// the role had no map.
	FromRevision uint64 `json:"fromRevision,omitempty"`
	// Revision is the revision of the map Apply stored; 0 until then.
	Revision uint64 `json:"revision,omitempty"`
}

// Plan is a set of role map changes, worked out by PlanRoles and stored by
// Apply, so that a caller (the CLI, the console) can show it first.
type Plan struct {
	Changes []RoleChange `json:"changes"`
}

// PlanRoles compares the desired shards of each role with the cluster's
// maps: each role whose shards differ (SameShards) becomes a change, with
// its problems. Roles absent from desired are left as they are.
func PlanRoles(ctx context.Context, b *Buckets, desired map[roles.Role]roles.Shards) (*Plan, error) {
	for r := range desired {
		if _, err := roles.Parse(string(r)); err != nil {
			return nil, err
		}
	}
	members, err := LiveMembers(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("read the live nodes: %w", err)
	}
	p := &Plan{Changes: []RoleChange{}}
	for _, r := range roles.All {
		to, ok := desired[r]
		if !ok {
			continue
		}
		c := RoleChange{Role: r, To: to}
		m, found, err := lookupRole(ctx, b, r)
		if err != nil {
			return nil, err
		}
		if found {
			if SameShards(m.Shards, to) {
				continue
			}
			c.From, c.FromRevision = m.Shards, m.Revision
		}
		if err := roles.Check(r, to); err != nil {
			c.Problems = append(c.Problems, err.Error())
		}
		c.Problems = append(c.Problems, NodeProblems(r, to, members)...)
		p.Changes = append(p.Changes, c)
	}
	return p, nil
}

// lookupRole reads a role's map; found is false when it has none.
func lookupRole(ctx context.Context, b *Buckets, r roles.Role) (m RoleMap, found bool, err error) {
	e, err := b.Roles.Get(ctx, string(r))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return RoleMap{}, false, nil
	}
	if err != nil {
		return RoleMap{}, false, fmt.Errorf("read role %s: %w", r, err)
	}
	m, err = decodeRoleMap(e)
	return m, err == nil, err
}

// Problems lists every change's problems, each prefixed with its role.
func (p *Plan) Problems() []string {
	var out []string
	for _, c := range p.Changes {
		for _, pr := range c.Problems {
			out = append(out, fmt.Sprintf("%s: %s", c.Role, pr))
		}
	}
	return out
}

// String renders the plan for a terminal: per role, its shards now and
// the plan's, then its problems.
//
//	fts-indexing: 1,2 -> 1 | 2
//	  problem: node 2 is not live (down, or not started yet)
func (p *Plan) String() string {
	if len(p.Changes) == 0 {
		return "nothing to change: every role's map already has these shards\n"
	}
	var sb strings.Builder
	for _, c := range p.Changes {
		from := "(no map yet)"
		if len(c.From) > 0 {
			from = strings.Join(c.From.Strings(), " | ")
		}
		fmt.Fprintf(&sb, "%s: %s -> %s\n", c.Role, from, strings.Join(c.To.Strings(), " | "))
		for _, pr := range c.Problems {
			fmt.Fprintf(&sb, "  problem: %s\n", pr)
		}
	}
	return sb.String()
}

// Apply stores each change's shards (SetRole, bounded by the partitions
// of the role's current layout), in order, recording the new revisions.
// It does not look at Problems: refusing a plan with problems is the
// caller's decision. A role whose map changed since PlanRoles read it
// stops Apply with ErrPlanStale; the changes before it stay applied.
func (p *Plan) Apply(ctx context.Context, b *Buckets, by string) error {
	for i := range p.Changes {
		c := &p.Changes[i]
		cur, found, err := lookupRole(ctx, b, c.Role)
		if err != nil {
			return err
		}
		if found && cur.Revision != c.FromRevision || !found && c.FromRevision != 0 {
			return fmt.Errorf("%s: %w (planned at revision %d, now %d): plan again%s", c.Role, ErrPlanStale, c.FromRevision, cur.Revision, p.applied(i))
		}
		partitions := shard.DefaultPartitions
		if l, err := GetLayout(ctx, b, c.Role); err == nil && l != nil {
			partitions = l.Partitions
		}
		m, err := SetRole(ctx, b, c.Role, c.To, partitions, by)
		if err != nil {
			return fmt.Errorf("%s: %w%s", c.Role, err, p.applied(i))
		}
		c.Revision = m.Revision
	}
	return nil
}

// applied names the changes before the i-th, for an error that stops
// Apply there.
func (p *Plan) applied(i int) string {
	if i == 0 {
		return ""
	}
	names := make([]string, i)
	for j := range i {
		names[j] = string(p.Changes[j].Role)
	}
	return " (already applied: " + strings.Join(names, ", ") + ")"
}
