package bench

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// peerTool finds a peer's binary on the PATH (make bench puts .tools/bin,
// filled by scripts/install-bench-peers, first). A missing peer fails the
// bench only when JETMAIL_REQUIRE_TOOLS=1 (as make sets it); otherwise its
// figure is reported as not measured.
func peerTool(b *testing.B, name string) (string, bool) {
	b.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path, true
	}
	if os.Getenv("JETMAIL_REQUIRE_TOOLS") == "1" {
		b.Fatalf("%s is needed for the bench (scripts/install-bench-peers installs it): %v", name, err)
	}
	return "", false
}

// figure is one measured rate, or why there is none.
type figure struct {
	rate float64
	took time.Duration
	note string // set when rate is not a complete measurement
}

func (f figure) String() string {
	switch {
	case f.rate == 0:
		return fmt.Sprintf("%8s  (%s)", "-", f.note)
	case f.note != "":
		return fmt.Sprintf("%8.0f  (%s; %s)", f.rate, f.took.Round(time.Millisecond), f.note)
	default:
		return fmt.Sprintf("%8.0f  (%s)", f.rate, f.took.Round(time.Millisecond))
	}
}

// ratio prints a/b, or "-" when either was not measured.
func ratio(a, b figure) string {
	if a.rate == 0 || b.rate == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a.rate/b.rate)
}

// stopOnce registers stop as a cleanup of b and returns it callable once,
// so a peer can be stopped as soon as it has been measured and the next one
// does not share the machine with it.
func stopOnce(b *testing.B, stop func()) func() {
	once := sync.OnceFunc(stop)
	b.Cleanup(once)
	return once
}
