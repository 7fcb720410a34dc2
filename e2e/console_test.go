package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
)

// consoleArtifacts is where the console test saves its screenshots
// (git-ignored): look at them after a change to the pages.
const consoleArtifacts = "artifacts/console"

// chromium finds Debian's chromium; the test is skipped without it,
// unless the tools are required (make test).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("JETMAIL_REQUIRE_TOOLS") == "1" {
		t.Fatal("chromium is required for the console tests (scripts/install-test-deps installs it)")
	}
	t.Skip("chromium not installed: the console's browser test is skipped")
	return ""
}

// consoleClient is a logged-in HTTP client of the console, as a script
// (or an attacker's page) would send requests.
type consoleClient struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func loginConsole(t *testing.T, base, user, secret string) (*consoleClient, *http.Response) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.PostForm(base+"/ui/login", url.Values{"user": {user}, "secret": {secret}, "next": {"/ui/tasks/failed"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/ui/tasks/failed", resp.Header.Get("Location"))
	c := &consoleClient{t: t, base: base, hc: hc}
	body, code := c.get("/ui/tasks/failed")
	require.Equal(t, http.StatusOK, code, body)
	i := strings.Index(body, `name="csrf" value="`)
	require.Positive(t, i, "the page's forms carry a CSRF token")
	c.csrf = body[i+len(`name="csrf" value="`):]
	c.csrf = c.csrf[:strings.Index(c.csrf, `"`)]
	return c, resp
}

func (c *consoleClient) get(path string) (string, int) {
	c.t.Helper()
	resp, err := c.hc.Get(c.base + path)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

func (c *consoleClient) post(path string, form url.Values, origin string) (string, int) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := c.hc.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

// The web console in a real browser (headless chromium, driven by
// chromedp) against `jetmail dev`: log in, see a Failed task and retry
// it, bulk actions with their confirmation, the task manager's field
// errors, pause and resume a queue, hold and release an entry, the
// cluster's re-shard plan; a CSRF-less POST is refused, and a read-only
// user sees tasks without buttons.
func TestConsole(t *testing.T) {
	t.Parallel()
	browser := chromium(t)
	mta := startRemoteMTA(t)
	dir := t.TempDir()
	cfgPath := mailConfigRetry(t, dir, mta.addr, 2, "1h")
	f, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("\n[api.users.reader]\nsecret = \"reader-secret-123\"\npermissions = [\"sysTaskGet\"]\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	natsAddr, httpAddr, smtpAddr := jetmailtest.FreePort(t), jetmailtest.FreePort(t), jetmailtest.FreePort(t)
	dev := start(t, dir, "dev", "--config", cfgPath, "--nats-listen", natsAddr, "--http", httpAddr, "--smtp", smtpAddr)
	waitReady(t, dev, httpAddr)
	base := "http://" + httpAddr
	cli := func(args ...string) string {
		t.Helper()
		out, code := runIn(t, dir, append(args, "--api="+base+"/jmap")...)
		require.Equal(t, 0, code, out)
		return out
	}
	secret, err := os.ReadFile(filepath.Join(dir, "data", "admin.secret"))
	require.NoError(t, err)
	adminSecret := strings.TrimSpace(string(secret))

	// A task that fails for good at its first attempt.
	cli("task-manager", "update", "--max-attempts", "1")
	failedID := strings.TrimSpace(cli("task", "create", "AcmeRenewal", "-f", "domainId=example.org"))
	failedTasks := func() []map[string]any {
		var list []map[string]any
		require.NoError(t, json.Unmarshal([]byte(cli("task", "query", "--status", "Failed", "-o", "json")), &list))
		return list
	}
	require.Eventually(t, func() bool { return len(failedTasks()) == 1 }, 20*time.Second, 100*time.Millisecond)
	// A queue entry the remote end defers.
	require.NoError(t, sendMail(smtpAddr, "alice", []string{"bob@d1.test"}))
	var entryID string
	require.Eventually(t, func() bool {
		var list []map[string]any
		if json.Unmarshal([]byte(cli("queue", "ls", "-o", "json")), &list) != nil || len(list) != 1 || list[0]["attempts"].(float64) < 1 {
			return false
		}
		entryID = list[0]["id"].(string)
		return true
	}, 20*time.Second, 100*time.Millisecond)

	require.NoError(t, os.MkdirAll(consoleArtifacts, 0o755))
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(actx)
	defer cancelTab()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	// Accept every confirm() of the pages, as a user clicking OK.
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go func() {
				_ = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					_, err := cdp.Call(ctx, tg, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
					return err
				}))
			}()
		}
	}))
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, actions...), what)
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err, "screenshot "+name)
		require.NoError(t, os.WriteFile(filepath.Join(consoleArtifacts, name+".png"), png, 0o644))
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, "read "+sel)
		return s
	}
	// until reloads page until sel's text contains want.
	until := func(page, sel, want string) {
		t.Helper()
		var last string
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			do("open "+page, chromedp.Navigate(base+page), chromedp.WaitReady(chromedp.CSS("main")))
			var err error
			if last, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel))); err == nil && strings.Contains(last, want) {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("%s: %s never showed %q (last: %q)", page, sel, want, last)
	}

	// Log in: a page asked for first goes to the login form, then back.
	do("open the console", chromedp.Navigate(base+"/ui/tasks/failed"), chromedp.WaitVisible(chromedp.CSS(`input[name=user]`)))
	shot("01-login")
	do("log in wrong", chromedp.SendKeys(chromedp.CSS(`input[name=user]`), "admin"), chromedp.SendKeys(chromedp.CSS(`input[name=secret]`), "not-the-secret"),
		chromedp.Click(chromedp.CSS(`form.login button`)), chromedp.WaitVisible(chromedp.CSS(`main > .flash.error`)))
	require.Contains(t, text("main > .flash.error"), "wrong user name or secret")
	do("log in", chromedp.SetValue(chromedp.CSS(`input[name=secret]`), adminSecret),
		chromedp.Click(chromedp.CSS(`form.login button`)), chromedp.WaitVisible(chromedp.CSS(`table`)))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Equal(t, base+"/ui/tasks/failed", loc)

	// Tasks › Failed: the task, its reason; retry it at a later time, and
	// it leaves Failed for Scheduled.
	until("/ui/tasks/failed", "tbody", failedID)
	require.Contains(t, text("tbody"), "no ACME directory: set acme.directory", "the reason, as the task failed")
	require.Contains(t, text("tbody"), "Failed")
	shot("02-tasks-failed")
	do("retry at", chromedp.Click(chromedp.CSS(fmt.Sprintf(`input[name=id][value=%q]`, failedID))),
		chromedp.SetValue(chromedp.CSS(`input[name=due]`), "2030-01-02T03:04"),
		chromedp.Click(chromedp.CSS(`button[name=action][value=reschedule]`)), chromedp.WaitVisible(chromedp.CSS(`main > .flash`)))
	require.Contains(t, text("main > .flash"), "rescheduled: 1 task(s)")
	require.NotContains(t, text("tbody"), failedID)
	require.Empty(t, failedTasks())
	until("/ui/tasks/scheduled", "tbody", failedID)
	require.Contains(t, text("tbody"), "Pending")
	shot("03-tasks-scheduled")
	out := cli("task", "get", failedID, "-o", "json")
	require.Contains(t, out, `"due": "2030-01-02T03:04:00Z"`)

	// Bulk: every task of the filter, after a confirmation with the count.
	for range 2 {
		cli("task", "create", "AcmeRenewal", "-f", "domainId=example.net")
	}
	require.Eventually(t, func() bool { return len(failedTasks()) == 2 }, 20*time.Second, 100*time.Millisecond)
	do("bulk retry", chromedp.Navigate(base+"/ui/tasks/failed"), chromedp.Click(chromedp.CSS(`input[name=all]`)),
		chromedp.Click(chromedp.CSS(`button[name=action][value=retry]`)), chromedp.WaitVisible(chromedp.CSS(`form.confirm`)))
	require.Contains(t, text("form.confirm"), "retry 2 tasks matching the filter?")
	shot("04-confirm")
	do("confirm", chromedp.Click(chromedp.CSS(`form.confirm button[name=go]`)), chromedp.WaitVisible(chromedp.CSS(`main > .flash`)))
	require.Contains(t, text("main > .flash"), "retried: 2 task(s)")

	// Task manager: the API's reasons next to the fields.
	do("task manager", chromedp.Navigate(base+"/ui/taskmanager"), chromedp.WaitVisible(chromedp.CSS(`input[name=maxAttempts]`)))
	maxAttempts, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`input[name=maxAttempts]`)))
	require.NoError(t, err)
	require.Equal(t, "1", maxAttempts)
	do("bad values", chromedp.SetValue(chromedp.CSS(`input[name=maxAttempts]`), "0"), chromedp.SetValue(chromedp.CSS(`input[name=totalDeadline]`), "soon"),
		chromedp.Click(chromedp.CSS(`form.form button.primary`)), chromedp.WaitVisible(chromedp.CSS(`.field-error`)))
	fieldErrors, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.field-error')].map(e => e.previousElementSibling.querySelector('input').name + ': ' + e.textContent)`))
	require.NoError(t, err)
	require.Len(t, fieldErrors, 2, "%v", fieldErrors)
	require.Contains(t, fieldErrors[0], "maxAttempts: ")
	require.Contains(t, fieldErrors[1], "totalDeadline: ")
	shot("05-taskmanager-errors")
	do("good values", chromedp.SetValue(chromedp.CSS(`input[name=maxAttempts]`), "4"), chromedp.SetValue(chromedp.CSS(`input[name=totalDeadline]`), "2h"),
		chromedp.Click(chromedp.CSS(`form.form button.primary`)), chromedp.WaitVisible(chromedp.CSS(`main > .flash.ok`)))
	require.Contains(t, cli("task-manager", "get"), "maxAttempts    4")

	// Queue: the summary and qshape; pause and resume the queue.
	until("/ui/queue", "#summary", "d1.test")
	shot("06-queue")
	do("pause", chromedp.Click(chromedp.CSS(`form:has(input[name=queue][value=remote]) button[name=paused][value=true]`)), chromedp.WaitVisible(chromedp.CSS(`main > .flash.ok`)))
	require.Contains(t, text("main > .flash.ok"), "virtual queue remote paused on every node")
	require.Contains(t, text("#summary"), "Paused")
	require.Regexp(t, `remote\s+2\s+true`, cli("queue", "queues"))
	do("resume", chromedp.Click(chromedp.CSS(`form:has(input[name=queue][value=remote]) button[name=paused][value=false]`)), chromedp.WaitVisible(chromedp.CSS(`main > .flash.ok`)))
	require.Regexp(t, `remote\s+2\s+false`, cli("queue", "queues"))

	// An entry's page: hold and release it.
	do("entry", chromedp.Navigate(base+"/ui/queue/entry/"+entryID), chromedp.WaitVisible(chromedp.CSS(`button[value=hold]`)))
	require.Contains(t, text("main"), "bob@d1.test")
	require.Contains(t, text("main"), "451")
	shot("07-entry")
	do("hold", chromedp.Click(chromedp.CSS(`button[value=hold]`)), chromedp.WaitVisible(chromedp.CSS(`button[value=release]`)))
	require.Contains(t, text("main > .flash.ok"), "held: 1 entry")
	require.Contains(t, cli("queue", "ls", "--status", "held"), "bob@d1.test")
	do("release", chromedp.Click(chromedp.CSS(`button[value=release]`)), chromedp.WaitVisible(chromedp.CSS(`button[value=hold]`)))
	require.NotContains(t, cli("queue", "ls", "--status", "held"), "bob@d1.test")

	// The queue page's figures refresh by themselves: an entry held
	// elsewhere shows in the summary without a reload.
	do("queue page", chromedp.Navigate(base+"/ui/queue"), chromedp.WaitVisible(chromedp.CSS(`#summary`)))
	heldCell := `[...document.querySelectorAll('#summary table.figures tbody tr')].find(r => r.cells[0].textContent.trim() === 'remote').cells[4].textContent.trim()`
	held, err := chromedp.Run(ctx, chromedp.Evaluate[string](heldCell))
	require.NoError(t, err)
	require.Equal(t, "0", held)
	cli("queue", "hold", entryID)
	require.Eventually(t, func() bool {
		held, err := chromedp.Run(ctx, chromedp.Evaluate[string](heldCell))
		return err == nil && held == "1"
	}, 20*time.Second, 250*time.Millisecond, "the summary refreshed itself")
	loc, err = chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Equal(t, base+"/ui/queue", loc, "no navigation")
	cli("queue", "release", entryID)

	// Cluster: a re-shard shows its plan first, and a plan with problems
	// is not applied unless forced.
	do("cluster", chromedp.Navigate(base+"/ui/cluster"), chromedp.WaitVisible(chromedp.CSS(`#roles`)))
	require.Contains(t, text("#nodes"), "Live")
	shot("08-cluster")
	do("plan", chromedp.SetValue(chromedp.CSS(`select[name=role]`), "fts-indexing"), chromedp.SendKeys(chromedp.CSS(`input[name=shards]`), "1 7"),
		chromedp.Click(chromedp.CSS(`form.filters button`)), chromedp.WaitVisible(chromedp.CSS(`form.plan`)))
	require.Contains(t, text("form.plan"), "node 7 is not live")
	shot("09-reshard-plan")
	do("apply unforced", chromedp.Click(chromedp.CSS(`form.plan button.primary`)), chromedp.WaitVisible(chromedp.CSS(`main > .flash.error`)))
	require.Contains(t, text("main > .flash.error"), "not applied")
	do("accounts", chromedp.Navigate(base+"/ui/accounts"), chromedp.WaitVisible(chromedp.CSS(`table`)))
	shot("10-accounts")
	do("narrow", chromedp.EmulateViewport(420, 900), chromedp.Navigate(base+"/ui/queue"), chromedp.WaitVisible(chromedp.CSS(`#summary`)))
	shot("11-queue-narrow")

	// A script with the session cookie but no CSRF token, or posting from
	// another site's page, is refused, and nothing changes.
	admin, resp := loginConsole(t, base, "admin", adminSecret)
	ck := resp.Header.Get("Set-Cookie")
	require.Contains(t, ck, "HttpOnly")
	require.Contains(t, ck, "SameSite=Strict")
	require.Contains(t, ck, "Path=/ui/")
	require.NotContains(t, ck, "Secure", "served over plain HTTP here")
	body, code := admin.post("/ui/queue/pause", url.Values{"queue": {"remote"}, "paused": {"true"}}, "")
	require.Equal(t, http.StatusForbidden, code, body)
	require.Contains(t, body, "CSRF")
	body, code = admin.post("/ui/queue/pause", url.Values{"queue": {"remote"}, "paused": {"true"}, "csrf": {admin.csrf}}, "http://evil.example")
	require.Equal(t, http.StatusForbidden, code, body)
	require.Regexp(t, `remote\s+2\s+false`, cli("queue", "queues"), "the refused pauses did nothing")
	_, code = admin.post("/ui/queue/pause", url.Values{"queue": {"remote"}, "paused": {"true"}, "csrf": {admin.csrf}}, base)
	require.Equal(t, http.StatusSeeOther, code, "the same request with its token works")
	require.Regexp(t, `remote\s+2\s+true`, cli("queue", "queues"))
	require.Contains(t, dev.Logs(), `msg="console action" node_id=1 component=console user=admin action="queue paused"`)

	// A user with sysTaskGet only sees the tasks, and no button.
	reader, _ := loginConsole(t, base, "reader", "reader-secret-123")
	body, code = reader.get("/ui/tasks/scheduled")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, failedID)
	require.NotContains(t, body, `name="action"`)
	require.NotContains(t, body, `name="one"`)
	body, code = reader.post("/ui/tasks/action", url.Values{"one": {"destroy " + failedID}, "csrf": {reader.csrf}}, "")
	require.Equal(t, http.StatusSeeOther, code, body)
	require.Contains(t, cli("task", "get", failedID), failedID, "the API refused the reader's destroy")
	body, _ = reader.get("/ui/queue")
	require.Contains(t, body, "not allowed", "the queue needs queue permissions")

	// Logging out ends the session on the server.
	_, code = admin.post("/ui/logout", url.Values{"csrf": {admin.csrf}}, "")
	require.Equal(t, http.StatusSeeOther, code)
	_, code = admin.get("/ui/queue")
	require.Equal(t, http.StatusSeeOther, code, "back to the login page")
}
