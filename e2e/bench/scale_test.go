package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
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
	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/node"
)

// The scale benchmarks (memory per item, restart, lateness with many items
// waiting) hold scaleItems() items on one node: JETMAIL_BENCH_ITEMS sets
// how many, 100,000 by default (JETMAIL_BENCH_ITEMS=1000000 for the 1M
// figures).
const (
	defaultScaleItems = 100_000
	// smallScale is the first size memory is measured at, so that the cost
	// per item can be compared from it to scaleItems().
	smallScale = 10_000
	// settleWait is how long the memory figures wait after the last write:
	// JetStream drops a message block's cache 10 s after its last use, and
	// what is measured is what items cost while they wait, not while they
	// are written.
	settleWait = 12 * time.Second
	// memoryAimKB is the aim per item at 1M items, NATS server included.
	memoryAimKB = 1.0
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

// scaleSteps are the sizes memory is measured at: 10,000 and n.
func scaleSteps(n int) []int {
	if n > smallScale {
		return []int{smallScale, n}
	}
	return []int{n}
}

// memSample is the process's memory at one point.
type memSample struct {
	rss, heap uint64 // bytes: VmRSS, and the Go heap in use
}

// vmRSS reads VmRSS from /proc/self/status, in bytes.
func vmRSS() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/self/status")
}

// settledMemory waits settleWait, collects garbage, returns freed memory
// to the OS and reads the resident set size and the Go heap. With
// JETMAIL_BENCH_HEAPPROFILE=<dir> it also writes a heap profile there
// (<benchmark>-<n>.heap, n counting the samples), to see what holds the
// memory: go tool pprof -top -inuse_space <file>.
func settledMemory(b *testing.B, label string) memSample {
	b.Helper()
	time.Sleep(settleWait)
	runtime.GC()
	debug.FreeOSMemory()
	rss, err := vmRSS()
	require.NoError(b, err)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if dir := os.Getenv("JETMAIL_BENCH_HEAPPROFILE"); dir != "" {
		f, err := os.Create(filepath.Join(dir, strings.NewReplacer("/", "-", " ", "-").Replace(b.Name()+"-"+label)+".heap"))
		require.NoError(b, err)
		require.NoError(b, pprof.WriteHeapProfile(f))
		require.NoError(b, f.Close())
	}
	return memSample{rss: rss, heap: ms.HeapInuse}
}

// memPoint is the memory with items items, against a base without them.
type memPoint struct {
	items int
	at    memSample
}

func perItemKB(base, at uint64, items int) float64 {
	return (float64(at) - float64(base)) / float64(items) / 1024
}

func mb(v uint64) string { return fmt.Sprintf("%.1f MB", float64(v)/(1<<20)) }

// memoryRows prints the memory table: the base, then each size with its
// RSS and Go heap, their cost per item from the base, and the marginal
// cost per item from the size before (which leaves out what the first
// writes cost once, such as each stream's write buffer).
func memoryRows(what string, base memSample, points []memPoint) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "    %-34s %10s %10s %14s %14s %16s\n", "", "RSS", "Go heap", "RSS per item", "heap per item", "RSS marginal")
	fmt.Fprintf(&sb, "    %-34s %10s %10s\n", "none yet (node and server started)", mb(base.rss), mb(base.heap))
	prev := memPoint{0, base}
	for _, p := range points {
		fmt.Fprintf(&sb, "    %-34s %10s %10s %11.3f KB %11.3f KB %13.3f KB\n", fmt.Sprintf("%d %s", p.items, what), mb(p.at.rss), mb(p.at.heap),
			perItemKB(base.rss, p.at.rss, p.items), perItemKB(base.heap, p.at.heap, p.items),
			perItemKB(prev.at.rss, p.at.rss, p.items-prev.items))
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
	a, z := perItemKB(base.rss, first.at.rss, first.items), perItemKB(base.rss, last.at.rss, last.items)
	marginal := perItemKB(points[len(points)-2].at.rss, last.at.rss, last.items-points[len(points)-2].items)
	return fmt.Sprintf("%.3f KB per item at %d, %.3f KB at %d (%.2fx); each item from %d to %d added %.3f KB",
		a, first.items, z, last.items, z/a, points[len(points)-2].items, last.items, marginal)
}

// parallel runs fn(i) for i in [from, to) on creators goroutines and
// returns the first error.
func parallel(from, to int, fn func(i int) error) error {
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range creators {
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

// scaleServer starts an embedded server (file storage) on dir with no
// client port: the nodes connect in-process.
func scaleServer(b *testing.B, dir string) *embedded.Server {
	b.Helper()
	srv, err := embedded.Start(embedded.Options{DataDir: dir})
	require.NoError(b, err)
	return srv
}

// scaleNode starts node "1" on srv with services, on connections of its
// own; stop shuts the node down and closes them, so that a server can be
// stopped after it.
func scaleNode(b *testing.B, srv *embedded.Server, services ...node.Service) (n *node.Node, stop func()) {
	b.Helper()
	nc, err := srv.Connect()
	require.NoError(b, err)
	cfg := jetmailtest.Config(b, "1", func(c *config.Config) { c.Task.Periodic = map[string]config.Periodic{} })
	n = jetmailtest.NodeWithDial(b, nc, func() (*nats.Conn, error) { return srv.Connect() }, cfg, services...)
	return n, stopOnce(b, func() { jetmailtest.StopNode(n); nc.Close() })
}

// storedPerItem sums what the server's streams hold, per item: messages
// and bytes, stream by stream (those holding anything).
func storedPerItem(b *testing.B, srv *embedded.Server, items int) string {
	b.Helper()
	nc, err := srv.Connect()
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
		if st.Msgs*100 >= uint64(items) { // the streams that grow with the items
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

// serverAlone is the peer figure of a memory benchmark: the NATS server
// alone (no jetmail node, no client) started on the files the jetmail
// server left, against the same server started on an empty directory.
func serverAlone(b *testing.B, dir string) (empty, full memSample) {
	b.Helper()
	srv := scaleServer(b, b.TempDir())
	empty = settledMemory(b, "nats-alone-empty")
	srv.Stop()
	srv = scaleServer(b, dir)
	full = settledMemory(b, "nats-alone-full")
	srv.Stop()
	return empty, full
}

// memoryHeader is what the RSS figures include, printed above each table.
const memoryHeader = `  RSS is this whole process's VmRSS (/proc/self/status) after runtime.GC and debug.FreeOSMemory, %s after the
  last write (JetStream's block caches expire after 10 s): the embedded NATS server, the jetmail node, the Go
  runtime and the test binary. Per item = (RSS with the items - RSS before them) / items; 1 KB = 1024 B.
`
