// Package clock is the one clock jetmail's engines tell time and keep
// timers with: production uses Real, tests a Fake they move by hand, so
// that retry, notify, expiry and lease logic is tested by advancing the
// clock rather than sleeping. It is jonboulle/clockwork under jetmail's
// names.
package clock

import (
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
