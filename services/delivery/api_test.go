package delivery_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/delivery"
	"github.com/jetmail/jetmail/services/smtp"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
)

// apiEnv is a mail node with its admin API, called with raw JSON so that the
// tests see the wire format as a client does.
type apiEnv struct {
	t    *testing.T
	url  string
	smtp string
}

func startAPINode(t *testing.T) *apiEnv {
	t.Helper()
	srv := jetmailtest.Server(t)
	cfg := mailNodeConfig(t, "1", "mx.example.org", newSink(t), 2)
	cfg.API.Users = map[string]config.APIUser{
		"admin":  {Secret: "admin-secret-123", Permissions: []string{"admin"}},
		"reader": {Secret: "reader-secret-123", Permissions: []string{delivery.PermQueueGet, delivery.PermQueueQuery}},
	}
	q := mailqueue.New(mailqueue.Params{})
	in, out := smtp.New(cfg, q), delivery.New(cfg, q)
	n := jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, q, in, out)
	return &apiEnv{t: t, url: "http://" + n.HTTPAddr() + "/jmap", smtp: in.Addrs()[0]}
}

// call runs one method as user and returns the response's name and
// arguments, decoded generically.
func (e *apiEnv) call(secret, method, args string) (string, map[string]any) {
	e.t.Helper()
	body := `{"using": ["urn:ietf:params:jmap:core", "urn:jetmail:params:jmap:admin"], "methodCalls": [["` + method + `", ` + args + `, "c0"]]}`
	req, err := http.NewRequest(http.MethodPost, e.url, bytes.NewBufferString(body))
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	require.Equal(e.t, http.StatusOK, resp.StatusCode, string(data))
	var r struct {
		MethodResponses [][]json.RawMessage `json:"methodResponses"`
		SessionState    string              `json:"sessionState"`
	}
	require.NoError(e.t, json.Unmarshal(data, &r), string(data))
	require.Len(e.t, r.MethodResponses, 1, string(data))
	require.Equal(e.t, "0", r.SessionState)
	var name, id string
	var out map[string]any
	require.NoError(e.t, json.Unmarshal(r.MethodResponses[0][0], &name))
	require.NoError(e.t, json.Unmarshal(r.MethodResponses[0][1], &out))
	require.NoError(e.t, json.Unmarshal(r.MethodResponses[0][2], &id))
	require.Equal(e.t, "c0", id)
	return name, out
}

func (e *apiEnv) admin(method, args string) map[string]any {
	e.t.Helper()
	name, out := e.call("admin-secret-123", method, args)
	require.Equal(e.t, method, name, "%v", out)
	return out
}

