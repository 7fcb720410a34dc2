package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/indexer"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/fts"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailgen"
	"github.com/jetmail/jetmail/shared/mailparse"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/search"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

const (
	indexAccounts = 100
	indexSeed     = 20261202
	// rawBatch is the batch size of the raw bleve peer, and about what the
	// indexer's batcher commits at once under load.
	rawBatch     = 500
	lagRate      = 500 // msg/s
	lagDuration  = 20 * time.Second
	lagAccounts  = 10
	searchRounds = 500
)

// BenchmarkIndexer measures the indexer service on JETMAIL_BENCH_ITEMS
// (default 100,000) generated emails (package mailgen, seed 20261202: headers,
// multipart, a few KB of Zipf-distributed English words, attachments on a
// tenth) over 100 accounts, in one process on an embedded JetStream:
//
//   - raw bleve: the same emails, parsed beforehand, batch-indexed into a
//     bleve index with its default mapping, 500 per batch: the peer;
//   - delivered: the emails stored (as local delivery stores them) while the
//     indexer runs, until the last is indexed: change log, feed, tasks,
//     batches;
//   - reindex: one IndexDocument task per email created at once (CreateMany),
//     until all have run: the task path alone, the machine otherwise idle;
//   - rebuild: a node that gains every partition with an empty index builds
//     it from the store (fail-over, re-shard);
//   - search: p50 and p99 of 1-term and 3-term queries over NATS to the
//     holder, on the full index;
//   - lag: from an email stored to it being found by search, p50 and p99,
//     under a steady 500 msg/s for 20 s to 10 accounts (one account taking
//     500 msg/s spends its time retrying its quota's compare-and-set);
//   - bytes per email: the index on disk, and the node's heap growth.
func BenchmarkIndexer(b *testing.B) {
	n := scaleItems(b)
	ctx := context.Background()

	// The mail, generated once.
	g := mailgen.New(mailgen.Options{Seed: indexSeed})
	words := g.Words()
	msgs := make([][]byte, n)
	var totalBytes int64
	for i := range msgs {
		msgs[i] = g.Next()
		totalBytes += int64(len(msgs[i]))
	}
	b.Logf("%d emails generated, %.1f KB on average", n, float64(totalBytes)/float64(n)/1024)

	raw := rawBleve(b, msgs)
	runtime.GC()

	srv := jetmailtest.Server(b)
	js, err := jetstream.New(jetmailtest.Conn(b, srv))
	require.NoError(b, err)
	st, err := store.Open(ctx, store.Params{JS: js})
	require.NoError(b, err)
	require.NoError(b, st.CreateDomain(ctx, store.Domain{Name: "example.org"}))
	accounts := make([]string, indexAccounts)
	for i := range accounts {
		a, err := st.CreateAccount(ctx, store.Account{Name: fmt.Sprintf("user%d", i), Domain: "example.org"})
		require.NoError(b, err)
		accounts[i] = a.ID
	}

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	dir := b.TempDir()
	nd, idx := startIndexerNode(b, srv, filepath.Join(dir, "a"))
	waitWhole(b, nd, st, accounts)

	// Delivered: stored by 16 writers while the indexer runs.
	start := time.Now()
	var next atomic.Int64
	ids := make([]string, n)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				d, err := st.StoreEmail(ctx, accounts[i%indexAccounts], msgs[i], store.NewEmail{})
				if err != nil {
					b.Error(err)
					return
				}
				ids[i] = d.ID
			}
		})
	}
	wg.Wait()
	stored := time.Since(start)
	waitRuns(b, nd, task.IndexDocument, n)
	delivered := figure{rate: float64(n) / time.Since(start).Seconds(), took: time.Since(start)}
	storing := figure{rate: float64(n) / stored.Seconds(), took: stored}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	diskA := dirSize(filepath.Join(dir, "a"))

	// Search latency on the full index.
	client := search.Client{Conn: nd.Deps().Conn}
	r := rand.New(rand.NewPCG(indexSeed, 1))
	lat := func(terms int) (p50, p99 time.Duration, hits float64) {
		var ds []time.Duration
		var total uint64
		for range searchRounds {
			var q []string
			for range terms {
				q = append(q, words[50+r.IntN(1000)])
			}
			acc := accounts[r.IntN(len(accounts))]
			t0 := time.Now()
			res, err := client.Search(ctx, st.Partition(acc), fts.Query{Account: acc, Text: joinWords(q), Limit: 50})
			ds = append(ds, time.Since(t0))
			require.NoError(b, err)
			total += res.Total
		}
		slices.Sort(ds)
		return percentile(ds, 0.5), percentile(ds, 0.99), float64(total) / searchRounds
	}
	s1p50, s1p99, s1hits := lat(1)
	s3p50, s3p99, s3hits := lat(3)

	// Reindex: one task per email, created at once.
	mgr := idx.Manager()
	news := make([]taskmanager.NewTask, n)
	for i := range news {
		news[i] = taskmanager.NewTask{Payload: &task.IndexDocumentTask{AccountID: accounts[i%indexAccounts], DocumentID: ids[i], DocumentType: "email"}}
	}
	runsBefore := taskRuns(b, nd, task.IndexDocument)
	start = time.Now()
	for i := 0; i < n; i += 5000 {
		_, err := mgr.CreateMany(ctx, news[i:min(i+5000, n)])
		require.NoError(b, err)
	}
	waitRuns(b, nd, task.IndexDocument, runsBefore+n)
	reindex := figure{rate: float64(n) / time.Since(start).Seconds(), took: time.Since(start)}

	// Lag under a steady 500 msg/s, to 10 accounts.
	if lagRate*lagDuration.Seconds()/lagAccounts > fts.MaxLimit {
		b.Fatal("lag: more emails per account than one search returns")
	}
	lagP50, lagP99, lagN, lagStored := measureLag(b, st, client, accounts[:lagAccounts], msgs)

	// Rebuild: a new node with an empty index takes every partition.
	jetmailtest.StopNode(nd)
	start = time.Now()
	nd2, _ := startIndexerNode(b, srv, filepath.Join(dir, "b"))
	waitWhole(b, nd2, st, accounts)
	rebuildDocs := n + lagN
	rebuild := figure{rate: float64(rebuildDocs) / time.Since(start).Seconds(), took: time.Since(start)}
	diskB := dirSize(filepath.Join(dir, "b"))

	// Printed, not logged: go test cuts a benchmark's long log.
	fmt.Printf("\n"+
		"indexer, %d emails over %d accounts (docs/s)\n"+
		"  raw bleve, batches of %d     %s\n"+
		"  delivered (store + index)    %s   = %.2f of raw bleve  (the stores, beside the indexer: %s)\n"+
		"  reindex (tasks only)         %s   = %.2f of raw bleve\n"+
		"  rebuild (fail-over)          %s   = %.2f of raw bleve\n"+
		"search over NATS, %d queries each\n"+
		"  1 term    p50 %v  p99 %v  (%.0f hits on average)\n"+
		"  3 terms   p50 %v  p99 %v  (%.0f hits on average)\n"+
		"lag, stored to searchable, %d emails offered at %d msg/s (stored at %.0f msg/s) to %d accounts\n"+
		"  p50 %v  p99 %v\n"+
		"bytes per email\n"+
		"  index on disk %.0f (after delivery), %.0f (rebuilt); raw bleve %.0f; the mail itself %.0f\n"+
		"  node heap growth %.0f",
		n, indexAccounts, rawBatch, raw.figure, delivered, delivered.rate/raw.rate, storing,
		reindex, reindex.rate/raw.rate, rebuild, rebuild.rate/raw.rate,
		searchRounds, s1p50.Round(10*time.Microsecond), s1p99.Round(10*time.Microsecond), s1hits,
		s3p50.Round(10*time.Microsecond), s3p99.Round(10*time.Microsecond), s3hits,
		lagN, lagRate, lagStored, lagAccounts, lagP50.Round(time.Millisecond), lagP99.Round(time.Millisecond),
		float64(diskA)/float64(n), float64(diskB)/float64(rebuildDocs), float64(raw.disk)/float64(n), float64(totalBytes)/float64(n),
		float64(int64(after.HeapInuse)-int64(before.HeapInuse))/float64(n))
	fmt.Println()
}

