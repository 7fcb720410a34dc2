package itip

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-ical"

	"github.com/jetmail/jetmail/shared/calalarm"
	"github.com/jetmail/jetmail/shared/store"
)

// Method is an iTIP method (RFC 5546 §1.4), the VCALENDAR's METHOD.
type Method string

// The methods jetmail sends or applies. Others (PUBLISH, REFRESH,
// DECLINECOUNTER) are read but not applied.
const (
	Request Method = "REQUEST"
	Reply   Method = "REPLY"
	Cancel  Method = "CANCEL"
	Add     Method = "ADD"
	Counter Method = "COUNTER"
)

// PartStat is an attendee's participation status (RFC 5545 §3.2.12).
type PartStat string

// The participation statuses of an event's attendee.
const (
	NeedsAction PartStat = "NEEDS-ACTION"
	Accepted    PartStat = "ACCEPTED"
	Declined    PartStat = "DECLINED"
	Tentative   PartStat = "TENTATIVE"
	Delegated   PartStat = "DELEGATED"
)

// ErrMalformed is wrapped by the error of an iCalendar text that cannot be
// scheduled: not iCalendar, no VEVENT, no UID, an unknown method.
var ErrMalformed = errors.New("malformed iTIP")

// Attendee is an ATTENDEE of an event.
type Attendee struct {
	// Address is the calendar user's mail address, lower case, without
	// "mailto:".
	Address  string
	PartStat PartStat
	RSVP     bool
}

// Message is what scheduling reads of an iCalendar object: an iTIP message
// (with a METHOD) or a stored event (without). The fields are its first
// VEVENT without a RECURRENCE-ID (the master), or its first VEVENT.
type Message struct {
	// Method is "" for a stored event.
	Method   Method
	UID      string
	Sequence int
	// Stamp is the VEVENT's DTSTAMP: when the message was made.
	Stamp time.Time
	// RecurrenceID is set when the VEVENT is one occurrence only (a
	// CANCEL of one date).
	RecurrenceID *ical.Prop
	// Organizer is the ORGANIZER's address; "" when there is none.
	Organizer string
	Attendees []Attendee
	// Status is the STATUS, upper case ("CANCELLED").
	Status  string
	Summary string
	// RDates are the master's RDATEs, one per date, each "TZID|value"
	// ("|value" without a TZID).
	RDates []string

	cal    *ical.Calendar
	master *ical.Component
}

// Parse reads an iTIP message: an iCalendar text with a METHOD and a
// VEVENT with a UID. The error wraps ErrMalformed.
func Parse(text string) (*Message, error) {
	m, err := read(text)
	if err != nil {
		return nil, err
	}
	if m.Method == "" {
		return nil, fmt.Errorf("%w: the VCALENDAR has no METHOD", ErrMalformed)
	}
	return m, nil
}

// read reads an iCalendar object, with or without a METHOD.
func read(text string) (*Message, error) {
	if len(text) > store.MaxCalendarText {
		return nil, fmt.Errorf("%w: %d bytes; at most %d", ErrMalformed, len(text), store.MaxCalendarText)
	}
	cal, err := calalarm.Decode(text)
	if err != nil {
		return nil, fmt.Errorf("%w: not iCalendar: %v", ErrMalformed, err)
	}
	m := &Message{cal: cal}
	if p := cal.Props.Get(ical.PropMethod); p != nil {
		m.Method = Method(strings.ToUpper(strings.TrimSpace(p.Value)))
	}
	for _, c := range cal.Children {
		if c.Name != ical.CompEvent {
			continue
		}
		if m.master == nil || (m.master.Props.Get(ical.PropRecurrenceID) != nil && c.Props.Get(ical.PropRecurrenceID) == nil) {
			m.master = c
		}
	}
	if m.master == nil {
		return nil, fmt.Errorf("%w: the VCALENDAR has no VEVENT", ErrMalformed)
	}
	ev := m.master
	if p := ev.Props.Get(ical.PropUID); p == nil || strings.TrimSpace(p.Value) == "" {
		return nil, fmt.Errorf("%w: the VEVENT has no UID", ErrMalformed)
	} else {
		m.UID = strings.TrimSpace(p.Value)
	}
	if p := ev.Props.Get(ical.PropSequence); p != nil {
		if m.Sequence, err = strconv.Atoi(strings.TrimSpace(p.Value)); err != nil || m.Sequence < 0 {
			return nil, fmt.Errorf("%w: SEQUENCE %q is not a count", ErrMalformed, p.Value)
		}
	}
	if p := ev.Props.Get(ical.PropDateTimeStamp); p != nil {
		if m.Stamp, err = p.DateTime(time.UTC); err != nil {
			return nil, fmt.Errorf("%w: DTSTAMP %q: %v", ErrMalformed, p.Value, err)
		}
	}
	m.RecurrenceID = ev.Props.Get(ical.PropRecurrenceID)
	if p := ev.Props.Get(ical.PropOrganizer); p != nil {
		m.Organizer = calAddress(p.Value)
	}
	for _, p := range ev.Props.Values(ical.PropAttendee) {
		a := Attendee{Address: calAddress(p.Value), PartStat: partStat(p), RSVP: strings.EqualFold(p.Params.Get(ical.ParamRSVP), "TRUE")}
		if a.Address != "" {
			m.Attendees = append(m.Attendees, a)
		}
	}
	if p := ev.Props.Get(ical.PropStatus); p != nil {
		m.Status = strings.ToUpper(strings.TrimSpace(p.Value))
	}
	m.Summary, _ = ev.Props.Text(ical.PropSummary)
	for _, p := range ev.Props.Values(ical.PropRecurrenceDates) {
		for _, v := range strings.Split(p.Value, ",") {
			if v = strings.TrimSpace(v); v != "" {
				m.RDates = append(m.RDates, p.Params.Get(ical.ParamTimezoneID)+"|"+v)
			}
		}
	}
	return m, nil
}

// Attendee returns the attendee of address a, if the event has it.
func (m *Message) Attendee(a string) (Attendee, bool) {
	for _, at := range m.Attendees {
		if at.Address == a {
			return at, true
		}
	}
	return Attendee{}, false
}

// attendeeOf returns the first of the addresses that is an attendee.
func (m *Message) attendeeOf(self []string) (Attendee, bool) {
	for _, a := range self {
		if at, ok := m.Attendee(a); ok {
			return at, true
		}
	}
	return Attendee{}, false
}

// calAddress reads a CAL-ADDRESS ("mailto:Ann@Example.com") as a mail
// address ("ann@example.com"); "" for another kind of URI.
func calAddress(v string) string {
	v = strings.TrimSpace(v)
	if len(v) < len("mailto:") || !strings.EqualFold(v[:len("mailto:")], "mailto:") {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(v[len("mailto:"):]))
}

func partStat(p ical.Prop) PartStat {
	if v := strings.ToUpper(strings.TrimSpace(p.Params.Get(ical.ParamParticipationStatus))); v != "" {
		return PartStat(v)
	}
	return NeedsAction
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
