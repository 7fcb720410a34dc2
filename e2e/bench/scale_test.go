package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// The scale benchmarks (memory per item, lateness with many items
// waiting, restart, fail-over) hold scaleItems() items on one node:
// JETMAIL_BENCH_ITEMS sets how many, 100,000 by default;
// JETMAIL_BENCH_ITEMS=1000000 adds the 1M rows (about half an hour more).
// With JETMAIL_BENCH_PROFILE=<dir>, the restart benchmark writes a CPU
// profile of the restarted node's first JETMAIL_BENCH_PROFILE_SECONDS
// (default 60) there: go tool pprof -top <file>.
const (
	defaultScaleItems = 100_000
	// aimItems is the size the aims are stated at.
	aimItems = 1_000_000
	// smallScale is the first size memory is measured at, so that the cost
	// per item can be compared from it to scaleItems().
	smallScale = 10_000
	// restartSmall is the restart benchmark's first size.
	restartSmall = 100_000
	// settleWait is how long the memory figures wait after the last write:
	// JetStream drops a message block's cache 10 s after its last use, and
	// what is measured is what items cost while they wait, not while they
	// are written.
	settleWait = 12 * time.Second
	// memoryAimKB is the aim per item at 1M items, NATS server included.
	memoryAimKB = 1.0
	// scaleCreators is how many goroutines create items at once.
	scaleCreators = 128
	// burstTasks are due in the same second for the lateness figure.
	burstTasks = 10_000
	// burstPatience bounds the wait for a burst; a slower one is reported
	// with what ran, not failed.
	burstPatience = 2 * time.Minute
)

// scaleItems is JETMAIL_BENCH_ITEMS, or 100,000.
func scaleItems(b *testing.B) int {
	b.Helper()
	v := os.Getenv("JETMAIL_BENCH_ITEMS")
	if v == "" {
		return defaultScaleItems
	}
	n, err := strconv.Atoi(strings.ReplaceAll(v, "_", ""))
	if err != nil || n < 1 {
		b.Fatalf("JETMAIL_BENCH_ITEMS=%q: want a positive number of items", v)
	}
	return n
}

// notMeasured is the line printed where the 1M figure is left out.
func notMeasured(items int) string {
	if items >= aimItems {
		return ""
	}
	return fmt.Sprintf("    1M not measured: set JETMAIL_BENCH_ITEMS=%d (make bench BENCH_ITEMS=%d; about half an hour more)\n", aimItems, aimItems)
}

// scaleSteps are the sizes memory is measured at: 10,000, 100,000 and n.
func scaleSteps(n int) []int {
	var out []int
	for _, s := range []int{smallScale, 100_000} {
		if s < n {
			out = append(out, s)
		}
	}
	return append(out, n)
}

