package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
)

// runMaddy starts maddy as a plain relay: an smtp endpoint on loopback
// that accepts mail for any domain into its on-disk queue (target.queue,
// which fsyncs each message's files before the 250), delivered by
// target.smtp to sink, TLS off, in its own state directory. Everything else
// is at maddy's defaults (the queue delivers with up to 16 messages in
// parallel). It returns maddy's SMTP address, its version and a stop func.
func runMaddy(b *testing.B, maddy string, sink *countingSink) (addr, version string, stop func()) {
	b.Helper()
	out, err := exec.Command(maddy, "version").Output()
	require.NoError(b, err)
	version = strings.Fields(string(out) + " ?")[0]

	dir := b.TempDir()
	addr = jetmailtest.FreePort(b)
	cfg := filepath.Join(dir, "maddy.conf")
	require.NoError(b, os.WriteFile(cfg, []byte(fmt.Sprintf(`state_dir %[1]s/state
runtime_dir %[1]s/run
hostname bench-maddy.test
tls off
log %[1]s/maddy.log

target.smtp sink {
    targets tcp://%[2]s
    starttls no
}

target.queue outbound {
    target &sink
}

smtp tcp://%[3]s {
    dmarc no
    default_destination {
        deliver_to &outbound
    }
}
`, dir, sink.addr, addr)), 0o600))
	cmd := exec.Command(maddy, "--config", cfg, "run")
	cmd.Dir = dir
	logFile, err := os.Create(filepath.Join(dir, "maddy.out"))
	require.NoError(b, err)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(b, cmd.Start())
	stop = stopOnce(b, func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait(); logFile.Close() })
	jetmailtest.WaitListening(b, addr)
	return addr, version, stop
}
