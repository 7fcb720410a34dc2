package itip

import (
	"strings"
	"time"

	"github.com/emersion/go-ical"
)

// The sides of an event an account can be on.
const (
	RoleOrganizer = "organizer"
	RoleAttendee  = "attendee"
)

// Sent is what an account last told the other side of one of its events:
// what Plan compares the event's next version with. The calendar service
// keeps one per scheduled event.
type Sent struct {
	// Role is RoleOrganizer or RoleAttendee.
	Role string `json:"role"`
	// Self is the account's address that acts: the ORGANIZER, or the
	// attendee.
	Self     string `json:"self"`
	UID      string `json:"uid"`
	Sequence int    `json:"sequence"`
	// Attendees are the invited addresses (organizer).
	Attendees []string `json:"attendees,omitempty"`
	// RDates are the master's RDATEs ("TZID|value"), whose additions go
	// out as an ADD (organizer).
	RDates []string `json:"rdates,omitempty"`
	// Digest hashes the event less its attendees, RDATEs and stamps: a
	// new one sends a REQUEST to all (organizer).
	Digest string `json:"digest,omitempty"`
	// Cancelled is set once the event's STATUS:CANCELLED went out.
	Cancelled bool `json:"cancelled,omitempty"`
	// Cancel is the CANCEL to send every attendee when the event is
	// destroyed: the event's essentials (organizer).
	Cancel string `json:"cancel,omitempty"`
	// PartStat is the attendee's participation status last seen
	// (attendee).
	PartStat PartStat `json:"partstat,omitempty"`
}

// Outgoing is one iTIP message to send as iMIP mail.
type Outgoing struct {
	Method Method
	// From is the sender: the organizer or the replying attendee.
	From string
	// To are the recipients' addresses.
	To      []string
	Payload string
}

// Plan returns the iTIP messages that an event's change calls for, and
// what to remember of it for the next change (nil: nothing; forget the
// event). prev is what was remembered (nil: nothing), text the event's
// new iCalendar text ("" once destroyed), self the account's addresses,
// and stamp the change's time, each message's DTSTAMP: the same change
// planned twice gives the same messages.
//
// As the organizer (ORGANIZER is one of self), the account sends:
//
//	the event new, or changed beyond its attendees   REQUEST to all attendees
//	attendees added                                   REQUEST to those
//	attendees removed                                 CANCEL to those
//	RDATEs added, and nothing else                    ADD to the attendees
//	STATUS:CANCELLED, or the event destroyed          CANCEL to all attendees
//
// As an attendee (one of self is an ATTENDEE), it sends a REPLY to the
// organizer when its PARTSTAT becomes other than NEEDS-ACTION.
//
// An error (wrapping ErrMalformed) is an event that cannot be scheduled;
// prev is returned with it, to be kept.
func Plan(prev *Sent, text string, self []string, stamp time.Time) ([]Outgoing, *Sent, error) {
	if text == "" {
		return planDestroyed(prev, stamp)
	}
	m, err := read(text)
	if err != nil {
		return nil, prev, err
	}
	if contains(self, m.Organizer) || (prev != nil && prev.Role == RoleOrganizer) {
		return planOrganizer(prev, m, self, stamp)
	}
	if at, ok := m.attendeeOf(self); ok && m.Organizer != "" {
		return planAttendee(prev, m, at, stamp)
	}
	return nil, nil, nil
}

// planDestroyed cancels a destroyed event with every attendee.
func planDestroyed(prev *Sent, stamp time.Time) ([]Outgoing, *Sent, error) {
	if prev == nil || prev.Role != RoleOrganizer || prev.Cancelled || prev.Cancel == "" || len(prev.Attendees) == 0 {
		return nil, nil, nil
	}
	m, err := read(prev.Cancel)
	if err != nil {
		return nil, nil, err
	}
	p, err := payload(m, Cancel, stamp, func(ev *ical.Component) bool {
		setSequence(ev, prev.Sequence+1)
		return true
	})
	if err != nil {
		return nil, nil, err
	}
	return []Outgoing{{Method: Cancel, From: prev.Self, To: prev.Attendees, Payload: p}}, nil, nil
}

