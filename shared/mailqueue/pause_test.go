package mailqueue

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// A paused queue holds its deliveries, not the notices that they are
// late: the delayed DSN goes out at its notify time while paused.
func TestPausedQueueStillSendsDelayedDSNs(t *testing.T) {
	t.Parallel()
	_, nc := testServer(t)
	d := &recorder{answer: tempFail}
	q, _ := deliveryNode(t, nc, parseConfig(t, "", ""), longRescue, d)
	enqueue(t, q, "bob@remote.test")
	require.Eventually(t, func() bool { return len(d.attempts("bob@remote.test")) == 1 }, 10*time.Second, 10*time.Millisecond)
	pause(t, q, "remote")
	// The notify time is 2s after queueing; the dsn queue is not paused.
	require.Eventually(t, func() bool { return d.delivered("alice@example.org", "Action: delayed") }, 15*time.Second, 20*time.Millisecond,
		"a delayed DSN while the queue is paused")
	require.Len(t, d.attempts("bob@remote.test"), 1, "no delivery from the paused queue")
	require.Contains(t, q.Paused(), "remote")
}

// After a resume, a retry that came due during the pause runs at once,
// and one whose attempt crosses a delayed DSN (counted on its entry
// meanwhile) gets its next attempt on time: the rescuer, which would find
// it only after RescueAfter, is kept out of the test.
func TestResumeRetriesWhatCameDue(t *testing.T) {
	t.Parallel()
	_, nc := testServer(t)
	cfg := parseConfig(t, `{ if = "starts_with(rcpt, 'slow.')", then = "'slow'" },`, `
[queue.schedule.slow]
queue-name = "remote"
retry = ["1s"]
notify = ["3s"]
expire = "1h"
`)
	ctx := context.Background()
	var q *Queue
	d := &recorder{}
	// Attempt 1 fails; attempt 2, after the resume, lasts until the delayed
	// DSN is counted on the entry, and fails; attempt 3 succeeds.
	d.setAnswer(func(r *Recipient) Result {
		switch r.Attempts {
		case 0:
			return tempFail(r)
		case 1:
			for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
				if cur, err := q.Get(ctx, r.Key()); err == nil && cur.NotifyNum == 1 {
					break
				}
			}
			return tempFail(r)
		}
		return Result{Code: 250, Text: "ok"}
	})
	q, _ = deliveryNode(t, nc, cfg, longRescue, d)
	enqueue(t, q, "slow.bob@remote.test")
	require.Eventually(t, func() bool { return len(d.attempts("slow.bob@remote.test")) == 1 }, 10*time.Second, 5*time.Millisecond)
	pause(t, q, "remote")
	time.Sleep(1500 * time.Millisecond) // the retry comes due
	require.Len(t, d.attempts("slow.bob@remote.test"), 1)
	require.NoError(t, q.Resume(ctx, "remote"))
	// Due at once, then a second after attempt 2 (about 3s after queueing):
	// 30s is generous, and far before the rescuer (10 minutes).
	require.Eventually(t, func() bool { return d.delivered("slow.bob@remote.test", "hello") }, 30*time.Second, 20*time.Millisecond,
		"the retry after the resume, then the next one")
	require.Len(t, d.attempts("slow.bob@remote.test"), 3)
	require.Eventually(t, func() bool { return d.delivered("alice@example.org", "Action: delayed") }, 10*time.Second, 20*time.Millisecond,
		"the delayed DSN counted during attempt 2 was sent")
}

// A resume right after a pause delivers: the pause takes effect before
// the resume is applied, never after it.
func TestPauseThenResumeAtOnce(t *testing.T) {
	t.Parallel()
	_, nc := testServer(t)
	d := &recorder{}
	q, _ := deliveryNode(t, nc, parseConfig(t, "", ""), longRescue, d)
	ctx := context.Background()
	// The two control entries, as the queue's watcher gets them: the
	// pause, and the resume's delete marker (what a watcher started now
	// gets first).
	pause(t, q, "remote")
	put, err := q.control.Get(ctx, pausedKey("remote"))
	require.NoError(t, err)
	require.NoError(t, q.Resume(ctx, "remote"))
	require.Eventually(t, func() bool { return len(q.Paused()) == 0 }, 5*time.Second, 10*time.Millisecond)
	w, err := q.control.Watch(ctx, pausedKey("remote"))
	require.NoError(t, err)
	defer func() { _ = w.Stop() }()
	var del jetstream.KeyValueEntry
	select {
	case del = <-w.Updates():
	case <-time.After(10 * time.Second):
	}
	require.NotNil(t, del, "the resume's delete marker")
	ops := []jetstream.KeyValueEntry{put, del}
	require.Equal(t, jetstream.KeyValueDelete, del.Operation())
	require.Equal(t, jetstream.KeyValuePut, ops[0].Operation())
	// Applied back to back, as a watcher catching up does.
	for range 10 {
		q.applyControl(ops[0])
		q.applyControl(ops[1])
	}
	require.Empty(t, q.Paused())
	enqueue(t, q, "bob@remote.test")
	require.Eventually(t, func() bool { return d.delivered("bob@remote.test", "hello") }, 15*time.Second, 20*time.Millisecond)
}
