package scheduler_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/scheduler"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/node"
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

type setResp struct {
	Created      map[string]struct{ ID string } `json:"created"`
	NotCreated   map[string]jmap.SetError       `json:"notCreated"`
	Updated      map[string]any                 `json:"updated"`
	NotUpdated   map[string]jmap.SetError       `json:"notUpdated"`
	Destroyed    []string                       `json:"destroyed"`
	NotDestroyed map[string]jmap.SetError       `json:"notDestroyed"`
}

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

// The same API answers over NATS (nats micro ls lists jetmail-node).
func TestAPIOverNATS(t *testing.T) {
	t.Parallel()
	e := setup(t)
	req := nats.NewMsg(node.APISubject)
	req.Header.Set("Authorization", "Bearer "+adminSecret)
	req.Data = []byte(`{"using": ["urn:ietf:params:jmap:core"], "methodCalls": [["x:TaskManager/get", {}, "0"]]}`)
	resp, err := e.nc.RequestMsg(req, 5*time.Second)
	require.NoError(t, err)
	require.Contains(t, string(resp.Data), `"maxAttempts":3`)

	req.Header.Set("Authorization", "Bearer wrong")
	resp, err = e.nc.RequestMsg(req, 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, "401", resp.Header.Get("Nats-Service-Error-Code"))

	info, err := e.nc.Request("$SRV.INFO.jetmail-scheduler", nil, 5*time.Second)
	require.NoError(t, err)
	require.Contains(t, string(info.Data), `"name":"jetmail-scheduler"`)
}
