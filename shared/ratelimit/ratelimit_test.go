package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/ratelimit"
)

func keys(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	kv, err := js.KeyValue(context.Background(), ratelimit.Bucket)
	require.NoError(t, err)
	ks, err := kv.ListKeys(context.Background())
	require.NoError(t, err)
	var out []string
	for k := range ks.Keys() {
		out = append(out, k)
	}
	return out
}

// Past the limit an event is refused until the window ends; then the
// count starts over. Keys and kinds count apart; a zero rate is no limit.
func TestLimitAndRecovery(t *testing.T) {
	t.Parallel()
	js, err := jetstream.New(jetmailtest.Conn(t, jetmailtest.Server(t)))
	require.NoError(t, err)
	// 10:00:30: the minute's window started 30 s ago.
	clk := clock.NewFake(time.Date(2026, 5, 1, 10, 0, 30, 0, time.UTC))
	ctx := context.Background()
	l, err := ratelimit.Open(ctx, ratelimit.Params{JS: js, Clock: clk})
	require.NoError(t, err)
	rate := config.Rate{Count: 3, Window: time.Minute}

	for i := 1; i <= 3; i++ {
		v, err := l.Take(ctx, ratelimit.KindIP, "192.0.2.1", rate)
		require.NoError(t, err)
		require.Equal(t, ratelimit.Verdict{Allowed: true, Count: i, Reset: time.Date(2026, 5, 1, 10, 1, 0, 0, time.UTC)}, v, "event %d", i)
	}
	v, err := l.Take(ctx, ratelimit.KindIP, "192.0.2.1", rate)
	require.NoError(t, err)
	require.False(t, v.Allowed, "the fourth in the window")
	require.Equal(t, 3, v.Count, "a refused event is not counted")

	v, err = l.Take(ctx, ratelimit.KindIP, "192.0.2.2", rate)
	require.NoError(t, err)
	require.True(t, v.Allowed, "another address has its own count")
	v, err = l.Take(ctx, ratelimit.KindSender, "192.0.2.1", rate)
	require.NoError(t, err)
	require.True(t, v.Allowed, "another kind has its own count")
	v, err = l.Take(ctx, ratelimit.KindIP, "192.0.2.1", config.Rate{})
	require.NoError(t, err)
	require.True(t, v.Allowed, "no limit")

	clk.Advance(29 * time.Second) // 10:00:59
	v, err = l.Take(ctx, ratelimit.KindIP, "192.0.2.1", rate)
	require.NoError(t, err)
	require.False(t, v.Allowed, "still the same window")
	clk.Advance(time.Second) // 10:01:00
	v, err = l.Take(ctx, ratelimit.KindIP, "192.0.2.1", rate)
	require.NoError(t, err)
	require.Equal(t, ratelimit.Verdict{Allowed: true, Count: 1, Reset: time.Date(2026, 5, 1, 10, 2, 0, 0, time.UTC)}, v, "a new window")

	// The keys hold no address, and one counter per key and window.
	ks := keys(t, js)
	require.Len(t, ks, 4)
	for _, k := range ks {
		require.NotContains(t, k, "192")
	}
}

// Two nodes, on two servers of a cluster with the bucket on three
// replicas, take from one counter at once: exactly the limit is
// admitted, and the counter says so.
func TestConcurrentNodesAdmitExactlyTheLimit(t *testing.T) {
	t.Parallel()
	servers := jetmailtest.Cluster(t, 3)
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	var limiters []*ratelimit.Limiter
	var jss []jetstream.JetStream
	for _, s := range servers[:2] {
		js, err := jetstream.New(jetmailtest.Dial(t, s.URL))
		require.NoError(t, err)
		l, err := ratelimit.Open(ctx, ratelimit.Params{JS: js, Replicas: 3, Clock: clk})
		require.NoError(t, err)
		limiters = append(limiters, l)
		jss = append(jss, js)
	}
	const limit, perWorker, workersPerNode = 50, 20, 3 // 120 tries for 50 places
	rate := config.Rate{Count: limit, Window: time.Hour}
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for _, l := range limiters {
		for range workersPerNode {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perWorker {
					v, err := l.Take(ctx, ratelimit.KindAccount, "alice", rate)
					if !assert(t, err) {
						return
					}
					if v.Allowed {
						admitted.Add(1)
					} else {
						refused.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	require.EqualValues(t, limit, admitted.Load())
	require.EqualValues(t, 2*workersPerNode*perWorker-limit, refused.Load())
	kv, err := jss[1].KeyValue(ctx, ratelimit.Bucket)
	require.NoError(t, err)
	ks := keys(t, jss[0])
	require.Len(t, ks, 1)
	e, err := kv.Get(ctx, ks[0])
	require.NoError(t, err)
	require.Equal(t, "50", string(e.Value()))
}

func assert(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Errorf("take: %v", err)
		return false
	}
	return true
}

// Reset removes every counter: the keys are gone and the limit that
// refused starts over.
func TestReset(t *testing.T) {
	t.Parallel()
	js, err := jetstream.New(jetmailtest.Conn(t, jetmailtest.Server(t)))
	require.NoError(t, err)
	ctx := context.Background()
	n, err := ratelimit.Reset(ctx, js)
	require.NoError(t, err)
	require.Zero(t, n, "no bucket yet: nothing to reset")

	l, err := ratelimit.Open(ctx, ratelimit.Params{JS: js})
	require.NoError(t, err)
	rate := config.Rate{Count: 1, Window: time.Hour}
	for _, k := range []string{"a", "b"} {
		v, err := l.Take(ctx, ratelimit.KindSender, k, rate)
		require.NoError(t, err)
		require.True(t, v.Allowed)
	}
	v, err := l.Take(ctx, ratelimit.KindSender, "a", rate)
	require.NoError(t, err)
	require.False(t, v.Allowed)

	n, err = ratelimit.Reset(ctx, js)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Empty(t, keys(t, js))
	v, err = l.Take(ctx, ratelimit.KindSender, "a", rate)
	require.NoError(t, err)
	require.True(t, v.Allowed, "the limit starts over")
}
