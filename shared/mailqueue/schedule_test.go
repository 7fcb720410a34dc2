package mailqueue

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/config"
)

// Retry, notify and expire arithmetic, on a fake clock.
func TestRetryArithmetic(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	s := config.Schedule{QueueName: "remote", Retry: []time.Duration{2 * time.Minute, 5 * time.Minute, 10 * time.Minute},
		Notify: []time.Duration{time.Hour, 3 * time.Hour}, Expire: 4 * time.Hour}
	r := &Recipient{Envelope: Envelope{ReceivedAt: clk.Now()}}
	applySchedule(r, "remote", s, clk.Now())
	require.Equal(t, clk.Now().Add(4*time.Hour), r.Expires)
	require.Equal(t, clk.Now().Add(time.Hour), r.NextNotify)

	var dues []time.Duration
	for range 5 {
		r.Attempts++
		v := afterTempFailure(r, s, clk.Now())
		require.False(t, v.Expired)
		dues = append(dues, v.Due.Sub(clk.Now()))
		clk.Advance(v.Due.Sub(clk.Now()))
	}
	require.Equal(t, []time.Duration{2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 10 * time.Minute, 10 * time.Minute}, dues,
		"the last interval repeats")

	// Notify times count from queue entry, each once.
	r.NotifyNum = 1
	require.Equal(t, r.ReceivedAt.Add(3*time.Hour), nextNotify(r, s))
	r.NotifyNum = 2
	require.True(t, nextNotify(r, s).IsZero())

	// Near the TTL the last attempt lands on the expiry time; past it, the
	// recipient expires.
	clk.Advance(r.Expires.Sub(clk.Now()) - time.Minute)
	r.Attempts++
	v := afterTempFailure(r, s, clk.Now())
	require.Equal(t, r.Expires, v.Due)
	clk.Advance(time.Minute)
	r.Attempts++
	v = afterTempFailure(r, s, clk.Now())
	require.True(t, v.Expired)
	require.Equal(t, "delivery time expired", v.Reason)
}

func TestMaxAttempts(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := config.Schedule{QueueName: "q", Retry: []time.Duration{time.Minute}, MaxAttempts: 3}
	r := &Recipient{Envelope: Envelope{ReceivedAt: now}}
	applySchedule(r, "relay", s, now)
	require.True(t, r.Expires.IsZero())
	for n := 1; n <= 2; n++ {
		r.Attempts = n
		require.False(t, afterTempFailure(r, s, now).Expired)
	}
	r.Attempts = 3
	v := afterTempFailure(r, s, now)
	require.True(t, v.Expired)
	require.Equal(t, "maximum delivery attempts reached", v.Reason)
}

func TestWants(t *testing.T) {
	t.Parallel()
	r := &Recipient{}
	require.True(t, r.Wants(NotifyFailure))
	require.True(t, r.Wants(NotifyDelay))
	require.False(t, r.Wants(NotifySuccess))
	r.Notify = []Notify{NotifyNever}
	require.False(t, r.Wants(NotifyFailure))
	r.Notify = []Notify{NotifySuccess}
	require.True(t, r.Wants(NotifySuccess))
	require.False(t, r.Wants(NotifyDelay))
}
