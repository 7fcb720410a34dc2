package jmap

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
)

// FuzzProcess feeds arbitrary request bodies to the JMAP request decoder
// and dispatcher: each gets a JSON response or a problem with a 4xx status,
// never a panic.
func FuzzProcess(f *testing.F) {
	for _, seed := range []string{
		`{"using":["urn:ietf:params:jmap:core"],"methodCalls":[["x:Echo/get",{"ids":["a"]},"0"]]}`,
		`{"using":[],"methodCalls":[["x:Echo/get",{"ids":null,"properties":["id"]},"c1"],["x:Nope/get",{},"c2"]]}`,
		`{"methodCalls":[["x:Echo/get",{"ids":[1]},"0"]]}`, `{"methodCalls":[["x:Echo/get"]]}`, `{"methodCalls":{}}`,
		`[]`, `{`, `null`, `{"using":["x"],"methodCalls":[["x:Echo/get",{"#ids":{"resultOf":"0","name":"x","path":"/ids"}},"1"]]}`,
	} {
		f.Add([]byte(seed))
	}
	s := NewServer(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Handle("x:Echo/get", "", func(_ context.Context, _ *Principal, raw json.RawMessage) (any, error) {
		var args GetArgs
		if err := Args(raw, &args); err != nil {
			return nil, err
		}
		return args, nil
	})
	p := &Principal{}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, prob := s.Process(context.Background(), p, body)
		if prob != nil {
			if prob.Status < 400 || prob.Status > 499 {
				t.Fatalf("status %d for %q", prob.Status, body)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %q for %q", out, body)
		}
	})
}
