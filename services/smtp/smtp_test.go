package smtp_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/smtp"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
)

const intakeConfig = `
[smtp]
listen = ["127.0.0.1:0"]
hostname = "mx.example.org"
local-domains = ["example.org"]
max-message-size = 4194304
[smtp.users.alice]
secret = "alice-secret-long"
addresses = ["alice@example.org"]
[smtp.limits]
max-connections = 100
max-connections-per-ip = 50
auth-failures-per-connection = 2
auth-failures-per-ip = 3
auth-lockout = "1m"
auth-failure-delay = "0s"
`

type intake struct {
	srv  *embedded.Server
	smtp *smtp.Service
	q    *mailqueue.Queue
}

// startIntake runs a node with the queue and the SMTP intake alone: what is
// accepted stays queued.
func startIntake(t testing.TB) *intake {
	t.Helper()
	return startIntakeWith(t, intakeConfig)
}

// startIntakeWith is startIntake with another configuration.
func startIntakeWith(t testing.TB, doc string) *intake {
	t.Helper()
	srv := jetmailtest.Server(t)
	cfg, err := config.Parse([]byte(doc))
	require.NoError(t, err)
	base := jetmailtest.Config(t, "1")
	cfg.Cluster, cfg.HTTP = base.Cluster, base.HTTP
	cfg.Task.Periodic = map[string]config.Periodic{}
	q := mailqueue.New(mailqueue.Params{})
	in := smtp.New(cfg, q)
	jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, q, in)
	return &intake{srv, in, q}
}

// dialFrom opens an SMTP connection from a loopback address of its own
// (127.0.0.x) and returns the connection and its greeting.
func dialFrom(t *testing.T, addr, from string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	r := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	return c, r, line
}

// tightLimits gives the limit tests 3 connections, 2 per address. The
// other tests keep room: a connection a client has just closed may still
// count for a moment on a busy machine, and back-to-back sessions would
// then get 421.
func tightLimits(doc string) string {
	doc = strings.Replace(doc, "max-connections = 100", "max-connections = 3", 1)
	return strings.Replace(doc, "max-connections-per-ip = 50", "max-connections-per-ip = 2", 1)
}

// Connections past smtp.limits, per address and in all, get 421 4.7.0 at
// once; a closed connection frees its place.
func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	in := startIntakeWith(t, tightLimits(intakeConfig))
	addr := in.smtp.Addrs()[0]
	a1, _, g := dialFrom(t, addr, "127.0.0.1")
	require.True(t, strings.HasPrefix(g, "220 "), g)
	_, _, g = dialFrom(t, addr, "127.0.0.1")
	require.True(t, strings.HasPrefix(g, "220 "), g)
	_, _, g = dialFrom(t, addr, "127.0.0.1")
	require.Equal(t, "421 4.7.0 mx.example.org Too many connections from your address; try again later\r\n", g)
	_, _, g = dialFrom(t, addr, "127.0.0.2")
	require.True(t, strings.HasPrefix(g, "220 "), g)
	_, _, g = dialFrom(t, addr, "127.0.0.3")
	require.Equal(t, "421 4.7.0 mx.example.org Too many connections; try again later\r\n", g)

	require.NoError(t, a1.Close())
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.HasPrefix(line, "220 ")
	}, 5*time.Second, 20*time.Millisecond, "the closed connection's place is free again")
}

// The connection limits are the node's, however many addresses it listens
// on.
func TestConnectionLimitsSpanListeners(t *testing.T) {
	t.Parallel()
	doc := strings.Replace(intakeConfig, `listen = ["127.0.0.1:0"]`, `listen = ["127.0.0.1:0", "127.0.0.1:0"]`, 1)
	doc = strings.Replace(tightLimits(doc), "max-connections-per-ip = 2", "max-connections-per-ip = 3", 1)
	in := startIntakeWith(t, doc)
	a, b := in.smtp.Addrs()[0], in.smtp.Addrs()[1]
	for _, addr := range []string{a, a, b} {
		_, _, g := dialFrom(t, addr, "127.0.0.1")
		require.True(t, strings.HasPrefix(g, "220 "), g)
	}
	_, _, g := dialFrom(t, b, "127.0.0.2")
	require.Equal(t, "421 4.7.0 mx.example.org Too many connections; try again later\r\n", g)
}

