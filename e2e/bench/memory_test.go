package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// latenessPatience bounds the wait for a lateness burst; a slower one is
// reported with what ran, not failed.
const latenessPatience = 2 * time.Minute

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
	s := fmt.Sprintf("p50 %6s  p99 %6s  max %6s", l.p50.Round(time.Millisecond), l.p99.Round(time.Millisecond), l.max.Round(time.Millisecond))
	if l.note != "" {
		s += "  (" + l.note + ")"
	}
	return s
}

// latenessBurst starts a node with a task manager on srv, creates
// latenessTasks tasks due in the same second, lead from now or more, and
// returns their lateness (start of the handler minus the due time).
func latenessBurst(b *testing.B, srv *embedded.Server, lead time.Duration) lateness {
	b.Helper()
	ctx := context.Background()
	n, stop := scaleNode(b, srv)
	defer stop()
	m := taskmanager.New(taskmanager.Params{Deps: n.Deps()})
	var mu sync.Mutex
	var lates []time.Duration
	var ran atomic.Int64
	m.Handle(task.IndexTrace, func(ctx context.Context, t *task.Task) error {
		l := time.Since(t.Status.Due)
		mu.Lock()
		lates = append(lates, l)
		mu.Unlock()
		ran.Add(1)
		return nil
	})
	require.NoError(b, m.Start(ctx))
	defer func() { _ = m.Shutdown(ctx) }()
	due := time.Now().Add(lead).Truncate(time.Second).Add(time.Second)
	require.NoError(b, parallel(0, latenessTasks, func(i int) error {
		_, err := m.Create(ctx, &task.IndexTraceTask{TraceID: fmt.Sprint("burst", i)}, &due)
		return err
	}))
	var note string
	if late := time.Since(due); late > 0 {
		note = fmt.Sprintf("creating the burst ended %s after its due time", late.Round(time.Millisecond))
	}
	deadline := due.Add(latenessPatience)
	for ran.Load() < latenessTasks && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lates)
	out := lateness{p50: percentile(lates, 0.50), p99: percentile(lates, 0.99), ran: len(lates), note: note}
	if len(lates) > 0 {
		out.max = lates[len(lates)-1]
	}
	if len(lates) < latenessTasks {
		out.note = strings.TrimPrefix(out.note+fmt.Sprintf("; only %d of %d ran within %s of their due time", len(lates), latenessTasks, latenessPatience), "; ")
	}
	return out
}

// BenchmarkMemoryTasks measures the memory a scheduled task costs while it
// waits: the RSS of this process (one node and its embedded NATS server,
// file storage, R1) before and after creating 10,000 and then
// JETMAIL_BENCH_ITEMS (default 100,000) tasks due in one to two hours,
// beside the NATS server alone started on the same files. Then, with those
// tasks waiting, the lateness of 10,000 more due in the same second,
// beside the same burst on a node with no task waiting.
func BenchmarkMemoryTasks(b *testing.B) {
	items := scaleItems(b)
	ctx := context.Background()
	dir := b.TempDir()
	srv := scaleServer(b, dir)
	stopSrv := stopOnce(b, srv.Stop)
	n, stopNode := scaleNode(b, srv)
	m := taskmanager.New(taskmanager.Params{Deps: n.Deps()})
	require.NoError(b, m.Start(ctx))
	base := settledMemory(b, "base")

	b.ResetTimer()
	// Due times spread over an hour, starting an hour from now: none runs
	// during the benchmark, and the server holds as many distinct
	// schedules as tasks.
	first := time.Now().Add(time.Hour)
	var points []memPoint
	var creating time.Duration
	created := 0
	for _, step := range scaleSteps(items) {
		start := time.Now()
		require.NoError(b, parallel(created, step, func(i int) error {
			due := first.Add(time.Duration(i) * time.Hour / time.Duration(items))
			_, err := m.Create(ctx, &task.IndexTraceTask{TraceID: fmt.Sprint("m", i)}, &due)
			return err
		}))
		creating += time.Since(start)
		created = step
		points = append(points, memPoint{step, settledMemory(b, fmt.Sprint(step))})
	}
	b.StopTimer()
	_, left, err := m.Query(ctx, taskmanager.Query{Limit: 1})
	require.NoError(b, err)
	require.Equal(b, items, left, "every task is still waiting")
	stored := storedPerItem(b, srv, items)
	require.NoError(b, m.Shutdown(ctx))
	stopNode()
	stopSrv()

	// The peer: the NATS server alone on the same files.
	aloneEmpty, aloneFull := serverAlone(b, dir)

	// Lateness: the burst on a fresh server with nothing waiting, then on
	// the benchmark's files with every task waiting. The burst is created
	// with a lead of three times what creating it should take at the rate
	// measured above, so that it is all stored before it is due.
	rate := float64(items) / creating.Seconds()
	lead := max(5*time.Second, time.Duration(3*float64(latenessTasks)/rate*float64(time.Second)))
	emptySrv := scaleServer(b, b.TempDir())
	idle := latenessBurst(b, emptySrv, lead)
	emptySrv.Stop()
	srv = scaleServer(b, dir)
	defer srv.Stop()
	loaded := latenessBurst(b, srv, lead)

	last := points[len(points)-1]
	kb := perItemKB(base.rss, last.at.rss, last.items)
	aloneKB := perItemKB(aloneEmpty.rss, aloneFull.rss, items)
	b.ReportMetric(kb, "task_KB/item")
	b.ReportMetric(aloneKB, "nats_alone_KB/item")
	b.ReportMetric(float64(loaded.p99.Milliseconds()), "p99_lateness_ms")
	fmt.Fprintf(os.Stdout, `
memory per scheduled task (one node and its embedded NATS server in this process, file storage, R1)
`+fmt.Sprintf(memoryHeader, settleWait)+`  %d tasks (IndexTrace) created %d at a time in %s (%.0f tasks/s), due in 1 to 2 h: they all wait
%s    flat? %s
    aim: <= %.0f KB RSS per item at 1M, NATS server included; measured here at %d: %.3f KB
  peer: the NATS server alone (no node, no client), restarted on the files above   %11.3f KB per item
    (RSS with the files %s, on an empty directory %s)
  JetStream holds %s
lateness of %d tasks due in the same second (handler start - due time)            aim: p99 <= 300 ms
  with the %d tasks above waiting:   %s
  peer: with no task waiting:        %s
`, items, creators, creating.Round(time.Millisecond), rate, memoryRows("tasks", base, points),
		flatness(base, points), memoryAimKB, last.items, kb,
		aloneKB, mb(aloneFull.rss), mb(aloneEmpty.rss), stored,
		latenessTasks, items, loaded, idle)
}

