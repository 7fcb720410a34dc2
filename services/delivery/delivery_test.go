package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/delivery"
	"github.com/jetmail/jetmail/services/smtp"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/store/storetest"
	"github.com/jetmail/jetmail/shared/work"
)

// sink is a remote MTA on loopback: it records what it accepts, and answers
// by recipient: "tempfail-N@" fails N times with 451, "reject@" with 550.
type sink struct {
	addr     string
	mu       sync.Mutex
	got      []received
	fails    map[string]int
	cur, max map[string]int // concurrent sessions by EHLO name
	delay    time.Duration
	sessions atomic.Int32
}

type received struct {
	from string
	to   []string
	body string
	helo string
}

func newSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{fails: map[string]int{}, cur: map[string]int{}, max: map[string]int{}}
	srv := gosmtp.NewServer(s)
	srv.Domain = "sink.test"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *sink) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	s.sessions.Add(1)
	return &sinkSession{s: s, c: c}, nil
}

func (s *sink) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

type sinkSession struct {
	s      *sink
	c      *gosmtp.Conn
	from   string
	to     []string
	joined bool
}

func (ss *sinkSession) join() {
	if ss.joined {
		return
	}
	ss.joined = true
	ss.s.mu.Lock()
	h := ss.c.Hostname()
	ss.s.cur[h]++
	if ss.s.cur[h] > ss.s.max[h] {
		ss.s.max[h] = ss.s.cur[h]
	}
	ss.s.mu.Unlock()
}

func (ss *sinkSession) Mail(from string, _ *gosmtp.MailOptions) error {
	ss.join()
	ss.from = from
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if strings.HasPrefix(to, "reject@") {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	var n int
	if i := strings.Index(to, "tempfail-"); i >= 0 {
		_, _ = fmt.Sscanf(to[i:], "tempfail-%d@", &n)
	}
	if n > 0 && ss.s.fails[to] < n {
		ss.s.fails[to]++
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1}, Message: "greylisted, try later"}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	time.Sleep(ss.s.delay)
	ss.s.mu.Lock()
	ss.s.got = append(ss.s.got, received{ss.from, ss.to, string(b), ss.c.Hostname()})
	ss.s.mu.Unlock()
	return nil
}

func (ss *sinkSession) Reset() { ss.from, ss.to = "", nil }
func (ss *sinkSession) Logout() error {
	if ss.joined {
		ss.s.mu.Lock()
		ss.s.cur[ss.c.Hostname()]--
		ss.s.mu.Unlock()
	}
	return nil
}

const mailConfig = `
[smtp]
listen = ["127.0.0.1:0"]
hostname = "%s"
local-domains = ["example.org"]
max-message-size = 4096
[smtp.users.alice]
secret = "alice-secret"
addresses = ["alice@example.org"]
[queue.route.sink]
type = "relay"
address = "127.0.0.1"
port = %s
tls = "none"
[queue.strategy]
route = [ { if = "is_local_domain('*', rcpt_domain)", then = "'local'" }, { else = "'sink'" } ]
schedule = [ { if = "starts_with(rcpt, 'expire.')", then = "'short'" }, { if = "starts_with(rcpt, 'ttl.')", then = "'ttl'" }, { if = "is_local_domain('*', rcpt_domain)", then = "'local'" }, { else = "'remote'" } ]
[queue.schedule.remote]
queue-name = "remote"
retry = ["1s"]
max-attempts = 5
[queue.schedule.short]
queue-name = "remote"
retry = ["1s"]
max-attempts = 2
[queue.schedule.ttl]
queue-name = "remote"
retry = ["1s"]
notify = ["2s"]
expire = "4s"
[queue.schedule.local]
queue-name = "local"
retry = ["1s"]
[queue.virtual.remote]
threads-per-node = %d
[queue.virtual.local]
threads-per-node = 4
`

type mailNode struct {
	n    *node.Node
	smtp *smtp.Service
	dlv  *delivery.Service
}

func mailNodeConfig(t *testing.T, id, hostname string, sk *sink, threads int) *config.Config {
	t.Helper()
	_, port, _ := net.SplitHostPort(sk.addr)
	cfg, err := config.Parse([]byte(fmt.Sprintf(mailConfig, hostname, port, threads)))
	require.NoError(t, err)
	base := jetmailtest.Config(t, id)
	cfg.Cluster, cfg.HTTP = base.Cluster, base.HTTP
	cfg.Task.Periodic = map[string]config.Periodic{}
	return cfg
}

