package mailqueue

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jetmail/jetmail/shared/dsn"
	"github.com/jetmail/jetmail/shared/engine"
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
		r, noticed, err := q.countNotice(ctx, it, now)
		if err != nil {
			q.log.Warn("delayed DSN: count the notice on its entry; none sent for it", "entry", it.Key, "err", err)
		}
		if r == nil {
			continue
		}
		remaining = append(remaining, r)
		if !noticed {
			continue
		}
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

// countNotice counts on its entry the delayed DSN due at now, if one is,
// and reports the entry as stored (nil when it is gone) and whether the
// notice is due. An entry that changed meanwhile (an attempt recorded) is
// read again: skipping it would drop its notice, and its notify time from
// the message's schedule.
func (q *Queue) countNotice(ctx context.Context, it *entry, now time.Time) (*Recipient, bool, error) {
	for tries := 0; ; tries++ {
		orig := *it.Value
		if orig.NextNotify.IsZero() || orig.NextNotify.After(now) {
			return it.Value, false, nil
		}
		next := orig
		next.NotifyNum++
		if sched, ok := q.d.Config.Queue.Schedule[orig.Schedule]; ok {
			next.NextNotify = nextNotify(&next, sched)
		} else {
			next.NextNotify = time.Time{} // the schedule is gone from the configuration
		}
		*it.Value = next
		err := q.eng.Save(ctx, it, false)
		if err == nil {
			return it.Value, true, nil
		}
		*it.Value = orig
		if !errors.Is(err, engine.ErrConflict) || tries == 3 {
			return it.Value, false, err
		}
		cur, err := q.eng.Get(ctx, it.Key)
		if errors.Is(err, engine.ErrNotFound) {
			return nil, false, nil // delivered or removed meanwhile
		}
		if err != nil {
			return it.Value, false, err
		}
		it = cur
	}
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
