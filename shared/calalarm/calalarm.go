package calalarm

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // TZIDs resolve on images without /usr/share/zoneinfo

	"github.com/emersion/go-ical"
	"github.com/teambition/rrule-go"

	"github.com/jetmail/jetmail/shared/task"
)

// Bounds of the search for a next trigger, so that no rule loops.
const (
	// Horizon is how far after the instant asked about occurrences are
	// looked for: 10 years. An alarm whose next trigger lies further
	// gets none now; asked again later, it is found.
	Horizon = 10 * 365 * 24 * time.Hour
	// MaxInstances is how many instances of the recurrence set one Next
	// walks at most, those before the instant asked about included:
	// 100 000 (a daily event for 270 years, an hourly one for 11).
	MaxInstances = 100_000
	// MaxRepeat is the highest REPEAT a VALARM may have: 1 000.
	MaxRepeat = 1000
	// MaxText bounds the iCalendar text, in bytes: 1 MiB, as the store.
	MaxText = 1 << 20
)

// Error is what Parse returns: which component and property is wrong
// and why. Callers branch on it with errors.As.
type Error struct {
	// Where names the component: "VEVENT", "VEVENT RECURRENCE-ID=…",
	// "VALARM #2 of VEVENT" (alarms count from 1), or "" for the text.
	Where string
	// Property is the property's name ("TRIGGER"), or "" for the
	// component itself.
	Property string
	// Value is the property's value as given.
	Value string
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Where)
	if e.Property != "" {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		b.WriteString(e.Property)
		fmt.Fprintf(&b, " %q", e.Value)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Trigger is the next time one alarm fires.
type Trigger struct {
	// AlarmID is the VALARM's UID, else its X-WR-ALARMUID, else
	// "valarm-" and 16 hex digits of a hash of its position among its
	// VEVENT's VALARMs and its TRIGGER (params and value): stable while
	// the alarm is, and equal for an override's copy of a master alarm.
	AlarmID string
	// Action is the VALARM's ACTION, upper case: EMAIL, DISPLAY, AUDIO…
	Action string
	// Variant is the task that delivers it: CalendarAlarmEmail for
	// EMAIL, CalendarAlarmNotification for any other action.
	Variant task.Variant
	// At is when it fires, in UTC.
	At time.Time
	// Start and End are the occurrence's, in UTC; StartTZ and EndTZ
	// their IANA zones ("Europe/Paris"; "UTC" for a UTC time; the
	// floating zone's name for a floating time or a date).
	Start, End     time.Time
	StartTZ, EndTZ string
	// RecurrenceID is the occurrence's original start, for an instance
	// of a recurring event: "20260330T070000Z" (UTC), "20260330" for a
	// date, "20260330T090000" for a floating time. Empty for an event
	// that does not recur and for an absolute trigger of the master.
	RecurrenceID string
	// Repetition is 0 for the trigger itself, n for its n-th REPEAT.
	Repetition int
}

// Options tune Parse.
type Options struct {
	// Floating is the zone of floating times (no TZID, no Z) and of
	// dates (all-day events). Default UTC.
	Floating *time.Location
}

// Event is a parsed calendar event: its master and its overridden
// occurrences, ready for Next.
type Event struct {
	// UID is the master VEVENT's UID ("" if it has none).
	UID       string
	master    component
	recurs    bool
	rule      *rrule.RRule // nil without RRULE; expanded on the wall clock in UTC
	rdates    []instance
	exdates   map[int64]bool
	overrides []component
	floating  *time.Location
}

// component is one VEVENT: the master, or an override of an occurrence.
type component struct {
	start     time.Time // in its zone
	startTZ   string
	date      bool // DTSTART is a DATE
	floating  bool // DTSTART has neither TZID nor Z
	endLoc    *time.Location
	endTZ     string
	length    span // DTEND-DTSTART exactly, DURATION or a date's days nominally
	alarms    []alarm
	recurID   time.Time // overrides only
	recurText string
}

type instance struct {
	start time.Time
	end   time.Time // zero: start + the master's length
}

type alarm struct {
	id, action string
	absolute   time.Time // set for TRIGGER;VALUE=DATE-TIME
	offset     span
	toEnd      bool
	repeat     int
	every      span
}

// Next parses text with the default Options and returns each alarm's
// next trigger strictly after after.
func Next(text string, after time.Time) ([]Trigger, error) {
	ev, err := Parse(text, Options{})
	if err != nil {
		return nil, err
	}
	return ev.Next(after), nil
}

// Parse reads a VCALENDAR: the first VEVENT without RECURRENCE-ID is the
// master; the VEVENTs with a RECURRENCE-ID and the master's UID are its
// overridden occurrences. Other VEVENTs, VTODOs and VTIMEZONEs are not
// read: TZIDs are IANA names, resolved by time.LoadLocation. The error
// is an *Error.
func Parse(text string, opts Options) (*Event, error) {
	if opts.Floating == nil {
		opts.Floating = time.UTC
	}
	if strings.TrimSpace(text) == "" {
		return nil, &Error{Err: errors.New("empty: give a VCALENDAR with a VEVENT")}
	}
	if len(text) > MaxText {
		return nil, &Error{Err: fmt.Errorf("%d bytes; at most %d", len(text), MaxText)}
	}
	cal, err := Decode(text)
	if err != nil {
		return nil, &Error{Err: fmt.Errorf("not iCalendar: %w", err)}
	}
	p := &parser{floating: opts.Floating, zones: map[string]*time.Location{}}
	var master *ical.Component
	for _, c := range cal.Children {
		if c.Name == ical.CompEvent && c.Props.Get(ical.PropRecurrenceID) == nil {
			master = c
			break
		}
	}
	if master == nil {
		return nil, &Error{Err: errors.New("the VCALENDAR has no VEVENT without RECURRENCE-ID")}
	}
	ev := &Event{floating: opts.Floating, exdates: map[int64]bool{}}
	if u := master.Props.Get(ical.PropUID); u != nil {
		ev.UID = u.Value
	}
	if ev.master, err = p.component(master, "VEVENT", nil); err != nil {
		return nil, err
	}
	if err := p.recurrence(ev, master); err != nil {
		return nil, err
	}
	for _, c := range cal.Children {
		rid := c.Props.Get(ical.PropRecurrenceID)
		if c.Name != ical.CompEvent || rid == nil {
			continue
		}
		if u := c.Props.Get(ical.PropUID); u != nil && u.Value != ev.UID {
			continue
		}
		where := "VEVENT RECURRENCE-ID=" + rid.Value
		o, err := p.component(c, where, &ev.master)
		if err != nil {
			return nil, err
		}
		if o.recurID, _, err = p.when(rid); err != nil {
			return nil, &Error{Where: where, Property: ical.PropRecurrenceID, Value: rid.Value, Err: err}
		}
		o.recurText = recurrenceText(o.recurID, ev.master)
		if !ev.exdates[o.recurID.Unix()] {
			ev.overrides = append(ev.overrides, o)
		}
		ev.recurs = true
	}
	return ev, nil
}

// Decode reads an iCalendar text with go-ical, whose decoder panics on
// some malformed lines ("0;0=", a parameter with nothing after it): that
// is an error here, as any other malformed text. Every reader of
// iCalendar in jetmail decodes through it.
func Decode(text string) (cal *ical.Calendar, err error) {
	defer func() {
		if r := recover(); r != nil {
			cal, err = nil, fmt.Errorf("malformed content line (%v)", r)
		}
	}()
	return ical.NewDecoder(strings.NewReader(text)).Decode()
}

type parser struct {
	floating *time.Location
	zones    map[string]*time.Location
}

// zone resolves a TZID to an IANA location.
func (p *parser) zone(tzid string) (*time.Location, error) {
	if loc, ok := p.zones[tzid]; ok {
		return loc, nil
	}
	name := strings.TrimPrefix(tzid, "/") // "/Europe/Paris", a "globally unique" TZID
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("TZID %q is not an IANA time zone", tzid)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown TZID %q (want an IANA name such as Europe/Paris)", tzid)
	}
	p.zones[tzid] = loc
	return loc, nil
}

