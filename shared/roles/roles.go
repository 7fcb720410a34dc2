// Package roles names the cluster roles of the reference (cluster.roles.*) and
// parses and validates their shard lists.
//
// A role's value is a list of shards; each shard is a comma-separated list of
// node ids ("1,4"). A node holds a role when it appears in one of its shards.
package roles

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Role is a cluster role, named as in the reference ("purge.stores").
type Role string

// The roles of the reference, in its order.
const (
	PurgeStores       Role = "purge.stores"
	PurgeAccounts     Role = "purge.accounts"
	AcmeRenew         Role = "acme.renew"
	MetricsCalculate  Role = "metrics.calculate"
	MetricsPush       Role = "metrics.push"
	PushNotifications Role = "push-notifications"
	FtsIndexing       Role = "fts-indexing"
	BayesTraining     Role = "bayes-training"
	ImipProcessing    Role = "imip-processing"
	CalendarAlerts    Role = "calendar-alerts"
)

// All lists every role.
var All = []Role{PurgeStores, PurgeAccounts, AcmeRenew, MetricsCalculate, MetricsPush,
	PushNotifications, FtsIndexing, BayesTraining, ImipProcessing, CalendarAlerts}

// Parse returns the role with the given name.
func Parse(name string) (Role, error) {
	r := Role(name)
	if slices.Contains(All, r) {
		return r, nil
	}
	names := make([]string, len(All))
	for i, r := range All {
		names[i] = string(r)
	}
	return "", fmt.Errorf("unknown role %q (roles: %s)", name, strings.Join(names, ", "))
}

// Token is the role's name as a single NATS subject token and stream-name
// fragment: dots become dashes ("purge-stores").
func (r Role) Token() string { return strings.ReplaceAll(string(r), ".", "-") }

// Shard is the set of node ids that together work one shard of a role.
type Shard []string

// String writes the shard as in the configuration ("1,4").
func (s Shard) String() string { return strings.Join(s, ",") }

// Has reports whether node belongs to the shard.
func (s Shard) Has(node string) bool { return slices.Contains(s, node) }

// Shards is a role's shard list.
type Shards []Shard

// Of returns the indexes of the shards node belongs to.
func (ss Shards) Of(node string) []int {
	var out []int
	for i, s := range ss {
		if s.Has(node) {
			out = append(out, i)
		}
	}
	return out
}

// Strings writes the list as in the configuration (["1,4", "2,3"]).
func (ss Shards) Strings() []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.String()
	}
	return out
}

// MarshalJSON writes the configuration form, ["1,4","2,3"].
func (ss Shards) MarshalJSON() ([]byte, error) { return json.Marshal(ss.Strings()) }

// UnmarshalJSON reads the configuration form.
func (ss *Shards) UnmarshalJSON(b []byte) error {
	var lists []string
	if err := json.Unmarshal(b, &lists); err != nil {
		return err
	}
	out, err := ParseShards(lists)
	if err != nil {
		return err
	}
	*ss = out
	return nil
}

var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// CheckNodeID reports why id cannot name a node, or nil. Node ids are 1 to 64
// letters, digits, '-', '_' or '.' (so a host name works) so that they fit a
// KV key.
func CheckNodeID(id string) error {
	if !nodeIDPattern.MatchString(id) || strings.HasPrefix(id, ".") || strings.HasSuffix(id, ".") || strings.Contains(id, "..") {
		return fmt.Errorf("node id %q must be 1 to 64 letters, digits, '-', '_' or '.'", id)
	}
	return nil
}

// ShardError is a problem with one shard of a list; Index counts from 0.
type ShardError struct {
	Index  int
	Reason string
}

func (e *ShardError) Error() string { return fmt.Sprintf("[%d]: %s", e.Index, e.Reason) }

// ParseShards parses the configuration form of a shard list. The error, if
// any, joins one *ShardError per bad shard.
func ParseShards(lists []string) (Shards, error) {
	var errs []error
	out := make(Shards, 0, len(lists))
	for i, list := range lists {
		var shard Shard
		bad := false
		for _, part := range strings.Split(list, ",") {
			id := strings.TrimSpace(part)
			if err := CheckNodeID(id); err != nil {
				errs = append(errs, &ShardError{i, fmt.Sprintf("cannot parse node list %q: %v", list, err)})
				bad = true
				break
			}
			if shard.Has(id) {
				errs = append(errs, &ShardError{i, fmt.Sprintf("node %s appears twice in shard %q", id, list)})
				bad = true
				break
			}
			shard = append(shard, id)
		}
		if !bad {
			out = append(out, shard)
		}
	}
	return out, joinErrors(errs)
}

// Check applies the reference's rules to a role's shard list: at least one
// shard, and push-notifications must be sharded so that no user receives
// a notification twice: on more than one node it needs two shards or
// more. One node alone (the default, and jetmail dev) has nothing to
// shard.
func Check(r Role, ss Shards) error {
	if len(ss) == 0 {
		return fmt.Errorf("a role needs at least one shard")
	}
	if r == PushNotifications && len(ss) < 2 && len(ss[0]) > 1 {
		return fmt.Errorf("push-notifications must be sharded: on %d nodes it needs at least two shards, got %d", len(ss[0]), len(ss))
	}
	return nil
}

func joinErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return shardErrors(errs)
}

type shardErrors []error

func (e shardErrors) Error() string {
	parts := make([]string, len(e))
	for i, err := range e {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; ")
}

func (e shardErrors) Unwrap() []error { return e }