func planOrganizer(prev *Sent, m *Message, self []string, stamp time.Time) ([]Outgoing, *Sent, error) {
	var out []Outgoing
	if prev != nil && (prev.Role != RoleOrganizer || prev.UID != m.UID) {
		// Another event now (its UID changed): the old one is cancelled.
		o, _, err := planDestroyed(prev, stamp)
		if err != nil {
			return nil, prev, err
		}
		out, prev = o, nil
	}
	var attendees []string
	if contains(self, m.Organizer) {
		for _, a := range m.Attendees {
			if !contains(self, a.Address) && !contains(attendees, a.Address) {
				attendees = append(attendees, a.Address)
			}
		}
	}
	var was []string
	if prev != nil {
		was = prev.Attendees
	}
	if removed := minus(was, attendees); len(removed) > 0 && !prev.Cancelled {
		p, err := payload(m, Cancel, stamp, func(ev *ical.Component) bool {
			ev.Props.SetText(ical.PropStatus, "CANCELLED")
			ev.Props.Del(ical.PropAttendee) // the event no longer has them: name them
			for _, a := range removed {
				p := ical.NewProp(ical.PropAttendee)
				p.Value = "mailto:" + a
				ev.Props.Add(p)
			}
			return true
		})
		if err != nil {
			return nil, prev, err
		}
		out = append(out, Outgoing{Method: Cancel, From: prev.Self, To: removed, Payload: p})
	}
	if len(attendees) == 0 {
		return out, nil, nil
	}
	next := &Sent{Role: RoleOrganizer, Self: m.Organizer, UID: m.UID, Sequence: m.Sequence, Attendees: attendees,
		RDates: m.RDates, Digest: digest(m), Cancelled: m.Status == "CANCELLED"}
	var err error
	if next.Cancel, err = cancelOf(m); err != nil {
		return nil, prev, err
	}
	send := func(method Method, to []string, edit func(*ical.Component) bool) error {
		p, err := payload(m, method, stamp, edit)
		if err == nil {
			out = append(out, Outgoing{Method: method, From: m.Organizer, To: to, Payload: p})
		}
		return err
	}
	switch added := minus(attendees, was); {
	case next.Cancelled:
		if prev != nil && !prev.Cancelled {
			err = send(Cancel, union(attendees, was), nil)
		}
	case prev == nil || prev.Cancelled || prev.Digest != next.Digest || len(minus(prev.RDates, m.RDates)) > 0:
		err = send(Request, attendees, nil)
	default:
		if len(added) > 0 {
			err = send(Request, added, nil)
		}
		if rdates := minus(m.RDates, prev.RDates); err == nil && len(rdates) > 0 {
			if to := minus(attendees, added); len(to) > 0 {
				err = send(Add, to, func(ev *ical.Component) bool {
					if ev.Props.Get(ical.PropRecurrenceID) != nil {
						return false
					}
					setRDates(ev, rdates)
					return true
				})
			}
		}
	}
	if err != nil {
		return nil, prev, err
	}
	return out, next, nil
}

func planAttendee(prev *Sent, m *Message, at Attendee, stamp time.Time) ([]Outgoing, *Sent, error) {
	if prev != nil && (prev.Role != RoleAttendee || prev.UID != m.UID) {
		prev = nil
	}
	next := &Sent{Role: RoleAttendee, Self: at.Address, UID: m.UID, Sequence: m.Sequence, PartStat: at.PartStat}
	if at.PartStat == NeedsAction || m.Status == "CANCELLED" || (prev != nil && prev.PartStat == at.PartStat) {
		return nil, next, nil
	}
	p, err := payload(m, Reply, stamp, func(ev *ical.Component) bool {
		onlyAttendees(ev, func(a string) bool { return a == at.Address })
		return len(ev.Props.Values(ical.PropAttendee)) > 0
	})
	if err != nil {
		return nil, prev, err
	}
	return []Outgoing{{Method: Reply, From: at.Address, To: []string{m.Organizer}, Payload: p}}, next, nil
}

// cancelKeeps are the master VEVENT's properties a CANCEL of the whole
// event keeps.
var cancelKeeps = []string{ical.PropUID, ical.PropSequence, ical.PropOrganizer, ical.PropAttendee, ical.PropDateTimeStart,
	ical.PropDateTimeEnd, ical.PropDuration, ical.PropSummary, ical.PropLocation, ical.PropRecurrenceRule}

// cancelOf is the CANCEL of the whole event: its master VEVENT's
// essentials, STATUS:CANCELLED, with the time zones it refers to. Its
// DTSTAMP is set when it is sent: the same event gives the same text.
func cancelOf(m *Message) (string, error) {
	return payload(m, Cancel, time.Unix(0, 0), func(ev *ical.Component) bool {
		if ev.Props.Get(ical.PropRecurrenceID) != nil {
			return false
		}
		for name := range ev.Props {
			if name != ical.PropDateTimeStamp && !contains(cancelKeeps, name) {
				delete(ev.Props, name)
			}
		}
		ev.Props.SetText(ical.PropStatus, "CANCELLED")
		return true
	})
}

// setRDates sets a VEVENT's RDATEs ("TZID|value" each), one property per
// date.
func setRDates(ev *ical.Component, rdates []string) {
	ev.Props.Del(ical.PropRecurrenceDates)
	for _, r := range rdates {
		tzid, v, _ := strings.Cut(r, "|")
		p := ical.NewProp(ical.PropRecurrenceDates)
		p.Value = v
		if tzid != "" {
			p.Params.Set(ical.ParamTimezoneID, tzid)
		}
		if len(v) == len("20060102") {
			p.Params.Set(ical.ParamValue, string(ical.ValueDate))
		}
		ev.Props.Add(p)
	}
}

// minus is a less b, in a's order.
func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// union is a and what of b is not in it.
func union(a, b []string) []string {
	return append(append([]string(nil), a...), minus(b, a)...)
}