// when reads a DATE or DATE-TIME property value (RFC 5545 3.3.4, 3.3.5):
// a date is its midnight in the TZID's zone or the floating one, a UTC
// time is UTC, a time with TZID is in that zone, a floating time in the
// floating zone. isDate says the value is a date.
func (p *parser) when(prop *ical.Prop) (time.Time, bool, error) {
	return p.parseWhen(prop.Value, prop.Params.Get(ical.ParamTimezoneID), prop.Params.Get(ical.ParamValue))
}

func (p *parser) parseWhen(v, tzid, valueType string) (time.Time, bool, error) {
	loc := p.floating
	if tzid != "" {
		l, err := p.zone(tzid)
		if err != nil {
			return time.Time{}, false, err
		}
		loc = l
	}
	isDate := strings.EqualFold(valueType, "DATE") || len(v) == 8
	switch {
	case isDate:
		t, err := time.Parse("20060102", v)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("not a DATE (20060102): %w", err)
		}
		return wall(loc, t.Year(), t.Month(), t.Day(), 0, 0, 0, 0), true, nil
	case len(v) == 16 && v[15] == 'Z':
		t, err := time.Parse("20060102T150405Z", v)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("not a DATE-TIME (20060102T150405Z): %w", err)
		}
		return t, false, nil
	default:
		t, err := time.Parse("20060102T150405", v)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("not a DATE (20060102) or DATE-TIME (20060102T150405, Z for UTC): %w", err)
		}
		h, m, s := t.Clock()
		return wall(loc, t.Year(), t.Month(), t.Day(), h, m, s, 0), false, nil
	}
}

