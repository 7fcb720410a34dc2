package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
)

// TestReadme runs every example of README.md against a real `jetmail dev`
// node and checks its exit code and its effect.
//
// Examples are the commands of the fenced code blocks, the inline spans
// that start with `jetmail ` (or `bin/jetmail `), and the first column of
// the Commands table (where `account ls|show` or `/ --all [filters]`
// continue the span before). A synopsis expands into the runs it
// describes: once without its [optional] parts and once with all of them,
// once per alternative of a|b, with each placeholder (ID, TIME, ACCOUNT,
// ...) given a value made for the run (readmePlaceholders). Each run must
// exit 0, and then readmeEffects checks what it did (the task moved, the
// entry held, ...). An example the test does not know, a placeholder with
// no value or a command with no effect check fails the test: add it here,
// or to readmeNotRunnable with the reason it cannot run.
//
// Not parallel: the examples run as a user types them, with JETMAIL_API,
// JETMAIL_NATS_URL, NATS_URL and JETMAIL_HTTP pointing at the node.
func TestReadme(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	cmds, sub := jetmailCommands(t)
	examples := readmeExamples(string(raw), cmds)
	require.NotEmpty(t, examples)

	mta := startRemoteMTA(t) // defers every recipient: entries stay queued
	dir := t.TempDir()
	cfg := mailConfigRetry(t, dir, mta.addr, 4, "1h")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	// The API user of the README's --api nats example.
	_, err = f.WriteString("[api.users.ops]\nsecret = \"ops-secret-12345\"\npermissions = [\"admin\"]\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	fx := &readmeFixture{t: t, dir: dir, cfg: cfg, mta: mta,
		natsAddr: jetmailtest.FreePort(t), httpAddr: jetmailtest.FreePort(t), smtpAddr: jetmailtest.FreePort(t)}
	fx.natsURL = "nats://" + fx.natsAddr
	t.Setenv("JETMAIL_API", "http://"+fx.httpAddr+"/jmap")
	t.Setenv("JETMAIL_NATS_URL", fx.natsURL)
	t.Setenv("NATS_URL", fx.natsURL)
	t.Setenv("JETMAIL_HTTP", fx.httpAddr)

	// Every example becomes its runs, or is excluded with a reason.
	var runs []*readmeRun
	seen := map[string]bool{}
	for _, ex := range examples {
		seen[ex.text] = true
		if reason, ok := readmeNotRunnable[ex.text]; ok {
			t.Logf("README:%d not run here: %s: %s", ex.line, ex.text, reason)
			continue
		}
		if reason, ok := readmeShellSetup[ex.text]; ok {
			t.Logf("README:%d shell setup, done by the test: %s: %s", ex.line, ex.text, reason)
			continue
		}
		words := shellWords(fx.literal(ex.text))
		switch {
		case words[0] == "jetmail" || words[0] == "bin/jetmail":
			for _, v := range expandSynopsis(words) {
				runs = append(runs, &readmeRun{ex: ex, fx: fx, tokens: v, path: commandPath(v, sub)})
			}
		case words[0] == "nats" || words[0] == "curl":
			runs = append(runs, &readmeRun{ex: ex, fx: fx, tokens: words, path: words[0]})
		default:
			t.Errorf("README:%d: %q is an example this test does not know how to run: teach e2e/readme_test.go to run it, or list it in readmeNotRunnable with the reason", ex.line, ex.text)
		}
	}
	for text := range readmeNotRunnable {
		if !seen[text] {
			t.Errorf("readmeNotRunnable lists %q, which the README no longer has: remove it", text)
		}
	}
	for _, r := range runs {
		if _, ok := readmeEffects[r.path]; !ok && r.path != "dev" && r.path != "serve" && r.path != "nats" && r.path != "curl" {
			t.Errorf("README:%d: %q runs `jetmail %s`, which has no effect check: add one to readmeEffects", r.ex.line, r.ex.text, r.path)
		}
	}
	if t.Failed() {
		return
	}

	// The node: the README's `jetmail dev` with its options, on free ports.
	var node *readmeRun
	for _, r := range runs {
		if r.path == "dev" && slices.Contains(r.tokens, "--config") {
			node = r
			break
		}
	}
	require.NotNil(t, node, "the README shows no `jetmail dev ... --config FILE` to start the node with")
	argv := node.argv()
	t.Logf("README:%d node: jetmail %s", node.ex.line, strings.Join(argv, " "))
	dev := start(t, dir, append(argv, "--http", fx.httpAddr, "--smtp", fx.smtpAddr)...)
	waitReady(t, dev, fx.httpAddr)

	// Then each example in README order; the nodes of their own (dev, serve)
	// last, as they would join or leave the cluster under the others.
	var nodes []*readmeRun
	for _, r := range runs {
		if r == node {
			continue
		}
		if r.path == "dev" || r.path == "serve" {
			nodes = append(nodes, r)
			continue
		}
		r.run(t)
	}
	runReadmeNodes(t, fx, nodes)
	require.Equal(t, 0, dev.stop(20*time.Second), "the README's dev node stops cleanly")
}

// readmeNotRunnable are README examples this test does not run, each with
// the reason.
var readmeNotRunnable = map[string]string{
	"make dev":  "builds into the repository's bin/ and keeps state in its ./data on the default ports; TestReadme runs the jetmail dev it starts",
	"make test": "runs every test, this one included",
	`jetmail roles set fts-indexing "1,4" "2,3"`: "needs live nodes 2, 3 and 4 (roles set refuses a node that is not live); roles set ROLE SHARD... runs",
	"jetmail health --tls":                       "needs a node serving http.tls; e2e/tls_test.go probes one",
	"jetmail serve smtp --nats-nkey DIR/smtp.nk": "needs a NATS server that includes nats-auth's auth.conf; jetmail dev's lets in its own user only (e2e/natsauth_test.go runs that layout)",
}