// parallel runs fn(i) for i in [from, to) on scaleCreators goroutines and
// returns the first error.
func parallel(from, to int, fn func(i int) error) error {
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range scaleCreators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= to {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(to))
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// creatorNode starts a node in the test process against url that holds
// no role (every role's one shard is node 1), so that it runs no work:
// it only creates items. The services are started on it; stop shuts it
// down.
func creatorNode(b *testing.B, url string, services ...node.Service) (n *node.Node, stop func()) {
	b.Helper()
	dial := func() (*nats.Conn, error) { return nats.Connect(url, nats.MaxReconnects(-1)) }
	nc, err := dial()
	require.NoError(b, err)
	cfg := jetmailtest.Config(b, "bench-creator", func(c *config.Config) {
		c.Task.Periodic = map[string]config.Periodic{}
		for _, r := range roles.All {
			c.Cluster.Roles[r] = roles.Shards{{"1"}}
			c.Cluster.RolesSet[r] = true
		}
	})
	n = jetmailtest.NodeWithDial(b, nc, dial, cfg, services...)
	return n, stopOnce(b, func() { jetmailtest.StopNode(n); nc.Close() })
}

// taskCreator is a creator node with a task manager.
func taskCreator(b *testing.B, url string) (*taskmanager.Manager, func()) {
	b.Helper()
	n, stopNode := creatorNode(b, url)
	m := taskmanager.New(taskmanager.Params{Deps: n.Deps()})
	require.NoError(b, m.Start(context.Background()))
	return m, stopOnce(b, func() { _ = m.Shutdown(context.Background()); stopNode() })
}

// createTasks creates IndexTrace tasks prefix<from> to prefix<to-1>, due at
// due(i) (nil: now).
func createTasks(m *taskmanager.Manager, prefix string, from, to int, due func(i int) *time.Time) error {
	ctx := context.Background()
	return parallel(from, to, func(i int) error {
		_, err := m.Create(ctx, &task.IndexTraceTask{TraceID: prefix + strconv.Itoa(i)}, due(i))
		return err
	})
}

// storedPerItem sums what the server at url holds, per item: messages and
// bytes, stream by stream (those that grow with the items).
func storedPerItem(b *testing.B, url string, items int) string {
	b.Helper()
	nc, err := nats.Connect(url)
	require.NoError(b, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(b, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type row struct {
		name        string
		msgs, bytes uint64
	}
	var rows []row
	var msgs, bytes uint64
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		s, err := js.Stream(ctx, name)
		require.NoError(b, err)
		st := s.CachedInfo().State
		msgs += st.Msgs
		bytes += st.Bytes
		if st.Msgs*100 >= uint64(items) {
			rows = append(rows, row{name, st.Msgs, st.Bytes})
		}
	}
	require.NoError(b, names.Err())
	sort.Slice(rows, func(i, j int) bool { return rows[i].bytes > rows[j].bytes })
	var sb strings.Builder
	fmt.Fprintf(&sb, "%.2f messages, %.0f B per item on disk in all:", float64(msgs)/float64(items), float64(bytes)/float64(items))
	for _, r := range rows {
		fmt.Fprintf(&sb, " %s %.2f msg %.0f B;", r.name, float64(r.msgs)/float64(items), float64(r.bytes)/float64(items))
	}
	return strings.TrimSuffix(sb.String(), ";")
}

func mb(v uint64) string { return fmt.Sprintf("%.1f MB", float64(v)/(1<<20)) }

func kbPer(base, at uint64, items int) float64 {
	return (float64(at) - float64(base)) / float64(items) / 1024
}

func pctl(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

// lateness is the outcome of a burst of tasks due in the same second.
type lateness struct {
	p50, p99, max time.Duration
	ran           int
	note          string
}

func (l lateness) String() string {
	if l.ran == 0 {
		return "- (" + l.note + ")"
	}
	s := fmt.Sprintf("p50 %6s  p99 %6s  max %6s", ms(l.p50), ms(l.p99), ms(l.max))
	if l.note != "" {
		s += "  (" + l.note + ")"
	}
	return s
}

// latenessBurst runs benchnode as node 1 on the server at url (whatever
// it holds), creates burstTasks tasks due in the same second, lead from
// now or more, from a creator node that is stopped before they are due,
// and returns their lateness (start of the handler minus the due time).
func latenessBurst(b *testing.B, bins benchBins, url string, lead time.Duration) lateness {
	b.Helper()
	runs := collectRuns(b, url)
	defer runs.close()
	nd := startBenchNode(b, bins, "1", url, "")
	defer nd.stop()
	m, stopCreator := taskCreator(b, url)
	due := time.Now().Add(lead).Truncate(time.Second).Add(time.Second)
	require.NoError(b, createTasks(m, "burst", 0, burstTasks, func(int) *time.Time { return &due }))
	stopCreator()
	var note string
	if late := time.Since(due); late > 0 {
		note = fmt.Sprintf("creating the burst ended %s after its due time", ms(late))
	}
	runs.waitDone("burst", burstTasks, time.Until(due.Add(burstPatience)))
	var lates []time.Duration
	seen := map[string]bool{}
	for _, r := range runs.snapshot() {
		if strings.HasPrefix(r.Trace, "burst") && r.End != 0 && !seen[r.Trace] {
			seen[r.Trace] = true
			lates = append(lates, time.Duration(r.Start-r.Due))
		}
	}
	slices.Sort(lates)
	out := lateness{p50: pctl(lates, 0.50), p99: pctl(lates, 0.99), ran: len(lates), note: note}
	if len(lates) > 0 {
		out.max = lates[len(lates)-1]
	}
	if len(lates) < burstTasks {
		out.note = strings.TrimPrefix(out.note+fmt.Sprintf("; only %d of %d ran within %s of their due time", len(lates), burstTasks, burstPatience), "; ")
	}
	return out
}

// rawScheduleBurst is the lateness peer: the NATS server process alone,
// burstTasks message schedules ("@at" the same second, each on a subject
// of its own, as jetmail's) published with nats.go, each firing into a
// target subject consumed at once; lateness is the fired message's
// arrival at the consumer minus the due time.
func rawScheduleBurst(b *testing.B, bins benchBins, lead time.Duration) lateness {
	b.Helper()
	np := startNATS(b, bins, b.TempDir())
	defer np.stop()
	nc, err := nats.Connect(np.url)
	require.NoError(b, err)
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	require.NoError(b, err)
	ctx := context.Background()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "bench-sched", Subjects: []string{"sched.>", "due.>"},
		AllowMsgSchedules: true, Storage: jetstream.FileStorage})
	require.NoError(b, err)
	c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{FilterSubject: "due.>", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(b, err)
	var mu sync.Mutex
	var lates []time.Duration
	var due time.Time
	cc, err := c.Consume(func(m jetstream.Msg) {
		l := time.Since(due)
		_ = m.Ack()
		mu.Lock()
		lates = append(lates, l)
		mu.Unlock()
	})
	require.NoError(b, err)
	defer cc.Stop()
	due = time.Now().Add(lead).Truncate(time.Second).Add(time.Second)
	at := "@at " + due.UTC().Format(time.RFC3339Nano)
	for i := range burstTasks {
		m := nats.NewMsg("sched." + strconv.Itoa(i))
		m.Header.Set(jetstream.ScheduleHeader, at)
		m.Header.Set(jetstream.ScheduleTargetHeader, "due."+strconv.Itoa(i))
		_, err := js.PublishMsgAsync(m)
		require.NoError(b, err)
	}
	<-js.PublishAsyncComplete()
	deadline := due.Add(burstPatience)
	for {
		mu.Lock()
		n := len(lates)
		mu.Unlock()
		if n >= burstTasks || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lates)
	out := lateness{p50: pctl(lates, 0.50), p99: pctl(lates, 0.99), ran: len(lates)}
	if len(lates) > 0 {
		out.max = lates[len(lates)-1]
	}
	if len(lates) < burstTasks {
		out.note = fmt.Sprintf("only %d of %d fired within %s", len(lates), burstTasks, burstPatience)
	}
	return out
}

// restartResult is one restart of a node with ready tasks.
type restartResult struct {
	items                   int
	creating                time.Duration
	started, first, allDone time.Duration // from the exec of the node
	done                    int
	peakNode, peakNATS      uint64
	cpuNode, cpuNATS        time.Duration // CPU time used from the node's exec until all were done
	profile                 string
	profiled                time.Duration
}

// restartOnce fills a fresh server with n tasks due now while no node
// runs them, then starts benchnode (which had run on that server before,
// so its streams and consumers exist) and times it: until it has started,
// until its first task is done, until all are.
func restartOnce(b *testing.B, bins benchBins, n int) restartResult {
	b.Helper()
	natsPprof := jetmailtest.FreePort(b)
	np := startNATS(b, bins, b.TempDir(), "-pprof", natsPprof)
	defer np.stop()
	first := startBenchNode(b, bins, "1", np.url, "")
	first.stop()

	res := restartResult{items: n}
	m, stopCreator := taskCreator(b, np.url)
	start := time.Now()
	require.NoError(b, createTasks(m, "r", 0, n, func(int) *time.Time { return nil }))
	res.creating = time.Since(start)
	stopCreator()
	time.Sleep(settleWait) // the server's caches settle, as after a real outage

	runs := collectRuns(b, np.url)
	defer runs.close()
	pprofAddr := jetmailtest.FreePort(b)
	natsCPU := cpuTime(np.pid())
	nd := startChild(b, "benchnode-1", bins.node, "-config", mustNodeConfig(b, np.url), "-pprof", pprofAddr)
	peak := rssPeak(nd.pid(), np.pid())
	profDone := make(chan struct{})
	if dir := os.Getenv("JETMAIL_BENCH_PROFILE"); dir != "" {
		secs := 60
		if v, err := strconv.Atoi(os.Getenv("JETMAIL_BENCH_PROFILE_SECONDS")); err == nil && v > 0 {
			secs = v
		}
		nodeProf := filepath.Join(dir, fmt.Sprintf("restart-%d-node.cpu.pprof", n))
		natsProf := filepath.Join(dir, fmt.Sprintf("restart-%d-nats.cpu.pprof", n))
		res.profiled = time.Duration(secs) * time.Second
		res.profile = nodeProf + " and of the NATS server: " + natsProf
		go func() {
			defer close(profDone)
			var wg sync.WaitGroup
			var errs [2]error
			wg.Add(2)
			go func() {
				defer wg.Done()
				jetmailtest.WaitListening(b, pprofAddr)
				errs[0] = cpuProfile(pprofAddr, secs, nodeProf)
			}()
			go func() { defer wg.Done(); errs[1] = cpuProfile(natsPprof, secs, natsProf) }()
			wg.Wait()
			if err := errors.Join(errs[:]...); err != nil {
				res.profile = "failed: " + err.Error()
			}
		}()
	} else {
		close(profDone)
	}
	nd.await("started", 2*time.Minute)
	res.started = time.Since(nd.started)
	patience := max(3*time.Minute, time.Duration(n)*time.Millisecond)
	deadline := time.Now().Add(patience)
	for runs.done("r") == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	runs.waitDone("r", n, time.Until(deadline))
	res.done = runs.done("r")
	var firstEnd, lastEnd int64
	for _, r := range runs.snapshot() {
		if r.End == 0 {
			continue
		}
		if firstEnd == 0 || r.End < firstEnd {
			firstEnd = r.End
		}
		lastEnd = max(lastEnd, r.End)
	}
	if firstEnd != 0 {
		res.first = time.Unix(0, firstEnd).Sub(nd.started)
		res.allDone = time.Unix(0, lastEnd).Sub(nd.started)
	}
	res.cpuNode, res.cpuNATS = cpuTime(nd.pid()), cpuTime(np.pid())-natsCPU
	<-profDone
	sum, each := peak()
	_ = sum
	res.peakNode, res.peakNATS = each[0], each[1]
	nd.stop()
	return res
}

// mustNodeConfig writes node 1's configuration for url and returns its path.
func mustNodeConfig(b *testing.B, url string) string {
	b.Helper()
	path, _ := nodeConfig(b, b.TempDir(), "1", url, "")
	return path
}

// BenchmarkRestart measures how soon a restarted node delivers: a node
// process (benchnode: jetmail's node with its task manager and a no-op
// IndexTrace handler) had run on a NATS server process, then 100,000
// (and, with JETMAIL_BENCH_ITEMS=1000000, 1M) tasks due now were created
// while no node ran them; the node is started again and timed from its
// exec until it has started, until its first task is done and until all
// are.
func BenchmarkRestart(b *testing.B) {
	items := scaleItems(b)
	bins := buildBins(b)
	sizes := []int{restartSmall}
	if items > restartSmall {
		sizes = append(sizes, items)
	}
	b.ResetTimer()
	var results []restartResult
	for _, n := range sizes {
		results = append(results, restartOnce(b, bins, n))
	}
	b.StopTimer()
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nrestart of a node with tasks ready (IndexTrace, no-op handler, due now; created %d at a time while no node ran;\n", scaleCreators)
	sb.WriteString("  NATS server and node in processes of their own, file storage, R1; times from the node's exec)\n")
	sb.WriteString("    aim: first task done within 10 s at 100k, within 30 s at 1M\n")
	fmt.Fprintf(&sb, "    %-10s %12s %10s %12s %14s %12s %14s %14s %10s %10s\n", "ready", "created in", "started", "first done", "all done", "rate", "node RSS peak", "NATS RSS peak", "node CPU", "NATS CPU")
	for _, r := range results {
		all := ms(r.allDone)
		if r.done < r.items {
			all = fmt.Sprintf("only %d", r.done)
		}
		fmt.Fprintf(&sb, "    %-10d %12s %10s %12s %14s %10.0f/s %14s %14s %10s %10s\n", r.items, ms(r.creating), ms(r.started), ms(r.first), all,
			float64(r.done)/r.allDone.Seconds(), mb(r.peakNode), mb(r.peakNATS), r.cpuNode.Round(100*time.Millisecond), r.cpuNATS.Round(100*time.Millisecond))
		if r.profile != "" {
			fmt.Fprintf(&sb, "      CPU profiles of the first %s, of the node: %s\n", r.profiled, r.profile)
		}
		b.ReportMetric(r.first.Seconds(), fmt.Sprintf("first_done_s@%d", r.items))
		b.ReportMetric(r.allDone.Seconds(), fmt.Sprintf("all_done_s@%d", r.items))
	}
	sb.WriteString(notMeasured(items))
	fmt.Fprint(os.Stdout, sb.String())
}

// BenchmarkFailover measures how soon a dead node's in-flight work runs
// elsewhere: two node processes (benchnode) share the one shard of
// fts-indexing; tasks whose handler works for failoverWork are created
// due now; once node 1 has some in flight it is killed (SIGKILL), and the
// time from the kill until each of them starts on node 2 is measured.
func BenchmarkFailover(b *testing.B) {
	const (
		failoverTasks = 1024
		failoverWork  = 2 * time.Second
	)
	bins := buildBins(b)
	np := startNATS(b, bins, b.TempDir())
	defer np.stop()
	runs := collectRuns(b, np.url)
	shard := "[cluster.roles.fts-indexing]\nfts-indexing = [\"1,2\"]\n"
	n1 := startBenchNode(b, bins, "1", np.url, shard, "-work", failoverWork.String(), "-report-starts")
	n2 := startBenchNode(b, bins, "2", np.url, shard, "-work", failoverWork.String(), "-report-starts")
	defer n2.stop()
	// The creator holds no role; it is stopped before the kill so that the
	// leader lease moves only between the two nodes.
	b.ResetTimer()
	m, stopCreator := taskCreator(b, np.url)
	require.NoError(b, createTasks(m, "f", 0, failoverTasks, func(int) *time.Time { return nil }))
	stopCreator()

	// Kill node 1 in the middle of a run: half a work time after it has
	// begun its first.
	inFlight := func() map[string]bool {
		out := map[string]bool{}
		for _, r := range runs.snapshot() {
			if r.Node != "1" {
				continue
			}
			if r.End == 0 {
				out[r.Trace] = true
			} else {
				delete(out, r.Trace)
			}
		}
		return out
	}
	deadline := time.Now().Add(time.Minute)
	for len(inFlight()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(failoverWork / 2)
	leased := inFlight()
	killed := time.Now()
	n1.kill()
	require.NotEmpty(b, leased, "node 1 had work in flight")
	allDone := runs.waitDone("f", failoverTasks, 5*time.Minute)
	b.StopTimer()

	var back []time.Duration
	for _, r := range runs.snapshot() {
		if r.Node == "2" && r.End == 0 && leased[r.Trace] {
			back = append(back, time.Unix(0, r.Start).Sub(killed))
			delete(leased, r.Trace)
		}
	}
	slices.Sort(back)
	var worst time.Duration
	if len(back) > 0 {
		worst = back[len(back)-1]
	}
	note := ""
	if len(leased) > 0 {
		note = fmt.Sprintf("  (%d of them did not run on node 2 within 5 min)", len(leased))
	}
	if !allDone {
		note += fmt.Sprintf("  (only %d of %d tasks done)", runs.done("f"), failoverTasks)
	}
	b.ReportMetric(worst.Seconds(), "back_s")
	fmt.Fprintf(os.Stdout, `
fail-over: a node killed (SIGKILL) mid-work; two node processes share one shard, %d tasks of %s each
  (task.concurrency 128 per node, work lease AckWait 8 s by default, renewed while a handler works)
    aim: the dead node's in-flight work runs on another node within 30 s
    %d tasks in flight on the killed node; they started on node 2 after: p50 %s, max %s%s
`, failoverTasks, failoverWork, len(back)+len(leased), ms(pctl(back, 0.5)), ms(worst), note)
}
