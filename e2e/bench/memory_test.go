package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// memSample is the memory of the NATS server process and, when there is
// one, of the jetmail node process at one point.
type memSample struct {
	natsRSS, natsHeap, nodeRSS uint64
}

func (s memSample) total() uint64 { return s.natsRSS + s.nodeRSS }

// memPoint is the memory with items items.
type memPoint struct {
	items int
	at    memSample
}

// settled waits settleWait after the last write, makes the NATS server
// collect garbage and return freed memory to the OS, and reads the VmRSS
// of both processes (node may be nil). The node is read as it is: its
// runtime gives memory back on its own (a forced collection every 2
// minutes, the background scavenger); nothing asks the node for its
// metrics, since a scrape of jetmail_tasks or jetmail_queue_messages
// streams the whole bucket.
func settled(b *testing.B, np *natsProc, nd *jetmailProc) memSample {
	b.Helper()
	time.Sleep(settleWait)
	var s memSample
	s.natsHeap = np.collect()
	var err error
	s.natsRSS, err = vmRSS(np.pid())
	require.NoError(b, err)
	if nd != nil {
		s.nodeRSS, err = vmRSS(nd.pid())
		require.NoError(b, err)
	}
	return s
}

// memoryHeader says what the RSS figures are, printed above each table.
var memoryHeader = fmt.Sprintf(`  RSS is VmRSS (/proc/<pid>/status) of each process %s after the last write (JetStream's block caches
  expire after 10 s): the NATS server (benchnats: the embedded server of package embedded in a process of its own,
  file storage, R1), after it collected garbage and returned freed memory to the OS; the jetmail node (bin/jetmail
  serve), as it is. Items are created by a node in the test process that holds no role.
  Per item = (RSS with the items - RSS before them) / items; 1 KB = 1024 B. Marginal: from the size before.
`, settleWait)

func memoryRows(what string, base memSample, points []memPoint) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "    %-26s %10s %10s %10s %10s | %-34s | %10s\n", "", "NATS RSS", "NATS heap", "node RSS", "together", "  per item: together   NATS   node", "marginal")
	fmt.Fprintf(&sb, "    %-26s %10s %10s %10s %10s |\n", "none yet (both started)", mb(base.natsRSS), mb(base.natsHeap), mb(base.nodeRSS), mb(base.total()))
	prev := memPoint{0, base}
	for _, p := range points {
		fmt.Fprintf(&sb, "    %-26s %10s %10s %10s %10s | %8.3f KB %8.3f KB %8.3f KB | %7.3f KB\n", fmt.Sprintf("%d %s", p.items, what),
			mb(p.at.natsRSS), mb(p.at.natsHeap), mb(p.at.nodeRSS), mb(p.at.total()),
			kbPer(base.total(), p.at.total(), p.items), kbPer(base.natsRSS, p.at.natsRSS, p.items), kbPer(base.nodeRSS, p.at.nodeRSS, p.items),
			kbPer(prev.at.total(), p.at.total(), p.items-prev.items))
		prev = p
	}
	return sb.String()
}

// flatness says how the cost per item changed from the first size to the
// last, so that "it stays flat" can be read off.
func flatness(base memSample, points []memPoint) string {
	if len(points) < 2 {
		return "one size only"
	}
	first, last := points[0], points[len(points)-1]
	a, z := kbPer(base.total(), first.at.total(), first.items), kbPer(base.total(), last.at.total(), last.items)
	return fmt.Sprintf("%.3f KB per item at %d, %.3f KB at %d (%.2fx)", a, first.items, z, last.items, z/a)
}

// rawPeer is the peer figure of the memory benchmarks: the NATS server
// process alone holding as many 1 KB messages in one stream, published
// with nats.go, either each on a subject of its own (as jetmail's items
// are: a schedule or trigger per item subject) or all on one subject.
type rawPeer struct {
	perSubject, oneSubject rawSeries
}

type rawSeries struct {
	base   memSample
	points []memPoint
}

// perItem is the series' cost per item at n items, if measured.
func (s rawSeries) perItem(n int) (float64, bool) {
	for _, p := range s.points {
		if p.items == n {
			return kbPer(s.base.natsRSS, p.at.natsRSS, n), true
		}
	}
	return 0, false
}

var (
	rawPeerMu    sync.Mutex
	rawPeerCache = map[string]rawPeer{}
)

