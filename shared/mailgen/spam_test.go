package mailgen_test

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/mailgen"
	"github.com/jetmail/jetmail/shared/mailparse"
)

func TestCorpusDeterministic(t *testing.T) {
	t.Parallel()
	a := mailgen.NewCorpus(mailgen.CorpusOptions{Seed: 7})
	b := mailgen.NewCorpus(mailgen.CorpusOptions{Seed: 7})
	c := mailgen.NewCorpus(mailgen.CorpusOptions{Seed: 8})
	differ := 0
	for range 300 {
		ma, mb, mc := a.Next(), b.Next(), c.Next()
		require.Equal(t, ma, mb)
		if !bytes.Equal(ma.Raw, mc.Raw) {
			differ++
		}
	}
	require.Equal(t, 300, differ)
}

// TestCorpusMessages: the corpus is well-formed mail in the shares the
// options ask for, each kind present, the hard ones at the difficulty.
func TestCorpusMessages(t *testing.T) {
	t.Parallel()
	const n = 1500
	c := mailgen.NewCorpus(mailgen.CorpusOptions{Seed: 1})
	kinds := map[string]int{}
	var spam, hard, hardSpam, size int
	var html, base64, qp, obfuscated, encodedSubject int
	for i := range n {
		m := c.Next()
		raw := string(m.Raw)
		size += len(raw)
		kinds[m.Kind]++
		if m.Spam {
			spam++
		}
		if m.Hard {
			hard++
			if m.Spam {
				hardSpam++
			}
		}
		require.NotContains(t, strings.ReplaceAll(raw, "\r\n", ""), "\n", "message %d (%s): bare LF", i, m.Kind)
		for line := range strings.SplitSeq(raw, "\r\n") {
			require.LessOrEqual(t, len(line), 998, "message %d (%s): line too long", i, m.Kind)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
		require.NoError(t, err, "message %d (%s)", i, m.Kind)
		require.NotEmpty(t, msg.Header.Get("Received"), "message %d (%s)", i, m.Kind)
		require.NotEmpty(t, msg.Header.Get("From"), "message %d (%s)", i, m.Kind)
		p, err := mailparse.Parse(bytes.NewReader(m.Raw), mailparse.Options{})
		require.NoError(t, err)
		require.Empty(t, p.Problems, "message %d (%s)", i, m.Kind)
		require.NotEmpty(t, p.Subject, "message %d (%s)", i, m.Kind)
		require.NotEmpty(t, strings.TrimSpace(p.Text), "message %d (%s)", i, m.Kind)
		if m.Spam {
			if strings.Contains(raw, "text/html") {
				html++
			}
			if strings.Contains(raw, "Content-Transfer-Encoding: base64\r\n\r\n") && !strings.Contains(raw, "attachment") {
				base64++
			}
			if strings.Contains(raw, "quoted-printable") {
				qp++
			}
			if strings.ContainsAny(p.Text, "\u200b\u0430\u0435\u043e") || strings.Contains(raw, "<!-- ") || strings.Contains(p.Text, "V I ") {
				obfuscated++
			}
			if strings.Contains(msg.Header.Get("Subject"), "=?") {
				encodedSubject++
			}
		}
	}
	t.Logf("%d messages, %.1f KB on average; %d spam, %d hard; kinds %v", n, float64(size)/n/1024, spam, hard, kinds)
	require.InDelta(t, 0.5*n, spam, 0.05*n)
	require.InDelta(t, 0.25*n, hard, 0.05*n)
	require.InDelta(t, 0.25*float64(spam), hardSpam, 0.06*float64(spam))
	for _, k := range []string{"personal", "note", "newsletter", "order", "account", "billing", "health", "finance-news", "travel", "forward",
		"pharma", "finance", "phishing", "lottery", "marketing", "bec", "salad", "fake-invoice", "fake-newsletter"} {
		require.Positive(t, kinds[k], "kind %s", k)
	}
	require.Greater(t, html, spam/2, "most spam has HTML")
	require.Positive(t, base64)
	require.Positive(t, qp)
	require.Positive(t, obfuscated)
	require.Positive(t, encodedSubject)

	// No difficulty: no hard kinds.
	easy := mailgen.NewCorpus(mailgen.CorpusOptions{Seed: 1, Difficulty: -1, SpamRatio: 0.2})
	spam = 0
	for range 500 {
		m := easy.Next()
		require.False(t, m.Hard, m.Kind)
		if m.Spam {
			spam++
		}
	}
	require.InDelta(t, 100, spam, 30)
}
