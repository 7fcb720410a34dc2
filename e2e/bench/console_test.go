package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/taskmanager"
)

// consoleSamples is how many times each page is fetched; the median is
// reported.
const consoleSamples = 5

// BenchmarkConsoleTasks measures paging through the console's Scheduled
// tasks with JETMAIL_BENCH_ITEMS (default 100,000) tasks waiting: the
// time to serve the first, the middle and the last page of 50 (bin/jetmail
// serve scheduler, logged in over HTTP), beside raw JetStream reading
// every entry of the task bucket once with nats.go (a KV watch of all
// keys), which is what any page of a query over every task costs at least.
func BenchmarkConsoleTasks(b *testing.B) {
	items := scaleItems(b)
	bins := buildBins(b)
	np := startNATS(b, bins, b.TempDir())
	defer np.stop()
	nd := startJetmailWith(b, bins, np.url, "[api.users.bench]\nsecret = \"bench-secret-123\"\npermissions = [\"admin\"]\n", "scheduler")
	defer nd.stop()
	m, stopCreator := taskCreator(b, np.url)
	first := time.Now().Add(time.Hour)
	require.NoError(b, createTasks(m, "c", 0, items, func(i int) *time.Time {
		due := first.Add(time.Duration(i) * time.Hour / time.Duration(items))
		return &due
	}))
	_, total, err := m.Query(context.Background(), taskmanager.Query{Limit: 1})
	require.NoError(b, err)
	require.Equal(b, items, total)
	stopCreator()

	jar, err := cookiejar.New(nil)
	require.NoError(b, err)
	hc := &http.Client{Jar: jar, Timeout: 5 * time.Minute}
	base := "http://" + nd.http
	resp, err := hc.PostForm(base+"/ui/login", url.Values{"user": {"bench"}, "secret": {"bench-secret-123"}})
	require.NoError(b, err)
	resp.Body.Close()
	page := func(pos int) time.Duration {
		start := time.Now()
		resp, err := hc.Get(fmt.Sprintf("%s/ui/tasks/scheduled?pos=%d", base, pos))
		require.NoError(b, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		require.Equal(b, http.StatusOK, resp.StatusCode)
		require.Contains(b, string(body), fmt.Sprintf("%d task(s)", items), "the page counts every task")
		require.Contains(b, string(body), "IndexTrace")
		return took
	}

	b.ResetTimer()
	positions := []int{0, items / 2, items - 50}
	pages := make([]time.Duration, len(positions))
	for i, pos := range positions {
		pages[i] = median(consoleSamples, func() time.Duration { return page(pos) })
	}
	raw := median(consoleSamples, func() time.Duration { return rawBucketRead(b, np.url, taskmanager.BucketTasks, items) })
	b.StopTimer()

	b.ReportMetric(float64(pages[1].Milliseconds()), "middle_page_ms")
	b.ReportMetric(float64(pages[1])/float64(raw), "x_raw_read")
	fmt.Fprintf(os.Stdout, `
console: paging through Scheduled tasks with %d tasks waiting (median of %d; 50 per page, bin/jetmail serve scheduler)
    first page %s, middle page %s, last page %s
  peer: raw JetStream reading every entry of %s once (nats.go KV watch): %s
    middle page / raw read: %.2fx
`, items, consoleSamples, ms(pages[0]), ms(pages[1]), ms(pages[2]), taskmanager.BucketTasks, ms(raw), float64(pages[1])/float64(raw))
}

// median runs f n times and returns the median duration.
func median(n int, f func() time.Duration) time.Duration {
	d := make([]time.Duration, n)
	for i := range d {
		d[i] = f()
	}
	slices.Sort(d)
	return d[n/2]
}

// rawBucketRead reads every entry of KV bucket with a nats.go watch and
// returns how long it took; the bucket must hold want entries.
func rawBucketRead(b *testing.B, natsURL, bucket string, want int) time.Duration {
	b.Helper()
	nc, err := nats.Connect(natsURL)
	require.NoError(b, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(b, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	kv, err := js.KeyValue(ctx, bucket)
	require.NoError(b, err)
	start := time.Now()
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	require.NoError(b, err)
	defer w.Stop() //nolint:errcheck // read only
	n := 0
	for e := range w.Updates() {
		if e == nil {
			break
		}
		if !strings.HasPrefix(e.Key(), "_") {
			n++
		}
	}
	took := time.Since(start)
	require.GreaterOrEqual(b, n, want)
	return took
}
