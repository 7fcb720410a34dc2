package mailqueue

import (
	"time"

	"github.com/jetmail/jetmail/shared/config"
)

// applySchedule sets a new recipient's schedule fields from s, at now.
func applySchedule(r *Recipient, id string, s config.Schedule, now time.Time) {
	r.Schedule, r.Queue = id, s.QueueName
	r.MaxAttempts = s.MaxAttempts
	r.Expires = time.Time{}
	if s.Expire > 0 {
		r.Expires = r.ReceivedAt.Add(s.Expire)
	}
	r.NextNotify = nextNotify(r, s)
	_ = now
}

// nextNotify is when the recipient's next delayed DSN is due: the first of
// the schedule's notify times, counted from queue entry, not yet sent.
func nextNotify(r *Recipient, s config.Schedule) time.Time {
	if r.NotifyNum < len(s.Notify) {
		return r.ReceivedAt.Add(s.Notify[r.NotifyNum])
	}
	return time.Time{}
}

// retryDelay is the wait after failed attempt n (from 1): the retry list's
// n-th interval, the last one repeating.
func retryDelay(s config.Schedule, n int) time.Duration {
	if len(s.Retry) == 0 {
		return config.DefaultRetry[0]
	}
	return s.Retry[min(n, len(s.Retry))-1]
}

// Verdict is what happens to a recipient after a temporary failure.
type Verdict struct {
	// Expired is true when the recipient gives up: TTL passed or
	// max-attempts reached. Reason says which.
	Expired bool
	Reason  string
	// Due is the next attempt otherwise.
	Due time.Time
}

// afterTempFailure decides what follows a temporary failure of r's attempt
// number r.Attempts (already counted) at now, under schedule s.
func afterTempFailure(r *Recipient, s config.Schedule, now time.Time) Verdict {
	if s.MaxAttempts > 0 && r.Attempts >= s.MaxAttempts {
		return Verdict{Expired: true, Reason: "maximum delivery attempts reached"}
	}
	if !r.Expires.IsZero() && !now.Before(r.Expires) {
		return Verdict{Expired: true, Reason: "delivery time expired"}
	}
	due := now.Add(retryDelay(s, r.Attempts))
	if !r.Expires.IsZero() && due.After(r.Expires) {
		due = r.Expires // a last attempt at the expiry time
	}
	return Verdict{Due: due}
}