// rawJetStream measures the raw peer at the sizes of steps, once per run
// of the package (both memory benchmarks print it).
func rawJetStream(b *testing.B, bins benchBins, steps []int) rawPeer {
	b.Helper()
	rawPeerMu.Lock()
	defer rawPeerMu.Unlock()
	key := fmt.Sprint(steps)
	if p, ok := rawPeerCache[key]; ok {
		return p
	}
	p := rawPeer{perSubject: rawSeriesOf(b, bins, steps, true), oneSubject: rawSeriesOf(b, bins, steps, false)}
	rawPeerCache[key] = p
	return p
}

func rawSeriesOf(b *testing.B, bins benchBins, steps []int, perSubject bool) rawSeries {
	b.Helper()
	np := startNATS(b, bins, b.TempDir())
	defer np.stop()
	nc, err := nats.Connect(np.url)
	require.NoError(b, err)
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	require.NoError(b, err)
	ctx := context.Background()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "bench-raw", Subjects: []string{"raw.>"}, Storage: jetstream.FileStorage})
	require.NoError(b, err)
	payload := []byte(strings.Repeat("0123456789abcdef", 64))
	s := rawSeries{base: settled(b, np, nil)}
	sent := 0
	for _, step := range steps {
		for ; sent < step; sent++ {
			subject := "raw.one"
			if perSubject {
				subject = "raw." + strconv.Itoa(sent)
			}
			_, err := js.PublishAsync(subject, payload)
			require.NoError(b, err)
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(5 * time.Minute):
			b.Fatalf("raw publish: %d acks outstanding after 5 min", js.PublishAsyncPending())
		}
		s.points = append(s.points, memPoint{step, settled(b, np, nil)})
	}
	info, err := js.Stream(ctx, "bench-raw")
	require.NoError(b, err)
	require.Equal(b, uint64(sent), info.CachedInfo().State.Msgs, "raw stream holds every message")
	return s
}

// rawRows prints the raw peer beside a jetmail table, with the ratio of
// jetmail's cost per item (node and server together) to the raw one.
func rawRows(raw rawPeer, base memSample, points []memPoint) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "  peer: the NATS server process alone holding as many 1 KB messages in one stream (nats.go async publish),\n")
	fmt.Fprintf(&sb, "  each on a subject of its own / all on one subject; per item, and jetmail together / raw\n")
	for _, p := range points {
		jet := kbPer(base.total(), p.at.total(), p.items)
		per, ok1 := raw.perSubject.perItem(p.items)
		one, ok2 := raw.oneSubject.perItem(p.items)
		if !ok1 || !ok2 {
			continue
		}
		fmt.Fprintf(&sb, "    %-26s subject each: %7.3f KB (jetmail %5.2fx)   one subject: %7.3f KB (jetmail %5.2fx)\n",
			fmt.Sprintf("%d messages", p.items), per, jet/per, one, jet/one)
	}
	if len(raw.perSubject.points) > 0 {
		last := raw.perSubject.points[len(raw.perSubject.points)-1].at
		fmt.Fprintf(&sb, "    (raw, subject each: NATS RSS %s empty, %s full, heap %s)\n", mb(raw.perSubject.base.natsRSS), mb(last.natsRSS), mb(last.natsHeap))
	}
	return sb.String()
}