// BenchmarkMemoryQueue measures the memory a queued recipient costs while
// it waits: the RSS of this process (one node and its embedded NATS
// server, file storage, R1) before and after enqueueing 10,000 and then
// JETMAIL_BENCH_ITEMS (default 100,000) messages of 1 KB with one
// recipient each, every virtual queue paused and no delivery started, so
// that nothing leaves; beside the NATS server alone on the same files.
func BenchmarkMemoryQueue(b *testing.B) {
	items := scaleItems(b)
	ctx := context.Background()
	dir := b.TempDir()
	srv := scaleServer(b, dir)
	stopSrv := stopOnce(b, srv.Stop)
	q := mailqueue.New(mailqueue.Params{})
	_, stopNode := scaleNode(b, srv, q)
	for _, vq := range q.VirtualQueues() {
		require.NoError(b, q.Pause(ctx, vq))
	}
	body := []byte("From: bench@source.test\r\nTo: someone@remote.test\r\nSubject: bench\r\n\r\n" +
		strings.Repeat("0123456789abcdef", 64))[:1024]
	base := settledMemory(b, "base")

	b.ResetTimer()
	var points []memPoint
	var enqueueing time.Duration
	enqueued := 0
	for _, step := range scaleSteps(items) {
		start := time.Now()
		require.NoError(b, parallel(enqueued, step, func(i int) error {
			_, err := q.Enqueue(ctx, mailqueue.Envelope{Sender: "bench@source.test", Source: mailqueue.SourceAuthenticated},
				[]mailqueue.RcptIn{{Address: fmt.Sprintf("r%d@remote.test", i)}}, body)
			return err
		}))
		enqueueing += time.Since(start)
		enqueued = step
		points = append(points, memPoint{step, settledMemory(b, fmt.Sprint(step))})
	}
	b.StopTimer()
	queued, err := q.Len(ctx)
	require.NoError(b, err)
	require.Equal(b, items, queued, "every recipient is still queued")
	stored := storedPerItem(b, srv, items)
	stopNode()
	stopSrv()
	aloneEmpty, aloneFull := serverAlone(b, dir)

	last := points[len(points)-1]
	kb := perItemKB(base.rss, last.at.rss, last.items)
	aloneKB := perItemKB(aloneEmpty.rss, aloneFull.rss, items)
	b.ReportMetric(kb, "recipient_KB/item")
	b.ReportMetric(aloneKB, "nats_alone_KB/item")
	fmt.Fprintf(os.Stdout, `
memory per queued recipient (one node and its embedded NATS server in this process, file storage, R1)
`+fmt.Sprintf(memoryHeader, settleWait)+`  %d messages of %d B with one recipient each (default strategy: virtual queue remote, delayed DSN
  schedule at 1 d), enqueued %d at a time in %s (%.0f/s), every virtual queue paused, no delivery started
%s    flat? %s
    aim: <= %.0f KB RSS per item at 1M, NATS server included; measured here at %d: %.3f KB
    (an item here is a message with its body: the body's object is stored once per message)
  peer: the NATS server alone (no node, no client), restarted on the files above   %11.3f KB per item
    (RSS with the files %s, on an empty directory %s)
  JetStream holds %s
`, items, len(body), creators, enqueueing.Round(time.Millisecond), float64(items)/enqueueing.Seconds(),
		memoryRows("recipients", base, points), flatness(base, points), memoryAimKB, last.items, kb,
		aloneKB, mb(aloneFull.rss), mb(aloneEmpty.rss), stored)
}
