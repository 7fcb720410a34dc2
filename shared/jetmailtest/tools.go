package jetmailtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Tool returns the path of a program a test runs as an independent peer
// (python3, Postfix's smtp-sink): the test is skipped when it is missing,
// or fails when JETMAIL_REQUIRE_TOOLS=1 (as in CI, where
// scripts/install-test-deps installs it from package).
func Tool(t testing.TB, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("JETMAIL_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is required (scripts/install-test-deps installs %s)", name, pkg)
		}
		t.Skipf("%s not installed", name)
	}
	return path
}

// SMTPSink runs Postfix's smtp-sink on addr with extra options, until the
// test ends or stop is called; it dumps what it accepts to the returned
// file, each message after its envelope (X-Mail-Args, X-Rcpt-Args...).
func SMTPSink(t testing.TB, addr string, extra ...string) (dump string, stop func()) {
	t.Helper()
	bin := "/usr/sbin/smtp-sink"
	if _, err := os.Stat(bin); err != nil {
		bin = Tool(t, "smtp-sink", "postfix")
	}
	// smtp-sink drops to nobody, who must reach the dump file: not under
	// t.TempDir(), whose parent is private.
	dir, err := os.MkdirTemp("", "jetmail-smtp-sink-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o777))
	dump = filepath.Join(dir, "dump.txt")
	args := append([]string{"-u", "nobody", "-D", dump}, extra...)
	cmd := exec.Command(bin, append(args, addr, "256")...)
	require.NoError(t, cmd.Start())
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_, _ = cmd.Process.Wait()
		}
	}
	t.Cleanup(stop)
	WaitListening(t, addr)
	return dump, stop
}
