package smtp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/smtp"
	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/greylist"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/ratelimit"
)

type protected struct {
	*intake
	n   *node.Node
	clk *clock.Fake
	js  jetstream.JetStream
}

// startProtected is startIntakeWith the intake's checks on a fake clock.
func startProtected(t *testing.T, doc string) *protected {
	t.Helper()
	srv := jetmailtest.Server(t)
	cfg, err := config.Parse([]byte(doc))
	require.NoError(t, err)
	base := jetmailtest.Config(t, "1")
	cfg.Cluster, cfg.HTTP = base.Cluster, base.HTTP
	cfg.Task.Periodic = map[string]config.Periodic{}
	clk := clock.NewFake(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	q := mailqueue.New(mailqueue.Params{})
	in := smtp.New(cfg, q).WithClock(clk)
	n := jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, q, in)
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	return &protected{&intake{srv, in, q}, n, clk, js}
}

// send runs one transaction from local address ip (127.0.0.x), with AUTH
// when user is set, and returns the first refusal.
func (p *protected) send(t *testing.T, ip, user, from, to string) error {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", p.smtp.Addrs()[0])
	require.NoError(t, err)
	c := gosmtp.NewClient(conn)
	defer c.Close()
	require.NoError(t, c.Hello("client.test"))
	if user != "" {
		require.NoError(t, c.Auth(sasl.NewPlainClient("", user, "alice-secret-long")))
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	require.NoError(t, err)
	_, err = w.Write([]byte("Subject: x\r\n\r\nhello\r\n"))
	require.NoError(t, err)
	return w.Close()
}

func (p *protected) metric(t *testing.T, name, label string) float64 {
	t.Helper()
	mfs, err := p.n.Deps().Metrics.(prometheus.Gatherer).Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func refusal(t *testing.T, err error) string {
	t.Helper()
	var se *gosmtp.SMTPError
	require.True(t, errors.As(err, &se), "want a refusal, got %v", err)
	return fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
}

// Past a rate limit MAIL FROM gets 451 4.7.1 naming the limit; another
// address, sender or account is not held up; once the window has passed
// the client gets in again. Clients in smtp.relay-networks are not
// limited by address.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	p := startProtected(t, intakeConfig+`
[smtp.limits.rate]
ip = "2/1m"
sender = "3/1h"
account = "1/1d"
`)
	const local = "alice@example.org"
	require.NoError(t, p.send(t, "127.0.0.1", "", "ann@shop.test", local))
	require.NoError(t, p.send(t, "127.0.0.1", "", "bo@shop.test", local))
	require.Equal(t, "451 4.7.1 Rate limit reached: 2 messages per 1m from your address (smtp.limits.rate.ip); try again in 60 seconds",
		refusal(t, p.send(t, "127.0.0.1", "", "cy@shop.test", local)))
	require.NoError(t, p.send(t, "127.0.0.2", "", "cy@shop.test", local), "another address")

	p.clk.Advance(45 * time.Second)
	require.Equal(t, "451 4.7.1 Rate limit reached: 2 messages per 1m from your address (smtp.limits.rate.ip); try again in 15 seconds",
		refusal(t, p.send(t, "127.0.0.1", "", "dee@shop.test", local)))
	p.clk.Advance(15 * time.Second)
	require.NoError(t, p.send(t, "127.0.0.1", "", "dee@shop.test", local), "a new window")

	// One sender from three addresses: the sender's limit.
	for _, ip := range []string{"127.0.0.3", "127.0.0.4", "127.0.0.5"} {
		require.NoError(t, p.send(t, ip, "", "news@list.test", local))
	}
	require.Contains(t, refusal(t, p.send(t, "127.0.0.6", "", "News@List.test", local)),
		"451 4.7.1 Rate limit reached: 3 messages per 1h from this sender (smtp.limits.rate.sender)")
	require.NoError(t, p.send(t, "127.0.0.6", "", "", local), "the null sender is not counted per sender")

	// An authenticated account: its own limit.
	require.NoError(t, p.send(t, "127.0.0.7", "alice", "alice@example.org", "bob@remote.test"))
	require.Contains(t, refusal(t, p.send(t, "127.0.0.8", "alice", "alice+x@example.org", "bob@remote.test")),
		"451 4.7.1 Rate limit reached: 1 messages per 1d for your account (smtp.limits.rate.account)")

	require.EqualValues(t, 2, p.metric(t, "jetmail_smtp_rate_limited_total", "ip"))
	require.EqualValues(t, 1, p.metric(t, "jetmail_smtp_rate_limited_total", "sender"))
	require.EqualValues(t, 1, p.metric(t, "jetmail_smtp_rate_limited_total", "account"))
	n, err := p.q.Len(context.Background())
	require.NoError(t, err)
	require.Equal(t, 9, n, "every transaction let through was queued")
}

// Clients in smtp.relay-networks are not limited by address, as Postfix
// exempts mynetworks.
func TestRateLimitsSpareRelayNetworks(t *testing.T) {
	t.Parallel()
	p := startProtected(t, strings.Replace(intakeConfig, "local-domains", `relay-networks = ["127.0.0.9/32"]
local-domains`, 1)+`
[smtp.limits.rate]
ip = "1/1h"
`)
	for _, from := range []string{"a@shop.test", "b@shop.test", "c@shop.test"} {
		require.NoError(t, p.send(t, "127.0.0.9", "", from, "alice@example.org"))
	}
	require.NoError(t, p.send(t, "127.0.0.1", "", "a@shop.test", "alice@example.org"))
	require.Error(t, p.send(t, "127.0.0.1", "", "b@shop.test", "alice@example.org"))
}

// Greylisting as postgrey does it: a new triplet's RCPT gets 451 4.7.1;
// a retry before the delay too, for the time left; after it the mail is
// accepted. Authenticated clients and smtp.relay-networks are never
// greylisted.
func TestGreylisting(t *testing.T) {
	t.Parallel()
	p := startProtected(t, `
[smtp]
listen = ["127.0.0.1:0"]
hostname = "mx.example.org"
local-domains = ["example.org"]
relay-networks = ["127.0.0.9/32"]
[smtp.users.alice]
secret = "alice-secret-long"
addresses = ["alice@example.org"]
[smtp.greylist]
enable = true
delay = "5m"
auto-whitelist-clients = 0
`)
	const from, to = "ann@shop.test", "alice@example.org"
	require.Equal(t, "451 4.7.1 Greylisted, please try again in 300 seconds", refusal(t, p.send(t, "127.0.0.1", "", from, to)))
	p.clk.Advance(2 * time.Minute)
	require.Equal(t, "451 4.7.1 Greylisted, please try again in 180 seconds", refusal(t, p.send(t, "127.0.0.2", "", from, to)),
		"the same /24: the same triplet, retried early")
	p.clk.Advance(3 * time.Minute)
	require.NoError(t, p.send(t, "127.0.0.1", "", from, to), "retried after the delay")
	require.NoError(t, p.send(t, "127.0.0.1", "", from, to), "known: accepted at once")

	require.NoError(t, p.send(t, "127.0.0.1", "alice", "alice@example.org", to), "authenticated: not greylisted")
	require.NoError(t, p.send(t, "127.0.0.9", "", "new@shop.test", to), "a relay network: not greylisted")
	require.Contains(t, refusal(t, p.send(t, "127.0.0.1", "", "new@shop.test", to)), "Greylisted", "the same triplet from elsewhere is")

	require.EqualValues(t, 3, p.metric(t, "jetmail_smtp_greylist_total", "greylisted"))
	require.EqualValues(t, 2, p.metric(t, "jetmail_smtp_greylist_total", "passed"))
	n, err := p.q.Len(context.Background())
	require.NoError(t, err)
	require.Equal(t, 4, n)
}

// A check whose bucket is gone lets the mail in (fail open), and counts
// the failure; nothing is lost or held.
func TestChecksFailOpen(t *testing.T) {
	t.Parallel()
	p := startProtected(t, intakeConfig+`
[smtp.limits.rate]
ip = "1/1h"
[smtp.greylist]
enable = true
`)
	ctx := context.Background()
	require.Contains(t, refusal(t, p.send(t, "127.0.0.1", "", "ann@shop.test", "alice@example.org")), "Greylisted")
	for _, b := range []string{ratelimit.Bucket, greylist.Bucket} {
		require.NoError(t, p.js.DeleteKeyValue(ctx, b))
	}
	for range 2 {
		require.NoError(t, p.send(t, "127.0.0.1", "", "ann@shop.test", "alice@example.org"))
	}
	require.EqualValues(t, 2, p.metric(t, "jetmail_smtp_check_failures_total", "rate-limit"))
	require.EqualValues(t, 2, p.metric(t, "jetmail_smtp_check_failures_total", "greylist"))
}
