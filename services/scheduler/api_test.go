package scheduler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/scheduler"
	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

const (
	adminSecret  = "admin-secret-123"
	readerSecret = "reader-secret-123"
)

type env struct {
	n      *node.Node
	admin  *jmap.Client
	reader *jmap.Client
	url    string
	nc     *nats.Conn
}

func setup(t *testing.T) *env {
	t.Helper()
	srv := jetmailtest.Server(t)
	nc := jetmailtest.Conn(t, srv)
	cfg := jetmailtest.Config(t, "1", func(c *config.Config) {
		c.Task.Periodic = map[string]config.Periodic{}
		c.API.Users = map[string]config.APIUser{
			"admin":  {Secret: adminSecret, Permissions: []string{"admin"}},
			"reader": {Secret: readerSecret, Permissions: []string{"sysTaskGet", "sysTaskQuery", "sysTaskManagerGet"}},
		}
	})
	n := jetmailtest.Node(t, nc, cfg, scheduler.New(cfg, taskmanager.Params{}))
	url := "http://" + n.HTTPAddr() + "/jmap"
	return &env{n: n, url: url, nc: nc,
		admin:  &jmap.Client{URL: url, Authorization: "Bearer " + adminSecret},
		reader: &jmap.Client{URL: url, Authorization: "Basic " + basic("reader", readerSecret)}}
}

