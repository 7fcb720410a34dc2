package mailqueue

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jetmail/jetmail/shared/address"
	"github.com/jetmail/jetmail/shared/engine"
)

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

func (f Filter) match(r *Recipient) bool {
	switch {
	case f.Queue != "" && r.Queue != f.Queue,
		f.Domain != "" && !strings.EqualFold(r.Domain(), f.Domain),
		f.Sender != "" && !(strings.EqualFold(r.Sender, f.Sender) || strings.HasPrefix(f.Sender, "@") && strings.EqualFold(address.DomainOf(r.Sender), f.Sender[1:])),
		f.Status == "held" && !r.Held,
		f.Status == "queued" && (r.Held || r.Attempts > 0),
		f.Status == "retrying" && (r.Held || r.Attempts == 0),
		f.DueAfter != nil && r.Due.Before(*f.DueAfter),
		f.DueBefore != nil && !r.Due.Before(*f.DueBefore):
		return false
	}
	return true
}

// List returns the keys of the entries that match f, soonest due first,
// and how many matched in all. It pages through the queue bucket, keeping
// in memory only the page asked for.
func (q *Queue) List(ctx context.Context, f Filter) ([]string, int, error) {
	page := engine.NewPage[string](f.Position, f.Limit, false)
	err := q.eng.Scan(ctx, func(it *entry) bool {
		if f.match(it.Value) {
			page.Add(it.Key, it.Value.Due, it.Key)
		}
		return true
	})
	if err != nil {
		return nil, 0, err
	}
	keys, total := page.Result()
	return keys, total, nil
}

// Depth counts the recipients queued per virtual queue, cluster-wide,
// from the server's counts, without reading the queue: those due now
// (waiting for a delivery slot or being delivered) and those waiting for a
// later attempt. Held recipients, which have no trigger, are not counted
// (list them with Filter.Status "held"); a trigger that went stale is
// counted until it is dropped. Its cost does not grow with the queue.
func (q *Queue) Depth(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	for name := range q.d.Config.Queue.Virtual {
		c, err := q.js.Consumer(ctx, Stream, consumerName(name))
		if err != nil {
			return nil, fmt.Errorf("virtual queue %s: %w", name, err)
		}
		due := c.CachedInfo()
		s, err := q.js.Consumer(ctx, Stream, schedCounterName(name))
		if err != nil {
			return nil, fmt.Errorf("virtual queue %s: %w", name, err)
		}
		out[name] = int(due.NumPending) + due.NumAckPending + int(s.CachedInfo().NumPending)
	}
	return out, nil
}

// Len is the number of queued recipients, held ones included. It reads the
// whole queue (Depth does not).
func (q *Queue) Len(ctx context.Context) (int, error) {
	n := 0
	err := q.eng.Scan(ctx, func(*entry) bool { n++; return true })
	return n, err
}

// Delivered is how many recipients this node has delivered since it
// started.
func (q *Queue) Delivered() uint64 { return q.delivered.Load() }

// Count is the recipients queued per virtual queue and status ("queued",
// "retrying", "held", as Filter.Status), held ones included. It reads the
// whole queue (Depth does not).
func (q *Queue) Count(ctx context.Context) (map[[2]string]int, error) {
	out := map[[2]string]int{}
	err := q.eng.Scan(ctx, func(it *entry) bool {
		r := it.Value
		status := "queued"
		switch {
		case r.Held:
			status = "held"
		case r.Attempts > 0:
			status = "retrying"
		}
		out[[2]string{r.Queue, status}]++
		return true
	})
	return out, err
}

// VirtualQueues lists the configured virtual queues, sorted.
func (q *Queue) VirtualQueues() []string {
	out := make([]string, 0, len(q.d.Config.Queue.Virtual))
	for n := range q.d.Config.Queue.Virtual {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// VirtualQueueThreads is a virtual queue's threads-per-node, if it exists.
func (q *Queue) VirtualQueueThreads(name string) (int, bool) {
	vq, ok := q.d.Config.Queue.Virtual[name]
	return vq.ThreadsPerNode, ok
}