// readmeShellSetup are the fenced blocks' shell lines that set up the
// shell; the test does the same itself.
var readmeShellSetup = map[string]string{
	"PATH=$PWD/.tools/bin:$PATH":            "the nats CLI is looked up on PATH and in .tools/bin",
	"export NATS_URL=nats://127.0.0.1:4222": "NATS_URL is set to the node's NATS",
}

// readmeLiterals are the README's fixed addresses and files, replaced by
// those of the node under test before an example is run.
func (f *readmeFixture) literal(s string) string {
	return strings.NewReplacer(
		"nats://n1:4222", f.natsURL, // an external cluster's server: the node's NATS
		"auth/api-ops.nk", "data/nats-user.nk", // nats-auth's API identity: dev lets in its own only
		"127.0.0.1:4222", f.natsAddr,
		"127.0.0.1:8080", f.httpAddr,
		"localhost:8080", f.httpAddr,
	).Replace(s)
}

// readmePlaceholders give the README's placeholders their values, made
// for the run. A key is looked up as "<command> <flag> <token>", then
// "<command> <token>", "<flag> <token>" and "<token>"; <flag> is the flag
// before the token. Besides placeholders, a literal token (--all) may have
// an entry to make what the run acts on.
var readmePlaceholders = map[string]func(r *readmeRun) []string{
	// jetmail dev and serve
	"dev DIR":       func(r *readmeRun) []string { return []string{filepath.Join(r.fx.dir, "data")} },
	"dev ADDR":      func(r *readmeRun) []string { return []string{r.fx.natsAddr} },
	"FILE":          func(r *readmeRun) []string { return []string{r.fx.cfg} }, // dev, serve, config check
	"serve URL":     func(r *readmeRun) []string { return []string{r.fx.natsURL} },
	"serve SERVICE": func(r *readmeRun) []string { return []string{"smtp"} },
	// the store
	"account create NAME": func(r *readmeRun) []string { return []string{r.name("acct")} },
	"--domain D":          func(r *readmeRun) []string { return []string{"example.org"} },
	"--address A":         func(r *readmeRun) []string { return []string{r.name("acct") + "@example.org"} },
	"--secret S":          func(r *readmeRun) []string { return []string{"readme-secret-123"} },
	"--quota BYTES":       func(r *readmeRun) []string { r.vals["quota"] = "4096000"; return []string{"4096000"} },
	"account NAME": func(r *readmeRun) []string {
		name := r.name("acct")
		r.fx.cli("account", "create", name, "--domain", "example.org")
		return []string{name}
	},
	"domain create DOMAIN": func(r *readmeRun) []string { return []string{r.name("dom") + ".test"} },
	"ACCOUNT":              func(r *readmeRun) []string { r.vals["account"] = "alice"; return []string{"alice"} },
	"mail ID":              func(r *readmeRun) []string { return []string{r.email()} },
	"--to MAILBOX":         func(r *readmeRun) []string { return []string{"archive"} },
	"--add KW":             func(r *readmeRun) []string { r.vals["add"] = "$flagged"; return []string{"$flagged"} },
	"--remove KW":          func(r *readmeRun) []string { return []string{"$seen"} },
	"mail search WORDS":    func(r *readmeRun) []string { r.email(); return []string{r.vals["word"]} },
	"mail search --from ...": func(r *readmeRun) []string {
		return []string{"alice@example.org"}
	},
	"import mbox FILE":    func(r *readmeRun) []string { return []string{r.mbox()} },
	"--keyword KW":        func(r *readmeRun) []string { return []string{"$flagged"} },
	"nats-auth --out DIR": func(r *readmeRun) []string { r.vals["dir"] = r.fx.t.TempDir(); return []string{r.vals["dir"]} },
	"--api-user NAME":     func(r *readmeRun) []string { r.vals["apiUser"] = "ops"; return []string{"ops"} },
	// roles and health
	"roles set ROLE": func(r *readmeRun) []string {
		// Moved away first, so that the example's change shows.
		r.fx.cli("roles", "set", "fts-indexing", "1,7", "--force")
		r.vals["role"] = "fts-indexing"
		return []string{"fts-indexing"}
	},
	"roles apply FILE": func(r *readmeRun) []string {
		// The cluster moved away from the file first, so that there is a plan.
		r.fx.cli("roles", "set", "fts-indexing", "1,7", "--force")
		path := filepath.Join(r.fx.t.TempDir(), "roles.toml")
		require.NoError(r.fx.t, os.WriteFile(path, []byte("[cluster.roles.fts-indexing]\nfts-indexing = [\"1\"]\n"), 0o600))
		return []string{path}
	},
	"roles set SHARD": func(r *readmeRun) []string { r.vals["shard"] = "1"; return []string{"1"} },
	"health ADDR":     func(r *readmeRun) []string { return []string{r.fx.httpAddr} },
	// tasks
	"task ID": func(r *readmeRun) []string { return []string{r.task()} },
	"TYPE":    func(r *readmeRun) []string { return []string{"IndexDocument"} },
	"--field k=v": func(r *readmeRun) []string {
		return []string{"accountId=42", "--field", "documentId=7", "--field", "documentType=email"}
	},
	"task --due TIME": func(r *readmeRun) []string { r.vals["due"] = "+3h"; return []string{"+3h"} },
	"task query --status S": func(r *readmeRun) []string {
		r.task()
		return []string{"Pending"}
	},
	"task query --type T":    func(r *readmeRun) []string { r.vals["type"] = "IndexDocument"; return []string{"IndexDocument"} },
	"task query --account A": func(r *readmeRun) []string { return []string{"42"} },
	"--due-after T":          func(r *readmeRun) []string { return []string{"-1h"} },
	"--due-before T":         func(r *readmeRun) []string { return []string{time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)} },
	"--limit N":              func(r *readmeRun) []string { return []string{"10"} },
	"task retry --all":       func(r *readmeRun) []string { r.task(); return []string{"--all"} },
	"task destroy --all":     func(r *readmeRun) []string { r.task(); return []string{"--all"} },
	"task filters": func(r *readmeRun) []string {
		account := r.name("acc")
		r.vals["task"] = r.fx.newTask(account, "+1h")
		return []string{"--account", account}
	},
	"task-manager --max-attempts N": func(r *readmeRun) []string { r.vals["maxAttempts"] = "7"; return []string{"7"} },
	// the queue
	"queue --queue Q":    func(r *readmeRun) []string { return []string{"remote"} },
	"queue --domain D":   func(r *readmeRun) []string { r.entry(); return []string{"readme.test"} },
	"queue --sender S":   func(r *readmeRun) []string { return []string{"alice@example.org"} },
	"queue ID":           func(r *readmeRun) []string { return []string{r.entry()} },
	"queue release ID":   func(r *readmeRun) []string { return []string{r.heldEntry()} },
	"queue --due TIME":   func(r *readmeRun) []string { r.vals["due"] = "+3h"; return []string{"+3h"} },
	"queue retry --all":  func(r *readmeRun) []string { r.entry(); return []string{"--all"} },
	"queue hold --all":   func(r *readmeRun) []string { r.entry(); return []string{"--all"} },
	"queue cancel --all": func(r *readmeRun) []string { r.entry(); return []string{"--all"} },
	"queue release --all": func(r *readmeRun) []string {
		r.heldEntry()
		return []string{"--all"}
	},
	"queue filters": func(r *readmeRun) []string {
		domain := r.name("d") + ".test"
		r.entryAt(domain)
		if r.path == "queue release" {
			r.fx.cli("queue", "hold", r.vals["entry"])
		}
		return []string{"--domain", domain}
	},
	"QUEUE":                 func(r *readmeRun) []string { r.vals["queue"] = "remote"; return []string{"remote"} },
	"queue shape --queue Q": func(r *readmeRun) []string { return []string{"remote"} },
	"queue shape --top N":   func(r *readmeRun) []string { return []string{"5"} },
	"queue export FILE": func(r *readmeRun) []string {
		r.entry()
		r.vals["file"] = filepath.Join(r.fx.t.TempDir(), "export.jsonl")
		return []string{r.vals["file"]}
	},
	"queue import FILE": func(r *readmeRun) []string {
		// An entry exported, then cancelled: the import brings it back.
		id := r.entryAt(r.name("imp") + ".test")
		file := filepath.Join(r.fx.t.TempDir(), "import.jsonl")
		r.fx.cli("queue", "export", file, "--domain", r.vals["domain"])
		r.fx.cli("queue", "cancel", id)
		r.fx.waitGone(id)
		return []string{file}
	},
	// traces
	"trace --sender S":     func(r *readmeRun) []string { return []string{"alice@example.org"} },
	"trace --rcpt R":       func(r *readmeRun) []string { r.entry(); return []string{r.vals["rcpt"]} },
	"trace --message-id M": func(r *readmeRun) []string { r.entry(); return []string{r.vals["messageIdHeader"]} },
	"trace --after T":      func(r *readmeRun) []string { return []string{"-1h"} },
	"trace --before T":     func(r *readmeRun) []string { return []string{"+1h"} },
	"trace show ID":        func(r *readmeRun) []string { r.entry(); return []string{r.vals["messageId"]} },
}

