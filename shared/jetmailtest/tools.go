package jetmailtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// KnotKey is the TSIG key a Knot server started by Knot accepts updates
// signed with.
type KnotKey struct{ Name, Algorithm, Secret string }

// Knot runs Knot DNS (knotd) on a free loopback port until the test ends,
// authoritative for each zone (name -> zone file text), which accepts
// dynamic updates signed with key; it returns the server's host:port.
func Knot(t testing.TB, key KnotKey, zones map[string]string) string {
	t.Helper()
	bin := "/usr/sbin/knotd"
	if _, err := os.Stat(bin); err != nil {
		bin = Tool(t, "knotd", "knot")
	}
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "db"), 0o700)) // the journal of updates
	addr := FreePort(t)
	host, port, _ := net.SplitHostPort(addr)
	var conf strings.Builder
	fmt.Fprintf(&conf, "server:\n    rundir: %q\n    listen: %s@%s\n\n", dir, host, port)
	fmt.Fprintf(&conf, "database:\n    storage: %q\n\n", filepath.Join(dir, "db"))
	fmt.Fprintf(&conf, "key:\n  - id: %s\n    algorithm: %s\n    secret: %s\n\n", key.Name, key.Algorithm, key.Secret)
	fmt.Fprintf(&conf, "acl:\n  - id: update\n    key: %s\n    action: update\n\n", key.Name)
	fmt.Fprintf(&conf, "template:\n  - id: default\n    storage: %q\n    file: \"%%s.zone\"\n    acl: update\n\nzone:\n", dir)
	for name, text := range zones {
		require.NoError(t, os.WriteFile(filepath.Join(dir, strings.TrimSuffix(name, ".")+".zone"), []byte(text), 0o600))
		fmt.Fprintf(&conf, "  - domain: %s\n", name)
	}
	confPath := filepath.Join(dir, "knot.conf")
	require.NoError(t, os.WriteFile(confPath, []byte(conf.String()), 0o600))
	var logs bytes.Buffer
	cmd := exec.Command(bin, "-c", confPath)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("knotd:\n%s", logs.String())
		}
	})
	WaitListening(t, addr)
	return addr
}