// tzName is the IANA id a task carries for a time read by when.
func tzName(t time.Time) string {
	return t.Location().String()
}

// component reads a VEVENT's start, length and alarms. An override with
// neither DTEND nor DURATION keeps the master's length.
func (p *parser) component(c *ical.Component, where string, master *component) (component, error) {
	var out component
	start := c.Props.Get(ical.PropDateTimeStart)
	if start == nil {
		if master == nil {
			return out, &Error{Where: where, Err: errors.New("no DTSTART")}
		}
		start = c.Props.Get(ical.PropRecurrenceID)
	}
	t, isDate, err := p.when(start)
	if err != nil {
		return out, &Error{Where: where, Property: start.Name, Value: start.Value, Err: err}
	}
	out.start, out.date, out.startTZ = t, isDate, tzName(t)
	out.floating = !isDate && start.Params.Get(ical.ParamTimezoneID) == "" && !strings.HasSuffix(start.Value, "Z")
	out.endLoc, out.endTZ = t.Location(), out.startTZ
	switch end, dur := c.Props.Get(ical.PropDateTimeEnd), c.Props.Get(ical.PropDuration); {
	case end != nil:
		e, endDate, err := p.when(end)
		if err != nil {
			return out, &Error{Where: where, Property: ical.PropDateTimeEnd, Value: end.Value, Err: err}
		}
		if e.Before(t) {
			return out, &Error{Where: where, Property: ical.PropDateTimeEnd, Value: end.Value, Err: errors.New("ends before DTSTART")}
		}
		out.endLoc, out.endTZ = e.Location(), tzName(e)
		if isDate && endDate {
			// Two dates: whole days, so that every instance ends at a midnight.
			out.length = span{Days: int(e.Sub(t).Round(24*time.Hour) / (24 * time.Hour))}
		} else {
			out.length = span{Exact: e.Sub(t)} // RFC 5545 3.8.5.3: DTEND gives the exact duration
		}
	case dur != nil:
		s, err := parseSpan(dur.Value)
		if err == nil && s.Neg {
			err = errors.New("negative")
		}
		if err != nil {
			return out, &Error{Where: where, Property: ical.PropDuration, Value: dur.Value, Err: err}
		}
		out.length = s
	case master != nil:
		out.length = master.length
	case isDate:
		out.length = span{Days: 1} // RFC 5545 3.6.1: a date lasts one day
	}
	n := 0
	for _, a := range c.Children {
		if a.Name != ical.CompAlarm {
			continue
		}
		n++
		al, err := p.alarm(a, n)
		if err != nil {
			err.Where = fmt.Sprintf("VALARM #%d of %s", n, where)
			return out, err
		}
		out.alarms = append(out.alarms, al)
	}
	return out, nil
}