// readmeBareArgs are the arguments of commands the README names by verb
// only (`account ls|show|update|destroy`), as their --help gives them.
var readmeBareArgs = map[string][]string{
	"account show":    {"NAME"},
	"account update":  {"NAME", "--quota", "BYTES"},
	"account destroy": {"NAME", "--yes"},
	"domain create":   {"DOMAIN"},
}

// readmeEffects check what a run did, given its output (exit 0 is checked
// before).
var readmeEffects = map[string]func(r *readmeRun, out string){
	"queue":        func(r *readmeRun, out string) { require.Contains(r.t, out, "COMMANDS") },
	"config check": func(r *readmeRun, out string) { require.NotEmpty(r.t, strings.TrimSpace(out)) },
	"account create": func(r *readmeRun, out string) {
		shown := r.fx.cli("account", "show", r.vals["name"], "-o", "json")
		if q := r.vals["quota"]; q != "" {
			require.Regexp(r.t, `"quota":\s*`+q, shown)
		}
	},
	"account ls": func(r *readmeRun, out string) { listed(r, out) },
	"account show": func(r *readmeRun, out string) {
		require.Contains(r.t, out, r.vals["name"])
		listed(r, out)
	},
	"account update": func(r *readmeRun, out string) {
		require.Regexp(r.t, `"quota":\s*`+r.vals["quota"], r.fx.cli("account", "show", r.vals["name"], "-o", "json"))
	},
	"account destroy": func(r *readmeRun, _ string) {
		shown, code := runIn(r.t, r.fx.dir, "account", "show", r.vals["name"])
		require.Equal(r.t, 1, code, "a destroyed account is not shown: %s", shown)
	},
	"domain create": func(r *readmeRun, out string) {
		require.Contains(r.t, r.fx.cli("domain", "ls"), r.vals["name"])
	},
	"domain ls": func(r *readmeRun, out string) {
		require.Contains(r.t, out, "example.org")
		listed(r, out)
	},
	"mail ls": func(r *readmeRun, out string) { listed(r, out) },
	"mail mv": func(r *readmeRun, out string) {
		require.NotEmpty(r.t, r.fx.emailIn("archive", r.vals["email"]), "moved to archive")
		require.Empty(r.t, r.fx.emailIn("inbox", r.vals["email"]), "out of the inbox")
	},
	"mail flag": func(r *readmeRun, out string) {
		e := r.fx.emailIn("inbox", r.vals["email"])
		require.NotEmpty(r.t, e)
		if kw := r.vals["add"]; kw != "" {
			require.Contains(r.t, e, kw)
		}
	},
	"mail rm": func(r *readmeRun, out string) {
		require.Empty(r.t, r.fx.emailIn("inbox", r.vals["email"]), "destroyed")
	},
	"mail search": func(r *readmeRun, out string) {
		r.until(out, func(out string) bool { return strings.Contains(out, r.vals["email"]) }, "the email found by its word")
	},
	"import mbox": func(r *readmeRun, out string) {
		require.Eventually(r.t, func() bool {
			return strings.Contains(r.fx.cli("mail", "ls", "alice", "-o", "json"), r.vals["subject"])
		}, 10*time.Second, 100*time.Millisecond, "the imported message is in the mailbox")
	},
	"nats-auth": func(r *readmeRun, out string) {
		for _, f := range []string{"auth.conf", "smtp.nk", "delivery.nk", "admin.nk"} {
			require.FileExists(r.t, filepath.Join(r.vals["dir"], f))
		}
		if u := r.vals["apiUser"]; u != "" {
			require.FileExists(r.t, filepath.Join(r.vals["dir"], "api-"+u+".nk"))
		}
	},
	"roles show": func(r *readmeRun, out string) {
		require.Contains(r.t, out, "fts-indexing")
		listed(r, out)
	},
	"roles set": func(r *readmeRun, out string) {
		require.Equal(r.t, []string{r.vals["shard"]}, r.fx.roles().shards(r.vals["role"]))
	},
	"roles apply": func(r *readmeRun, out string) {
		require.Contains(r.t, out, "fts-indexing", "the plan names the role")
		want := []string{"1,7"} // a plan only
		if slices.Contains(r.tokens, "--yes") {
			want = []string{"1"}
		}
		require.Equal(r.t, want, r.fx.roles().shards("fts-indexing"))
	},
	"health": func(r *readmeRun, out string) { require.NotEmpty(r.t, strings.TrimSpace(out)) },
	"task get": func(r *readmeRun, out string) {
		require.Contains(r.t, out, r.vals["task"])
		listed(r, out)
	},
	"task query": func(r *readmeRun, out string) {
		list := listed(r, out)
		if typ := r.vals["type"]; typ != "" {
			require.NotEmpty(r.t, list, "the task made for the filters is listed")
			for _, task := range list {
				require.Equal(r.t, typ, task["@type"])
			}
		}
	},
	"task create": func(r *readmeRun, out string) {
		id := strings.TrimSpace(out)
		require.Regexp(r.t, `^\S+$`, id, "task create prints the new id")
		if r.vals["due"] != "" {
			r.fx.requireDue(r.fx.taskJSON(id), 3*time.Hour)
		}
	},
	"task retry": func(r *readmeRun, out string) {
		require.Eventually(r.t, func() bool {
			task := r.fx.taskJSON(r.vals["task"])
			return task == nil || r.fx.due(task).Before(time.Now().Add(time.Minute))
		}, 10*time.Second, 100*time.Millisecond, "the task due +1h is due now (or has run)")
	},
	"task reschedule": func(r *readmeRun, out string) {
		r.fx.requireDue(r.fx.taskJSON(r.vals["task"]), 3*time.Hour)
	},
	"task destroy": func(r *readmeRun, out string) {
		require.Nil(r.t, r.fx.taskJSON(r.vals["task"]), "destroyed")
	},
	"task-manager get": func(r *readmeRun, out string) {
		require.Contains(r.t, out, "maxAttempts")
		listed(r, out)
	},
	"task-manager update": func(r *readmeRun, out string) {
		require.Regexp(r.t, `"maxAttempts":\s*`+r.vals["maxAttempts"]+`\b`, r.fx.cli("task-manager", "get", "-o", "json"))
	},
	"queue ls": func(r *readmeRun, out string) { listed(r, out) },
	"queue show": func(r *readmeRun, out string) {
		require.Contains(r.t, out, r.vals["entry"])
		listed(r, out)
	},
	"queue retry": func(r *readmeRun, out string) {
		before := r.vals["attempts"]
		require.Eventually(r.t, func() bool {
			e := r.fx.entryJSON(r.vals["entry"])
			return e != nil && fmt.Sprint(e["attempts"]) != before && e["held"] == false
		}, 10*time.Second, 100*time.Millisecond, "the entry was tried again")
	},
	"queue hold": func(r *readmeRun, out string) {
		require.Equal(r.t, true, r.fx.entryJSON(r.vals["entry"])["held"])
	},
	"queue release": func(r *readmeRun, out string) {
		require.Equal(r.t, false, r.fx.entryJSON(r.vals["entry"])["held"])
	},
	"queue reschedule": func(r *readmeRun, out string) {
		r.fx.requireDue(r.fx.entryJSON(r.vals["entry"]), 3*time.Hour)
	},
	"queue cancel": func(r *readmeRun, out string) { r.fx.waitGone(r.vals["entry"]) },
	"queue pause": func(r *readmeRun, out string) {
		require.Regexp(r.t, `"id":\s*"remote",\s*"threadsPerNode":\s*\d+,\s*"paused":\s*true`, r.fx.cli("queue", "queues", "-o", "json"))
	},
	"queue resume": func(r *readmeRun, out string) {
		require.Regexp(r.t, `"id":\s*"remote",\s*"threadsPerNode":\s*\d+,\s*"paused":\s*false`, r.fx.cli("queue", "queues", "-o", "json"))
	},
	"queue shape": func(r *readmeRun, out string) {
		require.Contains(r.t, out, "DOMAIN")
		shape := listed(r, out)
		require.Nil(r.t, shape, "an object, not a list")
		require.Regexp(r.t, `"queues":\[\{"id":`, r.fx.cli("queue", "shape", "-o", "json"))
	},
	"queue queues": func(r *readmeRun, out string) {
		require.Contains(r.t, out, "remote")
		listed(r, out)
	},
	"queue export": func(r *readmeRun, out string) {
		b, err := os.ReadFile(r.vals["file"])
		require.NoError(r.t, err)
		require.Contains(r.t, string(b), r.vals["rcpt"])
	},
	"queue import": func(r *readmeRun, out string) {
		require.Eventually(r.t, func() bool {
			return strings.Contains(r.fx.cli("queue", "ls", "-o", "json", "--domain", r.vals["domain"]), r.vals["rcpt"])
		}, 10*time.Second, 100*time.Millisecond, "the imported message is queued again")
	},
	"trace search": func(r *readmeRun, out string) {
		if rcpt := r.vals["rcpt"]; rcpt != "" {
			r.until(out, func(out string) bool { return strings.Contains(out, rcpt) }, "the message's trace is found")
		}
		listed(r, out)
	},
	"trace show": func(r *readmeRun, out string) {
		r.until(out, func(out string) bool { return strings.Contains(out, r.vals["rcpt"]) }, "the message's history")
	},
}