// Failed AUTH closes the connection after auth-failures-per-connection
// failures, and locks the address out after auth-failures-per-ip: then
// even the right password is refused with 454.
func TestAuthThrottle(t *testing.T) {
	t.Parallel()
	in := startIntake(t)
	addr := in.smtp.Addrs()[0]
	login := func(secret string) error {
		// A connection the server has just closed may still count for a
		// moment on a busy machine: dial again then.
		var c *gosmtp.Client
		require.Eventually(t, func() bool {
			var err error
			if c, err = gosmtp.Dial(addr); err != nil {
				return false
			}
			if err = c.Hello("client.test"); err != nil {
				c.Close()
				return false
			}
			return true
		}, 5*time.Second, 20*time.Millisecond)
		defer c.Close()
		return c.Auth(sasl.NewPlainClient("", "alice", secret))
	}
	code := func(err error) int {
		var se *gosmtp.SMTPError
		if errors.As(err, &se) {
			return se.Code
		}
		return 0
	}

	c, err := gosmtp.Dial(addr)
	require.NoError(t, err)
	require.NoError(t, c.Hello("client.test"))
	require.Equal(t, 535, code(c.Auth(sasl.NewPlainClient("", "alice", "wrong-1"))))
	require.Equal(t, 421, code(c.Auth(sasl.NewPlainClient("", "alice", "wrong-2"))), "the second failure on one connection closes it")
	require.Error(t, c.Noop(), "closed")
	c.Close()

	require.NoError(t, login("alice-secret-long"), "the address is not locked yet: 2 of 3 failures")
	require.Equal(t, 535, code(login("wrong-3")))
	require.Equal(t, 454, code(login("alice-secret-long")), "3 failures: locked out, the right password too")
}

// NUL and other control characters in addresses get 501; a header line
// far over the limit gets a permanent refusal, not 451.
func TestBadInputReplies(t *testing.T) {
	t.Parallel()
	in := startIntake(t)
	addr := in.smtp.Addrs()[0]
	send := func(from, to, body string) error {
		return jetmailtest.SendMail(addr, "alice", "alice-secret-long", from, []string{to}, body)
	}
	var se *gosmtp.SMTPError
	err := send("alice\x00x@example.org", "bob@remote.test", "Subject: x\r\n\r\nx\r\n")
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, 501, se.Code)
	err = send("alice@example.org", "bob\x01@remote.test", "Subject: x\r\n\r\nx\r\n")
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, 501, se.Code)

	err = send("alice@example.org", "bob@remote.test", "X-Long: "+strings.Repeat("a", 100_000)+"\r\n\r\nbody\r\n")
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, 554, se.Code, "permanent: %v", err)
	require.Equal(t, gosmtp.EnhancedCode{5, 6, 0}, se.EnhancedCode)

	// Over max-message-size: 552 while reading, and nothing queued.
	err = send("alice@example.org", "bob@remote.test", "Subject: big\r\n\r\n"+strings.Repeat(strings.Repeat("x", 998)+"\r\n", 5000))
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, 552, se.Code)
	n, err := in.q.Len(context.Background())
	require.NoError(t, err)
	require.Zero(t, n)
}

// A body larger than what travels in an entry streams to the body store
// and is queued whole.
func TestLargeMessageStreamsToTheStore(t *testing.T) {
	t.Parallel()
	in := startIntake(t)
	addr := in.smtp.Addrs()[0]
	var body strings.Builder
	body.WriteString("Subject: large\r\n\r\n")
	for i := range 3000 { // about 3 MB, many store chunks
		fmt.Fprintf(&body, "%06d %s\r\n", i, strings.Repeat("y", 990))
	}
	require.NoError(t, jetmailtest.SendMail(addr, "alice", "alice-secret-long", "alice@example.org", []string{"bob@remote.test"}, body.String()))
	ctx := context.Background()
	keys, _, err := in.q.List(ctx, mailqueue.Filter{})
	require.NoError(t, err)
	require.Len(t, keys, 1)
	r, err := in.q.Get(ctx, keys[0])
	require.NoError(t, err)
	require.Nil(t, r.Body, "too large to travel in its entry")
	got, err := in.q.Body(ctx, r.MessageID)
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(string(got), body.String()), "the body, after the Received header, is what was sent")
	require.Equal(t, int64(len(got)), r.Size)
}

