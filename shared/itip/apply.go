package itip

import (
	"fmt"
	"time"

	"github.com/emersion/go-ical"
)

// Outcome is what applying a message did.
type Outcome string

// The outcomes of Apply.
const (
	// Applied: the copy is new or changed; write Apply's text.
	Applied Outcome = "applied"
	// Unchanged: the message is already applied, or older than the copy
	// (a lower SEQUENCE, or the same and an older DTSTAMP).
	Unchanged Outcome = "unchanged"
	// Ignored: the message is not for this account (it is not an
	// attendee of a REQUEST, or not the organizer of a REPLY), there is
	// no copy to change, or the method is not applied.
	Ignored Outcome = "ignored"
	// Refused: the sender is not who may send it (the organizer of a
	// REQUEST, CANCEL or ADD; the attendee of a REPLY or COUNTER).
	Refused Outcome = "refused"
)

// Apply applies an incoming message to the account's copy of its event:
// cur is the copy's text ("" when the account has none), self the
// account's addresses and from the message's senders (its From and
// envelope sender, lower case). It returns the copy's new text when the
// outcome is Applied.
//
//	REQUEST  (to an attendee)  makes the copy, or replaces it with a newer
//	                           version; the attendee's alarms stay, and so
//	                           does its answer at the same SEQUENCE
//	CANCEL   (to an attendee)  marks the copy STATUS:CANCELLED, or with a
//	                           RECURRENCE-ID excludes that occurrence
//	ADD      (to an attendee)  adds the RDATEs to the copy
//	REPLY, COUNTER (to the     sets the attendee's PARTSTAT in the event,
//	organizer)                 unless the event's SEQUENCE is newer or a
//	                           later REPLY of theirs was applied
//
// The error (wrapping ErrMalformed) is a copy that cannot be read or a
// result that cannot be written.
func Apply(cur string, m *Message, self, from []string) (string, Outcome, error) {
	var c *Message
	if cur != "" {
		var err error
		if c, err = read(cur); err != nil {
			return "", "", fmt.Errorf("the stored event: %w", err)
		}
		if c.UID != m.UID {
			return "", Ignored, nil
		}
	}
	switch m.Method {
	case Request, Cancel, Add:
		if _, ok := m.attendeeOf(self); !ok || contains(self, m.Organizer) {
			return "", Ignored, nil
		}
		if !contains(from, m.Organizer) || (c != nil && c.Organizer != m.Organizer) {
			return "", Refused, nil
		}
		if c == nil && m.Method != Request {
			return "", Ignored, nil
		}
		if c != nil && m.Sequence < c.Sequence {
			return "", Unchanged, nil
		}
		switch m.Method {
		case Request:
			return applyRequest(c, m, self)
		case Cancel:
			return applyCancel(c, m)
		default:
			return applyAdd(c, m)
		}
	case Reply, Counter:
		if c == nil || !contains(self, c.Organizer) {
			return "", Ignored, nil
		}
		return applyReply(c, m, from)
	}
	return "", Ignored, nil
}

func applyRequest(c, m *Message, self []string) (string, Outcome, error) {
	if c != nil && m.Sequence == c.Sequence && !m.Stamp.After(c.Stamp) {
		return "", Unchanged, nil
	}
	cal := clone(m.cal.Component)
	cal.Props.Del(ical.PropMethod)
	if c != nil {
		master := masterOf(cal)
		old := c.master
		for _, ch := range old.Children {
			if ch.Name == ical.CompAlarm {
				master.Children = append(master.Children, clone(ch))
			}
		}
		if own, ok := c.attendeeOf(self); ok && m.Sequence == c.Sequence && own.PartStat != NeedsAction {
			setPartStat(master, own.Address, own.PartStat, time.Time{})
		}
	}
	text, err := encode(cal)
	return text, Applied, err
}