// listed checks a listing: it says something, and as -o json it parses.
// It returns the JSON objects listed.
func listed(r *readmeRun, out string) []map[string]any {
	require.NotEmpty(r.t, strings.TrimSpace(out))
	if !slices.Contains(r.tokens, "-o") {
		out = r.fx.cli(append(r.argv(), "-o", "json")...)
	}
	var v any
	require.NoError(r.t, json.Unmarshal([]byte(out), &v), "-o json: %s", out)
	var list []map[string]any
	_ = json.Unmarshal([]byte(out), &list)
	return list
}

// readmeExample is one example as the README writes it.
type readmeExample struct {
	line int
	text string
}

// readmeRun is one run of an example: a variant of its synopsis.
type readmeRun struct {
	ex     readmeExample
	fx     *readmeFixture
	t      *testing.T
	tokens []string // as expanded, placeholders not yet given values
	path   string   // the command: "task reschedule"
	vals   map[string]string
	args   []string
}

func (r *readmeRun) String() string { return strings.Join(r.tokens, " ") }

// argv gives the placeholders their values and returns the arguments
// after "jetmail".
func (r *readmeRun) argv() []string {
	if r.args != nil {
		return r.args
	}
	if r.vals == nil {
		r.vals = map[string]string{}
	}
	if r.t == nil {
		r.t = r.fx.t
	}
	tokens := r.tokens[1:]
	if len(tokens) == len(strings.Fields(r.path)) {
		tokens = append(slices.Clone(tokens), readmeBareArgs[r.path]...)
	}
	noun, _, _ := strings.Cut(r.path, " ")
	out := []string{}
	for i, tok := range tokens {
		flag := ""
		if i > 0 && strings.HasPrefix(tokens[i-1], "-") {
			flag = tokens[i-1]
		}
		var keys []string
		for _, p := range []string{r.path, noun} {
			if flag != "" {
				keys = append(keys, p+" "+flag+" "+tok)
			}
			keys = append(keys, p+" "+tok)
		}
		if flag != "" {
			keys = append(keys, flag+" "+tok)
		}
		keys = append(keys, tok)
		var produce func(*readmeRun) []string
		for _, k := range keys {
			if p := readmePlaceholders[k]; p != nil {
				produce = p
				break
			}
		}
		switch {
		case produce != nil:
			out = append(out, produce(r)...)
		case isPlaceholder(tok):
			r.t.Fatalf("README:%d: %q: placeholder %s of `jetmail %s` has no value: add one to readmePlaceholders (tried %q)", r.ex.line, r.ex.text, tok, r.path, keys)
		default:
			out = append(out, os.Expand(tok, func(k string) string { return os.Getenv(k) }))
		}
	}
	r.args = out
	return out
}