// alarm reads a VALARM (RFC 5545 3.6.6): ACTION, TRIGGER, REPEAT and
// DURATION. n is its position among its VEVENT's VALARMs, from 1.
func (p *parser) alarm(a *ical.Component, n int) (alarm, *Error) {
	var out alarm
	act := a.Props.Get(ical.PropAction)
	if act == nil || strings.TrimSpace(act.Value) == "" {
		return out, &Error{Err: errors.New("no ACTION")}
	}
	out.action = strings.ToUpper(strings.TrimSpace(act.Value))
	trig := a.Props.Get(ical.PropTrigger)
	if trig == nil {
		return out, &Error{Err: errors.New("no TRIGGER")}
	}
	bad := func(err error) *Error {
		return &Error{Property: ical.PropTrigger, Value: trig.Value, Err: err}
	}
	related := strings.ToUpper(trig.Params.Get(ical.ParamRelated))
	valueType := strings.ToUpper(trig.Params.Get(ical.ParamValue))
	switch {
	case valueType == "DATE-TIME" || (valueType == "" && trig.Value != "" && trig.Value[0] >= '0' && trig.Value[0] <= '9'):
		if related != "" {
			return out, bad(errors.New("RELATED is for a duration, not an absolute DATE-TIME"))
		}
		t, isDate, err := p.parseWhen(trig.Value, trig.Params.Get(ical.ParamTimezoneID), "DATE-TIME")
		if err == nil && isDate {
			err = errors.New("an absolute trigger is a DATE-TIME, not a DATE")
		}
		if err != nil {
			return out, bad(err)
		}
		out.absolute = t.UTC()
	case valueType == "" || valueType == "DURATION":
		s, err := parseSpan(trig.Value)
		if err != nil {
			return out, bad(err)
		}
		out.offset = s
		switch related {
		case "", "START":
		case "END":
			out.toEnd = true
		default:
			return out, bad(fmt.Errorf("RELATED=%s: want START or END", related))
		}
	default:
		return out, bad(fmt.Errorf("VALUE=%s: want DURATION or DATE-TIME", valueType))
	}
	rep, dur := a.Props.Get(ical.PropRepeat), a.Props.Get(ical.PropDuration)
	switch {
	case rep == nil && dur == nil:
	case rep == nil || dur == nil:
		return out, &Error{Err: errors.New("REPEAT and DURATION go together (RFC 5545 3.6.6)")}
	default:
		r, err := strconv.Atoi(strings.TrimSpace(rep.Value))
		if err != nil || r < 0 || r > MaxRepeat {
			return out, &Error{Property: ical.PropRepeat, Value: rep.Value, Err: fmt.Errorf("want a count from 0 to %d", MaxRepeat)}
		}
		s, err := parseSpan(dur.Value)
		if err == nil && (s.Neg || (s.Days == 0 && s.Exact == 0)) {
			err = errors.New("want a positive delay between repetitions")
		}
		if err != nil {
			return out, &Error{Property: ical.PropDuration, Value: dur.Value, Err: err}
		}
		out.repeat, out.every = r, s
	}
	switch {
	case a.Props.Get(ical.PropUID) != nil && a.Props.Get(ical.PropUID).Value != "":
		out.id = a.Props.Get(ical.PropUID).Value
	case a.Props.Get("X-WR-ALARMUID") != nil && a.Props.Get("X-WR-ALARMUID").Value != "":
		out.id = a.Props.Get("X-WR-ALARMUID").Value
	default:
		h := sha256.Sum256(fmt.Appendf(nil, "%d\x00%s\x00%s\x00%s", n, related, valueType, trig.Value))
		out.id = "valarm-" + hex.EncodeToString(h[:8])
	}
	return out, nil
}

