package reports_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/reports"
	"github.com/jetmail/jetmail/shared/clusterstats"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/work"
)

type reportsNode struct {
	svc   *reports.Service
	st    *store.Store
	q     *mailqueue.Queue
	stats *clusterstats.Component
	node  *node.Node
	logs  *jetmailtest.LogBuffer
}

func newReportsNode(t *testing.T, srv *embedded.Server, id string, changes ...func(*config.Config)) *reportsNode {
	t.Helper()
	cfg := jetmailtest.Config(t, id, append([]func(*config.Config){func(c *config.Config) {
		c.Metrics.CalculateInterval = time.Second
		c.Metrics.PushInterval = time.Second
		c.Task.Periodic = map[string]config.Periodic{}
	}}, changes...)...)
	sc, stats, q := store.NewComponent(store.Params{}), clusterstats.NewComponent(), mailqueue.New(mailqueue.Params{})
	stats.Count(clusterstats.CounterDeliveries, q.Delivered)
	svc := reports.New(cfg, sc, stats, q, reports.Params{RetryBase: 100 * time.Millisecond})
	logs := &jetmailtest.LogBuffer{}
	n, err := node.New(node.Params{Config: cfg, Conn: jetmailtest.Conn(t, srv), Services: []node.Service{sc, stats, q, svc},
		Logger: slog.New(slog.NewTextHandler(logs, nil)), Version: "test",
		Work: work.Params{AckWait: 3 * time.Second, DrainTimeout: 15 * time.Second}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, n.Start(ctx))
	t.Cleanup(func() { jetmailtest.StopNode(n) })
	return &reportsNode{svc: svc, st: sc.Store(), q: q, stats: stats, node: n, logs: logs}
}

// scrape returns the lines of url's /metrics that start with prefix.
func scrape(t *testing.T, url, prefix string) []string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// The figures of known traffic are exact, computed once per interval by
// the role's node, and shown by another node's /metrics.
func TestClusterFigures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := jetmailtest.Server(t)
	r := newReportsNode(t, srv, "1")

	// Known contents: 3 accounts (1 deleted), 3 queued recipients (1
	// held), 2 pending tasks.
	require.NoError(t, r.st.CreateDomain(ctx, store.Domain{Name: "example.org"}))
	var ids []string
	for _, name := range []string{"a", "b", "c"} {
		a, err := r.st.CreateAccount(ctx, store.Account{Name: name, Domain: "example.org", Addresses: []string{name + "@example.org"}})
		require.NoError(t, err)
		ids = append(ids, a.ID)
	}
	require.NoError(t, r.st.DestroyAccount(ctx, ids[2]))
	_, err := r.q.Enqueue(ctx, mailqueue.Envelope{Sender: "a@example.org"}, []mailqueue.RcptIn{{Address: "x@remote.test"}, {Address: "y@remote.test"}, {Address: "z@remote.test"}}, []byte("Subject: hi\r\n\r\nhi\r\n"))
	require.NoError(t, err)
	keys, _, err := r.q.List(ctx, mailqueue.Filter{})
	require.NoError(t, err)
	require.Len(t, keys, 3)
	_, err = r.q.Hold(ctx, keys[0])
	require.NoError(t, err)
	later := time.Now().Add(time.Hour)
	for _, doc := range []string{"1", "2"} {
		_, err := r.svc.Manager().Create(ctx, &task.IndexDocumentTask{AccountID: ids[0], DocumentID: doc, DocumentType: "email"}, &later)
		require.NoError(t, err)
	}

	// Another node, without the service, shows the figures.
	other := jetmailtest.Node(t, jetmailtest.Conn(t, srv), jetmailtest.Config(t, "2"), clusterstats.NewComponent())
	metricsURL := other.HTTPURL() + "/metrics"
	want := []string{
		`jetmail_cluster_accounts{state="active"} 2`,
		`jetmail_cluster_accounts{state="deleted"} 1`,
		`jetmail_cluster_queue_recipients{queue="remote",status="held"} 1`,
		`jetmail_cluster_queue_recipients{queue="remote",status="queued"} 2`,
		`jetmail_cluster_queue_recipients{queue="remote",status="retrying"} 0`,
		`jetmail_cluster_tasks{status="Pending",type="IndexDocument"} 2`,
	}
	require.Eventually(t, func() bool {
		got := strings.Join(scrape(t, metricsURL, "jetmail_cluster_"), "\n")
		for _, w := range want {
			if !strings.Contains(got, w+"\n") && !strings.HasSuffix(got, w) {
				return false
			}
		}
		return strings.Contains(got, `jetmail_cluster_store_bytes{part="documents"}`) && strings.Contains(got, "jetmail_cluster_deliveries_per_minute")
	}, 20*time.Second, 100*time.Millisecond, "%s", strings.Join(scrape(t, metricsURL, "jetmail_cluster_"), "\n"))

	// Deliveries per minute: the rise of every node's counter between two
	// computations, over the time between them.
	// seen writes node 9's counter and returns the first computation that
	// saw it.
	seen := func(v uint64) clusterstats.Group {
		require.NoError(t, r.stats.Stats().PutCounter(ctx, clusterstats.CounterDeliveries,
			clusterstats.Counter{Node: "9", Since: time.Unix(1, 0).UTC(), Value: v, At: time.Now().UTC()}))
		var g clusterstats.Group
		require.Eventually(t, func() bool {
			g, _ = r.stats.Stats().Group("deliveries")
			var st clusterstats.RateState
			_ = json.Unmarshal(g.State, &st)
			return st.Counters["9"].Value == v
		}, 10*time.Second, 50*time.Millisecond)
		return g
	}
	seen(1000)
	after := seen(1090)
	// The computation before saw 1000 (the counter held it until 1090).
	var next clusterstats.RateState
	require.NoError(t, json.Unmarshal(after.State, &next))
	wantRate := 90 / next.At.Sub(next.From).Minutes()
	require.Len(t, after.Series, 1)
	require.Len(t, after.Series[0].Samples, 1)
	require.InDelta(t, wantRate, after.Series[0].Samples[0].Value, 1e-6)
}

