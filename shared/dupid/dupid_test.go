package dupid_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/dupid"
	"github.com/jetmail/jetmail/shared/jetmailtest"
)

var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

func open(t *testing.T) (jetstream.JetStream, *clock.Fake, *dupid.List, *prometheus.Registry) {
	t.Helper()
	js, err := jetstream.New(jetmailtest.Conn(t, jetmailtest.Server(t)))
	require.NoError(t, err)
	clk := clock.NewFake(t0)
	reg := prometheus.NewRegistry()
	l, err := dupid.Open(context.Background(), dupid.Params{JS: js, Retention: 24 * time.Hour, Clock: clk, Metrics: reg})
	require.NoError(t, err)
	return js, clk, l, reg
}

// Within the retention another delivery of a Message-ID to the account is
// a duplicate, the same delivery tried again is not, another account or
// Message-ID is not; after the retention, the Message-ID is new again.
func TestClaims(t *testing.T) {
	t.Parallel()
	_, clk, l, reg := open(t)
	ctx := context.Background()
	c, err := l.Claim(ctx, "acct1", "m1@shop.test", "q1-acct1")
	require.NoError(t, err)
	require.NotNil(t, c)

	clk.Advance(23 * time.Hour)
	_, err = l.Claim(ctx, "acct1", "m1@shop.test", "q2-acct1")
	var dup *dupid.DuplicateError
	require.ErrorAs(t, err, &dup)
	require.ErrorIs(t, err, dupid.ErrDuplicate)
	require.Equal(t, dupid.DuplicateError{MessageID: "m1@shop.test", Delivery: "q1-acct1", At: time.Unix(t0.Unix(), 0)}, *dup)

	c, err = l.Claim(ctx, "acct1", "m1@shop.test", "q1-acct1")
	require.NoError(t, err, "the first delivery, tried again, finds its own claim")
	require.NotNil(t, c)
	_, err = l.Claim(ctx, "acct2", "m1@shop.test", "q2-acct2")
	require.NoError(t, err, "another account")
	_, err = l.Claim(ctx, "acct1", "m2@shop.test", "q2-acct1")
	require.NoError(t, err, "another Message-ID")
	c, err = l.Claim(ctx, "acct1", "", "q3-acct1")
	require.NoError(t, err)
	require.Nil(t, c, "no Message-ID, nothing to claim")

	clk.Advance(time.Hour) // 24h after the first: the retention is from it
	_, err = l.Claim(ctx, "acct1", "m1@shop.test", "q4-acct1")
	require.NoError(t, err, "past the retention: new again")
	clk.Advance(time.Hour)
	_, err = l.Claim(ctx, "acct1", "m1@shop.test", "q5-acct1")
	require.ErrorIs(t, err, dupid.ErrDuplicate, "and remembered from this delivery")
	require.Equal(t, 2.0, counter(t, reg, "jetmail_delivery_duplicates_total"))
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A released claim lets another copy be stored; releasing a claim that
// another took meanwhile leaves that one alone.
func TestRelease(t *testing.T) {
	t.Parallel()
	_, _, l, _ := open(t)
	ctx := context.Background()
	c, err := l.Claim(ctx, "acct1", "m1@shop.test", "q1-acct1")
	require.NoError(t, err)
	require.NoError(t, c.Release(ctx))
	c2, err := l.Claim(ctx, "acct1", "m1@shop.test", "q2-acct1")
	require.NoError(t, err, "released: another copy may be stored")
	require.NoError(t, c.Release(ctx), "a stale release does nothing")
	_, err = l.Claim(ctx, "acct1", "m1@shop.test", "q3-acct1")
	require.ErrorIs(t, err, dupid.ErrDuplicate, "q2's claim stands")
	require.NoError(t, c2.Release(ctx))
	var none *dupid.Claim
	require.NoError(t, none.Release(ctx))
}

// Of deliveries racing for one Message-ID, exactly one claims it.
func TestConcurrentClaims(t *testing.T) {
	t.Parallel()
	js, clk, l, _ := open(t)
	l2, err := dupid.Open(context.Background(), dupid.Params{JS: js, Retention: 24 * time.Hour, Clock: clk})
	require.NoError(t, err)
	var won, lost atomic.Int32
	var wg sync.WaitGroup
	for i, list := range []*dupid.List{l, l2, l, l2, l, l2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := list.Claim(context.Background(), "acct1", "m1@shop.test", string(rune('a'+i)))
			switch {
			case err == nil:
				won.Add(1)
			case errors.Is(err, dupid.ErrDuplicate):
				lost.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 1, won.Load())
	require.EqualValues(t, 5, lost.Load())
}

// Clear empties the list: the keys are gone, and a Message-ID delivered
// is new again.
func TestClear(t *testing.T) {
	t.Parallel()
	js, _, l, _ := open(t)
	ctx := context.Background()
	for _, id := range []string{"m1@x", "m2@x"} {
		_, err := l.Claim(ctx, "acct1", id, "q1")
		require.NoError(t, err)
	}
	n, err := dupid.Clear(ctx, js)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	kv, err := js.KeyValue(ctx, dupid.Bucket)
	require.NoError(t, err)
	ks, err := kv.Keys(ctx)
	require.ErrorIs(t, err, jetstream.ErrNoKeysFound, "%v", ks)
	_, err = l.Claim(ctx, "acct1", "m1@x", "q2")
	require.NoError(t, err)
}

// The Message-ID comes from the header, not the body, without brackets.
func TestMessageID(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		"Message-ID: <a1@shop.test>\r\nSubject: x\r\n\r\nbody":      "a1@shop.test",
		"Subject: x\r\nMessage-Id:   <b2@shop.test> \r\n\r\n":       "b2@shop.test",
		"Subject: x\r\nmessage-id: bare@shop.test\r\n\r\n":          "bare@shop.test",
		"Subject: x\r\n\r\nMessage-ID: <in-body@shop.test>\r\n":     "",
		"Subject: cut short\r\nMessage-ID: <c3@shop.test>\r\nX-Lon": "c3@shop.test",
		"": "",
	} {
		require.Equal(t, want, dupid.MessageID([]byte(body)), body)
	}
}