// BenchmarkMemoryTasks measures the memory a scheduled task costs while it
// waits: the RSS of the NATS server process and of the jetmail node
// process (bin/jetmail serve scheduler) before and after creating 10,000,
// 100,000 and JETMAIL_BENCH_ITEMS (default 100,000) tasks due in one to two
// hours, beside the NATS server alone holding as many 1 KB messages. Then,
// with those tasks waiting, the lateness of 10,000 more due in the same
// second, beside the same burst on a server with no task waiting.
func BenchmarkMemoryTasks(b *testing.B) {
	items := scaleItems(b)
	ctx := context.Background()
	bins := buildBins(b)
	np := startNATS(b, bins, b.TempDir())
	defer np.stop()
	nd := startJetmail(b, bins, np.url, "scheduler")
	m, stopCreator := taskCreator(b, np.url)
	base := settled(b, np, nd)

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
		require.NoError(b, createTasks(m, "m", created, step, func(i int) *time.Time {
			due := first.Add(time.Duration(i) * time.Hour / time.Duration(items))
			return &due
		}))
		creating += time.Since(start)
		created = step
		points = append(points, memPoint{step, settled(b, np, nd)})
	}
	b.StopTimer()
	_, left, err := m.Query(ctx, taskmanager.Query{Limit: 1})
	require.NoError(b, err)
	require.Equal(b, items, left, "every task is still waiting")
	stored := storedPerItem(b, np.url, items)
	stopCreator()
	nd.stop()

	raw := rawJetStream(b, bins, scaleSteps(items))

	// Lateness: the burst on the benchmark's server with every task
	// waiting, then on a fresh one. The burst is created with a lead of
	// three times what creating it should take at the rate measured above,
	// so that it is all stored before it is due.
	rate := float64(items) / creating.Seconds()
	lead := max(5*time.Second, time.Duration(3*float64(burstTasks)/rate*float64(time.Second)))
	loaded := latenessBurst(b, bins, np.url, lead)
	np.stop()
	idleNATS := startNATS(b, bins, b.TempDir())
	idle := latenessBurst(b, bins, idleNATS.url, lead)
	idleNATS.stop()
	rawSched := rawScheduleBurst(b, bins, lead)

	last := points[len(points)-1]
	kb := kbPer(base.total(), last.at.total(), last.items)
	b.ReportMetric(kb, "task_KB/item")
	b.ReportMetric(float64(loaded.p99.Milliseconds()), "p99_lateness_ms")
	fmt.Fprintf(os.Stdout, `
memory per scheduled task (NATS server and jetmail node in processes of their own)
%s  %d tasks (IndexTrace) created %d at a time in %s (%.0f tasks/s), due in 1 to 2 h: they all wait
%s    flat? %s
    aim: <= %.0f KB RSS per item at 1M, NATS server included; measured here at %d: %.3f KB
%s%s  JetStream holds %s
lateness of %d tasks due in the same second (handler start - due time; benchnode: the node with a no-op handler)
    aim: p99 <= 300 ms with 1M tasks waiting
  with the %d tasks above waiting:   %s
  peer: with no task waiting:        %s
  peer: raw JetStream, the NATS server process alone firing as many schedules due in the same second
        (arrival at a consumer - due time):  %s
%s`, memoryHeader, items, scaleCreators, ms(creating), rate, memoryRows("tasks", base, points),
		flatness(base, points), memoryAimKB, last.items, kb, notMeasured(items), rawRows(raw, base, points), stored,
		burstTasks, items, loaded, idle, rawSched, notMeasured(items))
}

// BenchmarkMemoryQueue measures the memory a queued recipient costs while
// it waits: the RSS of the NATS server process and of the jetmail node
// process (bin/jetmail serve delivery) before and after enqueueing 10,000,
// 100,000 and JETMAIL_BENCH_ITEMS (default 100,000) messages of 1 KB with
// one recipient each, every virtual queue paused so that nothing leaves;
// beside the NATS server alone holding as many 1 KB messages.
func BenchmarkMemoryQueue(b *testing.B) {
	items := scaleItems(b)
	ctx := context.Background()
	bins := buildBins(b)
	np := startNATS(b, bins, b.TempDir())
	defer np.stop()
	nd := startJetmail(b, bins, np.url, "delivery")
	q := mailqueue.New(mailqueue.Params{})
	_, stopCreator := creatorNode(b, np.url, q)
	for _, vq := range q.VirtualQueues() {
		require.NoError(b, q.Pause(ctx, vq))
	}
	body := []byte("From: bench@source.test\r\nTo: someone@remote.test\r\nSubject: bench\r\n\r\n" +
		strings.Repeat("0123456789abcdef", 64))[:1024]
	base := settled(b, np, nd)

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
		points = append(points, memPoint{step, settled(b, np, nd)})
	}
	b.StopTimer()
	queued, err := q.Len(ctx)
	require.NoError(b, err)
	require.Equal(b, items, queued, "every recipient is still queued")
	stored := storedPerItem(b, np.url, items)
	stopCreator()
	nd.stop()
	np.stop()
	raw := rawJetStream(b, bins, scaleSteps(items))

	last := points[len(points)-1]
	kb := kbPer(base.total(), last.at.total(), last.items)
	b.ReportMetric(kb, "recipient_KB/item")
	fmt.Fprintf(os.Stdout, `
memory per queued recipient (NATS server and jetmail node in processes of their own)
%s  %d messages of %d B with one recipient each (default strategy: virtual queue remote, delayed DSN
  schedule at 1 d), enqueued %d at a time in %s (%.0f/s), every virtual queue paused, nothing delivered
%s    flat? %s
    aim: <= %.0f KB RSS per item at 1M, NATS server included; measured here at %d: %.3f KB
    (an item here is a message with its body: a one-recipient message of 1 KB travels in its entry's trigger)
%s%s  JetStream holds %s
`, memoryHeader, items, len(body), scaleCreators, ms(enqueueing), float64(items)/enqueueing.Seconds(),
		memoryRows("recipients", base, points), flatness(base, points), memoryAimKB, last.items, kb, notMeasured(items),
		rawRows(raw, base, points), stored)
}
