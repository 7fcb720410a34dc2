package jmap

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// Client calls a jetmail admin API.
type Client struct {
	// URL is the API endpoint, such as http://127.0.0.1:8080/jmap.
	URL string
	// Authorization is the header value ("Bearer <secret>").
	Authorization string
	HTTP          *http.Client
}

// Call runs one method and decodes its result into out (may be nil). A
// method error comes back as *MethodError, a request error as *Problem.
func (c *Client) Call(ctx context.Context, name string, args any, out any) error {
	body, err := json.Marshal(map[string]any{
		"using":       []string{CapabilityCore, CapabilityAdmin},
		"methodCalls": []any{[]any{name, args, "c0"}},
	})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Authorization != "" {
		req.Header.Set("Authorization", c.Authorization)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("call %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var p Problem
		if json.Unmarshal(data, &p) == nil && p.Type != "" {
			return &p
		}
		return fmt.Errorf("%s: HTTP %d: %s", c.URL, resp.StatusCode, bytes.TrimSpace(data))
	}
	var r struct {
		MethodResponses [][]json.RawMessage `json:"methodResponses"`
	}
	if err := json.Unmarshal(data, &r); err != nil || len(r.MethodResponses) != 1 || len(r.MethodResponses[0]) != 3 {
		return fmt.Errorf("unexpected response: %s", data)
	}
	var got string
	_ = json.Unmarshal(r.MethodResponses[0][0], &got)
	if got == "error" {
		var me MethodError
		_ = json.Unmarshal(r.MethodResponses[0][1], &me)
		return &me
	}
	if out != nil {
		return json.Unmarshal(r.MethodResponses[0][1], out)
	}
	return nil
}
