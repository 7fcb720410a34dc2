package itip

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-ical"
)

// prodID names jetmail as the maker of the iCalendar objects it writes.
const prodID = "-//jetmail//iTIP//EN"

// paramStamp is the ATTENDEE parameter of an organizer's event that keeps
// the DTSTAMP of the attendee's last applied REPLY, so that an older
// REPLY arriving later does not undo a newer one. It is jetmail's own and
// never sent.
const paramStamp = "X-JETMAIL-DTSTAMP"

// clone copies a component and its children deeply.
func clone(c *ical.Component) *ical.Component {
	out := &ical.Component{Name: c.Name, Props: make(ical.Props, len(c.Props))}
	for name, props := range c.Props {
		cp := make([]ical.Prop, len(props))
		for i, p := range props {
			cp[i] = cloneProp(p)
		}
		out.Props[name] = cp
	}
	for _, ch := range c.Children {
		out.Children = append(out.Children, clone(ch))
	}
	return out
}

func cloneProp(p ical.Prop) ical.Prop {
	q := ical.Prop{Name: p.Name, Value: p.Value, Params: make(ical.Params, len(p.Params))}
	for k, v := range p.Params {
		q.Params[k] = append([]string(nil), v...)
	}
	return q
}

// events are the VEVENTs of a calendar.
func events(cal *ical.Component) []*ical.Component {
	var out []*ical.Component
	for _, c := range cal.Children {
		if c.Name == ical.CompEvent {
			out = append(out, c)
		}
	}
	return out
}

// encode writes a calendar as iCalendar text, its lines folded at 75
// octets (RFC 5545 §3.1), with a PRODID and VERSION if it has none.
// go-ical's encoder refuses some objects with an error (two DTSTAMPs in a
// VEVENT, a line break in a value) and panics on a few: both are an error
// here.
func encode(cal *ical.Component) (text string, err error) {
	if cal.Props.Get(ical.PropProductID) == nil {
		cal.Props.SetText(ical.PropProductID, prodID)
	}
	if cal.Props.Get(ical.PropVersion) == nil {
		cal.Props.SetText(ical.PropVersion, "2.0")
	}
	defer func() {
		if r := recover(); r != nil {
			text, err = "", fmt.Errorf("%w: cannot be written (%v)", ErrMalformed, r)
		}
	}()
	var b strings.Builder
	if err := ical.NewEncoder(&b).Encode(&ical.Calendar{Component: cal}); err != nil {
		return "", fmt.Errorf("%w: cannot be written: %v", ErrMalformed, err)
	}
	return fold(b.String()), nil
}

// fold breaks each line longer than 75 octets into continuation lines
// (CRLF and a space), never inside a UTF-8 sequence.
func fold(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/64)
	for line := range strings.SplitSeq(strings.TrimSuffix(s, "\r\n"), "\r\n") {
		limit := 75
		for len(line) > limit {
			cut := limit
			for cut > 0 && !utf8.RuneStart(line[cut]) {
				cut--
			}
			b.WriteString(line[:cut])
			b.WriteString("\r\n ")
			line = line[cut:]
			limit = 74 // the leading space counts
		}
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	return b.String()
}

// setStamp sets a component's DTSTAMP (UTC).
func setStamp(c *ical.Component, at time.Time) {
	p := ical.NewProp(ical.PropDateTimeStamp)
	p.SetDateTime(at.UTC())
	c.Props.Set(p)
}

// setSequence sets a component's SEQUENCE (an INTEGER: SetText would mark
// it TEXT).
func setSequence(c *ical.Component, seq int) {
	p := ical.NewProp(ical.PropSequence)
	p.Value = strconv.Itoa(seq)
	c.Props.Set(p)
}

// scrub drops from a VEVENT what is the calendar owner's own: alarms,
// jetmail's parameters and properties.
func scrub(ev *ical.Component) {
	var keep []*ical.Component
	for _, ch := range ev.Children {
		if ch.Name != ical.CompAlarm {
			keep = append(keep, ch)
		}
	}
	ev.Children = keep
	for name, props := range ev.Props {
		if strings.HasPrefix(name, "X-JETMAIL-") {
			delete(ev.Props, name)
			continue
		}
		for i := range props {
			for k := range props[i].Params {
				if strings.HasPrefix(k, "X-JETMAIL-") {
					delete(props[i].Params, k)
				}
			}
		}
	}
}

// digest is a hash of what the event tells its attendees, less what a
// REQUEST to all need not follow: the attendees themselves and their
// answers, RDATEs (an ADD), DTSTAMP, alarms and jetmail's own data.
func digest(m *Message) string {
	cal := clone(m.cal.Component)
	cal.Props.Del(ical.PropMethod)
	for _, ev := range events(cal) {
		scrub(ev)
		for _, name := range []string{ical.PropAttendee, ical.PropDateTimeStamp, ical.PropLastModified, ical.PropRecurrenceDates} {
			ev.Props.Del(name)
		}
		setStamp(ev, time.Unix(0, 0))
	}
	text, err := encode(cal)
	if err != nil {
		text = m.UID // cannot happen for a text read: changes are then seen by SEQUENCE only
	}
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:16])
}

// payload is the event as an iTIP message of the method: METHOD set, each
// VEVENT scrubbed (scrub) and stamped, then edited (edit returning false
// leaves the VEVENT out; nil keeps each as it is).
func payload(m *Message, method Method, stamp time.Time, edit func(ev *ical.Component) bool) (string, error) {
	cal := clone(m.cal.Component)
	cal.Props.SetText(ical.PropMethod, string(method))
	var kept []*ical.Component
	for _, c := range cal.Children {
		if c.Name == ical.CompEvent {
			scrub(c)
			setStamp(c, stamp)
			if edit != nil && !edit(c) {
				continue
			}
		}
		kept = append(kept, c)
	}
	cal.Children = kept
	return encode(cal)
}

// onlyAttendees keeps a VEVENT's ATTENDEEs whose address keep accepts.
func onlyAttendees(ev *ical.Component, keep func(string) bool) {
	var out []ical.Prop
	for _, p := range ev.Props.Values(ical.PropAttendee) {
		if keep(calAddress(p.Value)) {
			out = append(out, p)
		}
	}
	ev.Props.Del(ical.PropAttendee)
	if len(out) > 0 {
		ev.Props[ical.PropAttendee] = out
	}
}
