package node_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/node"
)

// The admin API's request limits, over real HTTP, as RFC 8620 words them:
// a request-level "limit" problem naming the limit, or a requestTooLarge
// method error; nothing of a refused request or call runs.
func TestAPIRequestLimits(t *testing.T) {
	t.Parallel()
	n := startNode(t, node.HTTPTimeouts{}, nil)
	calls := countingMethods(n)
	url := n.HTTPURL() + "/jmap"

	// 16 calls run; 17 are refused before any runs.
	call := `["x:Thing/get", {}, "c"]`
	code, out := post(t, url, strings.NewReader(request(strings.Split(strings.Repeat(call+"|", 16), "|")[:16]...)))
	require.Equal(t, http.StatusOK, code, out)
	require.Len(t, out["methodResponses"], 16)
	require.EqualValues(t, 16, calls.Load())
	code, out = post(t, url, strings.NewReader(request(strings.Split(strings.Repeat(call+"|", 17), "|")[:17]...)))
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, map[string]any{
		"type": "urn:ietf:params:jmap:error:limit", "limit": "maxCallsInRequest", "status": float64(400),
		"detail": "the request has 17 method calls; at most 16 per request (maxCallsInRequest)",
	}, out)
	require.EqualValues(t, 16, calls.Load(), "no call of a refused request runs")

	// A body over maxSizeRequest, with its length declared and without
	// (chunked: the server stops reading at the limit).
	big := request(`["x:Thing/get", {"pad": "` + strings.Repeat("x", jmap.MaxSizeRequest) + `"}, "c"]`)
	code, out = post(t, url, strings.NewReader(big))
	require.Equal(t, http.StatusRequestEntityTooLarge, code)
	require.Equal(t, "urn:ietf:params:jmap:error:limit", out["type"])
	require.Equal(t, "maxSizeRequest", out["limit"])
	require.Equal(t, fmt.Sprintf("the request is %d bytes; at most 10485760 bytes (maxSizeRequest)", len(big)), out["detail"])
	code, out = post(t, url, io.MultiReader(strings.NewReader(big))) // no length: chunked
	require.Equal(t, http.StatusRequestEntityTooLarge, code)
	require.Equal(t, "maxSizeRequest", out["limit"])
	require.Equal(t, "the request is larger than 10485760 bytes (maxSizeRequest)", out["detail"])
	require.EqualValues(t, 16, calls.Load())

	// Objects per /set (creates, updates and destroys together) and ids
	// per /get: the call is refused whole, the request's other calls run.
	objects := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`"k%d": {}`, i)
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	ids := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`"id%d"`, i)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	code, out = post(t, url, strings.NewReader(request(
		`["x:Thing/set", {"create": `+objects(1000)+`}, "ok"]`,
		`["x:Thing/set", {"create": `+objects(1001)+`}, "create"]`,
		`["x:Thing/set", {"create": `+objects(500)+`, "update": `+objects(400)+`, "destroy": `+ids(101)+`}, "mixed"]`,
		`["x:Thing/get", {"ids": `+ids(1001)+`}, "get"]`,
	)))
	require.Equal(t, http.StatusOK, code, out)
	responses := out["methodResponses"].([]any)
	require.Equal(t, []any{"x:Thing/set", map[string]any{}, "ok"}, responses[0])
	require.Equal(t, []any{"error", map[string]any{"type": "requestTooLarge", "description": "1001 objects to create, update or destroy; at most 1000 per x:Thing/set (maxObjectsInSet)"}, "create"}, responses[1])
	require.Equal(t, []any{"error", map[string]any{"type": "requestTooLarge", "description": "1001 objects to create, update or destroy; at most 1000 per x:Thing/set (maxObjectsInSet)"}, "mixed"}, responses[2])
	require.Equal(t, []any{"error", map[string]any{"type": "requestTooLarge", "description": "1001 ids; at most 1000 per x:Thing/get (maxObjectsInGet)"}, "get"}, responses[3])
	require.EqualValues(t, 17, calls.Load(), "only the call within the limits ran")

	// The same limits over NATS, as API user admin.
	msg := nats.NewMsg(jmap.NATSSubject("x:Thing", "admin"))
	msg.Data = []byte(request(strings.Split(strings.Repeat(call+"|", 17), "|")[:17]...))
	resp, err := n.nc.RequestMsg(msg, 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, "400", resp.Header.Get("Nats-Service-Error-Code"))
	require.Contains(t, string(resp.Data), `"limit":"maxCallsInRequest"`)
	require.EqualValues(t, 17, calls.Load())
}
