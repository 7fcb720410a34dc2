package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/mailgen"
	"github.com/jetmail/jetmail/shared/spam"
)

const (
	spamSeed     = 20261202
	spamMessages = 6000
	// classifyFor is how long the throughput of Classify is measured.
	classifyFor = 2 * time.Second
)

// BenchmarkSpamFilter measures the quality and speed of jetmail's spam
// classifier beside bogofilter (Debian's package, at its default
// settings), both trained on the same messages and tested on the same
// others in the same run. The mail is mailgen.Corpus's, seed 20261202,
// default difficulty (a quarter of each class looks like the other): 6,000
// messages, every third one for testing and the others for training.
// Printed for each: precision, recall and F1 at its default cutoff
// (jetmail's junk threshold, bogofilter's spam_cutoff; bogofilter's
// "unsure" counts as not spam), the best F1 over all cutoffs, the ham
// sent to Junk, and which kinds of mail each got wrong; then jetmail's
// training rate and its classify rate on one goroutine (analysis
// included). It skips when bogofilter is missing, unless
// JETMAIL_REQUIRE_TOOLS=1 (make bench), where it fails.
func BenchmarkSpamFilter(b *testing.B) {
	bogo, ok := peerTool(b, "bogofilter")
	if !ok {
		b.Skip("bogofilter is not installed: the spam filter is measured only beside it (scripts/install-bench-peers installs Debian's package)")
	}
	ctx := context.Background()

	c := mailgen.NewCorpus(mailgen.CorpusOptions{Seed: spamSeed})
	var train, test []mailgen.Labelled
	var testBytes int
	for i := range spamMessages {
		m := c.Next()
		if i%3 == 2 {
			test = append(test, m)
			testBytes += len(m.Raw)
		} else {
			train = append(train, m)
		}
	}

	// jetmail.
	samples := make([]spam.Sample, len(train))
	for i, m := range train {
		samples[i] = spam.Sample{Raw: m.Raw, Label: label(m.Spam)}
	}
	start := time.Now()
	model, err := spam.Train(ctx, nil, spam.Samples(samples...), spam.TrainOptions{})
	require.NoError(b, err)
	trainTook := time.Since(start)
	clf, err := spam.NewClassifier(spam.Params{})
	require.NoError(b, err)
	jetScores := make([]float64, len(test))
	for i, m := range test {
		jetScores[i] = clf.ClassifyRaw(m.Raw, model, nil).Score
	}
	classified := 0
	start = time.Now()
	for time.Since(start) < classifyFor {
		for _, m := range test {
			clf.ClassifyRaw(m.Raw, model, nil)
		}
		classified += len(test)
	}
	classifyRate := float64(classified) / time.Since(start).Seconds()

	// bogofilter, on the same split.
	bogoScores, cutoff, bogoTrainTook, bogoTestTook := runBogofilter(b, bogo, train, test)

	jet := measureQuality(test, jetScores, spam.DefaultJunkThreshold)
	bf := measureQuality(test, bogoScores, cutoff)
	encoded := len(model.Encode())
	b.ReportMetric(jet.f1, "jetmail_F1")
	b.ReportMetric(bf.f1, "bogofilter_F1")
	b.ReportMetric(classifyRate, "classify_msgs/s")
	nSpam, nHam := model.Messages()
	fmt.Fprintf(os.Stdout, `
spam filter: mailgen.Corpus seed %d, %d messages (%.1f KB on average): trained on %d (%d spam, %d ham), tested on %d (%d spam)
                          cutoff  precision  recall     F1   best F1 (at cutoff)    ham to Junk   errors by kind
  jetmail                 %5.2f   %7.4f  %7.4f  %7.4f  %7.4f (%-9.2g)  %4d (%.2f%%)   %s
  bogofilter %-11s  %5.2f   %7.4f  %7.4f  %7.4f  %7.4f (%-9.2g)  %4d (%.2f%%)   %s
    F1 jetmail/bogofilter: %.3f
  jetmail training: %.0f msg/s (%s, %d tokens, model %d KB encoded); bogofilter training %s, testing %s (bulk mode, one process each)
  jetmail classify (analysis + score, one goroutine, GOMAXPROCS %d): %.0f msg/s
`, spamSeed, spamMessages, float64(testBytes)/float64(len(test))/1024, len(train), nSpam, nHam, len(test), jet.tp+jet.fn,
		spam.DefaultJunkThreshold, jet.precision, jet.recall, jet.f1, jet.bestF1, jet.bestCut, jet.fp, 100*float64(jet.fp)/float64(jet.fp+jet.tn), jet.errors,
		bogofilterVersion(bogo), cutoff, bf.precision, bf.recall, bf.f1, bf.bestF1, bf.bestCut, bf.fp, 100*float64(bf.fp)/float64(bf.fp+bf.tn), bf.errors,
		jet.f1/bf.f1,
		float64(len(train))/trainTook.Seconds(), trainTook.Round(time.Millisecond), model.Len(), encoded/1024,
		bogoTrainTook.Round(time.Millisecond), bogoTestTook.Round(time.Millisecond),
		runtime.GOMAXPROCS(0), classifyRate)
}

func label(isSpam bool) spam.Label {
	if isSpam {
		return spam.Spam
	}
	return spam.Ham
}

