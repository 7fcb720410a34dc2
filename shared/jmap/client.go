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
	rawArgs, err := json.Marshal(args)
	if err != nil {
		return fmt.Errorf("encode the arguments of %s: %w", name, err)
	}
	body, err := json.Marshal(Request{
		Using:       []string{CapabilityCore, CapabilityAdmin},
		MethodCalls: []Invocation{{Name: name, Args: rawArgs, CallID: "c0"}},
	})
	if err != nil {
		return fmt.Errorf("encode the request for %s: %w", name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("call %s: %w", name, err)
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
	var r Response
	if err := json.Unmarshal(data, &r); err != nil || len(r.MethodResponses) != 1 {
		return fmt.Errorf("%s: unexpected response: %s", name, data)
	}
	res := r.MethodResponses[0]
	if res.Name == "error" {
		var me MethodError
		if err := json.Unmarshal(res.Args, &me); err != nil {
			return fmt.Errorf("%s: unreadable method error %s: %w", name, res.Args, err)
		}
		return &me
	}
	if out != nil {
		if err := json.Unmarshal(res.Args, out); err != nil {
			return fmt.Errorf("decode the result of %s: %w", name, err)
		}
	}
	return nil
}
