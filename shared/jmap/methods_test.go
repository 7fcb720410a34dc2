package jmap_test

import (
	"encoding/json"
	"testing"

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