// While the node has no NATS connection, new connections get 421 at once,
// and a session already open gets 451 at DATA within seconds.
func TestIntakeWhileNATSIsDown(t *testing.T) {
	t.Parallel()
	in := startIntake(t)
	addr := in.smtp.Addrs()[0]
	c, err := gosmtp.Dial(addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Hello("client.test"))
	require.NoError(t, c.Auth(sasl.NewPlainClient("", "alice", "alice-secret-long")))
	require.NoError(t, c.Mail("alice@example.org", nil))
	require.NoError(t, c.Rcpt("bob@remote.test", nil))

	in.srv.Stop()
	require.Eventually(t, func() bool {
		_, _, g := dialFrom(t, addr, "127.0.0.5")
		return strings.HasPrefix(g, "421 4.7.0 mx.example.org Service not available")
	}, 5*time.Second, 50*time.Millisecond)

	start := time.Now()
	w, err := c.Data()
	require.NoError(t, err)
	_, _ = w.Write([]byte("Subject: x\r\n\r\nx\r\n"))
	err = w.Close()
	var se *gosmtp.SMTPError
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, 451, se.Code)
	require.Less(t, time.Since(start), 10*time.Second)
}

// A client that sends its message slowly, for longer than the store's
// enqueue timeout, still gets its 250: only the store's own time counts.
func TestSlowClientIsNotCutOffByTheStoreTimeout(t *testing.T) {
	t.Parallel()
	in := startIntake(t)
	c, err := gosmtp.Dial(in.smtp.Addrs()[0])
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Hello("client.test"))
	require.NoError(t, c.Auth(sasl.NewPlainClient("", "alice", "alice-secret-long")))
	require.NoError(t, c.Mail("alice@example.org", nil))
	require.NoError(t, c.Rcpt("bob@remote.test", nil))
	w, err := c.Data()
	require.NoError(t, err)
	_, err = w.Write([]byte("Subject: slow\r\n\r\n"))
	require.NoError(t, err)
	line := strings.Repeat("z", 900) + "\r\n"
	for range 6 { // 6 x 1.2 s: longer than the 5 s the store gets
		time.Sleep(1200 * time.Millisecond)
		_, err = w.Write([]byte(strings.Repeat(line, 100)))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close(), "accepted")
	n, err := in.q.Len(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

// RCPT TO:<postmaster>, without a domain, is accepted (RFC 5321
// §4.1.1.3) for postmaster at the first local domain; MT-PRIORITY is
// read from MAIL FROM (RFC 6710).
func TestBarePostmaster(t *testing.T) {
	t.Parallel()
	in := startIntakeWith(t, strings.Replace(intakeConfig, `addresses = ["alice@example.org"]`, `addresses = ["alice@example.org", "postmaster@example.org"]`, 1))
	c, r, greeting := dialFrom(t, in.smtp.Addrs()[0], "127.0.0.1")
	require.True(t, strings.HasPrefix(greeting, "220"), greeting)
	say := func(line, want string) string {
		t.Helper()
		_, err := fmt.Fprintf(c, "%s\r\n", line)
		require.NoError(t, err)
		var reply string
		for {
			l, err := r.ReadString('\n')
			require.NoError(t, err)
			reply += l
			if len(l) < 4 || l[3] != '-' {
				break
			}
		}
		require.True(t, strings.HasPrefix(reply, want), "%s: %s", line, reply)
		return reply
	}
	ehlo := say("EHLO client.remote.test", "250")
	require.Contains(t, ehlo, "MT-PRIORITY")
	say("MAIL FROM:<someone@remote.test> MT-PRIORITY=3", "250")
	say("RCPT TO:<PostMaster>", "250")
	say("DATA", "354")
	say("Subject: hello\r\n\r\nhi\r\n.", "250")
	say("QUIT", "221")

	ctx := context.Background()
	keys, _, err := in.q.List(ctx, mailqueue.Filter{})
	require.NoError(t, err)
	require.Len(t, keys, 1)
	rc, err := in.q.Get(ctx, keys[0])
	require.NoError(t, err)
	require.Equal(t, "postmaster@example.org", rc.Address)
	require.Equal(t, 3, rc.Priority)
}
