package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// HeaderPushID carries the stable id of a push: the subscription and the
// state (or alert) it carries, the same on every attempt, so that a
// receiver that gets a push twice (after a crash of the node that sent
// it) can drop the second.
const HeaderPushID = "Push-Id"

// DefaultTimeout bounds one POST when Sender.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// StateChange is what is pushed when an account's data changes (RFC 8620
// §7.1): account id -> data type -> its new state.
type StateChange struct {
	Type    string                       `json:"@type"`
	Changed map[string]map[string]string `json:"changed"`
}

// Verification is POSTed once to a new subscription's URL (RFC 8620
// §7.2.2); the client echoes the code with PushSubscription/set.
type Verification struct {
	Type             string `json:"@type"`
	SubscriptionID   string `json:"pushSubscriptionId"`
	VerificationCode string `json:"verificationCode"`
}

// CalendarAlert is pushed when a calendar event's alarm with a display
// action triggers (JMAP Calendars, CalendarAlert).
type CalendarAlert struct {
	Type            string `json:"@type"`
	AccountID       string `json:"accountId"`
	CalendarEventID string `json:"calendarEventId"`
	UID             string `json:"uid"`
	RecurrenceID    string `json:"recurrenceId,omitempty"`
	AlertID         string `json:"alertId"`
}

// CheckURL says why raw cannot be a push URL: it must be https, or http to
// a loopback address (a receiver on the same machine, in development).
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %v", err)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q carries credentials; push URLs may not", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if loopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q is not https: plain http is allowed only to a loopback address (127.0.0.1, ::1, localhost)", raw)
	}
	return fmt.Errorf("%q is not an https URL", raw)
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Sender POSTs pushes.
type Sender struct {
	// Client sends the POSTs. Default a client that follows no redirect.
	Client *http.Client
	// Timeout bounds one POST. Default DefaultTimeout.
	Timeout time.Duration
}

// ErrRefused wraps a receiver's answer other than 2xx.
var ErrRefused = errors.New("push refused")

// Post sends body as JSON to rawURL with the push id, and says why it did
// not reach the receiver (unreachable, timed out, or answered other than
// 2xx).
func (s *Sender) Post(ctx context.Context, rawURL, pushID string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode push: %w", err)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("push to %s: %w", rawURL, err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set(HeaderPushID, pushID)
	// RFC 8030's TTL: a push service may drop a change not delivered
	// within a day; a newer state will follow it anyway.
	req.Header.Set("TTL", "86400")
	client := s.Client
	if client == nil {
		client = defaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("unreachable: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: %s answered %s", ErrRefused, rawURL, resp.Status)
	}
	return nil
}

// defaultClient follows no redirect: a push URL is where the client said.
var defaultClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