func startMailNode(t *testing.T, srv *embedded.Server, id, hostname string, sk *sink, threads int) *mailNode {
	t.Helper()
	cfg := mailNodeConfig(t, id, hostname, sk, threads)
	q := mailqueue.New(mailqueue.Params{})
	in, out := smtp.New(cfg, q), delivery.New(cfg, q)
	n := jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, q, in, out)
	return &mailNode{n, in, out}
}

// startWithQueueParams starts a mail node whose queue takes params.
func startWithQueueParams(t *testing.T, srv *embedded.Server, sk *sink, params mailqueue.Params) (*smtp.Service, *delivery.Service) {
	t.Helper()
	cfg := mailNodeConfig(t, "1", "mx.example.org", sk, 4)
	q := mailqueue.New(params)
	in, out := smtp.New(cfg, q), delivery.New(cfg, q)
	jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, q, in, out)
	return in, out
}

func send(t *testing.T, addr, user, from string, to []string, body string) error {
	t.Helper()
	return jetmailtest.SendMail(addr, user, "alice-secret", from, to, body)
}

const msg = "From: alice@example.org\r\nTo: bob@remote.test\r\nSubject: hi\r\n\r\nhello\r\n"

func TestRelayRetryBounceAndLocal(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	sk := newSink(t)
	mn := startMailNode(t, srv, "1", "mx.example.org", sk, 4)
	addr := mn.smtp.Addrs()[0]

	// Never an open relay; local mail needs no authentication.
	err := send(t, addr, "", "x@outside.test", []string{"bob@remote.test"}, msg)
	var se *gosmtp.SMTPError
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, 554, se.Code)
	require.NoError(t, send(t, addr, "", "x@outside.test", []string{"alice@example.org"}, msg))
	err = send(t, addr, "", "x@outside.test", []string{"nobody@example.org"}, msg)
	require.True(t, errors.As(err, &se))
	require.Equal(t, 550, se.Code)

	// Authenticated relay: two recipients of one domain in one transaction,
	// one that is greylisted twice, one that is rejected.
	require.NoError(t, send(t, addr, "alice", "alice@example.org",
		[]string{"bob@remote.test", "carol@remote.test", "tempfail-2@remote.test", "reject@remote.test"}, msg))
	require.Eventually(t, func() bool {
		n := 0
		for _, m := range sk.messages() {
			n += len(m.to)
		}
		return n == 3
	}, 15*time.Second, 50*time.Millisecond)
	got := sk.messages()
	require.ElementsMatch(t, []string{"bob@remote.test", "carol@remote.test"}, got[0].to, "same-domain recipients share a transaction")
	require.Equal(t, "alice@example.org", got[0].from)
	require.Contains(t, got[0].body, "Received: from client.test")
	require.Equal(t, []string{"tempfail-2@remote.test"}, got[len(got)-1].to)

	// The rejected recipient bounced to alice's local mailbox, as a DSN.
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return mailboxContains(js, "alice@example.org", "Final-Recipient: rfc822; reject@remote.test")
	}, 15*time.Second, 100*time.Millisecond)
	require.True(t, mailboxContains(js, "alice@example.org", "multipart/report"))
	require.Eventually(t, func() bool { return queueLen(t, mn.dlv.Queue) == 0 }, 10*time.Second, 50*time.Millisecond, "the queue empties")

	// Size limit.
	err = send(t, addr, "alice", "alice@example.org", []string{"bob@remote.test"}, msg+strings.Repeat("0123456789\r\n", 500))
	require.True(t, errors.As(err, &se))
	require.Equal(t, 552, se.Code)
}

func TestExpiryByMaxAttempts(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	sk := newSink(t)
	mn := startMailNode(t, srv, "1", "mx.example.org", sk, 4)
	require.NoError(t, send(t, mn.smtp.Addrs()[0], "alice", "alice@example.org", []string{"expire.tempfail-9@remote.test"}, msg))
	js, _ := jetstream.New(jetmailtest.Conn(t, srv))
	require.Eventually(t, func() bool { return mailboxContains(js, "alice@example.org", "maximum delivery attempts reached") },
		15*time.Second, 100*time.Millisecond)
	require.Equal(t, 2, sk.failsOf("expire.tempfail-9@remote.test"))
}

