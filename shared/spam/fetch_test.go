package spam_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/spam"
)

// rulesServer serves rule files and their .sha256 companions from a map
// the test changes.
type rulesServer struct {
	mu    sync.Mutex
	files map[string]string
}

func (s *rulesServer) set(path, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = body
}

func (s *rulesServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	body, ok := s.files[r.URL.Path]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	_, _ = w.Write([]byte(body))
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// TestFetchRules: a rule file is used only when its SHA-256 matches and
// it parses whole; otherwise the error says why, and the rules in use stay.
func TestFetchRules(t *testing.T) {
	t.Parallel()
	srv := &rulesServer{files: map[string]string{}}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	ctx := context.Background()
	url := hs.URL + "/rules.json"
	srv.set("/rules.json", goodRules)
	srv.set("/rules.json.sha256", sum(goodRules)+"  rules.json\n")

	clf := newClassifier(t)
	data, rs, err := spam.FetchRules(ctx, hs.Client(), url, spam.FetchOptions{})
	require.NoError(t, err)
	require.Equal(t, goodRules, string(data))
	require.Equal(t, sum(goodRules), rs.SHA256())
	clf.SetRules(rs)

	// The same with the digest given, upper case.
	_, _, err = spam.FetchRules(ctx, hs.Client(), url, spam.FetchOptions{SHA256: strings.ToUpper(sum(goodRules))})
	require.NoError(t, err)

	// A corrupted download: the digest does not match.
	corrupt := strings.Replace(goodRules, "0.3", "0.9", 1)
	srv.set("/rules.json", corrupt)
	_, got, err := spam.FetchRules(ctx, hs.Client(), url, spam.FetchOptions{})
	require.Nil(t, got)
	var ce *spam.ChecksumError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, sum(goodRules), ce.Want)
	require.Equal(t, sum(corrupt), ce.Got)
	require.EqualError(t, err, "spam rules: "+url+": SHA-256 "+sum(corrupt)+", want "+sum(goodRules)+" (file corrupted or replaced)")

	// The digest matches, but the file is not valid: the rule is named.
	broken := strings.Replace(goodRules, `"score": 0.1`, `"score": 1.5`, 1)
	srv.set("/rules.json", broken)
	srv.set("/rules.json.sha256", sum(broken))
	_, _, err = spam.FetchRules(ctx, hs.Client(), url, spam.FetchOptions{})
	var re *spam.RuleError
	require.ErrorAs(t, err, &re)
	require.EqualError(t, err, url+": spam rules: rules[1] (NO_DATE): score: 1.5: must be between -1 and 1, and not 0")

	// A bad or missing companion file.
	srv.set("/rules.json.sha256", "not a digest\n")
	_, _, err = spam.FetchRules(ctx, hs.Client(), url, spam.FetchOptions{})
	require.EqualError(t, err, "spam rules: "+url+".sha256: no SHA-256 digest (64 hex digits) at its start")
	_, _, err = spam.FetchRules(ctx, hs.Client(), hs.URL+"/missing.json", spam.FetchOptions{})
	require.EqualError(t, err, "spam rules: GET "+hs.URL+"/missing.json.sha256: 404 Not Found")
	_, _, err = spam.FetchRules(ctx, hs.Client(), url, spam.FetchOptions{SHA256: "abc"})
	require.EqualError(t, err, `spam rules: expected SHA-256 "abc": not 64 hex digits`)

	// Too large, said up front (Content-Length) or found reading.
	srv.set("/rules.json", goodRules)
	_, _, err = spam.FetchRules(ctx, hs.Client(), url, spam.FetchOptions{SHA256: sum(goodRules), MaxBytes: 100})
	require.EqualError(t, err, fmt.Sprintf("spam rules: GET %s: %d bytes, more than the 100 bytes allowed", url, len(goodRules)))
	srv.set("/rules.json", strings.Repeat(" ", 2000)+goodRules)
	_, _, err = spam.FetchRules(ctx, hs.Client(), url, spam.FetchOptions{SHA256: sum(goodRules), MaxBytes: 1000})
	require.ErrorContains(t, err, "more than the 1000 bytes allowed")

	// Cancelled.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err = spam.FetchRules(cctx, hs.Client(), url, spam.FetchOptions{})
	require.ErrorIs(t, err, context.Canceled)

	require.Same(t, rs, clf.Rules(), "no failed fetch touched the rules in use")
}