func applyCancel(c, m *Message) (string, Outcome, error) {
	cal := clone(c.cal.Component)
	if rid := m.RecurrenceID; rid != nil {
		master := masterOf(cal)
		for _, p := range master.Props.Values(ical.PropExceptionDates) {
			if p.Value == rid.Value {
				return "", Unchanged, nil
			}
		}
		ex := ical.NewProp(ical.PropExceptionDates)
		ex.Value = rid.Value
		for _, k := range []string{ical.ParamTimezoneID, ical.ParamValue} {
			if v := rid.Params.Get(k); v != "" {
				ex.Params.Set(k, v)
			}
		}
		master.Props.Add(ex)
		var kept []*ical.Component
		for _, ch := range cal.Children {
			if r := ch.Props.Get(ical.PropRecurrenceID); ch.Name == ical.CompEvent && r != nil && r.Value == rid.Value {
				continue
			}
			kept = append(kept, ch)
		}
		cal.Children = kept
	} else {
		if c.Status == "CANCELLED" && c.Sequence == m.Sequence {
			return "", Unchanged, nil
		}
		for _, ev := range events(cal) {
			ev.Props.SetText(ical.PropStatus, "CANCELLED")
			setSequence(ev, m.Sequence)
		}
	}
	text, err := encode(cal)
	return text, Applied, err
}

func applyAdd(c, m *Message) (string, Outcome, error) {
	added := minus(m.RDates, c.RDates)
	if len(added) == 0 {
		return "", Unchanged, nil
	}
	cal := clone(c.cal.Component)
	setRDates(masterOf(cal), append(append([]string(nil), c.RDates...), added...))
	text, err := encode(cal)
	return text, Applied, err
}

// applyReply sets the PARTSTAT of each attendee of the reply who sent it
// (one of from) and is invited, in the VEVENT it answers for (the
// occurrence of its RECURRENCE-ID if the event has one, else the master).
func applyReply(c, m *Message, from []string) (string, Outcome, error) {
	if m.Sequence < c.Sequence {
		return "", Unchanged, nil
	}
	cal := clone(c.cal.Component)
	target := masterOf(cal)
	if rid := m.RecurrenceID; rid != nil {
		for _, ev := range events(cal) {
			if r := ev.Props.Get(ical.PropRecurrenceID); r != nil && r.Value == rid.Value {
				target = ev
			}
		}
	}
	outcome := Refused
	for _, a := range m.Attendees {
		if !contains(from, a.Address) {
			continue
		}
		if outcome == Refused {
			outcome = Ignored
		}
		switch setPartStat(target, a.Address, a.PartStat, m.Stamp) {
		case Applied:
			outcome = Applied
		case Unchanged:
			if outcome != Applied {
				outcome = Unchanged
			}
		}
	}
	if outcome != Applied {
		return "", outcome, nil
	}
	text, err := encode(cal)
	return text, Applied, err
}

// setPartStat sets the PARTSTAT of the VEVENT's attendee of address a. A
// non-zero stamp is the REPLY's DTSTAMP: the PARTSTAT is set only if no
// later REPLY of theirs was, and the stamp is kept (paramStamp). Ignored:
// not an attendee.
func setPartStat(ev *ical.Component, a string, ps PartStat, stamp time.Time) Outcome {
	props := ev.Props.Values(ical.PropAttendee)
	for i := range props {
		p := &props[i]
		if calAddress(p.Value) != a {
			continue
		}
		if !stamp.IsZero() {
			if was, err := time.Parse(stampLayout, p.Params.Get(paramStamp)); err == nil && !stamp.After(was) {
				return Unchanged
			}
			p.Params.Set(paramStamp, stamp.UTC().Format(stampLayout))
		}
		if PartStat(p.Params.Get(ical.ParamParticipationStatus)) == ps && stamp.IsZero() {
			return Unchanged
		}
		p.Params.Set(ical.ParamParticipationStatus, string(ps))
		p.Params.Del(ical.ParamRSVP)
		return Applied
	}
	return Ignored
}

// stampLayout is a UTC DATE-TIME.
const stampLayout = "20060102T150405Z"

// masterOf is a calendar's master VEVENT: the first without a
// RECURRENCE-ID, or the first.
func masterOf(cal *ical.Component) *ical.Component {
	evs := events(cal)
	for _, ev := range evs {
		if ev.Props.Get(ical.PropRecurrenceID) == nil {
			return ev
		}
	}
	return evs[0]
}