// A recipient that keeps failing gets a delayed DSN at its notify time,
// then expires at its TTL with a failure DSN.
func TestDelayedDSNThenTTLExpiry(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	sk := newSink(t)
	mn := startMailNode(t, srv, "1", "mx.example.org", sk, 4)
	require.NoError(t, send(t, mn.smtp.Addrs()[0], "alice", "alice@example.org", []string{"ttl.tempfail-99@remote.test"}, msg))
	js, _ := jetstream.New(jetmailtest.Conn(t, srv))
	mailboxHas := func(substr string) func() bool {
		return func() bool { return mailboxContains(js, "alice@example.org", substr) }
	}
	require.Eventually(t, mailboxHas("Action: delayed"), 10*time.Second, 100*time.Millisecond, "a delayed DSN at the notify time")
	// It gives the remote's own enhanced code (the sink says 451 4.7.1).
	msgs, err := storetest.Mail(js, "alice@example.org")
	require.NoError(t, err)
	var delayed string
	for _, m := range msgs {
		if strings.Contains(string(m), "Action: delayed") {
			delayed = string(m)
		}
	}
	require.Contains(t, delayed, "Status: 4.7.1")
	require.Eventually(t, mailboxHas("delivery time expired"), 10*time.Second, 100*time.Millisecond, "a failure DSN at expiry")
	require.True(t, mailboxHas("Will-Retry-Until:")())
	require.Eventually(t, func() bool { return queueLen(t, mn.dlv.Queue) == 0 }, 5*time.Second, 50*time.Millisecond)
}

// mailboxContains reports whether a message stored for address contains
// substr.
func mailboxContains(js jetstream.JetStream, address, substr string) bool {
	msgs, err := storetest.Mail(js, address)
	if err != nil {
		return false
	}
	for _, m := range msgs {
		if strings.Contains(string(m), substr) {
			return true
		}
	}
	return false
}

// NOTIFY is honoured: NEVER suppresses a bounce, SUCCESS asks for a
// delivery report.
func TestNotifyHonoured(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	sk := newSink(t)
	mn := startMailNode(t, srv, "1", "mx.example.org", sk, 4)
	c, err := gosmtp.Dial(mn.smtp.Addrs()[0])
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Hello("client.test"))
	require.NoError(t, c.Auth(sasl.NewPlainClient("", "alice", "alice-secret")))
	require.NoError(t, c.Mail("alice@example.org", &gosmtp.MailOptions{EnvelopeID: "env-7"}))
	require.NoError(t, c.Rcpt("reject@remote.test", &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyNever}}))
	require.NoError(t, c.Rcpt("bob@other.test", &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifySuccess}}))
	w, err := c.Data()
	require.NoError(t, err)
	_, _ = io.WriteString(w, msg)
	require.NoError(t, w.Close())

	js, _ := jetstream.New(jetmailtest.Conn(t, srv))
	require.Eventually(t, func() bool { return mailboxContains(js, "alice@example.org", "Action: delivered") }, 10*time.Second, 100*time.Millisecond,
		"NOTIFY=SUCCESS gets a delivery report")
	require.True(t, mailboxContains(js, "alice@example.org", "Original-Envelope-Id: env-7"))
	require.Eventually(t, func() bool { return queueLen(t, mn.dlv.Queue) == 0 }, 10*time.Second, 50*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	require.False(t, mailboxContains(js, "alice@example.org", "reject@remote.test"), "NOTIFY=NEVER gets no bounce")
}

