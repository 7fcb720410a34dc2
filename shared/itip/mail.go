package itip

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"github.com/jetmail/jetmail/shared/store"
)

// Mail bounds: a message with deeper nesting or more parts than these is
// not looked into for a calendar part.
const (
	maxDepth = 10
	maxParts = 100
)

// Compose makes the iMIP message (RFC 6047) of an outgoing iTIP message:
// multipart/alternative of a readable text/plain part and the
// text/calendar part with its method. id makes the Message-ID (with
// host): the same id gives the same Message-ID, so that a message sent
// again after a crash is dropped as a duplicate by a receiver that
// checks.
func Compose(o Outgoing, host, id string, date time.Time) ([]byte, error) {
	m, err := read(o.Payload)
	if err != nil {
		return nil, err
	}
	summary := m.Summary
	if summary == "" {
		summary = "(no title)"
	}
	var subject, lead string
	switch o.Method {
	case Request:
		subject, lead = "Invitation: "+summary, o.From+" invites you to this event."
		if m.Sequence > 0 {
			subject, lead = "Updated invitation: "+summary, o.From+" has updated this event."
		}
	case Cancel:
		subject, lead = "Cancelled: "+summary, o.From+" has cancelled this event."
	case Add:
		subject, lead = "Added dates: "+summary, o.From+" has added dates to this event."
	case Reply, Counter:
		ps := NeedsAction
		if a, ok := m.Attendee(o.From); ok {
			ps = a.PartStat
		}
		word := map[PartStat]string{Accepted: "accepted", Declined: "declined", Tentative: "tentatively accepted", Delegated: "delegated"}[ps]
		if word == "" {
			word = "answered"
		}
		subject, lead = strings.ToUpper(word[:1])+word[1:]+": "+summary, o.From+" has "+word+" this event."
	default:
		subject, lead = summary, o.From+" sends this event."
	}
	var text strings.Builder
	fmt.Fprintf(&text, "%s\r\n\r\n%s\r\n", lead, summary)
	if w := when(m); w != "" {
		fmt.Fprintf(&text, "When:  %s\r\n", w)
	}
	if loc, _ := m.master.Props.Text(ical.PropLocation); loc != "" {
		fmt.Fprintf(&text, "Where: %s\r\n", loc)
	}
	if m.Organizer != "" {
		fmt.Fprintf(&text, "Organizer: %s\r\n", m.Organizer)
	}
	if len(m.Attendees) > 0 {
		text.WriteString("Attendees:\r\n")
		for _, a := range m.Attendees {
			fmt.Fprintf(&text, "  %s (%s)\r\n", a.Address, strings.ToLower(string(a.PartStat)))
		}
	}
	sum := sha256.Sum256([]byte(id))
	boundary := "itip-" + hex.EncodeToString(sum[:12])

	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <%s>\r\n", o.From)
	tos := make([]string, len(o.To))
	for i, t := range o.To {
		tos[i] = "<" + t + ">"
	}
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(tos, ", "))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <itip.%s@%s>\r\n", hex.EncodeToString(sum[:16]), host)
	fmt.Fprintf(&b, "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary)
	part := func(ctype, body string) {
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary, ctype)
		w := quotedprintable.NewWriter(&b)
		_, _ = w.Write([]byte(body))
		_ = w.Close()
		b.WriteString("\r\n")
	}
	part("text/plain; charset=utf-8", text.String())
	part("text/calendar; charset=utf-8; method="+string(o.Method)+"; component=VEVENT", o.Payload)
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes(), nil
}

// when is the event's start (and end) in its time zone, for a reader.
func when(m *Message) string {
	start := m.master.Props.Get(ical.PropDateTimeStart)
	if start == nil {
		return ""
	}
	loc := time.UTC
	if tz := start.Params.Get(ical.ParamTimezoneID); tz != "" {
		if l, err := time.LoadLocation(tz); err == nil {
			loc = l
		}
	}
	t, err := start.DateTime(loc)
	if err != nil {
		return start.Value
	}
	if start.ValueType() == ical.ValueDate || len(start.Value) == len("20060102") {
		return t.Format("Monday 2 January 2006")
	}
	return t.In(loc).Format("Monday 2 January 2006, 15:04") + " (" + loc.String() + ")"
}

// Calendar is the calendar part of a mail: an iMIP message.
type Calendar struct {
	// Text is the text/calendar part's content, decoded.
	Text string
	// Method is the Content-Type's method parameter, upper case.
	Method string
	// From are the From field's addresses, lower case.
	From []string
}

// errNoCalendar is a mail without a text/calendar part.
var errNoCalendar = errors.New("no text/calendar part")

// Extract finds the first text/calendar part of a mail. A mail without
// one gives errNoCalendar; one that cannot be read, an error wrapping
// ErrMalformed.
func Extract(body []byte) (*Calendar, error) {
	if !containsFold(body, "text/calendar") {
		return nil, errNoCalendar
	}
	e, err := message.Read(bytes.NewReader(body))
	if err != nil && !message.IsUnknownCharset(err) {
		return nil, fmt.Errorf("%w: the mail: %v", ErrMalformed, err)
	}
	out := &Calendar{}
	if from, err := (&mail.Header{Header: e.Header}).AddressList("From"); err == nil {
		for _, a := range from {
			out.From = append(out.From, strings.ToLower(a.Address))
		}
	}
	parts := 0
	found, err := findCalendar(e, 0, &parts, out)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, errNoCalendar
	}
	return out, nil
}

func findCalendar(e *message.Entity, depth int, parts *int, out *Calendar) (bool, error) {
	if *parts++; depth > maxDepth || *parts > maxParts {
		return false, nil
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return false, nil
			}
			if err != nil && !message.IsUnknownCharset(err) {
				return false, fmt.Errorf("%w: a MIME part: %v", ErrMalformed, err)
			}
			if found, err := findCalendar(p, depth+1, parts, out); found || err != nil {
				return found, err
			}
		}
	}
	ctype, params, err := e.Header.ContentType()
	if err != nil || ctype != "text/calendar" {
		return false, nil
	}
	b, err := io.ReadAll(io.LimitReader(e.Body, store.MaxCalendarText+1))
	if err != nil {
		return false, fmt.Errorf("%w: the text/calendar part: %v", ErrMalformed, err)
	}
	if len(b) > store.MaxCalendarText {
		return false, fmt.Errorf("%w: the text/calendar part is over %d bytes", ErrMalformed, store.MaxCalendarText)
	}
	out.Text, out.Method = string(b), strings.ToUpper(params["method"])
	return true, nil
}

// containsFold reports whether b holds s, ASCII case-insensitively (s
// lower case), without copying b.
func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		j := 0
		for j < len(s) && lower(b[i+j]) == s[j] {
			j++
		}
		if j == len(s) {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
