package fts_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/registry"

	"github.com/jetmail/jetmail/shared/fts"
	"github.com/jetmail/jetmail/shared/mailgen"
	"github.com/jetmail/jetmail/shared/mailparse"
)

// Benchmark corpus: JETMAIL_FTS_N generated emails spread over benchAccounts
// accounts, indexed in batches of benchBatch.
const (
	benchAccounts = 10
	benchBatch    = 500
	benchSeed     = 1
)

func benchN(b *testing.B) int {
	s := os.Getenv("JETMAIL_FTS_N")
	if s == "" {
		return 10_000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("JETMAIL_FTS_N=%q: want a positive number", s)
	}
	return n
}

var (
	corpusOnce sync.Once
	corpus     []fts.Doc

	// benchIndex is the index BenchmarkIndex built last, reused by
	// BenchmarkSearch; TestMain removes benchDir.
	benchMu    sync.Mutex
	benchIndex *fts.Index
	benchDir   string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchIndex != nil {
		_ = benchIndex.Close()
	}
	if benchDir != "" {
		_ = os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// loadCorpus generates and parses the messages once per process, so the
// benchmarks measure indexing, not generation or parsing.
func loadCorpus(b *testing.B) []fts.Doc {
	corpusOnce.Do(func() {
		n := benchN(b)
		g := mailgen.New(mailgen.Options{Seed: benchSeed})
		r := rand.New(rand.NewPCG(benchSeed, 2))
		corpus = make([]fts.Doc, n)
		for i := range corpus {
			m, err := mailparse.Parse(bytes.NewReader(g.Next()), mailparse.Options{})
			if err != nil {
				panic(err)
			}
			corpus[i] = toDoc(fmt.Sprintf("account%02d", i%benchAccounts), strconv.Itoa(i), m, r)
		}
	})
	return corpus
}

// toDoc is what an indexer would make of a parsed message. The generated mail
// is English, so it is indexed as such; mailboxes and keywords are drawn as
// in a kept mailbox: most mail read, some flagged, a fifth archived.
func toDoc(account, id string, m *mailparse.Message, r *rand.Rand) fts.Doc {
	addrs := func(as []mailparse.Address) []string {
		out := make([]string, len(as))
		for i, a := range as {
			out[i] = a.Email
			if a.Name != "" {
				out[i] = a.Name + " <" + a.Email + ">"
			}
		}
		return out
	}
	d := fts.Doc{
		Account: account, Type: fts.TypeEmail, ID: id, Language: "en",
		Subject: m.Subject, From: addrs(m.From), To: addrs(m.To), Cc: addrs(m.Cc),
		Body: m.Text, Date: m.Date, Mailboxes: []string{"inbox"},
	}
	for _, a := range m.Attachments {
		if a.Name != "" {
			d.AttachmentNames = append(d.AttachmentNames, a.Name)
		}
	}
	if r.Float64() < 0.2 {
		d.Mailboxes = []string{"archive"}
	}
	if r.Float64() < 0.7 {
		d.Keywords = append(d.Keywords, "$seen")
	}
	if r.Float64() < 0.05 {
		d.Keywords = append(d.Keywords, "$flagged")
	}
	return d
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

// indexCorpus indexes docs into a new index in dir through Index.Apply.
func indexCorpus(b *testing.B, dir string, docs []fts.Doc) (*fts.Index, time.Duration) {
	ix, err := fts.Open(dir, fts.Options{})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < len(docs); i += benchBatch {
		batch := docs[i:min(i+benchBatch, len(docs))]
		ops := make([]fts.Op, len(batch))
		for j := range batch {
			ops[j] = fts.Op{Put: &batch[j]}
		}
		if err := ix.Apply(context.Background(), ops); err != nil {
			b.Fatal(err)
		}
	}
	return ix, time.Since(start)
}

// BenchmarkIndex indexes the corpus through Index.Apply and, for comparison,
// through bleve with its default mapping (every field analysed by the
// standard analyzer, stored and copied into the _all field).
func BenchmarkIndex(b *testing.B) {
	docs := loadCorpus(b)
	var ours, raw time.Duration
	var oursSize, rawSize int64
	for b.Loop() {
		dir, err := os.MkdirTemp("", "jetmail-fts-bench-")
		if err != nil {
			b.Fatal(err)
		}
		ix, d := indexCorpus(b, filepath.Join(dir, "fts"), docs)
		ours += d

		bi, err := bleve.New(filepath.Join(dir, "raw"), bleve.NewIndexMapping())
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for i := 0; i < len(docs); i += benchBatch {
			batch := bi.NewBatch()
			for _, doc := range docs[i:min(i+benchBatch, len(docs))] {
				if err := batch.Index(doc.Account+"/"+doc.ID, doc); err != nil {
					b.Fatal(err)
				}
			}
			if err := bi.Batch(batch); err != nil {
				b.Fatal(err)
			}
		}
		raw += time.Since(start)
		if err := bi.Close(); err != nil {
			b.Fatal(err)
		}
		rawSize = dirSize(filepath.Join(dir, "raw"))
		oursSize = dirSize(filepath.Join(dir, "fts"))

		benchMu.Lock()
		if benchIndex != nil {
			_ = benchIndex.Close()
			_ = os.RemoveAll(benchDir)
		}
		benchIndex, benchDir = ix, dir
		benchMu.Unlock()
		_ = os.RemoveAll(filepath.Join(dir, "raw"))
	}
	n := float64(len(docs) * b.N)
	oursRate, rawRate := n/ours.Seconds(), n/raw.Seconds()
	b.ReportMetric(oursRate, "docs/s")
	b.ReportMetric(rawRate, "bleve-docs/s")
	b.ReportMetric(oursRate/rawRate, "ratio")
	b.Logf("%d docs in batches of %d: fts.Index %.0f docs/s (%.1f MB on disk), bleve default mapping %.0f docs/s (%.1f MB), ratio %.2f",
		len(docs), benchBatch, oursRate, float64(oursSize)/1e6, rawRate, float64(rawSize)/1e6, oursRate/rawRate)
}

// queryTerms draws search terms from the generator's vocabulary: ranks
// log-uniform from 10 to the last, so frequent, middling and rare words are
// equally represented, and English stop words (which match nothing) skipped.
func queryTerms(r *rand.Rand, words []string, n int) []string {
	en, err := registry.NewCache().AnalyzerNamed("en")
	if err != nil {
		panic(err)
	}
	var out []string
	for len(out) < n {
		rank := int(math.Exp(math.Log(10) + r.Float64()*(math.Log(float64(len(words)))-math.Log(10))))
		w := words[min(rank, len(words)-1)]
		if len(en.Analyze([]byte(w))) > 0 {
			out = append(out, w)
		}
	}
	return out
}

func percentile[T cmp.Ordered](d []T, p float64) T {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkSearch measures 1- and 3-term Text queries in one account, newest
// first, 50 results, over the index BenchmarkIndex built (or a new one).
func BenchmarkSearch(b *testing.B) {
	docs := loadCorpus(b)
	benchMu.Lock()
	ix := benchIndex
	if ix == nil {
		dir, err := os.MkdirTemp("", "jetmail-fts-bench-")
		if err != nil {
			b.Fatal(err)
		}
		ix, _ = indexCorpus(b, filepath.Join(dir, "fts"), docs)
		benchIndex, benchDir = ix, dir
	}
	benchMu.Unlock()

	const perKind = 300
	r := rand.New(rand.NewPCG(benchSeed, 3))
	words := mailgen.New(mailgen.Options{Seed: benchSeed}).Words()
	terms := queryTerms(r, words, 4*perKind)
	ctx := context.Background()
	var lat1, lat3 []time.Duration
	var hits1, hits3 []uint64
	run := func(text string) (time.Duration, uint64) {
		q := fts.Query{Account: fmt.Sprintf("account%02d", r.IntN(benchAccounts)), Text: text}
		start := time.Now()
		res, err := ix.Search(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(start), res.Total
	}
	for b.Loop() {
		for i := range perKind {
			d, n := run(terms[i])
			lat1, hits1 = append(lat1, d), append(hits1, n)
			d, n = run(terms[perKind+3*i] + " " + terms[perKind+3*i+1] + " " + terms[perKind+3*i+2])
			lat3, hits3 = append(lat3, d), append(hits3, n)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(ms(percentile(lat1, 0.5)), "p50-1term-ms")
	b.ReportMetric(ms(percentile(lat1, 0.99)), "p99-1term-ms")
	b.ReportMetric(ms(percentile(lat3, 0.5)), "p50-3term-ms")
	b.ReportMetric(ms(percentile(lat3, 0.99)), "p99-3term-ms")
	b.Logf("%d docs, %d accounts: 1 term p50 %.2f ms p99 %.2f ms (median %d hits); 3 terms p50 %.2f ms p99 %.2f ms (median %d hits)",
		len(docs), benchAccounts, ms(percentile(lat1, 0.5)), ms(percentile(lat1, 0.99)), percentile(hits1, 0.5),
		ms(percentile(lat3, 0.5)), ms(percentile(lat3, 0.99)), percentile(hits3, 0.5))
}
