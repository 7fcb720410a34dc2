package spam

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// FetchOptions control FetchRules.
type FetchOptions struct {
	// SHA256 is the hex SHA-256 the file must have. When empty, it is read
	// from URL + ".sha256", a file in sha256sum's format (the digest
	// first, then optionally a file name).
	SHA256 string
	// MaxBytes bounds the download (default and at most MaxRulesBytes,
	// 4 MiB).
	MaxBytes int64
}

// ChecksumError is returned when a downloaded rule file does not have
// the SHA-256 it should.
type ChecksumError struct {
	// URL is where the file came from.
	URL string
	// Want and Got are the expected and the actual hex digests.
	Want, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("spam rules: %s: SHA-256 %s, want %s (file corrupted or replaced)", e.URL, e.Got, e.Want)
}

// FetchRules downloads the rule file at url with client, checks its
// SHA-256, and parses and validates it whole. It returns the file's bytes
// (what is shared with the other nodes, each of which runs ParseRules on
// them) and the parsed set, or an error that says what failed: the HTTP
// request, the size bound, a *ChecksumError or a *RuleError. It never
// puts rules in use; Classifier.SetRules does, once this succeeded.
func FetchRules(ctx context.Context, client *http.Client, url string, o FetchOptions) ([]byte, *RuleSet, error) {
	if o.MaxBytes <= 0 || o.MaxBytes > MaxRulesBytes {
		o.MaxBytes = MaxRulesBytes
	}
	want := strings.ToLower(strings.TrimSpace(o.SHA256))
	if want == "" {
		sum, err := get(ctx, client, url+".sha256", 1024)
		if err != nil {
			return nil, nil, err
		}
		if want = parseSHA256File(sum); want == "" {
			return nil, nil, fmt.Errorf("spam rules: %s.sha256: no SHA-256 digest (64 hex digits) at its start", url)
		}
	} else if !isSHA256(want) {
		return nil, nil, fmt.Errorf("spam rules: expected SHA-256 %q: not 64 hex digits", o.SHA256)
	}
	data, err := get(ctx, client, url, o.MaxBytes)
	if err != nil {
		return nil, nil, err
	}
	got := sha256.Sum256(data)
	if g := hex.EncodeToString(got[:]); g != want {
		return nil, nil, &ChecksumError{URL: url, Want: want, Got: g}
	}
	rs, err := ParseRules(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", url, err)
	}
	return data, rs, nil
}

// get downloads url, refusing a body of more than limit bytes.
func get(ctx context.Context, client *http.Client, url string, limit int64) ([]byte, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("spam rules: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("spam rules: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("spam rules: GET %s: %s", url, resp.Status)
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("spam rules: GET %s: %d bytes, more than the %d bytes allowed", url, resp.ContentLength, limit)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("spam rules: GET %s: %w", url, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("spam rules: GET %s: more than the %d bytes allowed", url, limit)
	}
	return data, nil
}

// parseSHA256File returns the digest at the start of a sha256sum line;
// "" when there is none.
func parseSHA256File(b []byte) string {
	f := bytes.Fields(b)
	if len(f) == 0 {
		return ""
	}
	d := strings.ToLower(string(f[0]))
	if !isSHA256(d) {
		return ""
	}
	return d
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