func isPlaceholder(tok string) bool {
	return tok == "k=v" || tok == "..." || tok == "filters" || regexp.MustCompile(`^[A-Z][A-Z_]*$`).MatchString(tok)
}

// run runs r as a subtest: exit 0, then its effect.
func (r *readmeRun) run(t *testing.T) {
	t.Run(fmt.Sprintf("L%d_%s", r.ex.line, r), func(t *testing.T) {
		// The fixture's helpers fail this subtest, not its parent.
		parent := r.fx.t
		r.fx.t, r.t = t, t
		defer func() { r.fx.t = parent }()
		switch r.path {
		case "nats":
			r.runNats(t)
			return
		case "curl":
			r.runCurl(t)
			return
		}
		argv := r.argv()
		if r.path == "queue retry" {
			r.vals["attempts"] = fmt.Sprint(r.fx.entryJSON(r.vals["entry"])["attempts"])
		}
		out, code := runIn(t, r.fx.dir, argv...)
		require.Equal(t, 0, code, "README:%d: jetmail %s\n%s", r.ex.line, strings.Join(argv, " "), out)
		readmeEffects[r.path](r, out)
	})
}

// until re-runs the example until ok holds of its output (an index or a
// trace that lags the write).
func (r *readmeRun) until(out string, ok func(string) bool, what string) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(out) {
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: jetmail %s printed:\n%s", what, strings.Join(r.argv(), " "), out)
		}
		time.Sleep(200 * time.Millisecond)
		var code int
		out, code = runIn(r.t, r.fx.dir, r.argv()...)
		require.Equal(r.t, 0, code, out)
	}
}

