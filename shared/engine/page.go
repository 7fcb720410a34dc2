package engine

import (
	"slices"
	"strings"
	"time"
)

// Page collects one page of a listing ordered by time, then key, while a
// Scan streams past every item: it keeps at most twice the rows up to the
// page's end, not every match.
type Page[V any] struct {
	position, limit int
	desc            bool
	rows            []pageRow[V]
	total           int
}

type pageRow[V any] struct {
	when time.Time
	key  string
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
	p.rows = append(p.rows, pageRow[V]{when, key, v})
	if end := p.position + p.limit; p.limit > 0 && len(p.rows) >= 2*end+64 {
		p.sort()
		p.rows = p.rows[:end]
	}
}

func (p *Page[V]) sort() {
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
