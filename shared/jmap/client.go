package jmap

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Client calls a jetmail admin API.
type Client struct {
	// URL is the API endpoint, such as http://127.0.0.1:8080/jmap.
	URL string
	// Authorization is the header value ("Bearer <secret>").
	Authorization string
	HTTP          *http.Client
	// NATS, when set, carries the calls instead of HTTP: each goes to
	// NATSSubject(its object type, User), and the caller is who its NATS
	// connection authenticated as. URL and Authorization are not used.
	NATS *nats.Conn
	// User is the API user the NATS connection calls as.
	User string
	// Server, when set, runs the calls in this process as principal As,
	// with the permissions of As (the node's web console calls so); no
	// other field is used.
	Server *Server
	As     *Principal
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
	var data []byte
	switch {
	case c.Server != nil:
		var p *Problem
		if data, p = c.Server.Process(ctx, c.As, body); p != nil {
			return p
		}
	case c.NATS != nil:
		data, err = c.overNATS(ctx, name, body)
	default:
		data, err = c.overHTTP(ctx, name, body)
	}
	if err != nil {
		return err
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

// overNATS sends a request body as API user c.User and returns the
// response body, or the request-level problem.
func (c *Client) overNATS(ctx context.Context, name string, body []byte) ([]byte, error) {
	subject := NATSSubject(ObjectType(name), c.User)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	msg, err := c.NATS.RequestWithContext(ctx, subject, body)
	if err != nil {
		return nil, fmt.Errorf("call %s over NATS on %s: %w", name, subject, err)
	}
	if code := msg.Header.Get("Nats-Service-Error-Code"); code != "" {
		var p Problem
		if json.Unmarshal(msg.Data, &p) == nil && p.Type != "" {
			return nil, &p
		}
		return nil, fmt.Errorf("%s: error %s: %s", subject, code, msg.Header.Get("Nats-Service-Error"))
	}
	return msg.Data, nil
}

// overHTTP posts a request body to c.URL and returns the response body,
// or the request-level problem.
func (c *Client) overHTTP(ctx context.Context, name string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("call %s: %w", name, err)
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
		return nil, fmt.Errorf("call %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var p Problem
		if json.Unmarshal(data, &p) == nil && p.Type != "" {
			return nil, &p
		}
		return nil, fmt.Errorf("%s: HTTP %d: %s", c.URL, resp.StatusCode, bytes.TrimSpace(data))
	}
	return data, nil
}

// Download fetches a blob of an account over HTTP (RFC 8620 6.2, at
// <URL>/download/<account>/<blob>); the caller closes it. Over NATS there
// is no download.
func (c *Client) Download(ctx context.Context, account, blob string) (io.ReadCloser, error) {
	if c.NATS != nil {
		return nil, fmt.Errorf("download %s: blobs are downloaded over HTTP, not NATS (give an http(s) --api)", blob)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.URL, "/")+"/download/"+url.PathEscape(account)+"/"+url.PathEscape(blob), nil)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", blob, err)
	}
	if c.Authorization != "" {
		req.Header.Set("Authorization", c.Authorization)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", blob, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var p Problem
		if json.Unmarshal(data, &p) == nil && p.Type != "" {
			return nil, &p
		}
		return nil, fmt.Errorf("download %s: HTTP %d: %s", blob, resp.StatusCode, bytes.TrimSpace(data))
	}
	return resp.Body, nil
}

// UploadResponse is what an upload answers (RFC 8620 6.1).
type UploadResponse struct {
	AccountID string `json:"accountId"`
	BlobID    string `json:"blobId"`
	// Type is the media type the blob was uploaded with.
	Type string `json:"type"`
	Size int64  `json:"size"`
}

// Upload sends a blob to an account over HTTP (RFC 8620 6.1, at
// <URL>/upload/<account>) with media type typ. Over NATS there is no
// upload.
func (c *Client) Upload(ctx context.Context, account, typ string, body io.Reader) (*UploadResponse, error) {
	if c.NATS != nil {
		return nil, fmt.Errorf("upload: blobs are uploaded over HTTP, not NATS (give an http(s) --api)")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+"/upload/"+url.PathEscape(account), body)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	if typ != "" {
		req.Header.Set("Content-Type", typ)
	}
	if c.Authorization != "" {
		req.Header.Set("Authorization", c.Authorization)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("upload: read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		var p Problem
		if json.Unmarshal(data, &p) == nil && p.Type != "" {
			return nil, &p
		}
		return nil, fmt.Errorf("upload: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(data))
	}
	var out UploadResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("upload: unexpected answer %s: %w", data, err)
	}
	return &out, nil
}
