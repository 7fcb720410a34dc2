// Package dsn writes delivery status notifications (RFC 3464): a
// multipart/report with a human-readable part, a message/delivery-status
// part with one block per recipient, and the original message's headers (or
// the whole message when the sender asked RET=FULL).
package dsn

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
	"time"
)

// Action is a recipient's Action field.
type Action string

// Actions of RFC 3464.
const (
	Failed    Action = "failed"
	Delayed   Action = "delayed"
	Delivered Action = "delivered"
)

// Recipient is one per-recipient block.
type Recipient struct {
	// FinalRecipient is the address delivery was attempted to.
	FinalRecipient string
	// OriginalRecipient is the ORCPT parameter ("rfc822;a@b"), if given.
	OriginalRecipient string
	Action            Action
	// Status is the enhanced status code ("5.1.1").
	Status string
	// RemoteMTA is the host that answered, if any.
	RemoteMTA string
	// Diagnostic is the SMTP reply ("550 5.1.1 no such user").
	Diagnostic     string
	LastAttempt    time.Time
	WillRetryUntil time.Time
}

// Report is a whole DSN.
type Report struct {
	// ReportingMTA is this host's name.
	ReportingMTA string
	// From is the DSN's From address, e.g. MAILER-DAEMON@host.
	From string
	// To is the original sender.
	To string
	// EnvID is the original ENVID, if any.
	EnvID       string
	ArrivalDate time.Time
	Recipients  []Recipient
	// Original is the original message; Full includes all of it (RET=FULL),
	// otherwise only its headers.
	Original []byte
	Full     bool
	// Now is the DSN's date.
	Now time.Time
}

// Build writes the DSN message.
func Build(r Report) []byte {
	boundary := "jetmail-dsn-" + randomHex(12)
	var b bytes.Buffer
	subject := "Delivery Status Notification"
	switch r.Recipients[0].Action {
	case Failed:
		subject = "Undelivered Mail Returned to Sender"
	case Delayed:
		subject = "Delayed Mail (still being retried)"
	case Delivered:
		subject = "Successful Mail Delivery Report"
	}
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", "Mail Delivery System <"+r.From+">")
	h("To", "<"+r.To+">")
	h("Subject", subject)
	h("Date", r.Now.Format(time.RFC1123Z))
	h("Message-ID", "<"+randomHex(16)+"@"+r.ReportingMTA+">")
	h("Auto-Submitted", "auto-replied")
	h("MIME-Version", "1.0")
	h("Content-Type", `multipart/report; report-type=delivery-status; boundary="`+boundary+`"`)
	b.WriteString("\r\nThis is a MIME-encapsulated delivery status notification.\r\n")

	// Human-readable part.
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary)
	qp := quotedprintable.NewWriter(&b)
	fmt.Fprintf(qp, "This is the mail system at %s.\r\n\r\n", r.ReportingMTA)
	for _, rc := range r.Recipients {
		switch rc.Action {
		case Failed:
			fmt.Fprintf(qp, "Your message could not be delivered to <%s>:\r\n    %s\r\n\r\n", rc.FinalRecipient, rc.Diagnostic)
		case Delayed:
			fmt.Fprintf(qp, "Your message to <%s> has not been delivered yet; it will be retried until %s:\r\n    %s\r\n\r\n",
				rc.FinalRecipient, rc.WillRetryUntil.Format(time.RFC1123Z), rc.Diagnostic)
		case Delivered:
			fmt.Fprintf(qp, "Your message was delivered to <%s>.\r\n\r\n", rc.FinalRecipient)
		}
	}
	_ = qp.Close()

	// message/delivery-status part.
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: message/delivery-status\r\n\r\n", boundary)
	h("Reporting-MTA", "dns; "+r.ReportingMTA)
	if r.EnvID != "" {
		h("Original-Envelope-Id", r.EnvID)
	}
	h("Arrival-Date", r.ArrivalDate.Format(time.RFC1123Z))
	for _, rc := range r.Recipients {
		b.WriteString("\r\n")
		if rc.OriginalRecipient != "" {
			h("Original-Recipient", rc.OriginalRecipient)
		}
		h("Final-Recipient", "rfc822; "+rc.FinalRecipient)
		h("Action", string(rc.Action))
		h("Status", rc.Status)
		if rc.RemoteMTA != "" {
			h("Remote-MTA", "dns; "+rc.RemoteMTA)
		}
		if rc.Diagnostic != "" {
			h("Diagnostic-Code", "smtp; "+oneLine(rc.Diagnostic))
		}
		if !rc.LastAttempt.IsZero() {
			h("Last-Attempt-Date", rc.LastAttempt.Format(time.RFC1123Z))
		}
		if !rc.WillRetryUntil.IsZero() {
			h("Will-Retry-Until", rc.WillRetryUntil.Format(time.RFC1123Z))
		}
	}

	// The original message, or its headers.
	if r.Full {
		fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: message/rfc822\r\n\r\n", boundary)
		b.Write(r.Original)
		if !bytes.HasSuffix(r.Original, []byte("\r\n")) {
			b.WriteString("\r\n")
		}
	} else {
		fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary)
		b.Write(Headers(r.Original))
	}
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return b.Bytes()
}

// Headers returns a message's header section, with its final blank line.
func Headers(msg []byte) []byte {
	tp := textproto.NewReader(bufioReader(msg))
	var out bytes.Buffer
	for {
		line, err := tp.ReadContinuedLineBytes()
		if err != nil || len(line) == 0 {
			break
		}
		out.Write(line)
		out.WriteString("\r\n")
	}
	return out.Bytes()
}

// ValidStatus reports whether s is an enhanced status code (RFC 3463):
// class 2, 4 or 5, then subject and detail of 1 to 3 digits each.
func ValidStatus(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.Contains("245", parts[0]) {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// StatusOf turns an SMTP reply into an enhanced status code: the reply's
// own ("550 5.1.1 ...") or one derived from its class.
func StatusOf(code int, enhanced string) string {
	if enhanced != "" {
		return enhanced
	}
	switch code / 100 {
	case 2:
		return "2.0.0"
	case 4:
		return "4.0.0"
	default:
		return "5.0.0"
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = io.ReadFull(rand.Reader, b)
	return hex.EncodeToString(b)
}