// A crash between recording a deferral and publishing its retry leaves an
// entry with no trigger; the leader's rescuer triggers it again.
func TestRescuerTriggersLostEntry(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	sk := newSink(t)
	in, out := startWithQueueParams(t, srv, sk, mailqueue.Params{RescueAfter: 500 * time.Millisecond, RescueInterval: 200 * time.Millisecond})
	require.NoError(t, send(t, in.Addrs()[0], "alice", "alice@example.org", []string{"lost.tempfail-1@remote.test"}, msg))

	// After the first (deferred) attempt, drop the retry's schedule, as a
	// crash before publishing it would.
	var key string
	require.Eventually(t, func() bool {
		keys, _ := list(t, out.Queue, mailqueue.Filter{Status: "retrying"})
		if len(keys) == 1 {
			key = keys[0]
		}
		return key != ""
	}, 5*time.Second, 10*time.Millisecond)
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	s, err := js.Stream(context.Background(), mailqueue.Stream)
	require.NoError(t, err)
	require.NoError(t, s.Purge(context.Background(), jetstream.WithPurgeSubject("jetmail.queue.sched.remote."+key)))

	require.Eventually(t, func() bool { return len(sk.messages()) == 1 }, 15*time.Second, 50*time.Millisecond, "the rescuer redelivers it")
	require.Eventually(t, func() bool { return queueLen(t, out.Queue) == 0 }, 5*time.Second, 50*time.Millisecond)
}

// The leader removes message bodies no queue entry refers to (left by a
// crash between removing the last recipient and the body), and only those.
func TestSweeperRemovesOrphanBodies(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	sk := newSink(t)
	in, out := startWithQueueParams(t, srv, sk, mailqueue.Params{SweepAge: time.Millisecond, SweepInterval: 200 * time.Millisecond})

	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	ctx := context.Background()
	store, err := js.ObjectStore(ctx, mailqueue.BucketMessages)
	require.NoError(t, err)
	_, err = store.PutBytes(ctx, "orphan", []byte("Subject: nobody's\r\n\r\nleft behind\r\n"))
	require.NoError(t, err)
	// A queued message (deferred, so it stays) keeps its body; it has two
	// recipients, so its body is in the store rather than in its entry.
	require.NoError(t, send(t, in.Addrs()[0], "alice", "alice@example.org", []string{"keep.tempfail-99@remote.test", "also.tempfail-99@remote.test"}, msg))
	require.Eventually(t, func() bool { _, err := store.GetInfo(ctx, "orphan"); return err != nil }, 10*time.Second, 50*time.Millisecond,
		"the orphan body is removed")
	keys, _ := list(t, out.Queue, mailqueue.Filter{})
	require.Len(t, keys, 2)
	r, err := out.Queue.Get(ctx, keys[0])
	require.NoError(t, err)
	_, err = store.GetInfo(ctx, r.MessageID)
	require.NoError(t, err, "a queued message's body stays")
}

// A small one-recipient message travels in its entry: nothing goes to the
// body store, the body survives the entry's deferral (its record carries
// it), it is delivered whole, and a message too big to travel so is stored
// apart and its body removed once delivered.
func TestSmallMessageTravelsInItsEntry(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	sk := newSink(t)
	in, out := startWithQueueParams(t, srv, sk, mailqueue.Params{InlineBodyMax: 200})
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	ctx := context.Background()
	store, err := js.ObjectStore(ctx, mailqueue.BucketMessages)
	require.NoError(t, err)
	stored := func() int {
		infos, err := store.List(ctx)
		if errors.Is(err, jetstream.ErrNoObjectsFound) {
			return 0
		}
		require.NoError(t, err)
		return len(infos)
	}

	require.NoError(t, send(t, in.Addrs()[0], "alice", "alice@example.org", []string{"small.tempfail-1@remote.test"}, msg))
	keys, _ := list(t, out.Queue, mailqueue.Filter{})
	require.Len(t, keys, 1)
	r, err := out.Queue.Get(ctx, keys[0])
	require.NoError(t, err)
	require.Contains(t, string(r.Body), "hello", "the body is in the entry")
	require.Zero(t, stored(), "and in no body store")
	body, err := out.Queue.Body(ctx, r.MessageID)
	require.NoError(t, err)
	require.Equal(t, r.Body, body)
	require.Eventually(t, func() bool { return len(sk.messages()) == 1 }, 10*time.Second, 20*time.Millisecond, "delivered after one deferral")
	require.Equal(t, 1, sk.failsOf("small.tempfail-1@remote.test"))
	require.Contains(t, sk.messages()[0].body, "Subject: hi\r\n\r\nhello\r\n")

	big := msg + strings.Repeat("0123456789\r\n", 20) // over InlineBodyMax
	require.NoError(t, send(t, in.Addrs()[0], "alice", "alice@example.org", []string{"big.tempfail-1@remote.test"}, big))
	keys, _ = list(t, out.Queue, mailqueue.Filter{})
	require.Len(t, keys, 1)
	r, err = out.Queue.Get(ctx, keys[0])
	require.NoError(t, err)
	require.Nil(t, r.Body, "too big to travel in its entry")
	require.Equal(t, 1, stored())
	require.Eventually(t, func() bool { return len(sk.messages()) == 2 }, 10*time.Second, 20*time.Millisecond)
	require.Contains(t, sk.messages()[1].body, strings.Repeat("0123456789\r\n", 20))
	require.Eventually(t, func() bool { return stored() == 0 }, 5*time.Second, 20*time.Millisecond, "its body goes once it is delivered")
}

