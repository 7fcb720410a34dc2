package mailqueue

import (
	"context"
	"fmt"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/dsn"
)

// Delivery is one transaction's worth of work: recipients of one message
// that share a route and a domain.
type Delivery struct {
	RouteID    string
	Route      config.Route
	Domain     string
	Envelope   Envelope
	Recipients []*Recipient
	Body       []byte
}

// Result is one recipient's outcome. Code 0 means no reply was had (no
// connection, a timeout): a temporary failure.
type Result struct {
	Code      int
	Enhanced  string
	Text      string
	RemoteMTA string
}

// ResultClass is what a delivery attempt's result means for the recipient.
type ResultClass string

// Result classes, as the result label of jetmail_delivery_attempts_total.
const (
	Delivered ResultClass = "delivered"
	Temporary ResultClass = "temporary"
	Permanent ResultClass = "permanent"
)

// Class says whether r delivered, failed for now (no reply counts as 4xx)
// or failed for good.
func (r Result) Class() ResultClass {
	switch {
	case r.Code >= 200 && r.Code < 300:
		return Delivered
	case r.Code >= 500:
		return Permanent
	default:
		return Temporary
	}
}

// Status is the reply's code and enhanced code, as last_status sees it.
func (r Result) Status() string {
	if r.Code == 0 {
		return ""
	}
	if r.Enhanced != "" {
		return fmt.Sprintf("%d %s", r.Code, r.Enhanced)
	}
	return fmt.Sprint(r.Code)
}

// Diagnostic is the reply as DSNs and traces show it, "550 5.1.1 no such
// user", or the error when there was no reply.
func (r Result) Diagnostic() string { return diagnostic(r) }

// EnhancedStatus is the reply's enhanced status code (RFC 3463), the
// class's default when the reply had none; "" when there was no reply.
func (r Result) EnhancedStatus() string {
	if r.Code <= 0 {
		return ""
	}
	return dsn.StatusOf(r.Code, r.Enhanced)
}

// Deliverer carries out deliveries: SMTP to MX hosts or relays, or the
// local mailbox store (package delivery).
type Deliverer interface {
	// Deliver returns one result per recipient, in order.
	Deliver(ctx context.Context, d *Delivery) []Result
}
