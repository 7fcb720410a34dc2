package store

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-ical"

	"github.com/jetmail/jetmail/shared/calalarm"
)

// MaxCalendarText bounds an event's iCalendar text, in bytes: 1 MiB.
const MaxCalendarText = 1 << 20

// CalendarEvent is a calendar event document's fields (Document.Data of
// CalendarType): the iCalendar text it was given, and what an index or a
// listing reads of its event, parsed from it.
type CalendarEvent struct {
	// ICal is the iCalendar object (RFC 5545) as given: a VCALENDAR with
	// one VEVENT at least; the first without a RECURRENCE-ID is the event.
	ICal        string `json:"ical"`
	UID         string `json:"uid,omitempty"`
	Summary     string `json:"summary,omitempty"`
	Description string `json:"description,omitempty"`
	Location    string `json:"location,omitempty"`
	// Start and End are in UTC; a date (an all-day event) starts at its
	// midnight UTC. End is zero when the event has neither DTEND nor
	// DURATION and starts at a date-time.
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"`
	// RRule is the recurrence rule's text ("FREQ=WEEKLY;BYDAY=MO"), if any.
	RRule string `json:"rrule,omitempty"`
	// Alarms summarise the VALARMs: "<action> <trigger>", such as
	// "DISPLAY -PT15M".
	Alarms []string `json:"alarms,omitempty"`
}

// SetCalendarText makes d the calendar event of an iCalendar text: its
// fields read from the text (ParseCalendarEvent), its size the text's.
// Every writer of an event's text (CalendarEvent/set, iTIP) goes through
// it. An error says what is wrong with the text, and leaves d as it was.
func SetCalendarText(d *Document, text string) error {
	ev, err := ParseCalendarEvent(text)
	if err != nil {
		return err
	}
	d.Size = int64(len(text))
	return d.Encode(ev)
}

// ParseCalendarEvent reads an iCalendar text into its event. The error
// says what is wrong with the text.
func ParseCalendarEvent(text string) (*CalendarEvent, error) {
	if strings.TrimSpace(text) == "" {
		return nil, errors.New("empty: give a VCALENDAR with a VEVENT")
	}
	if len(text) > MaxCalendarText {
		return nil, fmt.Errorf("%d bytes; at most %d", len(text), MaxCalendarText)
	}
	cal, err := calalarm.Decode(text)
	if err != nil {
		return nil, fmt.Errorf("not iCalendar: %w", err)
	}
	events := cal.Events()
	if len(events) == 0 {
		return nil, errors.New("the VCALENDAR has no VEVENT")
	}
	ev := events[0]
	for _, e := range events {
		if e.Props.Get(ical.PropRecurrenceID) == nil {
			ev = e
			break
		}
	}
	out := &CalendarEvent{ICal: text}
	for _, f := range []struct {
		prop string
		to   *string
	}{{ical.PropUID, &out.UID}, {ical.PropSummary, &out.Summary}, {ical.PropDescription, &out.Description}, {ical.PropLocation, &out.Location}} {
		if *f.to, err = ev.Props.Text(f.prop); err != nil {
			return nil, fmt.Errorf("VEVENT %s: %w", f.prop, err)
		}
	}
	start := ev.Props.Get(ical.PropDateTimeStart)
	if start == nil {
		return nil, errors.New("the VEVENT has no DTSTART")
	}
	if out.Start, err = icalTime(start); err != nil {
		return nil, fmt.Errorf("VEVENT DTSTART %q: %w", start.Value, err)
	}
	switch end, dur := ev.Props.Get(ical.PropDateTimeEnd), ev.Props.Get(ical.PropDuration); {
	case end != nil:
		if out.End, err = icalTime(end); err != nil {
			return nil, fmt.Errorf("VEVENT DTEND %q: %w", end.Value, err)
		}
	case dur != nil:
		d, err := dur.Duration()
		if err != nil {
			return nil, fmt.Errorf("VEVENT DURATION %q: %w", dur.Value, err)
		}
		out.End = out.Start.Add(d)
	case start.ValueType() == ical.ValueDate || len(start.Value) == len("20060102"):
		out.End = out.Start.Add(24 * time.Hour)
	}
	if !out.End.IsZero() && out.End.Before(out.Start) {
		return nil, errors.New("the VEVENT ends before it starts")
	}
	if rr := ev.Props.Get(ical.PropRecurrenceRule); rr != nil {
		if _, err := ev.Props.RecurrenceRule(); err != nil {
			return nil, fmt.Errorf("VEVENT RRULE %q: %w", rr.Value, err)
		}
		out.RRule = rr.Value
	}
	for _, c := range ev.Children {
		if c.Name != ical.CompAlarm {
			continue
		}
		action, trigger := "", ""
		if p := c.Props.Get(ical.PropAction); p != nil {
			action = strings.ToUpper(p.Value)
		}
		if p := c.Props.Get(ical.PropTrigger); p != nil {
			trigger = p.Value
		}
		out.Alarms = append(out.Alarms, strings.TrimSpace(action+" "+trigger))
	}
	return out, nil
}

// icalTime reads a DATE or DATE-TIME in UTC. A TZID this system does not
// know (a Windows zone name) is read as UTC rather than refused: the
// event is kept as it was given all the same.
func icalTime(p *ical.Prop) (time.Time, error) {
	t, err := p.DateTime(time.UTC)
	if err != nil && p.Params.Get(ical.PropTimezoneID) != "" {
		q := *p
		q.Params = ical.Params{}
		for k, v := range p.Params {
			if k != ical.PropTimezoneID {
				q.Params[k] = v
			}
		}
		t, err = q.DateTime(time.UTC)
	}
	return t.UTC(), err
}
