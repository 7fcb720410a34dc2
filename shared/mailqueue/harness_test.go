package mailqueue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/node"
)

// testConfig has a remote queue whose mail retries every second and gets a
// delayed DSN after two, and a dsn queue for the DSNs. Queues are named
// with vqs (default remote and dsn); the strategy's schedules with extra.
const testConfig = `
[smtp]
hostname = "mx.example.org"
local-domains = ["example.org"]
[queue.route.out]
type = "relay"
address = "127.0.0.1"
port = 2525
tls = "none"
[queue.strategy]
route = [ { else = "'out'" } ]
schedule = [ { if = "source == 'dsn'", then = "'dsn'" }, %s { else = "'remote'" } ]
[queue.schedule.remote]
queue-name = "remote"
retry = ["1s"]
notify = ["2s"]
expire = "1h"
[queue.schedule.dsn]
queue-name = "dsn"
retry = ["1s"]
[queue.virtual.remote]
threads-per-node = 2
[queue.virtual.dsn]
threads-per-node = 2
`

func parseConfig(t *testing.T, rules, extra string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(replaceOnce(testConfig, "%s", rules) + extra))
	require.NoError(t, err)
	base := jetmailtest.Config(t, "1")
	cfg.Cluster, cfg.HTTP = base.Cluster, base.HTTP
	cfg.Task.Periodic = map[string]config.Periodic{}
	return cfg
}

// recorder is a Deliverer that answers each recipient with answer (2xx
// when nil; DSNs always 2xx) and keeps what it was given.
type recorder struct {
	mu     sync.Mutex
	answer func(r *Recipient) Result
	got    []recorded
	// delay is how long a delivery takes, as an SMTP transaction does.
	delay time.Duration
}

type recorded struct {
	at   time.Time
	rcpt Recipient
	body string
	res  Result
}

func (d *recorder) Deliver(_ context.Context, dl *Delivery) []Result {
	time.Sleep(d.delay)
	d.mu.Lock()
	answer := d.answer
	d.mu.Unlock()
	out := make([]Result, len(dl.Recipients))
	for i, r := range dl.Recipients {
		res := Result{Code: 250, Text: "ok", RemoteMTA: "sink.test"}
		if answer != nil && r.Source != SourceDSN {
			res = answer(r)
		}
		d.mu.Lock()
		out[i] = res
		d.got = append(d.got, recorded{time.Now(), *r, string(dl.Body), res})
		d.mu.Unlock()
	}
	return out
}

func (d *recorder) setAnswer(f func(r *Recipient) Result) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.answer = f
}

// attempts are the attempts made for address so far.
func (d *recorder) attempts(address string) []recorded {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []recorded
	for _, g := range d.got {
		if g.rcpt.Address == address {
			out = append(out, g)
		}
	}
	return out
}

// delivered reports whether address got a message containing substr.
func (d *recorder) delivered(address, substr string) bool {
	for _, g := range d.attempts(address) {
		if g.res.Class() == Delivered && strings.Contains(g.body, substr) {
			return true
		}
	}
	return false
}

func tempFail(*Recipient) Result {
	return Result{Code: 451, Enhanced: "4.7.1", Text: "greylisted, try later", RemoteMTA: "sink.test"}
}

// deliveryNode starts a node on nc whose queue delivers with d.
func deliveryNode(t *testing.T, nc *nats.Conn, cfg *config.Config, p Params, d Deliverer) (*Queue, *node.Node) {
	t.Helper()
	q := New(p)
	n := jetmailtest.Node(t, nc, cfg, q)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, q.StartDelivery(ctx, d))
	return q, n
}

func testServer(t *testing.T) (*embedded.Server, *nats.Conn) {
	t.Helper()
	srv := jetmailtest.Server(t)
	return srv, jetmailtest.Conn(t, srv)
}

func enqueue(t *testing.T, q *Queue, to ...string) string {
	t.Helper()
	rcpts := make([]RcptIn, len(to))
	for i, a := range to {
		rcpts[i] = RcptIn{Address: a}
	}
	id, err := q.Enqueue(context.Background(), Envelope{Sender: "alice@example.org", Source: SourceAuthenticated}, rcpts,
		[]byte("From: alice@example.org\r\nSubject: hi\r\n\r\nhello\r\n"))
	require.NoError(t, err)
	return id
}

// pause pauses vq and waits until this node sees it.
func pause(t *testing.T, q *Queue, vq string) {
	t.Helper()
	require.NoError(t, q.Pause(context.Background(), vq))
	require.Eventually(t, func() bool { return strings.Contains(strings.Join(q.Paused(), ","), vq) }, 5*time.Second, 10*time.Millisecond)
}

// longRescue keeps the rescuer out of a test: it would run long after.
var longRescue = Params{RescueInterval: 10 * time.Minute, RescueAfter: 10 * time.Minute}

func replaceOnce(s, old, new string) string { return strings.Replace(s, old, new, 1) }
