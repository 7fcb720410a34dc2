package maintenance_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/dupid"
	"github.com/jetmail/jetmail/shared/greylist"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/ratelimit"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// StoreMaintenance resetRateLimiters, removeGreylist and removeSieveLists
// empty the intake protections' buckets: the keys are gone, a limit that
// refused admits again, a passed triplet and a whitelisted client are
// greylisted again, a Message-ID delivered is no longer a duplicate.
// Before the buckets exist, each completes with nothing to remove.
func TestIntakeStateIsRemoved(t *testing.T) {
	t.Parallel()
	m := startMaintenance(t, false)
	ctx := context.Background()
	js, err := jetstream.New(jetmailtest.Conn(t, m.srv))
	require.NoError(t, err)
	run := func(typ string) {
		t.Helper()
		tk, err := m.svc.Manager().Create(ctx, &task.StoreMaintenanceTask{MaintenanceType: typ}, nil)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			got, err := m.svc.Manager().Get(ctx, tk.ID)
			if err == nil && got.Status.Type == task.Failed {
				t.Fatalf("%s failed: %s", typ, got.Status.FailureReason)
			}
			return errors.Is(err, taskmanager.ErrNotFound) // done
		}, 10*time.Second, 20*time.Millisecond, typ)
	}
	keys := func(bucket string) int {
		t.Helper()
		kv, err := js.KeyValue(ctx, bucket)
		require.NoError(t, err)
		ks, err := kv.ListKeys(ctx)
		require.NoError(t, err)
		n := 0
		for range ks.Keys() {
			n++
		}
		return n
	}
	for _, typ := range []string{"resetRateLimiters", "removeGreylist", "removeSieveLists"} {
		run(typ) // no bucket yet
	}

	clk := clock.NewFake(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	lim, err := ratelimit.Open(ctx, ratelimit.Params{JS: js, Clock: clk})
	require.NoError(t, err)
	rate := config.Rate{Count: 1, Window: time.Hour}
	take := func() bool {
		v, err := lim.Take(ctx, ratelimit.KindIP, "192.0.2.1", rate)
		require.NoError(t, err)
		return v.Allowed
	}
	require.True(t, take())
	require.False(t, take(), "limited")

	cfg := config.DefaultSMTPGreylist
	cfg.AutoWhitelistClients = 1
	g, err := greylist.Open(ctx, greylist.Params{JS: js, Config: cfg, Clock: clk})
	require.NoError(t, err)
	check := func(sender string) greylist.Result {
		v, err := g.Check(ctx, net.ParseIP("192.0.2.1"), sender, "bo@example.org")
		require.NoError(t, err)
		return v.Result
	}
	require.Equal(t, greylist.Greylisted, check("ann@shop.test"))
	clk.Advance(5 * time.Minute)
	require.Equal(t, greylist.Passed, check("ann@shop.test"))
	require.Equal(t, greylist.Whitelisted, check("other@shop.test"))

	dups, err := dupid.Open(ctx, dupid.Params{JS: js, Retention: 24 * time.Hour, Clock: clk})
	require.NoError(t, err)
	_, err = dups.Claim(ctx, "acct", "m1@shop.test", "q1")
	require.NoError(t, err)
	_, err = dups.Claim(ctx, "acct", "m1@shop.test", "q2")
	require.ErrorIs(t, err, dupid.ErrDuplicate)

	run("resetRateLimiters")
	require.Zero(t, keys(ratelimit.Bucket))
	require.Equal(t, 2, keys(greylist.Bucket), "only its own bucket")
	require.True(t, take(), "the limit starts over")

	run("removeGreylist")
	require.Zero(t, keys(greylist.Bucket))
	require.Equal(t, greylist.Greylisted, check("ann@shop.test"), "the passed triplet is new again")
	require.Equal(t, greylist.Greylisted, check("third@shop.test"), "the client is no longer whitelisted")

	require.Equal(t, 1, keys(dupid.Bucket))
	run("removeSieveLists")
	require.Zero(t, keys(dupid.Bucket))
	_, err = dups.Claim(ctx, "acct", "m1@shop.test", "q2")
	require.NoError(t, err, "no longer a duplicate")
}