// The depth gauge counts, from the server's counts alone, the recipients
// due now and those waiting for a later attempt, not the held ones.
func TestDepthFromServerCounts(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	sk := newSink(t)
	in, out := startWithQueueParams(t, srv, sk, mailqueue.Params{})
	ctx := context.Background()
	q := out.Queue
	require.NoError(t, q.Pause(ctx, "remote"))
	require.Eventually(t, func() bool { return len(q.Paused()) == 1 }, 5*time.Second, 10*time.Millisecond)
	for _, rcpt := range []string{"one@remote.test", "two@remote.test", "three@remote.test"} {
		require.NoError(t, send(t, in.Addrs()[0], "alice", "alice@example.org", []string{rcpt}, msg))
	}
	depth := func() map[string]int {
		d, err := q.Depth(ctx)
		require.NoError(t, err)
		return d
	}
	require.Equal(t, map[string]int{"remote": 3, "local": 0}, depth(), "three due now")
	// The stream keeps its anchor, which no consumer reads (work.EnsureAnchor).
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	s, err := js.Stream(ctx, mailqueue.Stream)
	require.NoError(t, err)
	_, err = s.GetLastMsgForSubject(ctx, mailqueue.AnchorSubject)
	require.NoError(t, err, "the queue stream has its anchor")
	keys, _ := list(t, q, mailqueue.Filter{})
	require.Len(t, keys, 3)
	_, err = q.Hold(ctx, keys[0])
	require.NoError(t, err)
	_, err = q.Reschedule(ctx, keys[1], time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, map[string]int{"remote": 2, "local": 0}, depth(), "one due, one scheduled; the held one not counted")
	require.Equal(t, 3, queueLen(t, q), "Len reads the queue: the held one too")
	require.NoError(t, q.Resume(ctx, "remote"))
	require.Eventually(t, func() bool { return depth()["remote"] == 1 }, 10*time.Second, 20*time.Millisecond, "the due one is delivered")
	require.Len(t, sk.messages(), 1)
}

func (s *sink) failsOf(a string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fails[a]
}

// Two nodes with threads-per-node = 2: the sink never sees more than two
// sessions from one node at once.
func TestThreadsPerNode(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	sk := newSink(t)
	sk.delay = 100 * time.Millisecond
	a := startMailNode(t, srv, "a", "node-a.test", sk, 2)
	startMailNode(t, srv, "b", "node-b.test", sk, 2)
	for i := range 40 {
		require.NoError(t, send(t, a.smtp.Addrs()[0], "alice", "alice@example.org", []string{fmt.Sprintf("u%d@d%d.test", i, i)}, msg))
	}
	require.Eventually(t, func() bool { return len(sk.messages()) == 40 }, 30*time.Second, 50*time.Millisecond)
	sk.mu.Lock()
	defer sk.mu.Unlock()
	t.Logf("max concurrent sessions per node: %v", sk.max)
	require.LessOrEqual(t, sk.max["node-a.test"], 2)
	require.LessOrEqual(t, sk.max["node-b.test"], 2)
	require.Positive(t, sk.max["node-b.test"], "both nodes deliver")
}

