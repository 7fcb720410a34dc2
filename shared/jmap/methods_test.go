package jmap_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jmap"
)

func TestInvocationAndEnvelopes(t *testing.T) {
	t.Parallel()
	out, err := json.Marshal(jmap.Response{MethodResponses: []jmap.Invocation{{Name: "x:Task/get", Args: json.RawMessage(`{"list":[]}`), CallID: "c0"}}, SessionState: jmap.UntrackedState})
	require.NoError(t, err)
	require.Equal(t, `{"methodResponses":[["x:Task/get",{"list":[]},"c0"]],"sessionState":"0"}`, string(out))
	var r jmap.Response
	require.NoError(t, json.Unmarshal(out, &r))
	require.Equal(t, "c0", r.MethodResponses[0].CallID)
	require.Error(t, json.Unmarshal([]byte(`{"methodResponses":[["x", {}]]}`), &r))

	out, err = json.Marshal(jmap.NewSetResponse[jmap.None, jmap.None]())
	require.NoError(t, err)
	require.Equal(t, `{"accountId":null,"oldState":"0","newState":"0","created":{},"updated":{},"destroyed":[],"notCreated":{},"notUpdated":{},"notDestroyed":{}}`, string(out))
	out, err = json.Marshal(jmap.NewGetResponse[jmap.None]())
	require.NoError(t, err)
	require.Equal(t, `{"accountId":null,"state":"0","list":[],"notFound":[]}`, string(out))
}

// A bad argument is an invalidArguments error that names it by its path,
// in JSON's words, also when the value's own decoder (a date-time's) does
// not say where it is.
func TestArgsNameTheArgument(t *testing.T) {
	t.Parallel()
	type filter struct {
		InMailbox string    `json:"inMailbox,omitempty"`
		Before    time.Time `json:"before,omitzero"`
	}
	for raw, want := range map[string]string{
		`{"filter": {"before": "yesterday"}}`:             "argument filter/before must be an RFC 3339 date-time, such as 2026-01-02T15:04:05Z",
		`{"filter": {"before": 5}}`:                       "argument filter/before must be an RFC 3339 date-time, such as 2026-01-02T15:04:05Z",
		`{"filter": {"before": "2026-13-45T00:00:00Z"}}`:  "argument filter/before must be an RFC 3339 date-time, such as 2026-01-02T15:04:05Z",
		`{"filter": {"inMailbox": 5}}`:                    "argument filter/inMailbox must be a string",
		`{"filter": {"colour": "red"}}`:                   `unknown argument "filter/colour"`,
		`{"filter": "inbox"}`:                             "argument filter must be an object",
		`{"sort": [{"property": "x", "isAscending": 1}]}`: "argument sort/isAscending must be true or false",
		`{"limit": "ten"}`:                                "argument limit must be a whole number",
		`{"acountId": "a"}`:                               `unknown argument "acountId"`,
	} {
		_, err := jmap.DecodeQuery[filter](json.RawMessage(raw))
		var me *jmap.MethodError
		require.ErrorAs(t, err, &me, raw)
		require.Equal(t, "invalidArguments", me.Type, raw)
		require.Equal(t, want, me.Description, raw)
	}
	for raw, want := range map[string]string{
		`{"destroy": "a"}`:        "argument destroy must be an array",
		`{"destroy": ["a", 5]}`:   "argument destroy must be an array, each item a string",
		`{"update": ["a"]}`:       "argument update must be an object",
		`{"ifInState": false}`:    "argument ifInState must be a string",
		`{"destroy": [], "x": 1}`: `unknown argument "x"`,
	} {
		var args jmap.SetArgs
		var me *jmap.MethodError
		require.ErrorAs(t, jmap.Args(json.RawMessage(raw), &args), &me, raw)
		require.Equal(t, want, me.Description, raw)
	}
}
