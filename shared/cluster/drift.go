package cluster

import (
	"slices"

	"github.com/jetmail/jetmail/shared/roles"
)

// Drift is a role whose map in the cluster differs from the shards a
// node's configuration sets for it (cluster.roles.*). The map wins: the
// configuration only seeds a role that has no map yet, so a drift is said
// (a WARN at start, /ready, `roles show`) and never acted on.
type Drift struct {
	Role roles.Role `json:"role"`
	// Config are the shards the configuration sets.
	Config roles.Shards `json:"config"`
	// Cluster are the shards of the role's map.
	Cluster roles.Shards `json:"cluster"`
}

// Drifts compares the roles a configuration sets with the cluster's maps
// (a role with no map has no drift: it is seeded when a node works it),
// in the order of roles.All.
func Drifts(config, cluster map[roles.Role]roles.Shards) []Drift {
	var out []Drift
	for _, r := range roles.All {
		want, set := config[r]
		have, seeded := cluster[r]
		if set && seeded && !SameShards(want, have) {
			out = append(out, Drift{Role: r, Config: want, Cluster: have})
		}
	}
	return out
}

// SameShards reports whether two shard lists assign the same nodes to the
// same shards. The order of the shards counts (it decides the partitions
// each shard owns); the order of the nodes within a shard does not.
func SameShards(a, b roles.Shards) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := slices.Clone(a[i]), slices.Clone(b[i])
		slices.Sort(x)
		slices.Sort(y)
		if !slices.Equal(x, y) {
			return false
		}
	}
	return true
}