// recurrence reads the master's RRULE, RDATEs and EXDATEs (RFC 5545
// 3.8.5). The rule is expanded on the wall clock (dates and times as if
// in UTC) and each instance placed in the event's zone after, so that a
// 09:00 Europe/Paris event stays at 09:00 across DST changes.
func (p *parser) recurrence(ev *Event, c *ical.Component) error {
	m := ev.master
	if rr := c.Props.Get(ical.PropRecurrenceRule); rr != nil {
		rule, err := p.rule(rr.Value, m)
		if err != nil {
			return &Error{Where: "VEVENT", Property: ical.PropRecurrenceRule, Value: rr.Value, Err: err}
		}
		ev.rule, ev.recurs = rule, true
	}
	for _, prop := range c.Props.Values(ical.PropRecurrenceDates) {
		ev.recurs = true
		for v := range strings.SplitSeq(prop.Value, ",") {
			in, err := p.rdate(v, prop, m)
			if err != nil {
				return &Error{Where: "VEVENT", Property: ical.PropRecurrenceDates, Value: prop.Value, Err: err}
			}
			ev.rdates = append(ev.rdates, in)
		}
	}
	sort.Slice(ev.rdates, func(i, j int) bool { return ev.rdates[i].start.Before(ev.rdates[j].start) })
	for _, prop := range c.Props.Values(ical.PropExceptionDates) {
		for v := range strings.SplitSeq(prop.Value, ",") {
			t, _, err := p.parseWhen(v, prop.Params.Get(ical.ParamTimezoneID), prop.Params.Get(ical.ParamValue))
			if err != nil {
				return &Error{Where: "VEVENT", Property: ical.PropExceptionDates, Value: prop.Value, Err: err}
			}
			ev.exdates[t.Unix()] = true
		}
	}
	return nil
}

func (p *parser) rdate(v string, prop ical.Prop, m component) (instance, error) {
	if strings.EqualFold(prop.Params.Get(ical.ParamValue), "PERIOD") || strings.Contains(v, "/") {
		from, to, ok := strings.Cut(v, "/")
		if !ok {
			return instance{}, errors.New("a PERIOD is start/end or start/duration")
		}
		s, _, err := p.parseWhen(from, prop.Params.Get(ical.ParamTimezoneID), "DATE-TIME")
		if err != nil {
			return instance{}, err
		}
		var e time.Time
		if strings.HasPrefix(to, "P") || strings.HasPrefix(to, "+P") {
			d, err := parseSpan(to)
			if err != nil {
				return instance{}, err
			}
			e = d.addTo(s, s.Location())
		} else if e, _, err = p.parseWhen(to, prop.Params.Get(ical.ParamTimezoneID), "DATE-TIME"); err != nil {
			return instance{}, err
		}
		if e.Before(s) {
			return instance{}, errors.New("the period ends before it starts")
		}
		return instance{start: s.In(m.start.Location()), end: e}, nil
	}
	s, _, err := p.parseWhen(v, prop.Params.Get(ical.ParamTimezoneID), prop.Params.Get(ical.ParamValue))
	if err != nil {
		return instance{}, err
	}
	return instance{start: s.In(m.start.Location())}, nil
}

