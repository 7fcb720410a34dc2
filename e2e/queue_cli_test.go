package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
)

// remoteMTA is an SMTP server on loopback that defers every recipient with
// 451 until accept is set, and counts what it accepts.
type remoteMTA struct {
	addr     string
	accept   atomic.Bool
	mu       sync.Mutex
	received []string
}

func startRemoteMTA(t *testing.T) *remoteMTA {
	t.Helper()
	m := &remoteMTA{}
	srv := gosmtp.NewServer(m)
	srv.Domain = "remote.test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	m.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return m
}

func (m *remoteMTA) NewSession(*gosmtp.Conn) (gosmtp.Session, error) {
	return &remoteSession{m: m}, nil
}

type remoteSession struct {
	m  *remoteMTA
	to []string
}

func (s *remoteSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *remoteSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if !s.m.accept.Load() {
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	s.to = append(s.to, to)
	return nil
}
func (s *remoteSession) Data(r io.Reader) error {
	_, _ = io.ReadAll(r)
	s.m.mu.Lock()
	s.m.received = append(s.m.received, s.to...)
	s.m.mu.Unlock()
	s.to = nil
	return nil
}
func (s *remoteSession) Reset()        { s.to = nil }
func (s *remoteSession) Logout() error { return nil }

func (m *remoteMTA) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.received)
}

func sendMail(addr, user string, to []string) error {
	return sendMailAs(addr, user, to, "From: alice@example.org\r\nSubject: queue test\r\n\r\nhello\r\n")
}

func sendMailBody(addr, rcpt, body string) error {
	return sendMailAs(addr, "alice", []string{rcpt}, body)
}

func sendMailAs(addr, user string, to []string, body string) error {
	return jetmailtest.SendMail(addr, user, "alice-secret-1", "alice@example.org", to, body)
}

