package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/store/storetest"
)

// smtpSink runs Postfix's smtp-sink (jetmailtest.SMTPSink).
func smtpSink(t *testing.T, addr string, extra ...string) (dump string, stop func()) {
	t.Helper()
	return jetmailtest.SMTPSink(t, addr, extra...)
}

func dumpText(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func mailConfig(t *testing.T, dir, sinkAddr string, threads int) string {
	return mailConfigRetry(t, dir, sinkAddr, threads, "2s")
}

// mailConfigRetry writes the e2e mail configuration: example.org local with
// user alice, everything else relayed to sinkAddr, retried every retry.
func mailConfigRetry(t *testing.T, dir, sinkAddr string, threads int, retry string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(sinkAddr)
	path := filepath.Join(dir, "jetmail.toml")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(`
[smtp]
hostname = "mx.example.org"
local-domains = ["example.org"]
[smtp.users.alice]
secret = "alice-secret-1"
addresses = ["alice@example.org"]
[queue.route.sink]
type = "relay"
address = %q
port = %s
tls = "none"
[queue.strategy]
route = [ { if = "is_local_domain('*', rcpt_domain)", then = "'local'" }, { else = "'sink'" } ]
schedule = [ { if = "is_local_domain('*', rcpt_domain)", then = "'local'" }, { else = "'remote'" } ]
[queue.schedule.remote]
queue-name = "remote"
retry = [%q]
[queue.schedule.local]
queue-name = "local"
retry = ["1m"]
[queue.virtual.remote]
threads-per-node = %d
[queue.virtual.local]
threads-per-node = 4
`, host, port, retry, threads)), 0o600))
	return path
}

// lastMailboxMessage reads the newest message in an address's mailbox, as
// the NATS user whose seed is in seedFile.
func lastMailboxMessage(natsURL, seedFile, address string) ([]byte, error) {
	nkey, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(natsURL, nkey)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	msgs, err := storetest.Mail(js, address)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("no mail for %s", address)
	}
	return msgs[len(msgs)-1], nil
}

const parseDSNScript = `
import email, json, sys
from email import policy
msg = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
out = {"type": msg.get_content_type(), "report_type": msg.get_param("report-type")}
for part in msg.iter_parts():
    if part.get_content_type() == "message/delivery-status":
        blocks = part.get_payload()
        out["message"] = dict(blocks[0].items())
        out["recipients"] = [dict(b.items()) for b in blocks[1:]]
print(json.dumps(out))
`

// Intake, then delivery to Postfix's smtp-sink answering 4xx and, once
// restarted, 2xx; then a 5xx that bounces a DSN Python parses as valid.
func TestPostfixSinkDeferThenAcceptAndBounce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sinkAddr := jetmailtest.FreePort(t)
	_, stopDeferring := smtpSink(t, sinkAddr, "-r", "RCPT")
	natsAddr, httpAddr, smtpAddr := jetmailtest.FreePort(t), jetmailtest.FreePort(t), jetmailtest.FreePort(t)
	dev := start(t, dir, "dev", "--config", mailConfig(t, dir, sinkAddr, 4), "--nats-listen", natsAddr, "--http", httpAddr, "--smtp", smtpAddr)
	waitReady(t, dev, httpAddr)
	api := "--api=http://" + httpAddr + "/jmap"

	require.NoError(t, sendMail(smtpAddr, "alice", []string{"bob@remote.test"}))
	require.Eventually(t, func() bool {
		out, _ := runIn(t, dir, "queue", "ls", "-o", "json", api)
		var list []map[string]any
		return json.Unmarshal([]byte(out), &list) == nil && len(list) == 1 && strings.HasPrefix(fmt.Sprint(list[0]["lastStatus"]), "4")
	}, 10*time.Second, 100*time.Millisecond, "the first attempt is deferred with a 4xx")

	stopDeferring()
	dump, stopAccepting := smtpSink(t, sinkAddr)
	require.Eventually(t, func() bool { return strings.Contains(dumpText(dump), "Subject: queue test") }, 15*time.Second, 100*time.Millisecond,
		"delivered on retry")
	require.Contains(t, dumpText(dump), "X-Rcpt-Args: <bob@remote.test>")

	stopAccepting()
	smtpSink(t, sinkAddr, "-f", "RCPT")
	require.NoError(t, sendMail(smtpAddr, "alice", []string{"carol@remote.test"}))
	var dsn []byte
	require.Eventually(t, func() bool {
		m, err := lastMailboxMessage("nats://"+natsAddr, filepath.Join(dir, "data", "nats-user.nk"), "alice@example.org")
		dsn = m
		return err == nil && strings.Contains(string(m), "carol@remote.test")
	}, 15*time.Second, 100*time.Millisecond, "a bounce reaches alice's mailbox")

	path := filepath.Join(dir, "dsn.eml")
	require.NoError(t, os.WriteFile(path, dsn, 0o600))
	script := filepath.Join(dir, "parse.py")
	require.NoError(t, os.WriteFile(script, []byte(parseDSNScript), 0o600))
	out, err := exec.Command("python3", script, path).CombinedOutput()
	require.NoError(t, err, string(out))
	var rep struct {
		Type       string              `json:"type"`
		ReportType string              `json:"report_type"`
		Message    map[string]string   `json:"message"`
		Recipients []map[string]string `json:"recipients"`
	}
	require.NoError(t, json.Unmarshal(out, &rep), string(out))
	require.Equal(t, "multipart/report", rep.Type)
	require.Equal(t, "delivery-status", rep.ReportType)
	require.Equal(t, "dns; mx.example.org", rep.Message["Reporting-MTA"])
	require.NotEmpty(t, rep.Message["Arrival-Date"])
	require.Len(t, rep.Recipients, 1)
	rc := rep.Recipients[0]
	require.Equal(t, "rfc822; carol@remote.test", rc["Final-Recipient"])
	require.Equal(t, "failed", rc["Action"])
	require.Equal(t, "5.3.0", rc["Status"])
	require.Equal(t, "dns; 127.0.0.1", rc["Remote-MTA"])
	require.Contains(t, rc["Diagnostic-Code"], "smtp; 500 5.3.0")
	require.NotEmpty(t, rc["Last-Attempt-Date"])
	require.Equal(t, 0, dev.stop(20*time.Second))
}

