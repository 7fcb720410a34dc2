package dsn

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
)

// parseWithPython reads a DSN with Python's email module, as an
// independent parser would, and returns what it found.
const parseDSN = `
import email, json, sys
from email import policy
msg = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
out = {"content_type": msg.get_content_type(), "report_type": msg.get_param("report-type"), "subject": str(msg["subject"]), "parts": []}
for part in msg.iter_parts():
    ct = part.get_content_type()
    entry = {"type": ct}
    if ct == "message/delivery-status":
        blocks = part.get_payload()
        entry["per_message"] = dict(blocks[0].items())
        entry["per_recipient"] = [dict(b.items()) for b in blocks[1:]]
    elif ct == "message/rfc822":
        entry["subject"] = str(part.get_payload()[0]["subject"])
    elif ct == "text/rfc822-headers":
        entry["text"] = part.get_payload(decode=True).decode()
    else:
        entry["text"] = part.get_content()
    out["parts"].append(entry)
print(json.dumps(out))
`

func parseWithPython(t *testing.T, msg []byte) map[string]any {
	t.Helper()
	py := jetmailtest.Tool(t, "python3", "python3")
	dir := t.TempDir()
	path := filepath.Join(dir, "dsn.eml")
	require.NoError(t, os.WriteFile(path, msg, 0o600))
	script := filepath.Join(dir, "parse.py")
	require.NoError(t, os.WriteFile(script, []byte(parseDSN), 0o600))
	out, err := exec.Command(py, script, path).CombinedOutput()
	require.NoError(t, err, string(out))
	var res map[string]any
	require.NoError(t, json.Unmarshal(out, &res), string(out))
	return res
}

func TestFailureDSNParses(t *testing.T) {
	t.Parallel()
	when := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	original := []byte("From: alice@example.org\r\nTo: bob@remote.test\r\nSubject: quarterly figures\r\nMessage-ID: <1@example.org>\r\n\r\nBody line\r\n")
	msg := Build(Report{
		ReportingMTA: "mx.example.org", From: "MAILER-DAEMON@mx.example.org", To: "alice@example.org",
		EnvID: "env-42", ArrivalDate: when, Now: when.Add(time.Minute), Original: original,
		Recipients: []Recipient{
			{FinalRecipient: "bob@remote.test", OriginalRecipient: "rfc822;bob@remote.test", Action: Failed, Status: "5.1.1",
				RemoteMTA: "mx.remote.test", Diagnostic: "550 5.1.1 <bob@remote.test>: user unknown", LastAttempt: when.Add(time.Minute)},
			{FinalRecipient: "carol@remote.test", Action: Failed, Status: "5.4.7", Diagnostic: "451 4.4.1 connection timed out", LastAttempt: when.Add(time.Minute)},
		},
	})
	res := parseWithPython(t, msg)
	require.Equal(t, "multipart/report", res["content_type"])
	require.Equal(t, "delivery-status", res["report_type"])
	require.Equal(t, "Undelivered Mail Returned to Sender", res["subject"])
	parts := res["parts"].([]any)
	require.Len(t, parts, 3)
	require.Contains(t, parts[0].(map[string]any)["text"], "could not be delivered to <bob@remote.test>")
	status := parts[1].(map[string]any)
	require.Equal(t, "message/delivery-status", status["type"])
	perMsg := status["per_message"].(map[string]any)
	require.Equal(t, "dns; mx.example.org", perMsg["Reporting-MTA"])
	require.Equal(t, "env-42", perMsg["Original-Envelope-Id"])
	require.Equal(t, "Sun, 01 Mar 2026 10:00:00 +0000", perMsg["Arrival-Date"])
	rcpts := status["per_recipient"].([]any)
	require.Len(t, rcpts, 2)
	bob := rcpts[0].(map[string]any)
	require.Equal(t, "rfc822; bob@remote.test", bob["Final-Recipient"])
	require.Equal(t, "rfc822;bob@remote.test", bob["Original-Recipient"])
	require.Equal(t, "failed", bob["Action"])
	require.Equal(t, "5.1.1", bob["Status"])
	require.Equal(t, "dns; mx.remote.test", bob["Remote-MTA"])
	require.Equal(t, "smtp; 550 5.1.1 <bob@remote.test>: user unknown", bob["Diagnostic-Code"])
	require.Equal(t, "Sun, 01 Mar 2026 10:01:00 +0000", bob["Last-Attempt-Date"])
	headers := parts[2].(map[string]any)
	require.Equal(t, "text/rfc822-headers", headers["type"])
	require.Contains(t, headers["text"], "Subject: quarterly figures")
	require.NotContains(t, headers["text"], "Body line", "RET=HDRS returns the headers only")
}

func TestDelayedDSNWithFullMessage(t *testing.T) {
	t.Parallel()
	when := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	original := []byte("Subject: hello\r\n\r\nthe whole body\r\n")
	res := parseWithPython(t, Build(Report{
		ReportingMTA: "mx.example.org", From: "MAILER-DAEMON@mx.example.org", To: "alice@example.org", ArrivalDate: when, Now: when,
		Original: original, Full: true,
		Recipients: []Recipient{{FinalRecipient: "bob@remote.test", Action: Delayed, Status: "4.0.0", Diagnostic: "451 try later",
			LastAttempt: when, WillRetryUntil: when.Add(5 * 24 * time.Hour)}},
	}))
	require.Equal(t, "Delayed Mail (still being retried)", res["subject"])
	parts := res["parts"].([]any)
	rc := parts[1].(map[string]any)["per_recipient"].([]any)[0].(map[string]any)
	require.Equal(t, "delayed", rc["Action"])
	require.Equal(t, "Fri, 06 Mar 2026 10:00:00 +0000", rc["Will-Retry-Until"])
	require.Equal(t, "message/rfc822", parts[2].(map[string]any)["type"])
	require.Equal(t, "hello", parts[2].(map[string]any)["subject"])
}

func TestStatusOf(t *testing.T) {
	t.Parallel()
	require.Equal(t, "5.1.1", StatusOf(550, "5.1.1"))
	require.Equal(t, "4.0.0", StatusOf(451, ""))
	require.Equal(t, "2.0.0", StatusOf(250, ""))
}