func basic(u, p string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(u, p)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

func (e *env) raw(t *testing.T, auth, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	require.NoError(t, json.Unmarshal(data, &out), string(data))
	return resp.StatusCode, out
}

type setResp = adminapi.TaskSetResponse

func (e *env) set(t *testing.T, c *jmap.Client, args string) setResp {
	t.Helper()
	var r setResp
	require.NoError(t, c.Call(context.Background(), "x:Task/set", json.RawMessage(args), &r))
	return r
}

func (e *env) total(t *testing.T) int {
	t.Helper()
	var r struct{ Total int }
	require.NoError(t, e.admin.Call(context.Background(), "x:Task/query", map[string]any{}, &r))
	return r.Total
}

func TestRequestLevelErrors(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, tc := range []struct {
		name, auth, body string
		status           int
		typ              string
	}{
		{"no credentials", "", `{}`, 401, "unauthorized"},
		{"wrong secret", "Bearer nope-nope-nope", `{}`, 401, "unauthorized"},
		{"wrong user for secret", "Basic " + basic("admin", readerSecret), `{}`, 401, "unauthorized"},
		{"malformed JSON", "Bearer " + adminSecret, `{"using": [`, 400, "notJSON"},
		{"not a request", "Bearer " + adminSecret, `{"methodCalls": 5}`, 400, "notRequest"},
		{"unknown capability", "Bearer " + adminSecret, `{"using": ["urn:x"], "methodCalls": []}`, 400, "unknownCapability"},
	} {
		status, body := e.raw(t, tc.auth, tc.body)
		require.Equal(t, tc.status, status, tc.name)
		require.Equal(t, "urn:ietf:params:jmap:error:"+tc.typ, body["type"], tc.name)
		require.NotEmpty(t, body["detail"], tc.name)
	}
	err := e.admin.Call(context.Background(), "x:Task/frobnicate", map[string]any{}, nil)
	require.ErrorContains(t, err, "unknownMethod")
	err = e.admin.Call(context.Background(), "x:Task/get", []int{1}, nil)
	require.ErrorContains(t, err, "invalidArguments: the arguments of x:Task/get must be a JSON object")
	err = e.admin.Call(context.Background(), "x:Task/get", map[string]any{"idz": []string{}}, nil)
	require.ErrorContains(t, err, `invalidArguments: unknown argument "idz"`)
}

func TestCreateGetQueryUpdateDestroy(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	due := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	r := e.set(t, e.admin, `{"create": {
		"a": {"@type": "IndexDocument", "accountId": "acct1", "documentId": "d1", "documentType": "email", "status": {"@type": "Pending", "due": "`+due.Format(time.RFC3339)+`"}},
		"b": {"@type": "AcmeRenewal", "domainId": "example.org", "status": {"@type": "Pending", "due": "`+due.Add(time.Minute).Format(time.RFC3339)+`"}}}}`)
	require.Empty(t, r.NotCreated)
	require.Len(t, r.Created, 2)
	idA, idB := r.Created["a"].ID, r.Created["b"].ID

	var got struct {
		List     []map[string]any `json:"list"`
		NotFound []string         `json:"notFound"`
	}
	require.NoError(t, e.reader.Call(ctx, "x:Task/get", map[string]any{"ids": []string{idA, "missing"}}, &got))
	require.Len(t, got.List, 1)
	require.Equal(t, []string{"missing"}, got.NotFound)
	require.Equal(t, "IndexDocument", got.List[0]["@type"])
	require.Equal(t, "acct1", got.List[0]["accountId"])
	require.Equal(t, map[string]any{"@type": "Pending", "due": due.Format(time.RFC3339)}, got.List[0]["status"])

	var q struct {
		IDs   []string `json:"ids"`
		Total int      `json:"total"`
	}
	require.Eventually(t, func() bool { return e.total(t) == 2 }, 2*time.Second, 10*time.Millisecond)
	require.NoError(t, e.reader.Call(ctx, "x:Task/query", map[string]any{"filter": map[string]any{"accountId": "acct1"}}, &q))
	require.Equal(t, []string{idA}, q.IDs)
	require.NoError(t, e.reader.Call(ctx, "x:Task/query", map[string]any{"sort": []any{map[string]any{"property": "due", "isAscending": false}}, "limit": 1}, &q))
	require.Equal(t, []string{idB}, q.IDs)
	require.Equal(t, 2, q.Total)

	// Reschedule, then retry, then destroy.
	later := due.Add(2 * time.Hour)
	r = e.set(t, e.admin, `{"update": {"`+idA+`": {"status/due": "`+later.Format(time.RFC3339)+`"}}}`)
	require.Empty(t, r.NotUpdated)
	var projected struct{ List []map[string]any }
	require.NoError(t, e.admin.Call(ctx, "x:Task/get", map[string]any{"ids": []string{idA}, "properties": []string{"status"}}, &projected))
	require.Equal(t, later.Format(time.RFC3339), projected.List[0]["status"].(map[string]any)["due"])
	require.NotContains(t, projected.List[0], "accountId", "only the requested properties")

	r = e.set(t, e.admin, `{"update": {"`+idB+`": {"status": {"@type": "Pending", "due": "`+later.Format(time.RFC3339)+`"}}}, "destroy": ["`+idA+`", "nope"]}`)
	require.Empty(t, r.NotUpdated)
	require.Equal(t, []string{idA}, r.Destroyed)
	require.Equal(t, "notFound", r.NotDestroyed["nope"].Type)
	require.Eventually(t, func() bool { return e.total(t) == 1 }, 2*time.Second, 10*time.Millisecond)
}

// Bad input gets a precise error naming the property, and nothing is written.
func TestSetErrorsWriteNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	r := e.set(t, e.admin, `{"create": {
		"unknownType": {"@type": "IndexEverything"},
		"wrongType": {"@type": "IndexDocument", "accountId": 42, "documentId": "d", "documentType": "email"},
		"badDate": {"@type": "IndexTrace", "traceId": "t", "status": {"@type": "Pending", "due": "next tuesday"}},
		"badEnum": {"@type": "SpamFilterMaintenance", "maintenanceType": "burn"},
		"missing": {"@type": "IndexDocument"},
		"unknownProp": {"@type": "AcmeRenewal", "domainId": "d", "priority": 1},
		"serverOnly": {"@type": "CalendarAlarmEmail", "accountId": "a", "documentId": "d", "alarmId": "x", "eventId": "e", "eventStart": "2026-01-01T10:00:00Z", "eventEnd": "2026-01-01T11:00:00Z", "eventStartTz": "UTC", "eventEndTz": "UTC"}
	}, "update": {"nope": {"status/due": "2030-01-01T00:00:00Z"}}}`)
	require.Empty(t, r.Created)
	want := map[string]struct {
		typ   string
		props []string
	}{
		"unknownType": {"invalidProperties", []string{"@type"}},
		"wrongType":   {"invalidProperties", []string{"accountId"}},
		"badDate":     {"invalidProperties", []string{"status/due"}},
		"badEnum":     {"invalidProperties", []string{"maintenanceType"}},
		"missing":     {"invalidProperties", []string{"accountId", "documentId", "documentType"}},
		"unknownProp": {"invalidProperties", []string{"priority"}},
		"serverOnly":  {"forbidden", nil},
	}
	require.Len(t, r.NotCreated, len(want))
	for cid, w := range want {
		require.Equal(t, w.typ, r.NotCreated[cid].Type, cid)
		require.Equal(t, w.props, r.NotCreated[cid].Properties, cid)
		require.NotEmpty(t, r.NotCreated[cid].Description, cid)
	}
	require.Equal(t, "notFound", r.NotUpdated["nope"].Type)
	require.Equal(t, 0, e.total(t), "nothing may be written")

	// Invalid updates of a real task.
	r = e.set(t, e.admin, `{"create": {"x": {"@type": "IndexTrace", "traceId": "t", "status": {"@type": "Pending", "due": "2030-01-01T00:00:00Z"}}}}`)
	id := r.Created["x"].ID
	r = e.set(t, e.admin, `{"update": {"`+id+`": {"status": {"@type": "Failed"}}}}`)
	require.Equal(t, []string{"status/@type"}, r.NotUpdated[id].Properties)
	r = e.set(t, e.admin, `{"update": {"`+id+`": {"traceId": "other"}}}`)
	require.Equal(t, []string{"traceId"}, r.NotUpdated[id].Properties)
	r = e.set(t, e.admin, `{"update": {"`+id+`": {"status/due": "soon"}}}`)
	require.Equal(t, []string{"status/due"}, r.NotUpdated[id].Properties)

	// Query argument errors.
	ctx := context.Background()
	require.ErrorContains(t, e.admin.Call(ctx, "x:Task/query", map[string]any{"filter": map[string]any{"dueAfter": "yesterday"}}, nil),
		`invalidArguments: filter/dueAfter: bad date-time "yesterday"`)
	require.ErrorContains(t, e.admin.Call(ctx, "x:Task/query", map[string]any{"filter": map[string]any{"colour": "red"}}, nil), "unsupportedFilter")
	require.ErrorContains(t, e.admin.Call(ctx, "x:Task/query", map[string]any{"filter": map[string]any{"status": "Done"}}, nil), `unknown status "Done"`)
	require.ErrorContains(t, e.admin.Call(ctx, "x:Task/query", map[string]any{"sort": []any{map[string]any{"property": "id"}}}, nil), "unsupportedSort")
	require.ErrorContains(t, e.admin.Call(ctx, "x:Task/query", map[string]any{"limit": -1}, nil), "invalidArguments: limit must be 0 or more")
}