func joinWords(ws []string) string {
	var buf bytes.Buffer
	for i, w := range ws {
		if i > 0 {
			buf.WriteByte(' ')
		}
		buf.WriteString(w)
	}
	return buf.String()
}

type rawResult struct {
	figure
	disk int64
}

// rawBleve indexes the parsed emails with bleve's default mapping.
func rawBleve(b *testing.B, msgs [][]byte) rawResult {
	b.Helper()
	type doc struct {
		Subject, From, To, Cc, Body, Attachments string
		Date                                     time.Time
	}
	docs := make([]doc, len(msgs))
	for i, m := range msgs {
		p, err := mailparse.Parse(bytes.NewReader(m), mailparse.Options{MaxText: 256 << 10})
		require.NoError(b, err)
		d := doc{Subject: p.Subject, Body: p.Text, Date: p.Date}
		for _, a := range p.From {
			d.From += a.Name + " " + a.Email + " "
		}
		for _, a := range p.To {
			d.To += a.Name + " " + a.Email + " "
		}
		for _, a := range p.Cc {
			d.Cc += a.Name + " " + a.Email + " "
		}
		for _, a := range p.Attachments {
			d.Attachments += a.Name + " "
		}
		docs[i] = d
	}
	dir := filepath.Join(b.TempDir(), "raw")
	bi, err := bleve.New(dir, bleve.NewIndexMapping())
	require.NoError(b, err)
	start := time.Now()
	for i := 0; i < len(docs); i += rawBatch {
		batch := bi.NewBatch()
		for j := i; j < min(i+rawBatch, len(docs)); j++ {
			require.NoError(b, batch.Index(strconv.Itoa(j), docs[j]))
		}
		require.NoError(b, bi.Batch(batch))
	}
	took := time.Since(start)
	require.NoError(b, bi.Close())
	return rawResult{figure{rate: float64(len(docs)) / took.Seconds(), took: took}, dirSize(dir)}
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// startIndexerNode starts node 1 with the store and the indexer, the
// holder of every partition.
func startIndexerNode(b *testing.B, srv *embedded.Server, dir string) (*node.Node, *indexer.Service) {
	b.Helper()
	cfg := jetmailtest.Config(b, "1", func(c *config.Config) {
		c.Cluster.Roles[roles.FtsIndexing] = roles.Shards{{"1"}}
		c.Task.Periodic = map[string]config.Periodic{}
	})
	sc := store.NewComponent(store.Params{})
	idx := indexer.New(cfg, sc, indexer.Params{Dir: dir})
	return jetmailtest.Node(b, jetmailtest.Conn(b, srv), cfg, sc, idx), idx
}

// waitWhole waits until every account's partition answers whole.
func waitWhole(b *testing.B, nd *node.Node, st *store.Store, accounts []string) {
	b.Helper()
	c := search.Client{Conn: nd.Deps().Conn}
	deadline := time.Now().Add(30 * time.Minute)
	for _, acc := range accounts {
		for {
			r, err := c.Search(context.Background(), st.Partition(acc), fts.Query{Account: acc, Text: "the"})
			if err == nil && !r.Partial {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("partition %d not whole: %v", st.Partition(acc), err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

var runsLine = regexp.MustCompile(`(?m)^jetmail_task_runs_total\{result="ok",type="([A-Za-z]+)"\} (\d+)`)

// taskRuns reads the node's count of successful runs of variant v.
func taskRuns(b *testing.B, nd *node.Node, v task.Variant) int {
	b.Helper()
	resp, err := http.Get(nd.HTTPURL() + "/metrics")
	require.NoError(b, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b, err)
	for _, m := range runsLine.FindAllStringSubmatch(string(body), -1) {
		if m[1] == string(v) {
			n, _ := strconv.Atoi(m[2])
			return n
		}
	}
	return 0
}

// waitRuns waits until the node has run want tasks of variant v.
func waitRuns(b *testing.B, nd *node.Node, v task.Variant, want int) {
	b.Helper()
	deadline := time.Now().Add(60 * time.Minute)
	for taskRuns(b, nd, v) < want {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d %s tasks ran", taskRuns(b, nd, v), want, v)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// measureLag stores emails to lagAccounts accounts at lagRate in all for
// lagDuration, each with the word "lagmark", and watches for them with
// one search per account in turn (all of its lagmark emails: at most
// fts.MaxLimit, which the rate and duration stay under), every 20 ms. It
// returns the lags of every email stored, and the rate the stores kept.
func measureLag(b *testing.B, st *store.Store, c search.Client, accounts []string, msgs [][]byte) (p50, p99 time.Duration, n int, rate float64) {
	b.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	storedAt := map[string]time.Time{}
	var lags []time.Duration
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		seen := map[string]bool{}
		for {
			select {
			case <-stop:
				mu.Lock()
				left := len(storedAt) - len(seen)
				mu.Unlock()
				if left <= 0 {
					return
				}
			default:
			}
			for _, account := range accounts {
				res, err := c.Search(ctx, st.Partition(account), fts.Query{Account: account, Text: "lagmark", Limit: fts.MaxLimit})
				now := time.Now()
				if err != nil {
					continue
				}
				mu.Lock()
				for _, id := range res.IDs {
					if t, ok := storedAt[id]; ok && !seen[id] {
						seen[id] = true
						lags = append(lags, now.Sub(t))
					}
				}
				mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	tick := time.NewTicker(time.Second / lagRate)
	start := time.Now()
	end := start.Add(lagDuration)
	var wg sync.WaitGroup
	for i := 0; time.Now().Before(end); i++ {
		// A tick the loop missed (the machine busy) is made up for at
		// once, so the load offered is the rate, whatever the machine keeps.
		if time.Duration(i)*time.Second/lagRate > time.Since(start) {
			<-tick.C
		}
		// The word goes into the subject: text after a multipart's last
		// boundary is not the body.
		m := bytes.Replace(msgs[i%len(msgs)], []byte("\r\nSubject: "), []byte("\r\nSubject: lagmark "), 1)
		account := accounts[i%len(accounts)]
		wg.Go(func() {
			d, err := st.StoreEmail(ctx, account, m, store.NewEmail{})
			if err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			storedAt[d.ID] = time.Now()
			mu.Unlock()
		})
	}
	tick.Stop()
	wg.Wait()
	mu.Lock()
	stored := len(storedAt)
	mu.Unlock()
	rate = float64(stored) / time.Since(start).Seconds()
	close(stop)
	select {
	case <-watched:
	case <-time.After(5 * time.Minute):
		b.Fatal("lag: emails never found")
	}
	if len(lags) != stored {
		b.Fatalf("lag: %d emails stored, %d found", stored, len(lags))
	}
	slices.Sort(lags)
	return percentile(lags, 0.5), percentile(lags, 0.99), len(lags), rate
}
