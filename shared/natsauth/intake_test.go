package natsauth_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/dupid"
	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/greylist"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/natsauth"
	"github.com/jetmail/jetmail/shared/natsconn"
	"github.com/jetmail/jetmail/shared/ratelimit"
)

// The intake protections' buckets under the services' identities: smtp
// creates and uses the rate-limit and greylist buckets, delivery the
// duplicate-ID list, maintenance empties all three; nobody is refused
// anything on the way, and smtp may not read the duplicate-ID list.
func TestIntakeBucketsUnderTheirIdentities(t *testing.T) {
	t.Parallel()
	pubs := map[string]nkeys.KeyPair{}
	var users []natsauth.User
	for _, id := range natsauth.Identities(nil) {
		kp, err := nkeys.CreateUser()
		require.NoError(t, err)
		pub, err := kp.PublicKey()
		require.NoError(t, err)
		pubs[id.Name] = kp
		users = append(users, natsauth.User{Identity: id, PublicKey: pub})
	}
	nk, err := natsauth.NkeyUsers(users)
	require.NoError(t, err)
	listen := jetmailtest.FreePort(t)
	srv, err := embedded.Start(embedded.Options{DataDir: t.TempDir(), Listen: listen, Users: nk})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)

	var mu sync.Mutex
	denied := map[string][]string{}
	connect := func(identity string) jetstream.JetStream {
		kp := pubs[identity]
		pub, _ := kp.PublicKey()
		nc, err := nats.Connect("nats://"+listen, nats.Nkey(pub, kp.Sign), nats.CustomInboxPrefix(natsconn.InboxPrefix(pub)),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
				mu.Lock()
				defer mu.Unlock()
				denied[identity] = append(denied[identity], err.Error())
			}))
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		return js
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	smtp := connect(natsauth.SMTP)
	lim, err := ratelimit.Open(ctx, ratelimit.Params{JS: smtp})
	require.NoError(t, err)
	v, err := lim.Take(ctx, ratelimit.KindIP, "192.0.2.1", config.Rate{Count: 5, Window: time.Minute})
	require.NoError(t, err)
	require.True(t, v.Allowed)
	v, err = lim.Take(ctx, ratelimit.KindIP, "192.0.2.1", config.Rate{Count: 5, Window: time.Minute})
	require.NoError(t, err, "an update, compare-and-set with a TTL")
	require.Equal(t, 2, v.Count)
	g, err := greylist.Open(ctx, greylist.Params{JS: smtp, Config: config.DefaultSMTPGreylist})
	require.NoError(t, err)
	gv, err := g.Check(ctx, net.ParseIP("192.0.2.1"), "ann@shop.test", "bo@example.org")
	require.NoError(t, err)
	require.Equal(t, greylist.Greylisted, gv.Result)

	delivery := connect(natsauth.Delivery)
	dups, err := dupid.Open(ctx, dupid.Params{JS: delivery, Retention: time.Hour})
	require.NoError(t, err)
	c, err := dups.Claim(ctx, "acct", "m1@shop.test", "q1")
	require.NoError(t, err)
	require.NoError(t, c.Release(ctx))
	_, err = dups.Claim(ctx, "acct", "m1@shop.test", "q1")
	require.NoError(t, err)

	maint := connect(natsauth.Maintenance)
	for name, clear := range map[string]func(context.Context, jetstream.JetStream) (int, error){
		ratelimit.Bucket: ratelimit.Reset, greylist.Bucket: greylist.Clear, dupid.Bucket: dupid.Clear,
	} {
		n, err := clear(ctx, maint)
		require.NoError(t, err, name)
		require.Equal(t, 1, n, name)
	}

	// smtp may not read what local delivery remembers.
	short, stop := context.WithTimeout(ctx, 500*time.Millisecond) // a refused request gets no answer
	defer stop()
	_, err = smtp.KeyValue(short, dupid.Bucket)
	require.Error(t, err)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range denied[natsauth.SMTP] {
			if strings.Contains(d, "KV_"+dupid.Bucket) {
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, denied[natsauth.Delivery])
	require.Empty(t, denied[natsauth.Maintenance])
	require.Len(t, denied[natsauth.SMTP], 1, "only the read it had no right to: %v", denied[natsauth.SMTP])
}