func TestTaskManagerMethodsAndPermissions(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	var got struct{ List []map[string]any }
	require.NoError(t, e.reader.Call(ctx, "x:TaskManager/get", map[string]any{"ids": []string{"singleton"}}, &got))
	require.Equal(t, float64(3), got.List[0]["maxAttempts"])
	require.Equal(t, "6h", got.List[0]["totalDeadline"])

	// The reference's example, as is.
	example := `{"maxAttempts": 5, "strategy": {"@type": "ExponentialBackoff", "factor": 2.0, "initialDelay": "1m", "maxDelay": "30m", "jitter": true}, "totalDeadline": "6h"}`
	var res struct {
		Updated    map[string]any
		NotUpdated map[string]jmap.SetError
	}
	require.NoError(t, e.admin.Call(ctx, "x:TaskManager/set", json.RawMessage(`{"update": {"singleton": `+example+`}}`), &res))
	require.Contains(t, res.Updated, "singleton")
	require.NoError(t, e.admin.Call(ctx, "x:TaskManager/get", map[string]any{}, &got))
	require.Equal(t, float64(5), got.List[0]["maxAttempts"])

	for patch, props := range map[string][]string{
		`{"maxAttempts": 0}`: {"maxAttempts"},
		`{"strategy": {"@type": "FixedDelay", "delay": "-5m"}}`: {"strategy/delay"},
		`{"strategy": {"@type": "Random"}}`:                     {"strategy/@type"},
	} {
		require.NoError(t, e.admin.Call(ctx, "x:TaskManager/set", json.RawMessage(`{"update": {"singleton": `+patch+`}}`), &res))
		require.Equal(t, "invalidProperties", res.NotUpdated["singleton"].Type, patch)
		require.Equal(t, props, res.NotUpdated["singleton"].Properties, patch)
	}
	require.NoError(t, e.admin.Call(ctx, "x:TaskManager/get", map[string]any{}, &got))
	require.Equal(t, float64(5), got.List[0]["maxAttempts"], "refused updates change nothing")
	require.ErrorContains(t, e.admin.Call(ctx, "x:TaskManager/set", map[string]any{"create": map[string]any{"x": map[string]any{}}}, nil), "invalidArguments: x:TaskManager/set accepts update only")

	// The reader may look but not touch.
	err := e.reader.Call(ctx, "x:TaskManager/set", json.RawMessage(`{"update": {"singleton": {"maxAttempts": 2}}}`), nil)
	require.ErrorContains(t, err, "forbidden: x:TaskManager/set needs the sysTaskManagerUpdate permission")
	r := e.set(t, e.reader, `{"create": {"c": {"@type": "IndexTrace", "traceId": "t"}}, "destroy": ["x"]}`)
	require.Equal(t, "forbidden", r.NotCreated["c"].Type)
	require.Equal(t, "forbidden", r.NotDestroyed["x"].Type)
	require.Equal(t, 0, e.total(t))
}

