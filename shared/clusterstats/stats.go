package clusterstats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/kvwatch"
)

// Bucket is the KV bucket of the figures.
const Bucket = "jetmail-cluster-stats"

// Prefix starts the name of every series on /metrics.
const Prefix = "jetmail_cluster_"

// Group is one set of figures computed together.
type Group struct {
	// Name is the group's ("queue", "tasks").
	Name string `json:"name"`
	// At is when it was computed, and Node by which node.
	At   time.Time `json:"at"`
	Node string    `json:"node"`
	// Took is how long the computation took.
	Took time.Duration `json:"took"`
	// Series are the figures, each named without Prefix.
	Series []Series `json:"series"`
	// State is what the group's next computation starts from (the
	// counters it saw, for a rate); nil for most groups.
	State json.RawMessage `json:"state,omitempty"`
}

// Series is one metric family of a group: a gauge.
type Series struct {
	// Name is the metric's name without Prefix ("queue_recipients").
	Name string `json:"name"`
	Help string `json:"help"`
	// Labels are the label names; each sample has a value for each.
	Labels  []string `json:"labels,omitempty"`
	Samples []Sample `json:"samples"`
}

// Sample is one value of a series.
type Sample struct {
	Labels []string `json:"labels,omitempty"`
	Value  float64  `json:"value"`
}

// Counter is one node's count of something since it started.
type Counter struct {
	Node string `json:"node"`
	// Since is when the node started counting: a new Since is a restart,
	// from zero.
	Since time.Time `json:"since"`
	Value uint64    `json:"value"`
	// At is when Value was read.
	At time.Time `json:"at"`
}

// Stats is the bucket of figures, with the groups a node follows.
type Stats struct {
	kv jetstream.KeyValue

	mu     sync.RWMutex
	groups map[string]Group
}

// Open creates or opens the bucket.
func Open(ctx context.Context, js jetstream.JetStream, replicas int) (*Stats, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: Bucket, Description: "jetmail cluster-wide figures: group.<name> (computed by metrics.calculate), counter.<name>.<node>",
		History: 1, Storage: jetstream.FileStorage, Replicas: max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("create KV bucket %s: %w", Bucket, err)
	}
	return &Stats{kv: kv, groups: map[string]Group{}}, nil
}

func groupKey(name string) string         { return "group." + name }
func counterKey(name, node string) string { return "counter." + name + "." + node }
func counterPattern(name string) string   { return "counter." + name + ".*" }

// Follow keeps the groups in memory, from the bucket, until bg ends; it
// returns once the current ones are loaded. wg counts its goroutine.
func (s *Stats) Follow(ctx, bg context.Context, wg *sync.WaitGroup) error {
	return kvwatch.Follow(ctx, bg, s.kv, "group.*", wg, func(e jetstream.KeyValueEntry) {
		name := strings.TrimPrefix(e.Key(), "group.")
		s.mu.Lock()
		defer s.mu.Unlock()
		if e.Operation() != jetstream.KeyValuePut {
			delete(s.groups, name)
			return
		}
		var g Group
		if json.Unmarshal(e.Value(), &g) == nil {
			s.groups[name] = g
		}
	})
}

// KV is the bucket, for tools and tests that watch it.
func (s *Stats) KV() jetstream.KeyValue { return s.kv }

// Put stores g, replacing the group's last computation.
func (s *Stats) Put(ctx context.Context, g Group) error {
	b, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("encode group %s: %w", g.Name, err)
	}
	if _, err := s.kv.Put(ctx, groupKey(g.Name), b); err != nil {
		return fmt.Errorf("store group %s: %w", g.Name, err)
	}
	s.mu.Lock()
	if cur, ok := s.groups[g.Name]; !ok || !cur.At.After(g.At) {
		s.groups[g.Name] = g
	}
	s.mu.Unlock()
	return nil
}

// Group is the latest computation of a group this node has seen.
func (s *Stats) Group(name string) (Group, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g, ok := s.groups[name]
	return g, ok
}

// Groups are the latest computations, by name.
func (s *Stats) Groups() []Group {
	s.mu.RLock()
	out := make([]Group, 0, len(s.groups))
	for _, g := range s.groups {
		out = append(out, g)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// PutCounter stores a node's counter.
func (s *Stats) PutCounter(ctx context.Context, name string, c Counter) error {
	b, _ := json.Marshal(c)
	if _, err := s.kv.Put(ctx, counterKey(name, c.Node), b); err != nil {
		return fmt.Errorf("store counter %s of node %s: %w", name, c.Node, err)
	}
	return nil
}

// Counters reads every node's counter of name.
func (s *Stats) Counters(ctx context.Context, name string) ([]Counter, error) {
	var out []Counter
	err := kvwatch.Scan(ctx, s.kv, []string{counterPattern(name)}, func(e jetstream.KeyValueEntry) error {
		var c Counter
		if err := json.Unmarshal(e.Value(), &c); err != nil {
			return fmt.Errorf("counter %s: %w", e.Key(), err)
		}
		out = append(out, c)
		return nil
	})
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, fmt.Errorf("read counters %s: %w", name, err)
	}
	return out, nil
}

// RateState is a rate group's State: the counters of its last
// computation.
type RateState struct {
	// At is when the counters were read; From is the At of the
	// computation before, where the rate's window began (zero for the
	// first).
	At       time.Time          `json:"at"`
	From     time.Time          `json:"from,omitzero"`
	Counters map[string]Counter `json:"counters"`
}

// Rate is how much the counters rose per minute since prev (nil for the
// first computation: no rate yet), and the state the next computation
// starts from. A counter restarted since prev (a new Since) counts whole
// if it started after prev, and is new otherwise.
func Rate(prev *RateState, counters []Counter, now time.Time) (perMinute float64, known bool, next RateState) {
	next = RateState{At: now, Counters: map[string]Counter{}}
	var rise uint64
	for _, c := range counters {
		next.Counters[c.Node] = c
		if prev == nil {
			continue
		}
		p, ok := prev.Counters[c.Node]
		switch {
		case ok && p.Since.Equal(c.Since) && c.Value >= p.Value:
			rise += c.Value - p.Value
		case c.Since.After(prev.At):
			rise += c.Value
		}
	}
	if prev == nil || !now.After(prev.At) {
		return 0, false, next
	}
	next.From = prev.At
	return float64(rise) / now.Sub(prev.At).Minutes(), true, next
}
