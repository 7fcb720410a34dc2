package greylist_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/greylist"
	"github.com/jetmail/jetmail/shared/jetmailtest"
)

var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

type fixture struct {
	js  jetstream.JetStream
	clk *clock.Fake
	g   *greylist.Greylist
}

func start(t *testing.T, cfg config.SMTPGreylist) fixture {
	t.Helper()
	js, err := jetstream.New(jetmailtest.Conn(t, jetmailtest.Server(t)))
	require.NoError(t, err)
	clk := clock.NewFake(t0)
	g, err := greylist.Open(context.Background(), greylist.Params{JS: js, Config: cfg, Clock: clk})
	require.NoError(t, err)
	return fixture{js, clk, g}
}

func (f fixture) check(t *testing.T, ip, sender, rcpt string) greylist.Verdict {
	t.Helper()
	v, err := f.g.Check(context.Background(), net.ParseIP(ip), sender, rcpt)
	require.NoError(t, err)
	return v
}

func (f fixture) keys(t *testing.T) []string {
	t.Helper()
	kv, err := f.js.KeyValue(context.Background(), greylist.Bucket)
	require.NoError(t, err)
	ks, err := kv.ListKeys(context.Background())
	require.NoError(t, err)
	var out []string
	for k := range ks.Keys() {
		out = append(out, k)
	}
	return out
}

// noAWL is postgrey's defaults without the auto-whitelist.
var noAWL = config.SMTPGreylist{Delay: 5 * time.Minute, MaxAge: 35 * 24 * time.Hour, RetryWindow: 48 * time.Hour}

func greylisted(wait time.Duration) greylist.Verdict {
	return greylist.Verdict{Result: greylist.Greylisted, Wait: wait}
}

var passed = greylist.Verdict{Result: greylist.Passed}

// A new triplet is refused for the delay, a retry inside it too (for the
// time left); a retry after it passes, and so does every attempt after.
// The client's /24 makes the triplet, not its address.
func TestTripletLifecycle(t *testing.T) {
	t.Parallel()
	f := start(t, noAWL)
	require.Equal(t, greylisted(5*time.Minute), f.check(t, "192.0.2.10", "ann@shop.test", "bo@example.org"))
	f.clk.Advance(100 * time.Second)
	require.Equal(t, greylisted(200*time.Second), f.check(t, "192.0.2.10", "ann@shop.test", "bo@example.org"), "retried too early")
	require.Equal(t, greylisted(5*time.Minute), f.check(t, "192.0.2.10", "ann@shop.test", "cy@example.org"), "another recipient is another triplet")
	require.Equal(t, greylisted(5*time.Minute), f.check(t, "198.51.100.10", "ann@shop.test", "bo@example.org"), "another network too")
	f.clk.Advance(200 * time.Second) // first + delay
	require.Equal(t, passed, f.check(t, "192.0.2.10", "ann@shop.test", "bo@example.org"))
	require.Equal(t, passed, f.check(t, "192.0.2.77", "ANN@shop.test", "Bo@Example.org"), "same /24, case aside")
	f.clk.Advance(20 * 24 * time.Hour)
	require.Equal(t, passed, f.check(t, "192.0.2.10", "ann@shop.test", "bo@example.org"), "known: passes at once")
	require.Len(t, f.keys(t), 3, "three triplets, no address in a key")
	for _, k := range f.keys(t) {
		require.NotContains(t, k, "shop")
	}
}

// A triplet not retried after the delay within retry-window of its last
// attempt is forgotten, and one that passed is forgotten once not seen
// for max-age: each is greylisted as new again.
func TestTripletsAreForgotten(t *testing.T) {
	t.Parallel()
	f := start(t, noAWL)
	const ip, from, to = "192.0.2.10", "ann@shop.test", "bo@example.org"
	require.Equal(t, greylisted(5*time.Minute), f.check(t, ip, from, to))
	f.clk.Advance(48*time.Hour + time.Second)
	require.Equal(t, greylisted(5*time.Minute), f.check(t, ip, from, to), "retry-window passed without a retry: new again")

	f.clk.Advance(4 * time.Minute)
	require.Equal(t, greylisted(time.Minute), f.check(t, ip, from, to), "an early retry keeps it, and its first attempt")
	f.clk.Advance(47 * time.Hour) // within retry-window of the last attempt, long after the first
	require.Equal(t, passed, f.check(t, ip, from, to))

	f.clk.Advance(35 * 24 * time.Hour)
	require.Equal(t, passed, f.check(t, ip, from, to), "seen within max-age: still known")
	f.clk.Advance(35*24*time.Hour + time.Second)
	require.Equal(t, greylisted(5*time.Minute), f.check(t, ip, from, to), "not seen for max-age: new again")
}

