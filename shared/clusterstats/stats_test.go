package clusterstats

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRate(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	boot := t0.Add(-time.Hour)
	c := func(node string, since time.Time, v uint64) Counter {
		return Counter{Node: node, Since: since, Value: v}
	}

	// The first computation has no rate, only a start.
	_, known, st := Rate(nil, []Counter{c("a", boot, 100)}, t0)
	require.False(t, known)

	// a rose by 30 in 30s; b started meanwhile (counts whole); c was
	// running before but is seen for the first time (a baseline).
	t1 := t0.Add(30 * time.Second)
	rate, known, st2 := Rate(&st, []Counter{c("a", boot, 130), c("b", t0.Add(10*time.Second), 6), c("c", boot, 5000)}, t1)
	require.True(t, known)
	require.InDelta(t, 72, rate, 1e-9) // 36 in half a minute

	// a restarted: its new count counts whole; b went on.
	t2 := t1.Add(time.Minute)
	rate, _, _ = Rate(&st2, []Counter{c("a", t1.Add(time.Second), 4), c("b", t0.Add(10*time.Second), 16), c("c", boot, 5000)}, t2)
	require.InDelta(t, 14, rate, 1e-9)
}
