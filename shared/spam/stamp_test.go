package spam_test

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/spam"
)

// TestStamp: the verdict goes in front as X-Spam-Status and X-Spam-Score,
// folded, and the sender's own X-Spam fields are taken out.
func TestStamp(t *testing.T) {
	t.Parallel()
	raw := crlf(`
From: a@example.com
X-Spam-Status: No, score=0.00 forged
	by the sender
X-Spam-Flag: NO
Subject: hello
x-spam-score: 0.00

X-Spam-Status: a line of the body stays
`)
	v := spam.Verdict{
		Score: 0.973, Bayes: 0.912, Model: spam.ModelGlobal,
		Rules: []spam.RuleHit{{ID: "URI_TOP", Score: 0.05}, {ID: "NO_DATE", Score: 0.01}},
		Clues: []spam.Clue{{Token: "subj:viagra", Prob: 0.99}, {Token: "url:pills.top", Prob: 0.98}, {Token: "naïve", Prob: 0.97},
			{Token: "rcvd:w:dyn", Prob: 0.96}, {Token: "x:leet", Prob: 0.95}, {Token: "cheap", Prob: 0.94}, {Token: "pills", Prob: 0.93}},
	}
	require.Equal(t, "Yes, score=0.97 required=0.90 bayes=0.91 model=global tests=URI_TOP,NO_DATE tokens=subj:viagra,url:pills.top,rcvd:w:dyn,x:leet,cheap",
		v.Status(spam.DefaultJunkThreshold))
	require.True(t, strings.HasPrefix(v.Status(0.99), "No, score=0.97 required=0.99"))

	out := spam.Stamp(raw, v, spam.DefaultJunkThreshold)
	msg, err := mail.ReadMessage(bytes.NewReader(out))
	require.NoError(t, err)
	// Folded after a comma, a list unfolds with a space after it.
	norm := func(s string) string { return strings.ReplaceAll(s, ", ", ",") }
	require.Equal(t, norm(v.Status(spam.DefaultJunkThreshold)), norm(msg.Header.Get("X-Spam-Status")))
	require.Contains(t, string(out), ",\r\n\t", "the token list is folded after a comma")
	require.Equal(t, []string{"0.97"}, msg.Header["X-Spam-Score"])
	require.Len(t, msg.Header["X-Spam-Status"], 1)
	require.Empty(t, msg.Header["X-Spam-Flag"])
	require.Equal(t, "hello", msg.Header.Get("Subject"))
	require.Contains(t, string(out), "\r\n\r\nX-Spam-Status: a line of the body stays\r\n")
	for line := range strings.SplitSeq(string(out), "\r\n") {
		require.LessOrEqual(t, len(line), 78, "line %q", line)
	}
	require.NotContains(t, strings.ReplaceAll(string(out), "\r\n", ""), "\n", "CRLF throughout")

	// A message without those fields is only prepended to; LF stays LF.
	plain := []byte("Subject: x\n\nbody\n")
	out = spam.Stamp(plain, spam.Verdict{Score: 0.1, Bayes: 0.1, Model: spam.ModelNone}, 0.9)
	require.Equal(t, "X-Spam-Status: No, score=0.10 required=0.90 bayes=0.10 model=none\nX-Spam-Score: 0.10\nSubject: x\n\nbody\n", string(out))
}
