package bench

import (
	"context"
	"errors"
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
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/jetmail/jetmail/shared/taskmanager"
)

// consoleSamples is how many times each page is fetched; the median is
// reported.
const consoleSamples = 5

// BenchmarkConsoleTasks measures paging through the console's Scheduled
// tasks with JETMAIL_BENCH_ITEMS (default 100,000) tasks waiting: the
// time to serve the first, the middle and the last page of 50 (bin/jetmail
// serve scheduler, logged in over HTTP), beside raw JetStream reading
// every message of the streams that hold the tasks once with nats.go,
// which is what any page of a query over every task costs at least.
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
		b.Logf("page at %d: %s", pos, ms(pages[i]))
	}
	var streams string
	raw := median(consoleSamples, func() time.Duration {
		d, names := rawStreamRead(b, np.url, items)
		streams = names
		return d
	})
	b.StopTimer()

	b.ReportMetric(float64(pages[1].Milliseconds()), "middle_page_ms")
	b.ReportMetric(float64(pages[1])/float64(raw), "x_raw_read")
	fmt.Fprintf(os.Stdout, `
console: paging through Scheduled tasks with %d tasks waiting (median of %d; 50 per page, bin/jetmail serve scheduler)
    first page %s, middle page %s, last page %s
  peer: raw JetStream reading every message of the streams that hold the tasks (%s) once, direct gets in batches of 1000: %s
    middle page / raw read: %.2fx
`, items, consoleSamples, ms(pages[0]), ms(pages[1]), ms(pages[2]), streams, ms(raw), float64(pages[1])/float64(raw))
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

// rawStreamRead reads every message of the streams on the server at
// natsURL that hold at least want messages (where the tasks are) with
// direct gets in batches of 1000 (as the task manager's listing reads
// them), and returns how long it took and which.
func rawStreamRead(b *testing.B, natsURL string, want int) (time.Duration, string) {
	b.Helper()
	nc, err := nats.Connect(natsURL)
	require.NoError(b, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(b, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var names []string
	for info := range js.ListStreams(ctx).Info() {
		if info.State.Msgs >= uint64(want) {
			names = append(names, info.Config.Name)
		}
	}
	require.NotEmpty(b, names, "a stream holds the tasks")
	start := time.Now()
	for _, name := range names {
		n := 0
		for seq := uint64(1); ; {
			msgs, err := jetstreamext.GetBatch(ctx, js, name, 1000, jetstreamext.GetBatchSeq(seq))
			require.NoError(b, err)
			got := 0
			for msg, err := range msgs {
				if errors.Is(err, jetstreamext.ErrNoMessages) {
					break
				}
				require.NoError(b, err)
				got++
				seq = msg.Sequence + 1
			}
			if got == 0 {
				break
			}
			n += got
		}
		require.GreaterOrEqual(b, n, want, "stream %s", name)
	}
	return time.Since(start), strings.Join(names, ", ")
}
