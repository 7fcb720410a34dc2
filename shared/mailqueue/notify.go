package mailqueue

import (
	"context"
	"strings"
	"time"

	"github.com/jetmail/jetmail/shared/dsn"
)

// runNotify sends the delayed DSN of a message: one report for all its
// recipients whose notify time has come, each notify time once.
func (q *Queue) runNotify(ctx context.Context, messageID string) error {
	entries, err := q.eng.Match(ctx, messageID+".*")
	if err != nil {
		return err
	}
	now := q.p.Clock.Now().UTC()
	var remaining, due []*Recipient
	var blocks []dsn.Recipient
	for _, it := range entries {
		r := it.Value
		if r.NextNotify.IsZero() || r.NextNotify.After(now) {
			remaining = append(remaining, r)
			continue
		}
		r.NotifyNum++
		if sched, ok := q.d.Config.Queue.Schedule[r.Schedule]; ok {
			r.NextNotify = nextNotify(r, sched)
		} else {
			r.NextNotify = time.Time{} // the schedule is gone from the configuration
		}
		if err := q.eng.Save(ctx, it, false); err != nil {
			continue // changed meanwhile; the next pass sees it
		}
		remaining = append(remaining, r)
		due = append(due, r)
		if r.Wants(NotifyDelay) && !r.Held {
			until := r.Expires
			blocks = append(blocks, dsn.Recipient{FinalRecipient: r.Address, OriginalRecipient: r.ORCPT, Action: dsn.Delayed,
				Status: statusOf(r.LastStatus), RemoteMTA: r.RemoteMTA, Diagnostic: r.LastStatus + " " + r.LastError,
				LastAttempt: r.LastAttempt, WillRetryUntil: until})
		}
	}
	if len(due) > 0 && len(blocks) > 0 {
		body, _ := q.bodyOf(ctx, due[0])
		q.sendDSN(ctx, due[0], blocks, body)
	}
	return q.scheduleNotify(ctx, messageID, remaining)
}

// statusOf is the enhanced status code of a stored reply ("451 4.3.0"):
// its own, or one derived from the reply's class (4.0.0 when there was no
// reply).
func statusOf(last string) string {
	code, enhanced, _ := strings.Cut(last, " ")
	if dsn.ValidStatus(enhanced) {
		return enhanced
	}
	return dsn.StatusOf(codeOf(code), "")
}

func codeOf(status string) int {
	n := 0
	for _, c := range status {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	if n == 0 {
		return 400
	}
	return n
}
