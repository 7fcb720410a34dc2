package taskmanager

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/kvwatch"
	"github.com/jetmail/jetmail/shared/task"
)

// index is this node's view of every task, fed by a watch of jetmail-tasks,
// for queries, overdue scans and the task gauges.
type index struct {
	log *slog.Logger
	mu  sync.RWMutex
	m   map[string]entry
}

type entry struct {
	variant task.Variant
	status  task.Status
	// when is the due time of Pending and Retry tasks, the failure time of
	// Failed ones: the time a listing sorts by.
	when    time.Time
	account string
	// token and rev let a runner check a trigger without reading the task.
	token string
	rev   uint64
}

func newIndex(log *slog.Logger) *index { return &index{log: log, m: map[string]entry{}} }

// start watches the bucket and returns once the current tasks are loaded.
func (ix *index) start(ctx, bgCtx context.Context, kv jetstream.KeyValue, wg *sync.WaitGroup) error {
	return kvwatch.Follow(ctx, bgCtx, kv, "", wg, ix.apply)
}

func (ix *index) apply(e jetstream.KeyValueEntry) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(ix.m, e.Key())
		return
	}
	// Only the fields the index needs, in one pass: this runs for every
	// write to the bucket.
	var s struct {
		Task struct {
			Type      task.Variant `json:"@type"`
			Status    task.Status  `json:"status"`
			AccountID string       `json:"accountId"`
		} `json:"task"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal(e.Value(), &s); err != nil || s.Task.Type == "" {
		ix.log.Error("ignoring undecodable task", "key", e.Key(), "err", err)
		return
	}
	en := entry{variant: s.Task.Type, status: s.Task.Status, when: s.Task.Status.Due, account: s.Task.AccountID,
		token: s.Token, rev: e.Revision()}
	if en.status.Type == task.Failed {
		en.when = s.Task.Status.FailedAt
	}
	ix.m[e.Key()] = en
}

// Query selects and orders tasks.
type Query struct {
	// Status keeps tasks with one of these statuses; empty keeps all.
	Status []task.StatusType
	// Types keeps tasks of these variants; empty keeps all.
	Types []task.Variant
	// AccountID keeps the tasks of one account.
	AccountID string
	// DueAfter and DueBefore bound the due time (the failure time of Failed
	// tasks): DueAfter <= when < DueBefore.
	DueAfter, DueBefore *time.Time
	// Descending sorts latest first; the default is soonest first.
	Descending bool
	// Position is the index of the first result; Limit caps the results
	// (0: no cap).
	Position, Limit int
}

// Query returns the ids of the tasks that match q, in order, and how many
// matched in all.
func (m *Manager) Query(q Query) ([]string, int) { return m.index.query(q) }

func (ix *index) query(q Query) ([]string, int) {
	type hit struct {
		id   string
		when time.Time
	}
	ix.mu.RLock()
	var hits []hit
	for id, e := range ix.m {
		if len(q.Status) > 0 && !slices.Contains(q.Status, e.status.Type) ||
			len(q.Types) > 0 && !slices.Contains(q.Types, e.variant) ||
			q.AccountID != "" && q.AccountID != e.account ||
			q.DueAfter != nil && e.when.Before(*q.DueAfter) ||
			q.DueBefore != nil && !e.when.Before(*q.DueBefore) {
			continue
		}
		hits = append(hits, hit{id, e.when})
	}
	ix.mu.RUnlock()
	slices.SortFunc(hits, func(a, b hit) int {
		c := a.when.Compare(b.when)
		if c == 0 {
			c = compareStrings(a.id, b.id)
		}
		if q.Descending {
			c = -c
		}
		return c
	})
	total := len(hits)
	if q.Position > len(hits) {
		q.Position = len(hits)
	}
	hits = hits[q.Position:]
	if q.Limit > 0 && len(hits) > q.Limit {
		hits = hits[:q.Limit]
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.id
	}
	return ids, total
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// get returns the index's entry for a task.
func (ix *index) get(id string) (entry, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	e, ok := ix.m[id]
	return e, ok
}

// Count returns how many tasks exist (pending, retrying or failed).
func (m *Manager) Count() int {
	m.index.mu.RLock()
	defer m.index.mu.RUnlock()
	return len(m.index.m)
}

// overdue lists runnable tasks due before cutoff.
func (ix *index) overdue(cutoff time.Time) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []string
	for id, e := range ix.m {
		if e.status.Type != task.Failed && e.when.Before(cutoff) {
			out = append(out, id)
		}
	}
	return out
}

// counts returns how many tasks there are by status and variant.
func (ix *index) counts() map[[2]string]int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := map[[2]string]int{}
	for _, e := range ix.m {
		out[[2]string{string(e.status.Type), string(e.variant)}]++
	}
	return out
}