// quality is how one filter did on the test messages.
type quality struct {
	tp, fp, fn, tn        int
	precision, recall, f1 float64
	bestF1, bestCut       float64
	errors                string
}

func measureQuality(test []mailgen.Labelled, scores []float64, cutoff float64) quality {
	var q quality
	wrong := map[string]int{}
	for i, m := range test {
		isSpam := scores[i] >= cutoff
		switch {
		case m.Spam && isSpam:
			q.tp++
		case m.Spam:
			q.fn++
			wrong[m.Kind]++
		case isSpam:
			q.fp++
			wrong[m.Kind]++
		default:
			q.tn++
		}
	}
	q.precision, q.recall, q.f1 = prf(q.tp, q.fp, q.fn)
	// The best F1 over every cutoff: scores in decreasing order, each a
	// cutoff that takes all scores at least as high.
	idx := make([]int, len(test))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case scores[a] > scores[b]:
			return -1
		case scores[a] < scores[b]:
			return 1
		}
		return 0
	})
	totalSpam := q.tp + q.fn
	tp, fp := 0, 0
	for k, i := range idx {
		if test[i].Spam {
			tp++
		} else {
			fp++
		}
		if k+1 < len(idx) && scores[idx[k+1]] == scores[i] {
			continue // the same cutoff
		}
		if _, _, f1 := prf(tp, fp, totalSpam-tp); f1 > q.bestF1 {
			q.bestF1, q.bestCut = f1, scores[i]
		}
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(wrong)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, wrong[k]))
	}
	q.errors = strings.Join(parts, ", ")
	return q
}

func prf(tp, fp, fn int) (precision, recall, f1 float64) {
	if tp == 0 {
		return 0, 0, 0
	}
	precision = float64(tp) / float64(tp+fp)
	recall = float64(tp) / float64(tp+fn)
	return precision, recall, 2 * precision * recall / (precision + recall)
}

// runBogofilter trains bogofilter on train in a fresh word list (-s and
// -n in bulk mode, names on stdin) and scores test (-TT -v -b), at the
// compiled-in defaults (-C: no configuration file). It returns the scores
// in test's order and bogofilter's spam_cutoff.
func runBogofilter(b *testing.B, bogo string, train, test []mailgen.Labelled) ([]float64, float64, time.Duration, time.Duration) {
	dir := b.TempDir()
	db := filepath.Join(dir, "db")
	require.NoError(b, os.Mkdir(db, 0o755))
	write := func(sub string, msgs []mailgen.Labelled, keep func(mailgen.Labelled) bool) []string {
		require.NoError(b, os.MkdirAll(filepath.Join(dir, sub), 0o755))
		var names []string
		for i, m := range msgs {
			if !keep(m) {
				continue
			}
			name := filepath.Join(dir, sub, strconv.Itoa(i))
			require.NoError(b, os.WriteFile(name, m.Raw, 0o644))
			names = append(names, name)
		}
		return names
	}
	spamFiles := write("spam", train, func(m mailgen.Labelled) bool { return m.Spam })
	hamFiles := write("ham", train, func(m mailgen.Labelled) bool { return !m.Spam })
	testFiles := write("test", test, func(mailgen.Labelled) bool { return true })

	run := func(stdin []string, args ...string) []byte {
		cmd := exec.Command(bogo, append([]string{"-C", "-d", db}, args...)...)
		cmd.Stdin = strings.NewReader(strings.Join(stdin, "\n") + "\n")
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		err := cmd.Run()
		// Classifying exits 0 (spam), 1 (ham) or 2 (unsure); 3 is an error.
		if exit, ok := err.(*exec.ExitError); ok && exit.ExitCode() < 3 {
			err = nil
		}
		require.NoError(b, err, "bogofilter %v: %s", args, stderr.String())
		return out.Bytes()
	}
	start := time.Now()
	run(spamFiles, "-s", "-b")
	run(hamFiles, "-n", "-b")
	trainTook := time.Since(start)

	start = time.Now()
	out := run(testFiles, "-TT", "-v", "-b")
	testTook := time.Since(start)
	byName := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		require.Len(b, f, 2, "bogofilter -TT -v -b line %q", sc.Text())
		v, err := strconv.ParseFloat(f[1], 64)
		require.NoError(b, err)
		byName[f[0]] = v
	}
	scores := make([]float64, len(test))
	for i, name := range testFiles {
		v, ok := byName[name]
		require.True(b, ok, "bogofilter gave no score for %s", name)
		scores[i] = v
	}
	return scores, bogofilterCutoff(b, bogo), trainTook, testTook
}

var cutoffLine = regexp.MustCompile(`(?m)^spam_cutoff\s*=\s*([0-9.]+)`)

// bogofilterCutoff reads spam_cutoff from bogofilter's configuration
// report, at its defaults.
func bogofilterCutoff(b *testing.B, bogo string) float64 {
	out, err := exec.Command(bogo, "-C", "-Q").CombinedOutput()
	require.NoError(b, err, "bogofilter -Q: %s", out)
	m := cutoffLine.FindSubmatch(out)
	require.NotNil(b, m, "bogofilter -Q gives no spam_cutoff: %s", out)
	v, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(b, err)
	return v
}

func bogofilterVersion(bogo string) string {
	out, _ := exec.Command(bogo, "-V").Output()
	if f := strings.Fields(string(out)); len(f) >= 3 {
		return f[2]
	}
	return "?"
}
