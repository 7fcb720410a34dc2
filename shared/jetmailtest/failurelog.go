package jetmailtest

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
)

// failureLogLines is how many of a node's last log lines a failed test
// prints.
const failureLogLines = 300

// FailureLogger returns a logger for a node of t that keeps the node's
// last log lines (info and above) and prints them, under name, if t has
// failed by its cleanup: a test that fails on a loaded CI machine then
// says what the node was doing. With JETMAIL_TEST_LOG=1 it is Logger.
func FailureLogger(t testing.TB, name string) *slog.Logger {
	if os.Getenv("JETMAIL_TEST_LOG") == "1" {
		return Logger()
	}
	r := &tailLog{max: failureLogLines}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last log lines of node %s:\n%s", name, r.String())
		}
	})
	return slog.New(slog.NewTextHandler(r, nil))
}

// tailLog keeps the last max lines written to it.
type tailLog struct {
	mu    sync.Mutex
	max   int
	lines []string
}

// Write implements io.Writer; slog writes one record per call.
func (l *tailLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for line := range strings.SplitSeq(strings.TrimRight(string(p), "\n"), "\n") {
		l.lines = append(l.lines, line)
	}
	if over := len(l.lines) - l.max; over > 0 {
		l.lines = append(l.lines[:0], l.lines[over:]...)
	}
	return len(p), nil
}

// String is the lines kept, oldest first.
func (l *tailLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b bytes.Buffer
	for _, line := range l.lines {
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}