// A message waiting in a paused queue lives in its trigger alone (no
// record yet): the sweeper must still see it and keep its body, and it is
// delivered once the queue resumes.
func TestSweeperKeepsBodiesOfWaitingMessages(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	sk := newSink(t)
	// Every body in the store, so that there is one for the sweeper to keep.
	in, out := startWithQueueParams(t, srv, sk, mailqueue.Params{SweepAge: time.Millisecond, SweepInterval: 100 * time.Millisecond, InlineBodyMax: -1})
	ctx := context.Background()
	require.NoError(t, out.Queue.Pause(ctx, "remote"))
	require.Eventually(t, func() bool { return len(out.Queue.Paused()) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, send(t, in.Addrs()[0], "alice", "alice@example.org", []string{"waits@remote.test"}, msg))
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	kv, err := js.KeyValue(ctx, mailqueue.BucketQueue)
	require.NoError(t, err)
	keys, total := list(t, out.Queue, mailqueue.Filter{})
	require.Equal(t, 1, total, "listed while it waits")
	_, err = kv.Get(ctx, keys[0])
	require.ErrorIs(t, err, jetstream.ErrKeyNotFound, "no record: the trigger holds it")
	time.Sleep(500 * time.Millisecond) // several sweeps, past SweepAge
	r, err := out.Queue.Get(ctx, keys[0])
	require.NoError(t, err)
	body, err := out.Queue.Body(ctx, r.MessageID)
	require.NoError(t, err, "the body of a waiting message stays")
	require.Contains(t, string(body), "hello")
	require.NoError(t, out.Queue.Resume(ctx, "remote"))
	require.Eventually(t, func() bool { return len(sk.messages()) == 1 }, 10*time.Second, 20*time.Millisecond, "delivered once resumed")
}

// A virtual queue's consumer allows threads-per-node times the nodes
// delivering it, so that a node whose pool is broken (it asks for far more)
// still holds no more than that.
func TestVirtualQueueLimitBindsABrokenPool(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	sk := newSink(t)
	a := startMailNode(t, srv, "a", "node-a.test", sk, 2)
	startMailNode(t, srv, "b", "node-b.test", sk, 2)
	ctx := context.Background()
	limit := func() int {
		c, err := a.n.Deps().JS().Consumer(ctx, mailqueue.Stream, "vq-remote")
		if err != nil {
			return -1
		}
		info, err := c.Info(ctx)
		if err != nil {
			return -1
		}
		return info.Config.MaxAckPending
	}
	require.Eventually(t, func() bool { return limit() == 4 }, 10*time.Second, 20*time.Millisecond, "2 threads on each of 2 nodes")

	// The nodes stop taking from the queue; a broken pool asks for 50.
	require.NoError(t, a.dlv.Queue.Pause(ctx, "remote"))
	require.Eventually(t, func() bool { return len(a.dlv.Queue.Paused()) == 1 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // the nodes' last fetches run out
	for i := range 20 {
		require.NoError(t, send(t, a.smtp.Addrs()[0], "alice", "alice@example.org", []string{fmt.Sprintf("u%d@d%d.test", i, i)}, msg))
	}
	var running, done atomic.Int64
	release := make(chan struct{})
	broken := work.NewPool(work.PoolParams{Slots: 50, Logger: jetmailtest.Logger(), PollWait: 200 * time.Millisecond,
		Handler: func(context.Context, *work.Job) error {
			running.Add(1)
			<-release
			done.Add(1)
			return nil
		}})
	c, err := a.n.Deps().JS().Consumer(ctx, mailqueue.Stream, "vq-remote")
	require.NoError(t, err)
	pctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); broken.Wait() }()
	go broken.Consume(pctx, c, "broken", nil)
	require.Eventually(t, func() bool { return running.Load() == 4 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(500 * time.Millisecond) // more fetches: the server hands out nothing more
	require.EqualValues(t, 4, running.Load(), "the server holds the broken pool to the limit")
	close(release)
	require.Eventually(t, func() bool { return done.Load() == 20 }, 10*time.Second, 10*time.Millisecond, "the work still flows, 4 at a time")
}

// Wrong commands and bad addresses get the right reply codes.
func TestReplyCodes(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	mn := startMailNode(t, srv, "1", "mx.example.org", newSink(t), 2)
	conn, err := net.Dial("tcp", mn.smtp.Addrs()[0])
	require.NoError(t, err)
	defer conn.Close()
	tp := textproto.NewConn(conn)
	_, _, err = tp.ReadResponse(220)
	require.NoError(t, err)
	cmd := func(line string) int {
		t.Helper()
		require.NoError(t, tp.PrintfLine("%s", line))
		code, msg, _ := tp.ReadResponse(0)
		t.Logf("%s -> %d %s", line, code, msg)
		return code
	}
	// go-smtp answers 502 ("introduce yourself first") before EHLO; RFC 5321
	// would have 503 for a bad sequence. Either way the command is refused.
	require.Equal(t, 502, cmd("RCPT TO:<a@example.org>"), "RCPT before EHLO")
	require.Equal(t, 250, cmd("EHLO client.test"))
	require.Equal(t, 502, cmd("RCPT TO:<a@example.org>"), "RCPT before MAIL (go-smtp: 502 5.5.1)")
	require.Equal(t, 502, cmd("DATA"), "DATA before RCPT (go-smtp: 502 5.5.1)")
	require.Equal(t, 501, cmd("FROBNICATE"), "unknown command (go-smtp: 501 5.5.2; RFC 5321 says 500)")
	require.Equal(t, 250, cmd("MAIL FROM:alice@example.org"), "accepted without angle brackets, as Postfix does by default")
	require.Equal(t, 250, cmd("RSET"))
	require.Equal(t, 501, cmd("MAIL FROM:<not-an-address>"), "syntax error in the address")
	require.Equal(t, 552, cmd("MAIL FROM:<alice@example.org> SIZE=999999999"), "declared size over the limit")
	require.Equal(t, 250, cmd("MAIL FROM:<alice@example.org>"))
	require.Equal(t, 501, cmd("RCPT TO:<no-at-sign>"), "syntax error in the address")
	require.Equal(t, 553, cmd("RCPT TO:<user@nodot>"), "a domain that cannot be delivered to")
	require.Equal(t, 550, cmd("RCPT TO:<nobody@example.org>"), "unknown local user")
	require.Equal(t, 554, cmd("RCPT TO:<x@remote.test>"), "relay without auth")
	require.Equal(t, 250, cmd("RCPT TO:<alice@example.org>"))
	require.Equal(t, 221, cmd("QUIT"))
}

// queueLen counts the queued recipients, or -1 when the queue cannot be
// read (it runs inside Eventually's goroutine, so it must not fail t).
func queueLen(t *testing.T, q *mailqueue.Queue) int {
	t.Helper()
	n, err := q.Len(context.Background())
	if err != nil {
		t.Logf("queue length: %v", err)
		return -1
	}
	return n
}

// list lists queue entries; it fails the test if the queue cannot be read.
func list(t *testing.T, q *mailqueue.Queue, f mailqueue.Filter) ([]string, int) {
	t.Helper()
	keys, total, err := q.List(context.Background(), f)
	require.NoError(t, err)
	return keys, total
}

// Each recipient delivered gets one INFO line, with the entry, the
// remote server and its reply.
func TestDeliveryLogged(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	sk := newSink(t)
	cfg := mailNodeConfig(t, "1", "mx.example.org", sk, 4)
	q := mailqueue.New(mailqueue.Params{})
	in, out := smtp.New(cfg, q), delivery.New(cfg, q)
	logs := &jetmailtest.LogBuffer{}
	n, err := node.New(node.Params{Config: cfg, Conn: jetmailtest.Conn(t, srv), Services: []node.Service{q, in, out},
		Logger: slog.New(slog.NewTextHandler(logs, nil)), Version: "test"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, n.Start(ctx))
	t.Cleanup(func() { jetmailtest.StopNode(n) })

	require.NoError(t, send(t, in.Addrs()[0], "alice", "alice@example.org", []string{"bob@remote.test"}, msg))
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "msg=delivered") }, 15*time.Second, 50*time.Millisecond)
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "msg=delivered") {
			line = l
		}
	}
	require.Contains(t, line, "level=INFO")
	require.Contains(t, line, "rcpt=bob@remote.test")
	require.Contains(t, line, "remote=127.0.0.1")
	require.Contains(t, line, `reply="250`)
	require.Contains(t, line, "attempt=1")
	require.Contains(t, line, "entry=")
}