// The queue CLI against `jetmail dev`: list with filters, hold by domain,
// pause a virtual queue, export and cancel with a bounce, import, resume
// and retry until the queue is empty.
func TestQueueCLI(t *testing.T) {
	t.Parallel()
	mta := startRemoteMTA(t)
	dir := t.TempDir()
	cfgPath := mailConfigRetry(t, dir, mta.addr, 4, "1h")
	natsAddr, httpAddr, smtpAddr := jetmailtest.FreePort(t), jetmailtest.FreePort(t), jetmailtest.FreePort(t)
	dev := start(t, dir, "dev", "--config", cfgPath, "--nats-listen", natsAddr, "--http", httpAddr, "--smtp", smtpAddr)
	waitReady(t, dev, httpAddr)
	api := "--api=http://" + httpAddr + "/jmap"
	cli := func(args ...string) (string, int) { t.Helper(); return runIn(t, dir, append(args, api)...) }
	entries := func(filters ...string) []map[string]any {
		t.Helper()
		out, code := cli(append([]string{"queue", "ls", "-o", "json"}, filters...)...)
		require.Equal(t, 0, code, out)
		var list []map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &list), out)
		return list
	}

	// Never an open relay.
	err := sendMail(smtpAddr, "", []string{"bob@d1.test"})
	var se *gosmtp.SMTPError
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, 554, se.Code)

	require.NoError(t, sendMail(smtpAddr, "alice", []string{"bob@d1.test", "carol@d1.test"}))
	require.NoError(t, sendMail(smtpAddr, "alice", []string{"dave@d2.test"}))
	require.Eventually(t, func() bool {
		list := entries()
		if len(list) != 3 {
			return false
		}
		for _, e := range list {
			if e["attempts"].(float64) < 1 {
				return false
			}
		}
		return true
	}, 15*time.Second, 100*time.Millisecond, "three deferred entries")
	require.Len(t, entries("--domain", "d1.test"), 2)
	out, code := cli("queue", "ls")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "451 4.3.0 try again later")

	out, code = cli("queue", "hold", "--all", "--domain", "d1.test")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "held 2/2")
	require.Len(t, entries("--status", "held"), 2)

	out, code = cli("queue", "pause", "remote")
	require.Equal(t, 0, code, out)
	out, code = cli("queue", "queues")
	require.Equal(t, 0, code, out)
	require.Regexp(t, `remote\s+4\s+true\s+1`, out, "one waiting; the two held are not counted")

	exportFile := filepath.Join(dir, "d2.jsonl")
	out, code = cli("queue", "export", exportFile, "--domain", "d2.test")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "1 message(s) written")
	out, code = cli("queue", "cancel", "--all", "--domain", "d2.test", "--bounce")
	require.Equal(t, 2, code, out)
	out, code = cli("queue", "cancel", "--all", "--domain", "d2.test", "--bounce", "--yes")
	require.Equal(t, 0, code, out)
	require.Eventually(t, func() bool { return len(entries("--domain", "d2.test")) == 0 }, 5*time.Second, 100*time.Millisecond)

	out, code = cli("queue", "import", exportFile)
	require.Equal(t, 0, code, out)
	require.Eventually(t, func() bool { return len(entries("--domain", "d2.test")) == 1 }, 5*time.Second, 100*time.Millisecond)

	// The remote end recovers: resume, retry everything, and the queue empties.
	mta.accept.Store(true)
	out, code = cli("queue", "resume", "remote")
	require.Equal(t, 0, code, out)
	retried, code := cli("queue", "retry", "--all")
	require.Equal(t, 0, code, retried)
	ok := assert.Eventually(t, func() bool { return mta.count() == 3 && len(entries()) == 0 }, 15*time.Second, 100*time.Millisecond)
	if !ok {
		out, _ := cli("queue", "ls", "-o", "json")
		t.Fatalf("delivered %v; still queued: %s; retry said: %s", mta.list(), out, retried)
	}

	scrape := func() string {
		resp, err := http.Get("http://" + httpAddr + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	// The depth gauge is the server's counts; the last ack may still be on
	// its way when the listing is already empty.
	depthZero := func() bool { return strings.Contains(scrape(), `jetmail_queue_messages{queue="remote"} 0`) }
	if !assert.Eventually(t, depthZero, 5*time.Second, 100*time.Millisecond) {
		for _, l := range strings.Split(scrape(), "\n") {
			if strings.HasPrefix(l, "jetmail_queue_messages") {
				t.Log(l)
			}
		}
		out, _ := cli("queue", "queues")
		t.Fatalf("the queue depth did not come back to 0: %s", out)
	}
	metrics := scrape()
	for _, m := range []string{`jetmail_delivery_attempts_total{queue="remote",result="delivered"} 3`,
		`jetmail_delivery_attempts_total{queue="remote",result="temporary"}`, `jetmail_smtp_messages_total{result="accepted"}`,
		`jetmail_dsn_sent_total{kind="failed"} 1`, "jetmail_delivery_latency_seconds_bucket"} {
		require.True(t, strings.Contains(metrics, m), "metric %s missing", m)
	}

	out, code = cli("queue", "show", "nosuch.0")
	require.Equal(t, 0, code, out)
	require.Equal(t, "[]", strings.TrimSpace(out))

	// Where is my mail: the d2 message's history, from its deferrals to
	// the cancel with a bounce, the import and its delivery; the bounce
	// notice has a trace of its own, from the null sender.
	require.Eventually(t, func() bool {
		out, code = cli("trace", "search", "--rcpt", "dave@d2.test")
		return code == 0 && strings.Contains(out, "delivered") && strings.Contains(out, "cancelled") && !strings.Contains(out, "partial answer")
	}, 10*time.Second, 100*time.Millisecond, "the traces of the cancelled and of the imported message")
	for _, want := range []string{"received", "attempt", `"451 4.3.0 try again later"`, "deferred", "cancelled", "dsn-sent", "delivered", "from alice@example.org"} {
		require.Contains(t, out, want)
	}
	out, code = cli("trace", "search", "--sender", "<>", "--rcpt", "alice@example.org", "--summary")
	require.Equal(t, 0, code, out)
	require.Regexp(t, `TRACE\s+RECEIVED\s+SENDER`, out)
	require.Contains(t, out, "<>")
	out, code = cli("trace", "search", "--message-id", "no-such-id@x", "-o", "json")
	require.Equal(t, 0, code, out)
	require.Equal(t, "[]", strings.TrimSpace(out))
	out, code = cli("trace", "search", "--after", "yesterday")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "--after")
	out, code = cli("trace", "show", "nosuch")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "not found")
	require.Equal(t, 0, dev.stop(20*time.Second))
}

func (m *remoteMTA) list() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.received...)
}