// The same API answers over NATS, to the API user the subject names (the
// NATS server's permissions say who may publish there: see natsauth), with
// no secret; nats micro ls lists jetmail-scheduler.
func TestAPIOverNATS(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	admin := &jmap.Client{NATS: e.nc, User: "admin"}
	var got jmap.GetResponse[task.Settings]
	require.NoError(t, admin.Call(ctx, adminapi.MethodTaskManagerGet, map[string]any{}, &got))
	require.Len(t, got.List, 1)
	require.Equal(t, 3, got.List[0].MaxAttempts)

	// The reader's permissions hold over NATS too.
	reader := &jmap.Client{NATS: e.nc, User: "reader"}
	err := reader.Call(ctx, adminapi.MethodTaskManagerSet, json.RawMessage(`{"update": {"singleton": {"maxAttempts": 2}}}`), nil)
	require.ErrorContains(t, err, "forbidden: x:TaskManager/set needs the sysTaskManagerUpdate permission")

	// A user that is not configured is refused.
	var p *jmap.Problem
	err = (&jmap.Client{NATS: e.nc, User: "mallory"}).Call(ctx, adminapi.MethodTaskManagerGet, map[string]any{}, nil)
	require.ErrorAs(t, err, &p)
	require.Equal(t, 401, p.Status)
	require.Contains(t, p.Detail, `no API user "mallory"`)

	info, err := e.nc.Request("$SRV.INFO.jetmail-scheduler", nil, 5*time.Second)
	require.NoError(t, err)
	require.Contains(t, string(info.Data), `"name":"jetmail-scheduler"`)
}

