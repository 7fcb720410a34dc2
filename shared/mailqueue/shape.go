package mailqueue

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// ShapeBuckets are the age buckets of Shape by default, as Postfix's
// qshape draws them: under 5 minutes, 5 to 10, 10 to 20, and so on to
// 1280 minutes, then older.
var ShapeBuckets = []time.Duration{
	5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 80 * time.Minute,
	160 * time.Minute, 320 * time.Minute, 640 * time.Minute, 1280 * time.Minute,
}

// Shape is what the queue holds: per virtual queue, and per destination
// domain by age (time since the message was received).
type Shape struct {
	// Queues are the figures of each virtual queue that holds entries.
	Queues map[string]QueueFigures
	// Buckets are the upper bounds of the age buckets; each domain's
	// Counts has one more, for older entries.
	Buckets []time.Duration
	// Domains are the recipient domains, most entries first.
	Domains []DomainShape
}

// QueueFigures count a virtual queue's entries by status (as
// Filter.Status) and tell its oldest.
type QueueFigures struct {
	Queued, Retrying, Held int
	// Oldest is when the oldest entry was received.
	Oldest time.Time
}

// DomainShape counts the entries for one recipient domain by age bucket.
type DomainShape struct {
	Domain string
	Total  int
	Counts []int
}

// Shape reads the entries that match f (its paging is ignored) and
// counts them at now into buckets (nil: ShapeBuckets), keeping the top
// domains with most entries (top <= 0: all). It reads the whole queue,
// keeping one counter per domain in memory.
func (q *Queue) Shape(ctx context.Context, now time.Time, f Filter, buckets []time.Duration, top int) (*Shape, error) {
	if buckets == nil {
		buckets = ShapeBuckets
	}
	out := &Shape{Queues: map[string]QueueFigures{}, Buckets: buckets}
	domains := map[string]*DomainShape{}
	err := q.eng.Scan(ctx, func(it *entry) bool {
		r := it.Value
		if !f.match(r) {
			return true
		}
		fig := out.Queues[r.Queue]
		switch {
		case r.Held:
			fig.Held++
		case r.Attempts > 0:
			fig.Retrying++
		default:
			fig.Queued++
		}
		if fig.Oldest.IsZero() || r.ReceivedAt.Before(fig.Oldest) {
			fig.Oldest = r.ReceivedAt
		}
		out.Queues[r.Queue] = fig
		dom := strings.ToLower(r.Domain())
		d := domains[dom]
		if d == nil {
			d = &DomainShape{Domain: dom, Counts: make([]int, len(buckets)+1)}
			domains[dom] = d
		}
		age := now.Sub(r.ReceivedAt)
		i := sort.Search(len(buckets), func(i int) bool { return age < buckets[i] })
		d.Counts[i]++
		d.Total++
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("shape the queue: %w", err)
	}
	for _, d := range domains {
		out.Domains = append(out.Domains, *d)
	}
	sort.Slice(out.Domains, func(i, j int) bool {
		a, b := out.Domains[i], out.Domains[j]
		if a.Total != b.Total {
			return a.Total > b.Total
		}
		return a.Domain < b.Domain
	})
	if top > 0 && len(out.Domains) > top {
		out.Domains = out.Domains[:top]
	}
	return out, nil
}

// InFlight counts the recipients being delivered now per virtual queue,
// cluster-wide, from the server's counts (the due consumer's
// acknowledgements pending), without reading the queue.
func (q *Queue) InFlight(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	for name := range q.d.Config.Queue.Virtual {
		c, err := q.js.Consumer(ctx, Stream, consumerName(name))
		if err != nil {
			return nil, fmt.Errorf("virtual queue %s: %w", name, err)
		}
		out[name] = c.CachedInfo().NumAckPending
	}
	return out, nil
}
