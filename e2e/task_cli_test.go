package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
)

// The task CLI against `jetmail dev`, as an operator uses it: create,
// validate before sending, list, see failures, bulk retry and destroy.
func TestTaskCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	natsAddr, httpAddr := jetmailtest.FreePort(t), jetmailtest.FreePort(t)
	dev := start(t, dir, "dev", "--nats-listen", natsAddr, "--http", httpAddr)
	waitReady(t, dev, httpAddr)
	require.FileExists(t, filepath.Join(dir, "data", "admin.secret"))
	api := "--api=http://" + httpAddr + "/jmap"
	cli := func(args ...string) (string, int) {
		t.Helper()
		return runIn(t, dir, append(args, api)...)
	}

	out, code := cli("task", "create", "IndexDocument", "--field", "accountId=42", "--field", "documentId=7", "--field", "documentType=email", "--due", "+1h")
	require.Equal(t, 0, code, out)
	pendingID := strings.TrimSpace(out)

	out, code = cli("task", "create", "IndexDocument", "--field", "accountId=42", "--field", "documentType=video")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "documentId: is required")
	require.Contains(t, out, `documentType: "video" is not one of email, calendar, contacts, file`)
	// A list field, as the help's example gives it, commas and all.
	out, code = cli("task", "create", "DnsManagement", "--field", "domainId=example.org", "--field", "updateRecords=mx,dkim", "--due", "+1h")
	require.Equal(t, 0, code, out)
	out, code = cli("task", "get", strings.TrimSpace(out), "-o", "json")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, `"dkim": true`)
	require.Contains(t, out, `"mx": true`)
	// Repeated, a list field holds every value, shown as --field takes it;
	// a single-valued field given twice is refused, not silently chosen.
	out, code = cli("task", "create", "DnsManagement", "--field", "domainId=example.org", "-f", "updateRecords=mx", "--field", "updateRecords=tlsa,spf", "--due", "+1h")
	require.Equal(t, 0, code, out)
	out, code = cli("task", "get", strings.TrimSpace(out))
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "updateRecords=mx,spf,tlsa")
	out, code = cli("task", "create", "DnsManagement", "--field", "domainId=example.org", "--field", "domainId=example.com")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "domainId: given 2 times (example.org, example.com); it takes one value")
	out, code = cli("task", "create", "DnsManagement", "--colour", "red")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "unknown flag --colour (see jetmail task create --help)")
	out, code = cli("task", "create", "CalendarAlarmEmail")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "created by the server")

	out, code = cli("task-manager", "update", "--max-attempts", "1")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "maxAttempts    1")
	out, code = cli("task-manager", "update", "--strategy", "fixed", "--delay", "-5m")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, `duration "-5m" is negative`)

	// The spam trainer runs SpamFilterMaintenance: a train with nothing to
	// learn completes.
	out, code = cli("task", "create", "SpamFilterMaintenance", "-f", "maintenanceType=train")
	require.Equal(t, 0, code, out)
	trainID := strings.TrimSpace(out)
	// The help names its placeholders plainly.
	out, code = cli("task", "query", "--help")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "--token SECRET")
	require.Eventually(t, func() bool {
		out, code := cli("task", "get", trainID)
		return code == 1 && strings.Contains(out, "not found")
	}, 20*time.Second, 100*time.Millisecond, "the train task is done")

	// An AcmeRenewal for a domain the store does not have: the task
	// fails, clearly, and stays.
	for range 3 {
		out, code = cli("task", "create", "AcmeRenewal", "-f", "domainId=example.org")
		require.Equal(t, 0, code, out)
	}
	require.Eventually(t, func() bool {
		out, _ := cli("task", "query", "--status", "Failed", "-o", "json")
		var list []map[string]any
		return json.Unmarshal([]byte(out), &list) == nil && len(list) == 3
	}, 10*time.Second, 100*time.Millisecond)
	out, code = cli("task", "query", "--status", "Failed")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "domain example.org is not in the store")

	out, code = cli("task", "retry", "--all", "--status", "Failed")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "retried 3/3")

	out, code = cli("task", "get", pendingID, "-o", "json")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, `"documentId": "7"`)
	out, code = cli("task", "reschedule", pendingID, "--due", "+2h")
	require.Equal(t, 0, code, out)

	out, code = cli("task", "destroy", "--all")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "add --yes")
	out, code = cli("task", "destroy", "--all", "--yes")
	require.Equal(t, 0, code, out)
	require.Eventually(t, func() bool {
		out, _ := cli("task", "query", "-o", "json")
		return strings.TrimSpace(out) == "[]"
	}, 5*time.Second, 100*time.Millisecond)

	out, code = cli("task", "get", "nosuchtask")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "not found: nosuchtask")
	out, code = runIn(t, dir, "task", "query", api, "--token", "wrong-secret")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "invalid credentials")

	// The task metrics are on /metrics. The cluster's task counts
	// (jetmail_cluster_tasks, once jetmail_tasks) come from the reports
	// service, computed when it starts and then once per interval.
	var body []byte
	metrics := []string{`jetmail_task_runs_total{result="failed",type="AcmeRenewal"} 6`, `jetmail_task_runs_total{result="ok",type="SpamFilterMaintenance"} 1`, "jetmail_task_duration_seconds_bucket", "jetmail_task_lateness_seconds_bucket", `jetmail_cluster_tasks{status="Pending",type="IndexDocument"}`}
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + httpAddr + "/metrics")
		if err != nil {
			return false
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.Contains(string(body), metrics[len(metrics)-1])
	}, 10*time.Second, 100*time.Millisecond, "jetmail_cluster_tasks missing from /metrics")
	// Three tasks failed, were retried, and failed again.
	for _, m := range metrics {
		require.True(t, strings.Contains(string(body), m), "metric %s missing from /metrics", m)
	}
	require.Equal(t, 0, dev.stop(20*time.Second))
}