// A delivery process killed with SIGKILL mid-batch loses nothing: every
// message arrives at least once, and the duplicates are no more than were
// in flight (threads-per-node).
func TestKillDeliveryMidBatch(t *testing.T) {
	t.Parallel()
	const messages, threads = 60, 8
	natsAddr := jetmailtest.FreePort(t)
	srv, err := embedded.Start(embedded.Options{DataDir: t.TempDir(), Listen: natsAddr})
	require.NoError(t, err)
	defer srv.Stop()
	url := "nats://" + natsAddr
	dir := t.TempDir()
	sinkAddr := jetmailtest.FreePort(t)
	dump, _ := smtpSink(t, sinkAddr, "-w", "1") // one second per DATA: a batch takes a while
	cfg := mailConfig(t, dir, sinkAddr, threads)

	smtpAddr, httpA := jetmailtest.FreePort(t), jetmailtest.FreePort(t)
	intake := start(t, dir, "serve", "smtp", "scheduler", "--nats-url", url, "--config", cfg, "--node-id", "intake", "--http", httpA, "--smtp", smtpAddr)
	waitReady(t, intake, httpA)
	httpB := jetmailtest.FreePort(t)
	deliverer := start(t, dir, "serve", "delivery", "--nats-url", url, "--config", cfg, "--node-id", "d1", "--http", httpB)
	waitReady(t, deliverer, httpB)

	for i := range messages {
		require.NoError(t, sendMailSubject(smtpAddr, fmt.Sprintf("r%d@d%d.test", i, i), fmt.Sprintf("batch-%03d", i)))
	}
	count := func() (unique, total int) {
		seen := map[string]bool{}
		for _, line := range strings.Split(dumpText(dump), "\n") {
			if s, ok := strings.CutPrefix(strings.TrimSpace(line), "Subject: batch-"); ok {
				seen[s] = true
				total++
			}
		}
		return len(seen), total
	}
	require.Eventually(t, func() bool { u, _ := count(); return u >= 12 }, 30*time.Second, 50*time.Millisecond)
	require.NoError(t, deliverer.cmd.Process.Signal(syscall.SIGKILL))
	<-deliverer.done
	u, _ := count()
	t.Logf("killed the delivery process after %d messages", u)

	httpC := jetmailtest.FreePort(t)
	replacement := start(t, dir, "serve", "delivery", "--nats-url", url, "--config", cfg, "--node-id", "d2", "--http", httpC)
	waitReady(t, replacement, httpC)
	require.Eventually(t, func() bool { u, _ := count(); return u == messages }, 90*time.Second, 100*time.Millisecond, "every message arrives")
	time.Sleep(2 * time.Second) // let any late duplicate land
	unique, total := count()
	t.Logf("%d messages, %d deliveries: %d duplicates", unique, total, total-unique)
	require.Equal(t, messages, unique)
	require.LessOrEqual(t, total-unique, threads, "duplicates are bounded by what was in flight")
}

func sendMailSubject(addr, rcpt, subject string) error {
	return sendMailBody(addr, rcpt, "From: alice@example.org\r\nSubject: "+subject+"\r\n\r\nhello\r\n")
}
