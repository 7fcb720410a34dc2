package mailqueue

import (
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// index is this node's view of the queue, fed by a watch of jetmail-queue:
// trigger checks, grouping of a message's recipients, listings and depth.
type index struct {
	log  *slog.Logger
	mu   sync.RWMutex
	m    map[string]*entry
	byID map[string]map[string]bool // message id -> entry keys
}

type entry struct {
	key, messageID, address, sender, queue string
	due                                    time.Time
	held                                   bool
	token                                  string
	rev                                    uint64
	attempts                               int
	// deliveringUntil is a claim: another transaction holds the entry.
	deliveringUntil time.Time
}

func newIndex(log *slog.Logger) *index {
	return &index{log: log, m: map[string]*entry{}, byID: map[string]map[string]bool{}}
}

func (ix *index) apply(e jetstream.KeyValueEntry) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	key := e.Key()
	if e.Operation() != jetstream.KeyValuePut {
		if old, ok := ix.m[key]; ok {
			delete(ix.byID[old.messageID], key)
			if len(ix.byID[old.messageID]) == 0 {
				delete(ix.byID, old.messageID)
			}
			delete(ix.m, key)
		}
		return
	}
	r, err := decodeRecipient(e.Value())
	if err != nil {
		ix.log.Error("ignoring undecodable queue entry", "key", key, "err", err)
		return
	}
	en := &entry{key: key, messageID: r.MessageID, address: r.Address, sender: r.Sender, queue: r.Queue, due: r.Due,
		held: r.Held, token: r.Token, rev: e.Revision(), attempts: r.Attempts, deliveringUntil: r.DeliveringUntil}
	ix.m[key] = en
	if ix.byID[r.MessageID] == nil {
		ix.byID[r.MessageID] = map[string]bool{}
	}
	ix.byID[r.MessageID][key] = true
}

func (ix *index) get(key string) (entry, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	e, ok := ix.m[key]
	if !ok {
		return entry{}, false
	}
	return *e, true
}

// siblings lists the other entries of a message.
func (ix *index) siblings(messageID, except string) []entry {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []entry
	for k := range ix.byID[messageID] {
		if k != except {
			out = append(out, *ix.m[k])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// Filter selects queue entries for listings and bulk operations.
type Filter struct {
	// Queue is a virtual queue name.
	Queue string
	// Domain and Sender match the recipient's domain and the sender address
	// (or @domain for a sender domain).
	Domain, Sender string
	// Status is "queued", "retrying" (attempted at least once) or "held".
	Status string
	// DueAfter and DueBefore bound the next attempt time.
	DueAfter, DueBefore *time.Time
	// Position and Limit page the results (Limit 0: all).
	Position, Limit int
}

func (f Filter) match(e *entry) bool {
	switch {
	case f.Queue != "" && e.queue != f.Queue,
		f.Domain != "" && !strings.EqualFold(domainOf(e.address), f.Domain),
		f.Sender != "" && !(strings.EqualFold(e.sender, f.Sender) || strings.HasPrefix(f.Sender, "@") && strings.EqualFold(domainOf(e.sender), f.Sender[1:])),
		f.Status == "held" && !e.held,
		f.Status == "queued" && (e.held || e.attempts > 0),
		f.Status == "retrying" && (e.held || e.attempts == 0),
		f.DueAfter != nil && e.due.Before(*f.DueAfter),
		f.DueBefore != nil && !e.due.Before(*f.DueBefore):
		return false
	}
	return true
}

// List returns the keys of the entries that match f, soonest due first,
// and how many matched in all.
func (q *Queue) List(f Filter) ([]string, int) {
	q.index.mu.RLock()
	var hits []*entry
	for _, e := range q.index.m {
		if f.match(e) {
			hits = append(hits, e)
		}
	}
	q.index.mu.RUnlock()
	sort.Slice(hits, func(i, j int) bool {
		if !hits[i].due.Equal(hits[j].due) {
			return hits[i].due.Before(hits[j].due)
		}
		return hits[i].key < hits[j].key
	})
	total := len(hits)
	hits = hits[min(f.Position, len(hits)):]
	if f.Limit > 0 && len(hits) > f.Limit {
		hits = hits[:f.Limit]
	}
	keys := make([]string, len(hits))
	for i, e := range hits {
		keys[i] = e.key
	}
	return keys, total
}

// depth counts entries per virtual queue.
func (ix *index) depth() map[string]int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := map[string]int{}
	for _, e := range ix.m {
		out[e.queue]++
	}
	return out
}

// Depth counts queued recipients per virtual queue, cluster-wide.
func (q *Queue) Depth() map[string]int { return q.index.depth() }

// VirtualQueues lists the configured virtual queues, sorted.
func (q *Queue) VirtualQueues() []string {
	out := make([]string, 0, len(q.n.Config.Queue.Virtual))
	for n := range q.n.Config.Queue.Virtual {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// VirtualQueueThreads is a virtual queue's threads-per-node, if it exists.
func (q *Queue) VirtualQueueThreads(name string) (int, bool) {
	vq, ok := q.n.Config.Queue.Virtual[name]
	return vq.ThreadsPerNode, ok
}

// Len is the number of queued recipients.
func (q *Queue) Len() int {
	q.index.mu.RLock()
	defer q.index.mu.RUnlock()
	return len(q.index.m)
}