// Two nodes in the one shard of metrics.calculate share the work: each
// group is computed once per interval, by one of them, not once by each.
func TestClusterFiguresOncePerInterval(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	both := func(c *config.Config) { c.Cluster.Roles[roles.MetricsCalculate] = roles.Shards{{"1", "2"}} }
	a := newReportsNode(t, srv, "1", both)
	newReportsNode(t, srv, "2", both)

	kv, err := a.stats.Stats().KV().Watch(context.Background(), "group.queue", jetstream.UpdatesOnly())
	require.NoError(t, err)
	defer func() { _ = kv.Stop() }()
	const span = 6 * time.Second // six intervals
	nodes := map[string]int{}
	updates := 0
	deadline := time.After(span)
	for done := false; !done; {
		select {
		case e := <-kv.Updates():
			var g clusterstats.Group
			require.NoError(t, json.Unmarshal(e.Value(), &g))
			nodes[g.Node]++
			updates++
		case <-deadline:
			done = true
		}
	}
	// Once per interval is 6 in 6 s (7 with the computation at a
	// start); once per node would be twice that. A slow machine makes
	// fewer, never more.
	require.LessOrEqual(t, updates, 8, "computations of group queue in %s, by node: %v", span, nodes)
	require.GreaterOrEqual(t, updates, 1, "the group is computed")
}

// The figures reach the Pushgateway, with its basic auth; a gateway that
// refuses fails each push with its reason, retried, never logging the
// secret.
func TestPushgateway(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	gw := jetmailtest.Pushgateway(t, "jetmail", "gw-secret-1")

	srv := jetmailtest.Server(t)
	r := newReportsNode(t, srv, "1", func(c *config.Config) {
		c.Metrics.PushURL, c.Metrics.PushUsername, c.Metrics.PushSecret = gw, "jetmail", "gw-secret-1"
	})
	require.NoError(t, r.st.CreateDomain(ctx, store.Domain{Name: "example.org"}))
	_, err := r.st.CreateAccount(ctx, store.Account{Name: "a", Domain: "example.org", Addresses: []string{"a@example.org"}})
	require.NoError(t, err)
	// The gateway asks its basic auth of readers too.
	gwMetrics := strings.Replace(gw, "http://", "http://jetmail:gw-secret-1@", 1) + "/metrics"
	require.Eventually(t, func() bool {
		for _, l := range scrape(t, gwMetrics, "jetmail_cluster_accounts{") {
			if strings.Contains(l, `job="jetmail"`) && strings.Contains(l, `state="active"`) && strings.HasSuffix(l, " 1") {
				return true
			}
		}
		return false
	}, 20*time.Second, 100*time.Millisecond, "%s\n%s", strings.Join(scrape(t, gwMetrics, "jetmail_cluster"), "\n"), r.logs)
	require.Contains(t, strings.Join(scrape(t, r.node.HTTPURL()+"/metrics", "jetmail_metrics_pushes_total"), "\n"), `result="ok"`)

	// A gateway that refuses: the wrong secret.
	srv2 := jetmailtest.Server(t)
	bad := newReportsNode(t, srv2, "1", func(c *config.Config) {
		c.Metrics.PushURL, c.Metrics.PushUsername, c.Metrics.PushSecret = gw, "jetmail", "wrong-secret-2"
	})
	require.Eventually(t, func() bool {
		return strings.Count(bad.logs.String(), "push cluster figures") >= 2
	}, 20*time.Second, 100*time.Millisecond, "%s", bad.logs.String())
	logs := bad.logs.String()
	require.Contains(t, logs, "401")
	require.Contains(t, logs, "url="+gw)
	require.NotContains(t, logs, "wrong-secret-2")
	require.Contains(t, strings.Join(scrape(t, bad.node.HTTPURL()+"/metrics", "jetmail_metrics_pushes_total"), "\n"), `result="failed"`)
}