func (r *readmeRun) runNats(t *testing.T) {
	natsCLI, err := exec.LookPath("nats")
	if err != nil {
		if p, _ := filepath.Abs("../.tools/bin/nats"); fileExists(p) {
			natsCLI = p
		} else if os.Getenv("JETMAIL_REQUIRE_TOOLS") == "1" {
			t.Fatal("the nats CLI is required (make tools installs it into .tools/bin)")
		} else {
			t.Skipf("README:%d: the nats CLI is not installed (make tools builds it into .tools/bin): %s", r.ex.line, r.ex.text)
		}
	}
	args := make([]string, 0, len(r.tokens)-1)
	for _, tok := range r.tokens[1:] {
		args = append(args, os.Expand(tok, os.Getenv))
	}
	cmd := exec.Command(natsCLI, args...)
	cmd.Dir = r.fx.dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "README:%d: %s\n%s", r.ex.line, r.ex.text, out)
	// What the README's comment says the listing shows.
	want := map[string]string{"stream": "jetmail-work-", "kv": "jetmail-roles", "consumer": "fts-indexing"}
	for _, a := range args {
		if w, ok := want[a]; ok {
			require.Contains(t, string(out), w)
			return
		}
	}
	require.NotEmpty(t, strings.TrimSpace(string(out)))
}

func (r *readmeRun) runCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skipf("README:%d: curl is not installed: %s", r.ex.line, r.ex.text)
	}
	cmd := exec.Command("bash", "-c", r.fx.literal(r.ex.text))
	cmd.Dir = r.fx.dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "README:%d: %s\n%s", r.ex.line, r.ex.text, out)
	s := string(out)
	switch {
	case strings.Contains(r.ex.text, "/ready"):
		require.Contains(t, s, "ready")
	case strings.Contains(r.ex.text, "/metrics"):
		require.Contains(t, s, "jetmail_node_ready 1")
	case strings.Contains(r.ex.text, "/jmap"):
		var resp struct {
			MethodResponses [][]json.RawMessage `json:"methodResponses"`
		}
		require.NoError(t, json.Unmarshal(out, &resp), s)
		require.Len(t, resp.MethodResponses, 1, s)
		var set struct {
			Created map[string]struct {
				ID string `json:"id"`
			} `json:"created"`
		}
		require.NoError(t, json.Unmarshal(resp.MethodResponses[0][1], &set), s)
		require.Contains(t, set.Created, "a", s)
		require.NotNil(t, r.fx.taskJSON(set.Created["a"].ID), "the task made over the API exists")
	default:
		t.Fatalf("README:%d: no effect check for %s: add one to runCurl", r.ex.line, r.ex.text)
	}
}

// runReadmeNodes runs the examples that start a node (dev, serve): each
// becomes ready, and stops with exit 0 on SIGTERM. They run side by side.
func runReadmeNodes(t *testing.T, fx *readmeFixture, runs []*readmeRun) {
	type started struct {
		r    *readmeRun
		p    *proc
		addr string
	}
	var all []started
	for i, r := range runs {
		r.t = t
		addr := jetmailtest.FreePort(t)
		argv := r.argv()
		dir := fx.dir
		if r.path == "dev" {
			// Another dev node, in a folder of its own, on ports of its own.
			dir = t.TempDir()
			argv = append(argv, "--nats-listen", jetmailtest.FreePort(t))
		} else {
			argv = append(argv, "--node-id", fmt.Sprint(11+i))
		}
		argv = append(argv, "--http", addr)
		t.Logf("README:%d: jetmail %s", r.ex.line, strings.Join(argv, " "))
		all = append(all, started{r, start(t, dir, argv...), addr})
	}
	for _, s := range all {
		t.Run(fmt.Sprintf("L%d_%s", s.r.ex.line, s.r), func(t *testing.T) {
			waitReady(t, s.p, s.addr)
			require.Equal(t, 0, s.p.stop(20*time.Second), s.p.Logs())
			require.Contains(t, s.p.Logs(), "node stopped")
		})
	}
}

// readmeFixture is the node under test and what the runs make on it.
type readmeFixture struct {
	t                                     *testing.T
	dir, cfg                              string
	natsAddr, natsURL, httpAddr, smtpAddr string
	mta                                   *remoteMTA
	seq                                   int
}

// cli runs jetmail and requires exit 0.
func (f *readmeFixture) cli(args ...string) string {
	f.t.Helper()
	out, code := runIn(f.t, f.dir, args...)
	require.Equal(f.t, 0, code, "jetmail %s\n%s", strings.Join(args, " "), out)
	return out
}

// roles is `roles show -o json`.
func (f *readmeFixture) roles() rolesReport {
	return rolesJSON(f.t, f.natsURL, "--nats-nkey", filepath.Join(f.dir, "data", "nats-user.nk"))
}

func (r *readmeRun) name(prefix string) string {
	if n := r.vals["name"]; n != "" {
		return n
	}
	r.fx.seq++
	r.vals["name"] = fmt.Sprintf("readme%s%d", prefix, r.fx.seq)
	return r.vals["name"]
}

// task makes a Pending task due in an hour, once per run.
func (r *readmeRun) task() string {
	if id := r.vals["task"]; id != "" {
		return id
	}
	r.vals["task"] = r.fx.newTask("42", "+1h")
	return r.vals["task"]
}

func (f *readmeFixture) newTask(account, due string) string {
	return strings.TrimSpace(f.cli("task", "create", "IndexDocument", "--field", "accountId="+account,
		"--field", "documentId=7", "--field", "documentType=email", "--due", due))
}

// taskJSON is the task as `task get -o json` shows it, nil when not found.
func (f *readmeFixture) taskJSON(id string) map[string]any {
	out, code := runIn(f.t, f.dir, "task", "get", id, "-o", "json")
	if code == 1 && strings.Contains(out, "not found") {
		return nil
	}
	require.Equal(f.t, 0, code, out)
	var list []map[string]any
	require.NoError(f.t, json.Unmarshal([]byte(out), &list), out)
	require.Len(f.t, list, 1, out)
	return list[0]
}

// due reads a task's status.due or a queue entry's due.
func (f *readmeFixture) due(obj map[string]any) time.Time {
	s, _ := obj["due"].(string)
	if st, ok := obj["status"].(map[string]any); ok {
		s, _ = st["due"].(string)
	}
	d, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(f.t, err, "due of %v", obj)
	return d
}

