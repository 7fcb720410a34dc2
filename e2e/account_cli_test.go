package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
)

// The account, domain and mail commands against `jetmail dev`, as an
// operator uses them: make an account, mail it, read its mail list,
// change and destroy it; mistakes get a clear message and exit code 2.
func TestAccountCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	natsAddr, httpAddr, smtpAddr := jetmailtest.FreePort(t), jetmailtest.FreePort(t), jetmailtest.FreePort(t)
	dev := start(t, dir, "dev", "--config", mailConfig(t, dir, "127.0.0.1:9", 2), "--nats-listen", natsAddr, "--http", httpAddr, "--smtp", smtpAddr)
	waitReady(t, dev, httpAddr)
	cli := func(args ...string) (string, int) {
		t.Helper()
		return runIn(t, dir, append(args, "--api=http://"+httpAddr+"/jmap")...)
	}

	out, code := cli("domain", "create", "Shop.Test")
	require.Equal(t, 0, code, out)
	out, code = cli("domain", "ls")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "example.org", "seeded from smtp.users")
	require.Contains(t, out, "shop.test")

	out, code = cli("account", "create", "fred", "--domain", "example.org", "--address", "fred@example.org", "--secret", "fred-secret-123")
	require.Equal(t, 0, code, out)
	fredID := strings.TrimSpace(out)
	out, code = cli("account", "create", "gus", "--domain", "nowhere.test")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "notFound")
	require.Contains(t, out, "nowhere.test")
	out, code = cli("account", "create", "gus")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "--domain")
	// A required flag given after the argument is read (it once made the
	// command do nothing and exit 0); one left out is named.
	out, code = cli("task", "reschedule", "nosuch")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "--due is required")
	out, code = cli("account", "create", "hal", "--domain", "example.org", "--secret", "short")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "at least 12 characters")

	out, code = cli("account", "ls")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "alice")
	require.Contains(t, out, fredID)

	require.NoError(t, sendMailBody(smtpAddr, "fred@example.org", "From: alice@example.org\r\nSubject: for fred\r\n\r\nhello fred\r\n"))
	require.Eventually(t, func() bool {
		out, code = cli("mail", "ls", "fred")
		return code == 0 && strings.Contains(out, "for fred")
	}, 10*time.Second, 100*time.Millisecond, "%s", out)

	out, code = cli("mail", "ls", "fred", "-o", "json")
	require.Equal(t, 0, code, out)
	var listed []struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &listed), out)
	out, code = cli("mail", "show", "fred", listed[0].ID)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "Subject: for fred\r\n\r\nhello fred")

	// Full-text search, answered by the indexer that `jetmail dev` runs.
	require.Eventually(t, func() bool {
		out, code = cli("mail", "search", "fred", "hello", "--from", "alice@example.org")
		return code == 0 && strings.Contains(out, listed[0].ID)
	}, 10*time.Second, 100*time.Millisecond, "%s", out)
	out, code = cli("mail", "search", "fred", "goodbye")
	require.Equal(t, 0, code, out)
	require.NotContains(t, out, listed[0].ID)
	require.Contains(t, out, "0 of 0 email(s)")
	out, code = cli("mail", "search", "fred")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "give words to search for")

	out, code = cli("account", "update", "fred", "--quota", "4096")
	require.Equal(t, 0, code, out)
	out, code = cli("account", "show", "fred", "-o", "json")
	require.Equal(t, 0, code, out)
	var shown []struct {
		Quota int64 `json:"quota"`
		Used  int64 `json:"used"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &shown), out)
	require.EqualValues(t, 4096, shown[0].Quota)
	require.Positive(t, shown[0].Used)

	out, code = cli("account", "destroy", "fred")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "would destroy account fred")
	out, code = cli("account", "destroy", "fred", "--yes")
	require.Equal(t, 0, code, out)
	out, code = cli("account", "show", "fred")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, `no active account named or with id "fred"`)
	require.FileExists(t, filepath.Join(dir, "data", "admin.secret"))
	require.Equal(t, 0, dev.stop(20*time.Second))
}
