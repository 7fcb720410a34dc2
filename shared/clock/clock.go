// Package clock is the one clock jetmail's engines tell time and keep
// timers with: production uses Real, tests a Fake they move by hand, so
// that retry, notify, expiry and lease logic is tested by advancing the
// clock rather than sleeping. It is jonboulle/clockwork under jetmail's
// names.
package clock

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"
)

// Clock tells the time and keeps timers and tickers.
type Clock = clockwork.Clock

// Fake is a clock that moves only when told (Advance); BlockUntilContext
// waits until the code under test is waiting on it.
type Fake = clockwork.FakeClock

// Real is the system clock.
var Real Clock = clockwork.NewRealClock()

// NewFake returns a Fake set to t.
func NewFake(t time.Time) *Fake { return clockwork.NewFakeClockAt(t) }

// Sleep waits d of real time, or until ctx ends; it reports whether the
// whole wait passed. It is for back-offs and polls, which need no test
// clock.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