func (f *readmeFixture) requireDue(obj map[string]any, in time.Duration) {
	f.t.Helper()
	require.NotNil(f.t, obj)
	require.WithinDuration(f.t, time.Now().Add(in), f.due(obj), 2*time.Minute)
}

// entry makes a queue entry to readme.test, once per run: deferred by the
// remote MTA, it waits an hour for its next attempt.
func (r *readmeRun) entry() string {
	if id := r.vals["entry"]; id != "" {
		return id
	}
	return r.entryAt("readme.test")
}

func (r *readmeRun) entryAt(domain string) string {
	f := r.fx
	f.seq++
	rcpt := fmt.Sprintf("rcpt%d@%s", f.seq, domain)
	header := fmt.Sprintf("readme-%d@example.org", f.seq)
	require.NoError(f.t, sendMailBody(f.smtpAddr, rcpt, fmt.Sprintf("From: alice@example.org\r\nMessage-ID: <%s>\r\nSubject: readme %d\r\n\r\nhello\r\n", header, f.seq)))
	var entry map[string]any
	require.Eventually(f.t, func() bool {
		var list []map[string]any
		out := f.cli("queue", "ls", "-o", "json", "--domain", domain)
		require.NoError(f.t, json.Unmarshal([]byte(out), &list), out)
		for _, e := range list {
			if e["rcpt"] == rcpt && e["attempts"].(float64) >= 1 {
				entry = e
				return true
			}
		}
		return false
	}, 15*time.Second, 50*time.Millisecond, "the entry for %s, deferred once", rcpt)
	r.vals["entry"], r.vals["rcpt"], r.vals["domain"] = entry["id"].(string), rcpt, domain
	r.vals["messageId"], r.vals["messageIdHeader"] = entry["messageId"].(string), header
	return r.vals["entry"]
}

func (r *readmeRun) heldEntry() string {
	id := r.entry()
	r.fx.cli("queue", "hold", id)
	return id
}

// entryJSON is the entry as `queue show -o json` shows it, nil when gone.
func (f *readmeFixture) entryJSON(id string) map[string]any {
	var list []map[string]any
	out := f.cli("queue", "show", id, "-o", "json")
	require.NoError(f.t, json.Unmarshal([]byte(out), &list), out)
	if len(list) == 0 {
		return nil
	}
	return list[0]
}

func (f *readmeFixture) waitGone(id string) {
	require.Eventually(f.t, func() bool { return f.entryJSON(id) == nil }, 10*time.Second, 100*time.Millisecond, "entry %s leaves the queue", id)
}

// email delivers an email to alice, once per run, and returns its id.
func (r *readmeRun) email() string {
	if id := r.vals["email"]; id != "" {
		return id
	}
	f := r.fx
	f.seq++
	word := fmt.Sprintf("zebra%d", f.seq)
	subject := "readme " + word
	require.NoError(f.t, sendMailBody(f.smtpAddr, "alice@example.org", "From: alice@example.org\r\nSubject: "+subject+"\r\n\r\nthe word is "+word+"\r\n"))
	require.Eventually(f.t, func() bool {
		var list []map[string]any
		out := f.cli("mail", "ls", "alice", "-o", "json")
		require.NoError(f.t, json.Unmarshal([]byte(out), &list), out)
		for _, e := range list {
			if b, _ := json.Marshal(e); strings.Contains(string(b), subject) {
				r.vals["email"] = e["id"].(string)
				return true
			}
		}
		return false
	}, 15*time.Second, 100*time.Millisecond, "the email to alice arrives")
	r.vals["word"] = word
	return r.vals["email"]
}

// emailIn is the email as `mail ls -o json` lists it in mailbox, "" when
// it is not there.
func (f *readmeFixture) emailIn(mailbox, id string) string {
	var list []map[string]any
	out := f.cli("mail", "ls", "alice", "--mailbox", mailbox, "-o", "json")
	require.NoError(f.t, json.Unmarshal([]byte(out), &list), out)
	for _, e := range list {
		if e["id"] == id {
			b, _ := json.Marshal(e)
			return string(b)
		}
	}
	return ""
}

