package mailgen_test

import (
	"bytes"
	"io"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/mailgen"
	"github.com/jetmail/jetmail/shared/mailparse"
)

func TestDeterministic(t *testing.T) {
	t.Parallel()
	a := mailgen.New(mailgen.Options{Seed: 7})
	b := mailgen.New(mailgen.Options{Seed: 7})
	c := mailgen.New(mailgen.Options{Seed: 8})
	differ := 0
	for range 200 {
		ma, mb, mc := a.Next(), b.Next(), c.Next()
		require.Equal(t, ma, mb)
		if !bytes.Equal(ma, mc) {
			differ++
		}
	}
	require.Equal(t, 200, differ, "another seed gives other messages")
	require.Equal(t, a.Words(), c.Words())
}

func TestWords(t *testing.T) {
	t.Parallel()
	words := mailgen.New(mailgen.Options{}).Words()
	require.GreaterOrEqual(t, len(words), 2000)
	seen := map[string]bool{}
	for _, w := range words {
		require.False(t, seen[w], "duplicate %q", w)
		seen[w] = true
		require.Equal(t, strings.ToLower(w), w)
	}
	require.Equal(t, "the", words[0])
}

func TestMessagesParse(t *testing.T) {
	t.Parallel()
	g := mailgen.New(mailgen.Options{Seed: 1, AttachmentRatio: 0.2})
	ids := map[string]bool{}
	var replies, threaded, html, attachments, size int
	const n = 400
	for i := range n {
		raw := g.Next()
		size += len(raw)
		require.NotContains(t, strings.ReplaceAll(string(raw), "\r\n", ""), "\n", "message %d: bare LF", i)
		for line := range strings.SplitSeq(string(raw), "\r\n") {
			require.LessOrEqual(t, len(line), 998, "message %d: line too long", i)
		}

		m, err := mail.ReadMessage(bytes.NewReader(raw))
		require.NoError(t, err, "message %d", i)
		h := m.Header
		id := h.Get("Message-ID")
		require.Regexp(t, `^<[^<>@\s]+@[^<>@\s]+>$`, id)
		require.False(t, ids[id], "message %d: duplicate Message-ID", i)
		ids[id] = true
		date, err := h.Date()
		require.NoError(t, err, "message %d", i)
		require.False(t, date.Before(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), "message %d: %v", i, date)
		require.True(t, date.Before(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)), "message %d: %v", i, date)
		_, err = h.AddressList("From")
		require.NoError(t, err, "message %d", i)
		to, err := h.AddressList("To")
		require.NoError(t, err, "message %d", i)
		require.NotEmpty(t, to)
		if h.Get("Cc") != "" {
			_, err = h.AddressList("Cc")
			require.NoError(t, err, "message %d", i)
		}
		require.Equal(t, "1.0", h.Get("MIME-Version"))
		require.NotEmpty(t, h.Get("Subject"))
		if reply := h.Get("In-Reply-To"); reply != "" {
			replies++
			require.True(t, strings.HasPrefix(h.Get("Subject"), "Re: "))
			require.True(t, ids[reply], "message %d replies to an earlier message", i)
			require.True(t, strings.HasSuffix(h.Get("References"), reply))
			if strings.Count(h.Get("References"), "<") > 1 {
				threaded++
			}
		}
		_, err = io.Copy(io.Discard, m.Body)
		require.NoError(t, err)

		p, err := mailparse.Parse(bytes.NewReader(raw), mailparse.Options{})
		require.NoError(t, err)
		require.Empty(t, p.Problems, "message %d", i)
		require.NotEmpty(t, p.Text)
		require.Len(t, p.From, 1)
		if strings.Contains(string(raw), "text/html") {
			html++
		}
		if len(p.Attachments) > 0 {
			attachments++
			a := p.Attachments[0]
			require.NotEmpty(t, a.Name)
			require.True(t, strings.HasSuffix(a.Name, ".pdf") || strings.HasSuffix(a.Name, ".png"), a.Name)
		}
	}
	t.Logf("%d messages, %d KB: %d replies (%d deeper than one), %d with HTML, %d with an attachment",
		n, size>>10, replies, threaded, html, attachments)
	require.InDelta(t, 0.35*n, replies, 0.1*n)
	require.Positive(t, threaded)
	require.InDelta(t, 0.3*n, html, 0.1*n)
	require.InDelta(t, 0.2*n, attachments, 0.08*n)
}

func TestOptions(t *testing.T) {
	t.Parallel()
	g := mailgen.New(mailgen.Options{Seed: 3, AttachmentRatio: -1, MinWords: 10, MaxWords: 20})
	for range 100 {
		raw := g.Next()
		require.NotContains(t, string(raw), "Content-Disposition: attachment")
		p, err := mailparse.Parse(bytes.NewReader(raw), mailparse.Options{})
		require.NoError(t, err)
		// The greeting, sign-off and quoted lines come on top of the words.
		require.Less(t, len(strings.Fields(p.Text)), 120)
	}
}