// A network whose triplets passed auto-whitelist-clients times passes
// unseen triplets without greylisting, until not seen for max-age.
func TestAutoWhitelistClients(t *testing.T) {
	t.Parallel()
	cfg := noAWL
	cfg.AutoWhitelistClients = 2
	f := start(t, cfg)
	for _, rcpt := range []string{"a@example.org", "b@example.org"} {
		require.Equal(t, greylisted(5*time.Minute), f.check(t, "192.0.2.10", "ann@shop.test", rcpt))
	}
	f.clk.Advance(5 * time.Minute)
	require.Equal(t, passed, f.check(t, "192.0.2.10", "ann@shop.test", "a@example.org"))
	require.Equal(t, passed, f.check(t, "192.0.2.10", "ann@shop.test", "a@example.org"), "a triplet's later passes do not count")
	require.Equal(t, greylisted(5*time.Minute), f.check(t, "192.0.2.10", "ann@shop.test", "c@example.org"), "one pass: not yet whitelisted")
	require.Equal(t, passed, f.check(t, "192.0.2.10", "ann@shop.test", "b@example.org"))

	whitelisted := greylist.Verdict{Result: greylist.Whitelisted}
	require.Equal(t, whitelisted, f.check(t, "192.0.2.99", "new@other.test", "z@example.org"), "two passes: the /24 is whitelisted")
	require.Equal(t, greylisted(5*time.Minute), f.check(t, "198.51.100.1", "new@other.test", "z@example.org"), "another network is not")

	f.clk.Advance(30 * 24 * time.Hour)
	require.Equal(t, whitelisted, f.check(t, "192.0.2.1", "x@other.test", "y@example.org"), "seen: its time is refreshed")
	f.clk.Advance(30 * 24 * time.Hour)
	require.Equal(t, whitelisted, f.check(t, "192.0.2.1", "x@other.test", "y@example.org"), "60 days on, seen 30 days ago")
	f.clk.Advance(35*24*time.Hour + time.Second)
	require.Equal(t, greylisted(5*time.Minute), f.check(t, "192.0.2.1", "x@other.test", "y@example.org"), "not seen for max-age: greylisted again")
}

// Two nodes seeing a new triplet at once keep one first attempt.
func TestConcurrentFirstAttempts(t *testing.T) {
	t.Parallel()
	f := start(t, noAWL)
	g2, err := greylist.Open(context.Background(), greylist.Params{JS: f.js, Config: noAWL, Clock: f.clk})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for _, g := range []*greylist.Greylist{f.g, g2, f.g, g2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := g.Check(context.Background(), net.ParseIP("192.0.2.1"), "ann@shop.test", "bo@example.org")
			if err != nil || v != greylisted(5*time.Minute) {
				t.Errorf("got %v, %v", v, err)
			}
		}()
	}
	wg.Wait()
	require.Len(t, f.keys(t), 1)
	f.clk.Advance(5 * time.Minute)
	require.Equal(t, passed, f.check(t, "192.0.2.1", "ann@shop.test", "bo@example.org"))
}

// The bucket forgets on its own too: an entry lives its retry-window (or
// max-age) past its last attempt on the server's clock. This waits a real
// second or two, with a retry-window shorter than any file may set.
func TestEntriesExpireInTheBucket(t *testing.T) {
	t.Parallel()
	f := start(t, config.SMTPGreylist{Delay: time.Hour, MaxAge: 48 * time.Hour, RetryWindow: time.Second})
	f.check(t, "192.0.2.1", "ann@shop.test", "bo@example.org")
	require.Len(t, f.keys(t), 1)
	require.Eventually(t, func() bool { return len(f.keys(t)) == 0 }, 10*time.Second, 100*time.Millisecond)
}

// Clear removes every triplet and whitelisted client: passed triplets
// and whitelisted networks are greylisted again.
func TestClear(t *testing.T) {
	t.Parallel()
	cfg := noAWL
	cfg.AutoWhitelistClients = 1
	f := start(t, cfg)
	ctx := context.Background()
	n, err := greylist.Clear(ctx, f.js)
	require.NoError(t, err)
	require.Zero(t, n)
	f.check(t, "192.0.2.1", "ann@shop.test", "bo@example.org")
	f.clk.Advance(5 * time.Minute)
	require.Equal(t, passed, f.check(t, "192.0.2.1", "ann@shop.test", "bo@example.org"))
	require.Equal(t, greylist.Whitelisted, f.check(t, "192.0.2.1", "x@other.test", "y@example.org").Result)

	n, err = greylist.Clear(ctx, f.js)
	require.NoError(t, err)
	require.Equal(t, 2, n, "one triplet, one client")
	require.Empty(t, f.keys(t))
	require.Equal(t, greylisted(5*time.Minute), f.check(t, "192.0.2.1", "ann@shop.test", "bo@example.org"))
	require.Equal(t, greylisted(5*time.Minute), f.check(t, "192.0.2.1", "x@other.test", "y@example.org"))
}

// Triplets are made as postgrey makes them.
func TestTripletParts(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Ann@Shop.Test":                        "ann@shop.test",
		"ann+lists@shop.test":                  "ann@shop.test",
		"bounce-1234-ann=example.org@lists.io": "bounce-#-ann=example.org@lists.io",
		"user42@shop.test":                     "user42@shop.test",
		"4711.99@x.test":                       "#.#@x.test",
		"":                                     "",
	} {
		require.Equal(t, want, greylist.Sender(in), in)
	}
	require.Equal(t, "192.0.2.0/24", greylist.Network(net.ParseIP("192.0.2.200")))
	require.Equal(t, "2001:db8:1:2::/64", greylist.Network(net.ParseIP("2001:db8:1:2:aaaa::1")))
	require.Equal(t, "192.0.2.0/24", greylist.Network(net.ParseIP("::ffff:192.0.2.9")))
}
