package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

const (
	throughputTasks = 100_000
	latenessTasks   = 10_000
	creators        = 128
	// insertBatch is how many tasks one CreateMany call creates, the batch
	// river's bench inserts with InsertMany.
	insertBatch = 5_000
)

// natsBench runs `nats bench js` against url and returns msgs/s for async
// publish and for a durable consumer with explicit acks.
func natsBench(b *testing.B, url string) (pub, consume float64) {
	b.Helper()
	natsCLI, err := exec.LookPath("nats")
	if err != nil {
		b.Fatalf("the nats CLI is needed for the raw JetStream figure (make tools installs it): %v", err)
	}
	rate := regexp.MustCompile(`stats: ([\d,]+) msgs/sec`)
	runBench := func(args ...string) float64 {
		out, err := exec.Command(natsCLI, append([]string{"-s", url, "bench", "js"}, args...)...).CombinedOutput()
		require.NoError(b, err, string(out))
		m := rate.FindStringSubmatch(string(out))
		require.Len(b, m, 2, string(out))
		v, _ := strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64)
		return v
	}
	pub = runBench("pub", "async", "bench.raw", "--msgs", fmt.Sprint(throughputTasks), "--size", "128", "--create", "--storage", "file", "--no-progress")
	consume = runBench("consume", "--msgs", fmt.Sprint(throughputTasks), "--no-progress")
	return pub, consume
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// BenchmarkTasks measures tasks/s end to end (create, a no-op handler,
// removal) for 100,000 tasks created in batches (CreateMany, as river's
// bench uses InsertMany), then for as many created one by one (Create),
// and the p50/p99 lateness of 10,000 tasks due in the same second, beside
// nats bench on the same server and beside river (the Go job queue on
// PostgreSQL) working as many jobs with its own `river bench` on this
// machine in the same run.
func BenchmarkTasks(b *testing.B) {
	// river first, on a PostgreSQL that is stopped before jetmail starts,
	// so that each has the machine alone.
	rv := riverFigures{work: figure{note: "not measured: the river CLI is not installed (scripts/install-bench-peers)"},
		withInserts: figure{note: "not measured"}}
	if river, ok := peerTool(b, "river"); ok {
		rv = runRiverBench(b, river)
	}

	addr := jetmailtest.FreePort(b)
	srv, err := embedded.Start(embedded.Options{DataDir: b.TempDir(), Listen: addr})
	require.NoError(b, err)
	defer srv.Stop()
	rawPub, rawConsume := natsBench(b, "nats://"+addr)

	nc := jetmailtest.Dial(b, "nats://"+addr)
	cfg := jetmailtest.Config(b, "1", func(c *config.Config) { c.Task.Periodic = map[string]config.Periodic{} })
	n := jetmailtest.NodeWithDial(b, nc, func() (*nats.Conn, error) { return nats.Connect("nats://" + addr) }, cfg)
	m := taskmanager.New(taskmanager.Params{Deps: n.Deps()})
	require.NoError(b, m.Start(context.Background()))
	defer func() { _ = m.Shutdown(context.Background()) }()

	var done atomic.Int64
	var latMu sync.Mutex
	var lateness []time.Duration
	measure := atomic.Bool{}
	m.Handle(task.IndexTrace, func(ctx context.Context, t *task.Task) error {
		if measure.Load() {
			l := time.Since(t.Status.Due)
			latMu.Lock()
			lateness = append(lateness, l)
			latMu.Unlock()
		}
		done.Add(1)
		return nil
	})
	ctx := context.Background()
	// createOneByOne creates count tasks with Create, creators at a time.
	createOneByOne := func(count int) {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range creators {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1)
					if i > int64(count) {
						return
					}
					if _, err := m.Create(ctx, &task.IndexTraceTask{TraceID: fmt.Sprint("t", i)}, nil); err != nil {
						b.Errorf("create: %v", err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	// createBatched creates count tasks due at due (now when nil) with
	// CreateMany, insertBatch at a time, one batch after the other, as
	// river's bench inserts its jobs.
	createBatched := func(count int, due *time.Time) {
		for from := 0; from < count; from += insertBatch {
			news := make([]taskmanager.NewTask, min(insertBatch, count-from))
			for i := range news {
				news[i] = taskmanager.NewTask{Payload: &task.IndexTraceTask{TraceID: fmt.Sprint("t", from+i)}, Due: due}
			}
			if _, err := m.CreateMany(ctx, news); err != nil {
				b.Fatalf("create many: %v", err)
			}
		}
	}
	waitEmpty := func(want int64, within time.Duration) {
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			if done.Load() >= want {
				if _, left, err := m.Query(ctx, taskmanager.Query{Limit: 1}); err == nil && left == 0 {
					return
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		b.Fatalf("only %d of %d tasks done after %s", done.Load(), want, within)
	}
	// throughput creates throughputTasks tasks with create and waits until
	// every one has run and been removed.
	throughput := func(create func(int)) (tps float64, elapsed, created time.Duration) {
		before := done.Load()
		start := time.Now()
		create(throughputTasks)
		created = time.Since(start)
		waitEmpty(before+throughputTasks, 5*time.Minute)
		elapsed = time.Since(start)
		return float64(throughputTasks) / elapsed.Seconds(), elapsed, created
	}

	b.ResetTimer()
	tps, elapsed, created := throughput(func(n int) { createBatched(n, nil) })
	b.StopTimer()
	tps1, elapsed1, created1 := throughput(createOneByOne)

	// 10,000 tasks due in the same second.
	measure.Store(true)
	due := time.Now().Add(5 * time.Second).Truncate(time.Second).Add(time.Second)
	createBatched(latenessTasks, &due)
	waitEmpty(2*throughputTasks+latenessTasks, 2*time.Minute)
	slices.Sort(lateness)
	p50, p99, pmax := percentile(lateness, 0.50), percentile(lateness, 0.99), lateness[len(lateness)-1]

	jet := figure{rate: tps, took: elapsed}
	jet1 := figure{rate: tps1, took: elapsed1}
	b.ReportMetric(tps, "tasks/s")
	b.ReportMetric(tps1, "tasks_one_by_one/s")
	b.ReportMetric(rv.withInserts.rate, "river_jobs/s")
	b.ReportMetric(rawPub, "raw_js_pub_msgs/s")
	b.ReportMetric(float64(p50.Milliseconds()), "p50_lateness_ms")
	b.ReportMetric(float64(p99.Milliseconds()), "p99_lateness_ms")
	fmt.Fprintf(os.Stdout, `
jetmail task manager benchmark (one node, embedded JetStream, file storage, R1)
  raw JetStream (nats bench js, 128 B, same server):  async publish %8.0f msg/s, durable consume %8.0f msg/s
  tasks end to end (create -> no-op -> removed):       %8.0f tasks/s  (%d tasks in %s; creating took %s; CreateMany, %d a batch)
                                      created one by one: %8.0f tasks/s  (%d tasks in %s; creating took %s; Create, %d at a time)
    ratio to raw async publish:                         %.3f  (a task is one JetStream write, its trigger carrying it, and an ack)
  lateness of %d tasks due in the same second:        p50 %s  p99 %s  max %s
  peer: river %s (river bench, %d no-op jobs) on a local PostgreSQL %s at its defaults, same machine, same run
  %-62s %8s
  %-62s %s
  %-62s %s
  %-62s %s
  %-62s %s
    ratio jetmail/river:  %s to river including inserts, %s to its work phase only
    ratio jetmail created one by one/river:  %s to river including inserts, %s to its work phase only
`, rawPub, rawConsume, tps, throughputTasks, elapsed.Round(time.Millisecond), created.Round(time.Millisecond), insertBatch,
		tps1, throughputTasks, elapsed1.Round(time.Millisecond), created1.Round(time.Millisecond), creators, tps/rawPub,
		latenessTasks, p50.Round(time.Millisecond), p99.Round(time.Millisecond), pmax.Round(time.Millisecond),
		rv.version, riverJobs, rv.postgres, "", "per s",
		fmt.Sprintf("  jetmail tasks end to end (CreateMany, %d a batch)", insertBatch), jet,
		fmt.Sprintf("  jetmail tasks end to end (created one by one, %d at a time)", creators), jet1,
		"  river jobs including inserts (InsertMany, 5,000 a batch)", rv.withInserts,
		"  river jobs, work phase only (all inserted first)", rv.work,
		ratio(jet, rv.withInserts), ratio(jet, rv.work), ratio(jet1, rv.withInserts), ratio(jet1, rv.work))
}