// callRaw runs one method as admin and returns its response name and
// arguments, decoded generically, as a client sees them.
func (e *env) callRaw(t *testing.T, method, args string) (string, map[string]any) {
	t.Helper()
	status, body := e.raw(t, "Bearer "+adminSecret, `{"using": ["urn:ietf:params:jmap:core", "urn:jetmail:params:jmap:admin"], "methodCalls": [["`+method+`", `+args+`, "c0"]]}`)
	require.Equal(t, http.StatusOK, status, "%v", body)
	require.Equal(t, "0", body["sessionState"])
	resp := body["methodResponses"].([]any)
	require.Len(t, resp, 1)
	call := resp[0].([]any)
	require.Equal(t, "c0", call[2])
	return call[0].(string), call[1].(map[string]any)
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// setKeys are the properties of every /set response (RFC 8620 5.3).
var setKeys = []string{"accountId", "created", "destroyed", "newState", "notCreated", "notDestroyed", "notUpdated", "oldState", "updated"}

// The task API's wire format: the standard JMAP envelopes (RFC 8620 5.1,
// 5.3, 5.5) around the reference's Task and TaskManager objects.
func TestTaskAPIWireFormat(t *testing.T) {
	t.Parallel()
	e := setup(t)
	due := time.Now().Add(time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	name, r := e.callRaw(t, "x:Task/set", `{"create": {"a": {"@type": "DnsManagement", "domainId": "example.org", "updateRecords": {"mx": true, "dkim": true}, "status": {"@type": "Pending", "due": "`+due+`"}}, "b": {"@type": "Nope"}}}`)
	require.Equal(t, "x:Task/set", name)
	require.Equal(t, setKeys, keysOf(r))
	require.Nil(t, r["accountId"])
	require.Equal(t, "0", r["oldState"])
	require.Equal(t, "0", r["newState"])
	require.Contains(t, r["created"], "a", "%v", r["notCreated"])
	created := r["created"].(map[string]any)["a"].(map[string]any)
	require.Equal(t, []string{"id", "status"}, keysOf(created))
	require.Equal(t, map[string]any{"@type": "Pending", "due": due}, created["status"])
	require.Equal(t, "invalidProperties", r["notCreated"].(map[string]any)["b"].(map[string]any)["type"])
	require.Equal(t, []any{"@type"}, r["notCreated"].(map[string]any)["b"].(map[string]any)["properties"])
	require.Equal(t, map[string]any{}, r["updated"])
	require.Equal(t, []any{}, r["destroyed"])
	id := created["id"].(string)

	_, r = e.callRaw(t, "x:Task/get", `{"ids": ["`+id+`", "nope"]}`)
	require.Equal(t, []string{"accountId", "list", "notFound", "state"}, keysOf(r))
	require.Nil(t, r["accountId"])
	require.Equal(t, "0", r["state"])
	require.Equal(t, []any{"nope"}, r["notFound"])
	require.Equal(t, map[string]any{"@type": "DnsManagement", "id": id, "status": map[string]any{"@type": "Pending", "due": due},
		"domainId": "example.org", "updateRecords": map[string]any{"mx": true, "dkim": true}, "onSuccessRenewCertificate": false}, r["list"].([]any)[0])

	_, r = e.callRaw(t, "x:Task/get", `{"ids": ["`+id+`"], "properties": ["domainId", "nope"]}`)
	require.Equal(t, map[string]any{"@type": "DnsManagement", "id": id, "domainId": "example.org"}, r["list"].([]any)[0])

	require.Eventually(t, func() bool { return e.total(t) == 1 }, 2*time.Second, 10*time.Millisecond)
	_, r = e.callRaw(t, "x:Task/query", `{"filter": {"status": "Pending", "type": ["DnsManagement"]}, "sort": [{"property": "due"}], "calculateTotal": true}`)
	require.Equal(t, map[string]any{"accountId": nil, "queryState": "0", "canCalculateChanges": false, "position": float64(0), "ids": []any{id}, "total": float64(1)}, r)

	_, r = e.callRaw(t, "x:Task/set", `{"update": {"`+id+`": {"status/due": "`+due+`"}}, "destroy": ["nope"]}`)
	require.Equal(t, map[string]any{id: map[string]any{"status": map[string]any{"@type": "Pending", "due": due}}}, r["updated"])
	require.Equal(t, map[string]any{"type": "notFound", "description": "no task with this id"}, r["notDestroyed"].(map[string]any)["nope"])

	_, r = e.callRaw(t, "x:TaskManager/get", `{"ids": ["singleton", "other"]}`)
	require.Equal(t, map[string]any{"accountId": nil, "state": "0", "notFound": []any{"other"}, "list": []any{map[string]any{
		"id": "singleton", "maxAttempts": float64(3), "totalDeadline": "6h",
		"strategy": map[string]any{"@type": "ExponentialBackoff", "factor": float64(2), "initialDelay": "1m", "maxDelay": "30m", "jitter": true},
	}}}, r)

	_, r = e.callRaw(t, "x:TaskManager/set", `{"update": {"singleton": {"strategy/initialDelay": "2m"}, "other": {}}}`)
	require.Equal(t, setKeys, keysOf(r))
	require.Equal(t, map[string]any{"singleton": nil}, r["updated"])
	require.Equal(t, map[string]any{"type": "notFound", "description": `the TaskManager's id is "singleton"`}, r["notUpdated"].(map[string]any)["other"])

	for _, tc := range []struct{ method, args, typ, description string }{
		{"x:Task/query", `{"filter": {"colour": "red"}}`, "unsupportedFilter", `unknown argument "colour" (filter properties: status, type, accountId, dueAfter, dueBefore)`},
		{"x:Task/query", `{"filter": {"status": 5}}`, "invalidArguments", "filter/status must be a status name or a list of them"},
		{"x:Task/query", `{"filter": {"type": ["Nope"]}}`, "invalidArguments", `filter/type: unknown task type "Nope"`},
		{"x:Task/query", `{"sort": [{"property": "due"}, {"property": "id"}]}`, "unsupportedSort", "tasks sort by one property, due"},
		{"x:Task/query", `{"position": -2}`, "invalidArguments", "position must be 0 or more, got -2"},
		{"x:Task/get", `{"ids": "x"}`, "invalidArguments", "argument ids must be an array"},
		{"x:Task/set", `{"create": [1]}`, "invalidArguments", "argument create must be an object"},
	} {
		name, r := e.callRaw(t, tc.method, tc.args)
		require.Equal(t, "error", name, tc.args)
		require.Equal(t, tc.typ, r["type"], tc.args)
		require.Contains(t, r["description"], tc.description, tc.args)
	}
}

// One request could create 55 × 1000 tasks: a request now carries at most
// 16 method calls, and a /set at most 1000 objects. A refused request or
// call creates nothing.
func TestTaskCreationLimits(t *testing.T) {
	t.Parallel()
	e := setup(t)
	creates := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`"c%d": {"@type": "IndexDocument", "accountId": "a", "documentId": "d%d", "documentType": "email", "status": {"@type": "Pending", "due": "2099-01-01T00:00:00Z"}}`, i, i)
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	call := `["x:Task/set", {"create": ` + creates(1000) + `}, "c"]`
	calls := make([]string, 55)
	for i := range calls {
		calls[i] = call
	}
	status, body := e.raw(t, "Bearer "+adminSecret, `{"using": ["urn:ietf:params:jmap:core"], "methodCalls": [`+strings.Join(calls, ",")+`]}`)
	require.Equal(t, http.StatusBadRequest, status, body)
	require.Equal(t, map[string]any{"type": "urn:ietf:params:jmap:error:limit", "limit": "maxCallsInRequest", "status": float64(400),
		"detail": "the request has 55 method calls; at most 16 per request (maxCallsInRequest)"}, body)
	require.Equal(t, 0, e.total(t))

	err := e.admin.Call(context.Background(), "x:Task/set", json.RawMessage(`{"create": `+creates(1001)+`}`), nil)
	require.EqualError(t, err, "requestTooLarge: 1001 objects to create, update or destroy; at most 1000 per x:Task/set (maxObjectsInSet)")
	require.Equal(t, 0, e.total(t))

	r := e.set(t, e.admin, `{"create": `+creates(1000)+`}`)
	require.Len(t, r.Created, 1000, "the limit itself is allowed")
	require.Equal(t, 1000, e.total(t))
}