// rule reads an RRULE (RFC 5545 3.3.10) for rrule-go, checking what it
// would loop on or misread: INTERVAL and COUNT at least 1, and UNTIL read
// here (UTC, or in the event's zone when floating or a date).
func (p *parser) rule(v string, m component) (*rrule.RRule, error) {
	var keep []string
	var until time.Time
	for part := range strings.SplitSeq(strings.TrimSpace(v), ";") {
		key, val, ok := strings.Cut(part, "=")
		if !ok || val == "" {
			return nil, fmt.Errorf("part %q is not NAME=VALUE", part)
		}
		switch strings.ToUpper(key) {
		case "UNTIL":
			loc := m.start.Location()
			t, isDate, err := p.parseWhenIn(val, loc)
			if err != nil {
				return nil, fmt.Errorf("UNTIL: %w", err)
			}
			if isDate && !m.date {
				// A date UNTIL on a date-time event (RFC 5545 wants the
				// same type; some clients write a date): that whole day.
				t = span{Days: 1}.addTo(t, loc).Add(-time.Second)
			}
			until = t
			continue
		case "INTERVAL", "COUNT":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("%s=%s: want a whole number of 1 or more", key, val)
			}
		case "DTSTART":
			return nil, errors.New("DTSTART belongs to the VEVENT, not the RRULE")
		}
		keep = append(keep, strings.ToUpper(key)+"="+strings.ToUpper(val)) // rrule-go reads upper case only
	}
	opt, err := rrule.StrToROption(strings.Join(keep, ";"))
	if err != nil {
		return nil, err
	}
	opt.Dtstart = onWall(m.start)
	if !until.IsZero() {
		opt.Until = onWall(until.In(m.start.Location()))
	}
	r, err := rrule.NewRRule(*opt)
	if err != nil {
		return nil, err
	}
	if err := reachable(opt); err != nil {
		return nil, err
	}
	return r, nil
}

// parseWhenIn reads an UNTIL: a UTC time, else a date or time in loc.
func (p *parser) parseWhenIn(v string, loc *time.Location) (time.Time, bool, error) {
	saved := p.floating
	p.floating = loc
	defer func() { p.floating = saved }()
	return p.parseWhen(v, "", "")
}

// onWall is t's wall clock in t's zone, as a UTC time.
func onWall(t time.Time) time.Time {
	y, m, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, m, d, h, mi, s, 0, time.UTC)
}

// fromWall places a wall-clock time (held as UTC) in loc.
func fromWall(w time.Time, loc *time.Location) time.Time {
	y, m, d := w.Date()
	h, mi, s := w.Clock()
	return wall(loc, y, m, d, h, mi, s, 0)
}

// recurrenceText is an instance's RECURRENCE-ID, as Trigger documents.
func recurrenceText(t time.Time, m component) string {
	switch {
	case m.date:
		return t.In(m.start.Location()).Format("20060102")
	case m.floating:
		return t.In(m.start.Location()).Format("20060102T150405")
	default:
		return t.UTC().Format("20060102T150405Z")
	}
}

// reachable refuses a sub-daily rule whose steps never meet its BYHOUR,
// BYMINUTE or BYSECOND (FREQ=SECONDLY;INTERVAL=3600;BYMINUTE=1 from a
// time at minute 0): rrule-go would step through every interval to the
// year 9999 looking for one. The time of day of DTSTART + k·INTERVAL
// cycles within 86 400 steps, so trying those settles it. Which BYxxx
// limit follows RFC 5545 3.3.10's table: BYHOUR for the three, BYMINUTE
// for MINUTELY and SECONDLY, BYSECOND for SECONDLY (the others expand).
func reachable(o *rrule.ROption) error {
	var step int64
	switch o.Freq {
	case rrule.HOURLY:
		step = 3600
	case rrule.MINUTELY:
		step = 60
	case rrule.SECONDLY:
		step = 1
	default:
		return nil
	}
	step *= int64(max(o.Interval, 1))
	in := func(set []int, v int64) bool {
		return len(set) == 0 || slices.Contains(set, int(v))
	}
	match := func(tod int64) bool {
		h, mi, s := tod/3600, tod/60%60, tod%60
		return in(o.Byhour, h) && (o.Freq == rrule.HOURLY || in(o.Byminute, mi)) && (o.Freq != rrule.SECONDLY || in(o.Bysecond, s))
	}
	h, mi, s := o.Dtstart.Clock()
	t0 := int64(h*3600 + mi*60 + s)
	for k := range 86400 / gcd(step%86400, 86400) {
		if match((t0 + k*(step%86400)) % 86400) {
			return nil
		}
	}
	return errors.New("the INTERVAL's steps from DTSTART never meet its BYHOUR, BYMINUTE or BYSECOND")
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
