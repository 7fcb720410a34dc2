package mailparse_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/mailparse"
)

// TestParseCraftedInputsStayLinear runs inputs of about 900 KB made to hit
// the rescans a naive parser does (an unclosed "<" or "(", malformed encoded
// words, stacked reply prefixes). Each takes well under a second when the
// work is linear and minutes when it is quadratic, so the bound is loose.
func TestParseCraftedInputsStayLinear(t *testing.T) {
	t.Parallel()
	const n = 900 << 10
	rep := func(s string) string { return strings.Repeat(s, n/len(s)) }
	tests := map[string]string{
		"references of <":           "References: " + rep("<a (") + "\r\n\r\n",
		"malformed encoded words":   "Subject: " + rep("=?a?b?!") + "?=\r\n\r\n",
		"encoded words":             "Subject: " + rep("=?utf-8?q?a?= ") + "\r\n\r\n",
		"reply prefixes after tags": "Subject: " + rep("Re: [a] ") + "\r\n\r\n",
		"nested fwd wrappers":       "Subject: " + rep("[fwd: ") + rep("]") + "\r\n\r\n",
		"broken addresses":          "To: " + rep("x <y, \"") + "\r\n\r\n",
		"parameters":                "Content-Type: text/plain" + rep("; a*0*=b") + "\r\n\r\n",
		"empty parts":               "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + rep("--b\r\n"),
		"html tags":                 "Content-Type: text/html\r\n\r\n" + rep("<div><a "),
		"carriage returns":          "\r\n" + rep("\r"),
	}
	for name, raw := range tests {
		start := time.Now()
		m, err := mailparse.Parse(strings.NewReader(raw), mailparse.Options{})
		require.NoError(t, err, name)
		_ = mailparse.BaseSubject(m.Subject)
		_ = mailparse.ThreadKeys(m)
		require.Less(t, time.Since(start), 5*time.Second, name)
	}
}