// mbox writes an mbox file of one message with a subject of its own.
func (r *readmeRun) mbox() string {
	f := r.fx
	f.seq++
	r.vals["subject"] = fmt.Sprintf("imported %d", f.seq)
	path := filepath.Join(f.t.TempDir(), "in.mbox")
	require.NoError(f.t, os.WriteFile(path, []byte(fmt.Sprintf("From alice@example.org Thu Jan  1 00:00:00 2026\nFrom: alice@example.org\nMessage-ID: <mbox-%d@example.org>\nSubject: %s\n\nimported\n", f.seq, r.vals["subject"])), 0o600))
	return path
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// jetmailCommands lists jetmail's commands from its --help, and which of
// them have subcommands.
func jetmailCommands(t *testing.T) (cmds, withSub map[string]bool) {
	commands := func(args ...string) []string {
		out, code := run(t, append(args, "--help")...)
		require.Equal(t, 0, code, out)
		_, list, ok := strings.Cut(out, "COMMANDS:\n")
		if !ok {
			return nil
		}
		var names []string
		for _, l := range strings.Split(list, "\n") {
			if !strings.HasPrefix(l, "   ") {
				break
			}
			name := strings.TrimSuffix(strings.Fields(l)[0], ",")
			if name != "help" {
				names = append(names, name)
			}
		}
		return names
	}
	cmds, withSub = map[string]bool{}, map[string]bool{}
	for _, c := range commands() {
		cmds[c] = true
		withSub[c] = len(commands(c)) > 0
	}
	return cmds, withSub
}

// commandPath is the command a run calls: "task reschedule", "health".
func commandPath(tokens []string, withSub map[string]bool) string {
	if len(tokens) < 2 {
		return ""
	}
	if withSub[tokens[1]] && len(tokens) > 2 && !strings.HasPrefix(tokens[2], "-") {
		return tokens[1] + " " + tokens[2]
	}
	return tokens[1]
}

var readmeSpan = regexp.MustCompile("`([^`]+)`")

// readmeExamples extracts the examples of the README (see TestReadme).
func readmeExamples(readme string, cmds map[string]bool) []readmeExample {
	var out []readmeExample
	add := func(line int, text string) {
		out = append(out, readmeExample{line: line, text: strings.Join(strings.Fields(text), " ")})
	}
	lines := strings.Split(readme, "\n")
	inFence, section := false, ""
	pending, pendingLine := "", 0
	for i, l := range lines {
		if lang, ok := strings.CutPrefix(l, "```"); ok {
			if inFence && pending != "" {
				add(pendingLine, pending) // an unclosed quote: shown as written, so that it fails
			}
			// Shell blocks only: ```sh, ```console or plain.
			inFence = !inFence && (lang == "" || lang == "sh" || lang == "console")
			pending = ""
			continue
		}
		if inFence {
			if pending == "" {
				pendingLine = i + 1
				pending = l
			} else {
				pending += "\n" + l
			}
			cmds, open := shellCommands(pending)
			if open {
				continue // a quoted argument goes on to the next line
			}
			for _, c := range cmds {
				add(pendingLine, c)
			}
			pending = ""
			continue
		}
		if strings.HasPrefix(l, "## ") {
			section = l
		}
		if section == "## Commands" && strings.HasPrefix(l, "| `") {
			cells := strings.Split(strings.ReplaceAll(l, `\|`, "\x00"), "|")
			prev := ""
			for c, cell := range cells[1 : len(cells)-1] {
				for _, m := range readmeSpan.FindAllStringSubmatch(cell, -1) {
					s := strings.ReplaceAll(m[1], "\x00", "|")
					words := strings.Fields(s)
					switch {
					case words[0] == "jetmail":
					case cmds[words[0]] && (c == 0 || len(words) > 1):
						s = "jetmail " + s
					case c > 0:
						continue
					case strings.HasPrefix(words[0], "-"):
						// `jetmail task retry ID...` / `--all [filters]`
						s = strings.Join(commandWords(prev), " ") + " " + s
					default:
						// `jetmail task-manager get` / `update ...`
						s = "jetmail " + strings.Fields(prev)[1] + " " + s
					}
					if c == 0 {
						prev = s
					}
					add(i+1, s)
				}
			}
			continue
		}
		for _, m := range readmeSpan.FindAllStringSubmatch(l, -1) {
			if strings.HasPrefix(m[1], "jetmail ") || strings.HasPrefix(m[1], "bin/jetmail ") {
				add(i+1, m[1])
			}
		}
	}
	return out
}

// commandWords are the leading words of a synopsis naming the command.
func commandWords(synopsis string) []string {
	var out []string
	for _, w := range strings.Fields(synopsis) {
		if strings.HasPrefix(w, "-") || strings.HasPrefix(w, "[") || isPlaceholder(strings.TrimSuffix(w, "...")) {
			break
		}
		out = append(out, w)
	}
	return out
}

// shellCommands splits a shell line into its commands: comments dropped,
// split at ';' outside quotes. open tells of a quote left open.
func shellCommands(s string) (cmds []string, open bool) {
	var out []string
	var cur strings.Builder
	quote := rune(0)
	prevSpace := true
	for _, c := range s {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && prevSpace:
			// a comment, to the end of the line
			quote = '\n'
			continue
		case c == ';':
			out = append(out, cur.String())
			cur.Reset()
			prevSpace = true
			continue
		}
		if quote == '\n' && c != '\n' {
			continue
		}
		prevSpace = c == ' ' || c == '\t' || c == '\n'
		cur.WriteRune(c)
	}
	out = append(out, cur.String())
	for _, c := range out {
		if c = strings.TrimSpace(c); c != "" {
			cmds = append(cmds, c)
		}
	}
	return cmds, quote != 0 && quote != '\n'
}

// shellWords splits a command into words, as a shell would (quotes
// removed; no expansion).
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	quote, in := rune(0), false
	for _, c := range s {
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(c)
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == ' ' || c == '\t' || c == '\n':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(c)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// expandSynopsis turns a synopsis into the runs it describes: without its
// [optional] parts and with all of them, once per alternative of a|b;
// "X..." is one X, and a "..." that follows a value is dropped.
func expandSynopsis(words []string) [][]string {
	type word struct {
		text     string
		optional bool
	}
	var ws []word
	hasOptional, inGroup := false, false
	for _, w := range words {
		if strings.HasPrefix(w, "[") {
			inGroup, hasOptional = true, true
			w = w[1:]
		}
		closing := strings.HasSuffix(w, "]")
		w = strings.TrimSuffix(w, "]")
		ws = append(ws, word{w, inGroup})
		if closing {
			inGroup = false
		}
	}
	forms := [][]string{}
	for _, full := range []bool{false, true} {
		if full && !hasOptional {
			break
		}
		forms = append(forms, nil)
		for _, w := range ws {
			if w.optional && !full {
				continue
			}
			forms[len(forms)-1] = append(forms[len(forms)-1], w.text)
		}
	}
	var out [][]string
	seen := map[string]bool{}
	var alternatives func(prefix, rest []string)
	alternatives = func(prefix, rest []string) {
		if len(rest) == 0 {
			if k := strings.Join(prefix, " "); !seen[k] {
				seen[k] = true
				out = append(out, slices.Clone(prefix))
			}
			return
		}
		w := rest[0]
		if w == "..." && !strings.HasPrefix(prefix[len(prefix)-1], "-") {
			alternatives(prefix, rest[1:])
			return
		}
		if w != "..." {
			w = strings.TrimSuffix(w, "...")
		}
		for _, alt := range strings.Split(w, "|") {
			alternatives(append(prefix, alt), rest[1:])
		}
	}
	for _, f := range forms {
		alternatives(f[:1:1], f[1:])
	}
	return out
}
