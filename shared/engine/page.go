package engine

import (
	"slices"
	"strings"
	"time"
)

// Page collects one page of a listing ordered by time, then key, while a
// Scan streams past every item: it keeps at most twice the rows up to the
// page's end, not every match. A key offered twice (Scan may see an item
// that gets its record meanwhile both inline and as a record) is listed
// once, as offered last, and counted once when both offers fall in the
// rows it keeps.
type Page[V any] struct {
	position, limit int
	desc            bool
	rows            []pageRow[V]
	total           int
}

type pageRow[V any] struct {
	when time.Time
	key  string
	seq  int // the order offered, to keep the last of a key offered twice
	v    V
}

// NewPage returns a page of limit rows (0: all) from position on, soonest
// first, or latest first with desc.
func NewPage[V any](position, limit int, desc bool) *Page[V] {
	return &Page[V]{position: max(position, 0), limit: max(limit, 0), desc: desc}
}

// Add offers one match.
func (p *Page[V]) Add(v V, when time.Time, key string) {
	p.total++
	p.rows = append(p.rows, pageRow[V]{when, key, p.total, v})
	if end := p.position + p.limit; p.limit > 0 && len(p.rows) >= 2*end+64 {
		p.sort()
		p.rows = p.rows[:end]
	}
}

func (p *Page[V]) sort() {
	p.dedupe()
	slices.SortFunc(p.rows, func(a, b pageRow[V]) int {
		c := a.when.Compare(b.when)
		if c == 0 {
			c = strings.Compare(a.key, b.key)
		}
		if p.desc {
			c = -c
		}
		return c
	})
}

// dedupe drops all but the last offer of each key among the rows kept.
func (p *Page[V]) dedupe() {
	slices.SortFunc(p.rows, func(a, b pageRow[V]) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return b.seq - a.seq
	})
	n := len(p.rows)
	p.rows = slices.CompactFunc(p.rows, func(a, b pageRow[V]) bool { return a.key == b.key })
	p.total -= n - len(p.rows)
}

// Result returns the page's rows in order and how many matched in all.
func (p *Page[V]) Result() ([]V, int) {
	p.sort()
	rows := p.rows[min(p.position, len(p.rows)):]
	if p.limit > 0 && len(rows) > p.limit {
		rows = rows[:p.limit]
	}
	out := make([]V, len(rows))
	for i, r := range rows {
		out[i] = r.v
	}
	return out, p.total
}
