package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/jetmail/jetmail/shared/clusterstats"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/work"
)

// group is one group of figures and how it is computed; prev is the
// group's last computation, if any.
type group struct {
	name    string
	compute func(s *Service, ctx context.Context, prev *clusterstats.Group) ([]clusterstats.Series, json.RawMessage, error)
}

var groups = []group{
	{"queue", (*Service).queueFigures},
	{"tasks", (*Service).taskFigures},
	{"accounts", (*Service).accountFigures},
	{"store", (*Service).storeFigures},
	{"deliveries", (*Service).deliveryFigures},
}

// calculate works one firing of a group's schedule.
func (s *Service) calculate(ctx context.Context, job *work.Job) error {
	name := string(job.Data)
	i := -1
	for j, g := range groups {
		if g.name == name {
			i = j
		}
	}
	if i < 0 {
		return work.Permanent(fmt.Errorf("metrics.calculate: no group %q", name))
	}
	start := s.d.Clock.Now()
	if age := start.Sub(job.Published); age > s.cfg.Metrics.CalculateInterval {
		s.log.Info("cluster figures skipped: the firing is older than metrics.calculate.interval", "group", name, "age", age)
		return nil
	}
	var prev *clusterstats.Group
	if g, ok := s.stats.Group(name); ok {
		prev = &g
	}
	series, state, err := groups[i].compute(s, ctx, prev)
	if err != nil {
		return fmt.Errorf("metrics.calculate %s: %w", name, err)
	}
	end := s.d.Clock.Now().UTC()
	if err := s.stats.Put(ctx, clusterstats.Group{Name: name, At: end, Node: s.d.NodeID, Took: end.Sub(start), Series: series, State: state}); err != nil {
		return fmt.Errorf("metrics.calculate %s: %w", name, err)
	}
	return nil
}

// samples turns counts keyed by label values into sorted samples.
func samples[K comparable](counts map[K]int, labels func(K) []string) []clusterstats.Sample {
	out := make([]clusterstats.Sample, 0, len(counts))
	for k, n := range counts {
		out = append(out, clusterstats.Sample{Labels: labels(k), Value: float64(n)})
	}
	sort.Slice(out, func(i, j int) bool { return strings.Join(out[i].Labels, "\x00") < strings.Join(out[j].Labels, "\x00") })
	return out
}

func (s *Service) queueFigures(ctx context.Context, _ *clusterstats.Group) ([]clusterstats.Series, json.RawMessage, error) {
	counts, err := s.queue.Count(ctx)
	if err != nil {
		return nil, nil, err
	}
	// Every configured queue shows, at 0 when empty, so a graph has no gap.
	for _, q := range s.queue.VirtualQueues() {
		for _, st := range []string{"queued", "retrying", "held"} {
			counts[[2]string{q, st}] += 0
		}
	}
	return []clusterstats.Series{{Name: "queue_recipients", Help: "Recipients in the outbound queue, cluster-wide, by virtual queue and status (queued: not attempted yet; retrying; held).",
		Labels: []string{"queue", "status"}, Samples: samples(counts, func(k [2]string) []string { return k[:] })}}, nil, nil
}

func (s *Service) taskFigures(ctx context.Context, _ *clusterstats.Group) ([]clusterstats.Series, json.RawMessage, error) {
	counts, err := s.mgr.Count(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, v := range task.Variants() {
		counts[[2]string{string(task.Pending), string(v)}] += 0
	}
	return []clusterstats.Series{{Name: "tasks", Help: "Tasks in the cluster by status (Pending, Retry, Failed) and type.",
		Labels: []string{"status", "type"}, Samples: samples(counts, func(k [2]string) []string { return k[:] })}}, nil, nil
}

func (s *Service) accountFigures(ctx context.Context, _ *clusterstats.Group) ([]clusterstats.Series, json.RawMessage, error) {
	states := map[store.AccountState]int{store.Active: 0, store.Deleted: 0}
	var used int64
	err := s.st.EachAccount(ctx, func(a *store.Account) error {
		states[a.State]++
		if a.State == store.Active {
			used += a.Used
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return []clusterstats.Series{
		{Name: "accounts", Help: "Accounts in the store, by state (active, deleted: kept until purged).", Labels: []string{"state"},
			Samples: samples(states, func(k store.AccountState) []string { return []string{string(k)} })},
		{Name: "account_used_bytes", Help: "Bytes the active accounts use, by their quota's count, summed.",
			Samples: []clusterstats.Sample{{Value: float64(used)}}},
	}, nil, nil
}

func (s *Service) storeFigures(ctx context.Context, _ *clusterstats.Group) ([]clusterstats.Series, json.RawMessage, error) {
	sizes, err := store.Sizes(ctx, s.d.JS())
	if err != nil {
		return nil, nil, err
	}
	sr := clusterstats.Series{Name: "store_bytes", Help: "Bytes the mail store's streams hold (one replica), by part (directory, documents, blobs, changes).", Labels: []string{"part"}}
	for _, part := range []string{"directory", "documents", "blobs", "changes"} {
		if n, ok := sizes[part]; ok {
			sr.Samples = append(sr.Samples, clusterstats.Sample{Labels: []string{part}, Value: float64(n)})
		}
	}
	return []clusterstats.Series{sr}, nil, nil
}

func (s *Service) deliveryFigures(ctx context.Context, prev *clusterstats.Group) ([]clusterstats.Series, json.RawMessage, error) {
	counters, err := s.stats.Counters(ctx, clusterstats.CounterDeliveries)
	if err != nil {
		return nil, nil, err
	}
	var last *clusterstats.RateState
	if prev != nil && len(prev.State) > 0 {
		var st clusterstats.RateState
		if json.Unmarshal(prev.State, &st) == nil {
			last = &st
		}
	}
	rate, known, next := clusterstats.Rate(last, counters, s.d.Clock.Now().UTC())
	state, err := json.Marshal(next)
	if err != nil {
		return nil, nil, err
	}
	sr := clusterstats.Series{Name: "deliveries_per_minute", Help: "Recipients delivered per minute in the cluster, over the last metrics.calculate.interval."}
	if known {
		sr.Samples = []clusterstats.Sample{{Value: rate}}
	}
	return []clusterstats.Series{sr}, state, nil
}
