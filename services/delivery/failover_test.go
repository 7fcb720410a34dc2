package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/delivery"
	"github.com/jetmail/jetmail/services/smtp"
	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
)

// The leader of the R3 queue stream is killed five times while mail flows:
// every accepted recipient is delivered, no entry is left behind, no DSN
// is sent, and duplicates stay within what was in flight.
func TestQueueStreamLeaderKilledMidLoad(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills cluster servers for a minute")
	}
	servers := jetmailtest.Cluster(t, 3)
	nc := jetmailtest.Dial(t, jetmailtest.URLs(servers))
	sk := newSink(t)
	cfg := mailNodeConfig(t, "1", "mx.example.org", sk, 4)
	cfg.NATS.Replicas = 3
	q := mailqueue.New(mailqueue.Params{})
	in, out := smtp.New(cfg, q), delivery.New(cfg, q)
	n := jetmailtest.Node(t, nc, cfg, q, in, out)
	js := n.Deps().JS()
	ctx := context.Background()

	// Load: one message after another to unique recipients, retried on a
	// temporary refusal as an MTA would.
	var accepted sync.Map // recipient -> true
	var sent atomic.Int64
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			rcpt := fmt.Sprintf("u%d@d%d.test", i, i%7)
			for try := 0; try < 50; try++ {
				err := send(t, in.Addrs()[0], "alice", "alice@example.org", []string{rcpt}, msg)
				if err == nil {
					accepted.Store(rcpt, true)
					sent.Add(1)
					break
				}
				var se *gosmtp.SMTPError
				if errors.As(err, &se) && se.Code >= 500 {
					t.Errorf("permanent refusal of %s: %v", rcpt, err)
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	leader := func() int {
		s, err := js.Stream(ctx, mailqueue.Stream)
		if err != nil || s.CachedInfo().Cluster == nil {
			return -1
		}
		for i, srv := range servers {
			if srv.Opts.ServerName == s.CachedInfo().Cluster.Leader {
				return i
			}
		}
		return -1
	}
	for kill := range 5 {
		time.Sleep(time.Second)
		var l int
		require.Eventually(t, func() bool { l = leader(); return l >= 0 }, 30*time.Second, 100*time.Millisecond, "kill %d: a stream leader", kill)
		servers[l].Stop()
		time.Sleep(2 * time.Second)
		servers[l].Restart(t)
		require.Eventually(t, func() bool {
			s, err := js.Stream(ctx, mailqueue.Stream)
			if err != nil || s.CachedInfo().Cluster == nil {
				return false
			}
			current := 0
			for _, r := range s.CachedInfo().Cluster.Replicas {
				if r.Current {
					current++
				}
			}
			return current == 2
		}, 60*time.Second, 200*time.Millisecond, "kill %d: the restarted server catches up", kill)
	}
	close(stop)
	<-loadDone
	total := int(sent.Load())
	t.Logf("%d messages accepted over 5 leader kills", total)
	require.Positive(t, total)

	delivered := func() map[string]int {
		got := map[string]int{}
		for _, m := range sk.messages() {
			for _, to := range m.to {
				got[to]++
			}
		}
		return got
	}
	require.Eventually(t, func() bool {
		got := delivered()
		missing := 0
		accepted.Range(func(k, _ any) bool {
			if got[k.(string)] == 0 {
				missing++
			}
			return true
		})
		return missing == 0
	}, 90*time.Second, 200*time.Millisecond, "every accepted recipient is delivered")
	require.Eventually(t, func() bool { return queueLen(t, q) == 0 }, 60*time.Second, 200*time.Millisecond, "no entry is left for a delivered recipient")
	dupes := 0
	for _, c := range delivered() {
		dupes += c - 1
	}
	t.Logf("duplicates: %d", dupes)
	require.LessOrEqual(t, dupes, 5*4, "at most what was in flight at each kill (4 threads)")
	require.False(t, mailboxContains(js, "alice@example.org", "multipart/report"), "no DSN to the sender")
}

// NATS is down for 10 seconds while mail flows: intake refuses meanwhile
// (the senders retry), and once it is back every accepted recipient is
// delivered within 15 seconds, none left in the queue, no DSN sent.
func TestNATSOutageUnderLoad(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("stops NATS for 10 seconds")
	}
	opts := embedded.Options{DataDir: t.TempDir(), Listen: jetmailtest.FreePort(t)}
	srv, err := embedded.Start(opts)
	require.NoError(t, err)
	var srvMu sync.Mutex
	t.Cleanup(func() { srvMu.Lock(); srv.Stop(); srvMu.Unlock() })
	nc := jetmailtest.Dial(t, "nats://"+opts.Listen)
	sk := newSink(t)
	cfg := mailNodeConfig(t, "1", "mx.example.org", sk, 4)
	q := mailqueue.New(mailqueue.Params{})
	in, out := smtp.New(cfg, q), delivery.New(cfg, q)
	n := jetmailtest.Node(t, nc, cfg, q, in, out)

	var accepted sync.Map
	var sent atomic.Int64
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		for i := 0; ; i++ {
			rcpt := fmt.Sprintf("o%d@d%d.test", i, i%5)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := send(t, in.Addrs()[0], "alice", "alice@example.org", []string{rcpt}, msg); err == nil {
					accepted.Store(rcpt, true)
					sent.Add(1)
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	time.Sleep(2 * time.Second)
	srvMu.Lock()
	srv.Stop()
	srvMu.Unlock()
	time.Sleep(10 * time.Second)
	srvMu.Lock()
	srv, err = embedded.Start(opts)
	srvMu.Unlock()
	require.NoError(t, err)
	back := time.Now()
	time.Sleep(3 * time.Second)
	close(stop)
	<-loadDone
	t.Logf("%d messages accepted", sent.Load())

	require.Eventually(t, func() bool {
		got := map[string]bool{}
		for _, m := range sk.messages() {
			for _, to := range m.to {
				got[to] = true
			}
		}
		missing := 0
		accepted.Range(func(k, _ any) bool {
			if !got[k.(string)] {
				missing++
			}
			return true
		})
		return missing == 0
	}, 60*time.Second, 100*time.Millisecond, "every accepted recipient is delivered")
	recovered := time.Since(back)
	t.Logf("all delivered %s after NATS came back", recovered.Round(100*time.Millisecond))
	require.Less(t, recovered, 15*time.Second, "every recipient attempted within 15s of NATS returning")
	require.Eventually(t, func() bool { return queueLen(t, q) == 0 }, 30*time.Second, 100*time.Millisecond)
	require.False(t, mailboxContains(n.Deps().JS(), "alice@example.org", "multipart/report"), "no DSN to the sender")
}
