package adminapi_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/task"
)

func TestTaskJSON(t *testing.T) {
	t.Parallel()
	due := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	in := &task.Task{ID: "t1", Status: task.Status{Type: task.Pending, Due: due},
		Payload: &task.IndexDocumentTask{AccountID: "42", DocumentID: "7", DocumentType: "email"}}
	obj, err := adminapi.TaskFrom(in)
	require.NoError(t, err)
	require.Equal(t, task.IndexDocument, obj.Type)
	require.Equal(t, []string{"accountId", "documentId", "documentType"}, obj.FieldNames())

	out, err := json.Marshal(obj)
	require.NoError(t, err)
	require.Equal(t, `{"@type":"IndexDocument","id":"t1","status":{"@type":"Pending","due":"2026-01-02T15:04:05Z"},"accountId":"42","documentId":"7","documentType":"email"}`, string(out))
	want, err := in.MarshalJSON()
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(out), "the same object as the task's own encoding")

	var back adminapi.Task
	require.NoError(t, json.Unmarshal(out, &back))
	require.Equal(t, obj, back)

	out, err = json.Marshal(obj.Project([]string{"documentId", "status", "nope"}))
	require.NoError(t, err)
	require.Equal(t, `{"@type":"IndexDocument","id":"t1","status":{"@type":"Pending","due":"2026-01-02T15:04:05Z"},"documentId":"7"}`, string(out))
	out, err = json.Marshal(obj.Project([]string{}))
	require.NoError(t, err)
	require.Equal(t, `{"@type":"IndexDocument","id":"t1"}`, string(out))
}

func TestPatches(t *testing.T) {
	t.Parallel()
	due := time.Date(2026, 1, 2, 15, 4, 5, 0, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		patch jmap.PatchObject
		want  string
	}{
		{adminapi.TaskRetryPatch(nil), `{"status":{"@type":"Pending"}}`},
		{adminapi.TaskRetryPatch(&due), `{"status":{"@type":"Pending","due":"2026-01-02T14:04:05Z"}}`},
		{adminapi.TaskReschedulePatch(due), `{"status/due":"2026-01-02T14:04:05Z"}`},
		{adminapi.QueuePatch{RetryNow: true}.PatchObject(), `{"due":null}`},
		{adminapi.QueuePatch{Due: &due}.PatchObject(), `{"due":"2026-01-02T14:04:05Z"}`},
		{adminapi.QueuePatch{Held: new(bool)}.PatchObject(), `{"held":false}`},
	} {
		out, err := json.Marshal(tc.patch)
		require.NoError(t, err)
		require.Equal(t, tc.want, string(out))
	}
}

func TestFilters(t *testing.T) {
	t.Parallel()
	var f adminapi.TaskFilter
	require.NoError(t, json.Unmarshal([]byte(`{"status": "Failed", "type": ["IndexDocument", "AcmeRenewal"], "dueAfter": "2026-01-02T15:04:05Z"}`), &f))
	require.Equal(t, []task.StatusType{task.Failed}, f.Status)
	require.Equal(t, []task.Variant{task.IndexDocument, task.AcmeRenewal}, f.Type)
	require.Equal(t, time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC), *f.DueAfter)
	out, err := json.Marshal(f)
	require.NoError(t, err)
	var again adminapi.TaskFilter
	require.NoError(t, json.Unmarshal(out, &again), "what a client encodes, the server decodes")
	require.Equal(t, f.Status, again.Status)

	var q adminapi.QueueFilter
	require.NoError(t, json.Unmarshal([]byte(`{"domain": "example.com", "status": "held"}`), &q))
	require.Equal(t, adminapi.QueueFilter{Domain: "example.com", Status: adminapi.QueueStatusHeld}, q)

	for _, tc := range []struct {
		args, typ, desc string
	}{
		{`{"filter": {"colour": "red"}}`, "unsupportedFilter", `unknown argument "colour" (filter properties: status, type, accountId, dueAfter, dueBefore)`},
		{`{"filter": {"accountId": 5}}`, "unsupportedFilter", `argument accountId must be a string (filter properties: status, type, accountId, dueAfter, dueBefore)`},
		{`{"filter": {"status": ["Done"]}}`, "invalidArguments", `filter/status: unknown status "Done" (Pending, Retry, Failed)`},
		{`{"filter": {"dueBefore": "later"}}`, "invalidArguments", `filter/dueBefore: bad date-time "later": use RFC 3339, such as 2026-01-02T15:04:05Z`},
	} {
		var args adminapi.TaskQueryArgs
		err := jmap.Args(json.RawMessage(tc.args), &args)
		require.Equal(t, &jmap.MethodError{Type: tc.typ, Description: tc.desc}, err, tc.args)
	}
}