// adminError runs a call that must fail and returns the method error.
func (e *apiEnv) adminError(method, args string) map[string]any {
	e.t.Helper()
	name, out := e.call("admin-secret-123", method, args)
	require.Equal(e.t, "error", name, "%v", out)
	return out
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// The queue API's wire format, method by method: the standard JMAP
// envelopes (RFC 8620 5.1, 5.3, 5.5), the queue entry object, errors with a
// type and a description, and export files that import again.
func TestQueueAPIWireFormat(t *testing.T) {
	t.Parallel()
	e := startAPINode(t)

	// Pause the remote queue so that the entries wait, untouched.
	r := e.admin("x:VirtualQueue/set", `{"update": {"remote": {"paused": true}, "nope": {"paused": true}, "local": {"paused": "yes"}}}`)
	require.Equal(t, []string{"accountId", "created", "destroyed", "newState", "notCreated", "notDestroyed", "notUpdated", "oldState", "updated"}, keysOf(r))
	require.Nil(t, r["accountId"])
	require.Equal(t, map[string]any{"remote": nil}, r["updated"])
	notUpdated := r["notUpdated"].(map[string]any)
	require.Equal(t, "notFound", notUpdated["nope"].(map[string]any)["type"])
	require.NotEmpty(t, notUpdated["nope"].(map[string]any)["description"])
	require.Equal(t, map[string]any{"type": "invalidProperties", "properties": []any{"paused"}, "description": "update paused: true or false"}, notUpdated["local"])

	require.NoError(t, send(t, e.smtp, "alice", "alice@example.org", []string{"bob@remote.test", "carol@remote.test"}, msg))
	var ids []string
	require.Eventually(t, func() bool {
		r := e.admin("x:Queue/query", `{"filter": {"domain": "remote.test"}}`)
		for _, id := range r["ids"].([]any) {
			ids = append(ids, id.(string))
		}
		return len(ids) == 2 || func() bool { ids = nil; return false }()
	}, 10*time.Second, 20*time.Millisecond)

	r = e.admin("x:Queue/query", `{"filter": {"domain": "remote.test"}, "position": 1, "limit": 5, "calculateTotal": true}`)
	require.Equal(t, map[string]any{"accountId": nil, "queryState": "0", "canCalculateChanges": false, "position": float64(1), "ids": []any{ids[1]}, "total": float64(2)}, r)

	r = e.admin("x:Queue/get", `{"ids": ["`+ids[0]+`", "nope.0"]}`)
	require.Equal(t, []string{"accountId", "list", "notFound", "state"}, keysOf(r))
	require.Equal(t, []any{"nope.0"}, r["notFound"])
	require.Equal(t, "0", r["state"])
	entry := r["list"].([]any)[0].(map[string]any)
	require.Equal(t, []string{"attempts", "due", "held", "id", "maxAttempts", "messageId", "queue", "rcpt", "receivedAt", "schedule", "sender", "size", "source"}, keysOf(entry))
	require.Equal(t, ids[0], entry["id"])
	require.Equal(t, "bob@remote.test", entry["rcpt"])
	require.Equal(t, "alice@example.org", entry["sender"])
	require.Equal(t, "remote", entry["queue"])
	require.Equal(t, "remote", entry["schedule"])
	require.Equal(t, float64(0), entry["attempts"])
	require.Equal(t, float64(5), entry["maxAttempts"])
	require.Equal(t, false, entry["held"])
	for _, k := range []string{"due", "receivedAt"} {
		_, err := time.Parse(time.RFC3339Nano, entry[k].(string))
		require.NoError(t, err, k)
	}

	later := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	r = e.admin("x:Queue/set", `{"update": {"`+ids[0]+`": {"held": true}, "`+ids[1]+`": {"due": "`+later.Format(time.RFC3339)+`"}, "nope.0": {"held": true}, "`+ids[1]+`x": {"rcpt": "x@y"}}}`)
	require.Equal(t, []string{"accountId", "created", "destroyed", "newState", "notCreated", "notDestroyed", "notUpdated", "oldState", "updated"}, keysOf(r))
	updated := r["updated"].(map[string]any)
	require.Equal(t, true, updated[ids[0]].(map[string]any)["held"])
	require.Equal(t, later.Format(time.RFC3339), updated[ids[1]].(map[string]any)["due"])
	require.Equal(t, []string{"due", "held"}, keysOf(updated[ids[1]].(map[string]any)))
	notUpdated = r["notUpdated"].(map[string]any)
	require.Equal(t, "notFound", notUpdated["nope.0"].(map[string]any)["type"])
	require.Equal(t, map[string]any{"type": "invalidProperties", "properties": []any{"rcpt"}, "description": "rcpt: cannot be changed: update due (null to retry now) or held"}, notUpdated[ids[1]+"x"])
	require.Equal(t, map[string]any{}, r["created"])
	require.Equal(t, map[string]any{}, r["notCreated"])
	require.Equal(t, []any{}, r["destroyed"])

	r = e.admin("x:Queue/query", `{"filter": {"status": "held"}}`)
	require.Equal(t, []any{ids[0]}, r["ids"])

	// qshape: one held and one queued, both for remote.test, both young.
	r = e.admin("x:Queue/shape", `{"filter": {"domain": "remote.test"}}`)
	require.Equal(t, []string{"buckets", "domains", "queues", "total"}, keysOf(r))
	require.Equal(t, []any{"5m", "10m", "20m", "40m", "1h20m", "2h40m", "5h20m", "10h40m", "21h20m"}, r["buckets"])
	require.Equal(t, float64(2), r["total"])
	require.Equal(t, []any{map[string]any{"domain": "remote.test", "total": float64(2),
		"counts": []any{float64(2), float64(0), float64(0), float64(0), float64(0), float64(0), float64(0), float64(0), float64(0), float64(0)}}}, r["domains"])
	var fig map[string]any
	for _, q := range r["queues"].([]any) {
		if q.(map[string]any)["id"] == "remote" {
			fig = q.(map[string]any)
		}
	}
	require.Equal(t, float64(1), fig["queued"], "%v", fig)
	require.Equal(t, float64(1), fig["held"], "%v", fig)
	require.Equal(t, float64(0), fig["retrying"], "%v", fig)
	require.Equal(t, true, fig["paused"], "%v", fig)
	require.Contains(t, fig, "inFlight")
	require.Contains(t, fig, "oldest")
	require.Equal(t, map[string]any{"type": "invalidArguments", "description": "top must be between 1 and 1000"}, e.adminError("x:Queue/shape", `{"top": -1}`))
	require.Equal(t, float64(0), e.admin("x:Queue/shape", `{"filter": {"domain": "elsewhere.test"}}`)["total"])

	// A reader may look but not change.
	name, r := e.call("reader-secret-123", "x:Queue/set", `{"update": {"`+ids[0]+`": {"held": false}}, "destroy": ["`+ids[1]+`"]}`)
	require.Equal(t, "x:Queue/set", name)
	require.Equal(t, "forbidden", r["notUpdated"].(map[string]any)[ids[0]].(map[string]any)["type"])
	require.Equal(t, "forbidden", r["notDestroyed"].(map[string]any)[ids[1]].(map[string]any)["type"])

	r = e.admin("x:Queue/export", `{"ids": ["`+ids[0]+`", "`+ids[1]+`", "nope.0"]}`)
	require.Equal(t, []string{"messages"}, keysOf(r))
	msgs := r["messages"].([]any)
	require.Len(t, msgs, 1, "one message with both its recipients")
	exported := msgs[0].(map[string]any)
	require.Equal(t, []string{"body", "envelope", "recipients"}, keysOf(exported))
	require.Equal(t, []any{
		map[string]any{"address": "bob@remote.test"},
		map[string]any{"address": "carol@remote.test"},
	}, exported["recipients"])
	require.Equal(t, "alice@example.org", exported["envelope"].(map[string]any)["sender"])

	r = e.admin("x:Queue/set", `{"destroy": ["`+ids[1]+`", "nope.0"], "onDestroyBounce": false}`)
	require.Equal(t, []any{ids[1]}, r["destroyed"])
	require.Equal(t, "notFound", r["notDestroyed"].(map[string]any)["nope.0"].(map[string]any)["type"])

	// The third is written with the names of older export files ("Address").
	r = e.admin("x:Queue/import", `{"messages": [`+mustJSON(t, exported)+`, {"envelope": {}, "recipients": [], "body": "aGk="}, {"envelope": {}, "recipients": [{"Address": "nobody"}], "body": "aGk="}]}`)
	require.Equal(t, []string{"imported", "notImported"}, keysOf(r))
	require.Len(t, r["imported"], 1)
	require.Equal(t, map[string]any{"1": "needs a base64 body and at least one recipient", "2": `recipient "nobody" is not an address`}, r["notImported"])

	r = e.admin("x:VirtualQueue/get", `{}`)
	require.Equal(t, []string{"accountId", "list", "notFound", "state"}, keysOf(r))
	var remote map[string]any
	for _, v := range r["list"].([]any) {
		if v.(map[string]any)["id"] == "remote" {
			remote = v.(map[string]any)
		}
	}
	require.Equal(t, "remote", remote["id"])
	require.Equal(t, float64(2), remote["threadsPerNode"])
	require.Equal(t, true, remote["paused"])
	require.Contains(t, remote, "queued")
	r = e.admin("x:VirtualQueue/get", `{"ids": ["local", "nope"]}`)
	require.Len(t, r["list"], 1)
	require.Equal(t, []string{"id", "paused", "queued", "threadsPerNode"}, keysOf(r["list"].([]any)[0].(map[string]any)))
	require.Equal(t, []any{"nope"}, r["notFound"])

	for _, tc := range []struct{ method, args, typ, description string }{
		{"x:Queue/get", `{}`, "invalidArguments", "ids is required: use x:Queue/query to list entries"},
		{"x:Queue/set", `{"create": {"a": {}}}`, "invalidArguments", "queue entries are created by SMTP or x:Queue/import, not by x:Queue/set"},
		{"x:Queue/query", `{"filter": {"colour": "red"}}`, "unsupportedFilter", `unknown argument "colour" (filter properties: queue, domain, sender, status, dueAfter, dueBefore)`},
		{"x:Queue/query", `{"filter": {"status": "lost"}}`, "invalidArguments", `filter/status: "lost" is not one of queued, retrying, held`},
		{"x:Queue/query", `{"filter": {"dueBefore": "soon"}}`, "invalidArguments", `filter/dueBefore: bad date-time "soon": use RFC 3339, such as 2026-01-02T15:04:05Z`},
		{"x:Queue/query", `{"position": -1}`, "invalidArguments", "position must be 0 or more, got -1"},
		{"x:Queue/query", `{"sort": [{"property": "due"}]}`, "unsupportedSort", "queue entries are listed soonest due first; sort is not supported"},
		{"x:Queue/query", `{"limit": "ten"}`, "invalidArguments", "argument limit must be a whole number"},
		{"x:VirtualQueue/set", `{"destroy": ["remote"]}`, "invalidArguments", `virtual queues are defined in the configuration (queue.virtual.<name>); only update {"paused": ...} is accepted`},
	} {
		require.Equal(t, map[string]any{"type": tc.typ, "description": tc.description}, e.adminError(tc.method, tc.args), tc.method+" "+tc.args)
	}
}

// x:Queue/import refuses, per message and precisely, an address (sender or
// recipient) or an envelope field with a control character: CR and LF
// would inject SMTP commands or header lines. Nothing of a refused message
// is queued; the good message beside them is.
func TestQueueImportRefusesControlCharacters(t *testing.T) {
	t.Parallel()
	e := startAPINode(t)
	e.admin("x:VirtualQueue/set", `{"update": {"remote": {"paused": true}}}`)
	msg := func(sender string, rcpts ...string) map[string]any {
		var rs []any
		for _, r := range rcpts {
			rs = append(rs, map[string]any{"address": r})
		}
		return map[string]any{"envelope": map[string]any{"sender": sender}, "recipients": rs, "body": "U3ViamVjdDogaGkNCg0KaGkNCg=="}
	}
	withEnvID := msg("alice@example.org", "bob@remote.test")
	withEnvID["envelope"].(map[string]any)["envId"] = "id\r\nX-Injected: 1"
	withORCPT := msg("alice@example.org", "bob@remote.test")
	withORCPT["recipients"].([]any)[0].(map[string]any)["orcpt"] = "rfc822;bob@remote.test\n"
	messages := []any{
		msg("alice@example.org", "bob@remote.test\r\nRCPT TO:<mallory@evil.test>"),
		msg("alice@example.org\n", "bob@remote.test"),
		msg("alice@example.org", "bob\x00@remote.test", "carol@remote.test\t"),
		msg("alice@example.org", "dave@remote.test\u0085"),
		withEnvID,
		withORCPT,
		msg("", "erin@remote.test"), // the null sender is fine
		msg("alice@example.org", "bob@remote.test", "not an address"),
	}
	r := e.admin("x:Queue/import", `{"messages": `+mustJSON(t, messages)+`}`)
	const why = "has a control character (U+%s at byte %d): CR, LF, NUL and other control characters are not allowed"
	ctl := func(code string, at int) string { return fmt.Sprintf(why, code, at) }
	require.Equal(t, map[string]any{
		"0": `recipient "bob@remote.test\r\nRCPT TO:<mallory@evil.test>" ` + ctl("000D", 15),
		"1": `sender "alice@example.org\n" ` + ctl("000A", 17),
		"2": `recipient "bob\x00@remote.test" ` + ctl("0000", 3) + `; recipient "carol@remote.test\t" ` + ctl("0009", 17),
		"3": `recipient "dave@remote.test\u0085" ` + ctl("0085", 16),
		"4": `envelope envId "id\r\nX-Injected: 1" ` + ctl("000D", 2),
		"5": `recipient 0 ORCPT "rfc822;bob@remote.test\n" ` + ctl("000A", 22),
		"7": `recipient "not an address" is not an address`,
	}, r["notImported"])
	require.Len(t, r["imported"], 1, "only the message from the null sender")

	// What is queued is exactly that message's one recipient.
	q := e.admin("x:Queue/query", `{"calculateTotal": true}`)
	require.Equal(t, float64(1), q["total"])
	got := e.admin("x:Queue/get", `{"ids": `+mustJSON(t, q["ids"])+`}`)
	require.Equal(t, "erin@remote.test", got["list"].([]any)[0].(map[string]any)["rcpt"])
}

// One x:Queue/import takes at most 1000 messages.
func TestQueueImportLimit(t *testing.T) {
	t.Parallel()
	e := startAPINode(t)
	m := `{"envelope": {"sender": "alice@example.org"}, "recipients": [{"Address": "bob@remote.test"}], "body": "aGk="}`
	r := e.adminError("x:Queue/import", `{"messages": [`+strings.TrimSuffix(strings.Repeat(m+",", 1001), ",")+`]}`)
	require.Equal(t, map[string]any{"type": "requestTooLarge", "description": "1001 messages; at most 1000 per x:Queue/import"}, r)
	q := e.admin("x:Queue/query", `{"calculateTotal": true}`)
	require.Equal(t, float64(0), q["total"], "nothing of a refused call is queued")
}
