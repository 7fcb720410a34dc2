package calalarm

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/task"
)

// cal wraps lines in a VCALENDAR, CRLF-terminated as RFC 5545 wants.
func cal(lines ...string) string {
	return strings.Join(append(append([]string{"BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//jetmail//calalarm test//EN"}, lines...), "END:VCALENDAR"), "\r\n") + "\r\n"
}

// event is a VEVENT with UID ev1 and the given properties and alarms.
func event(lines ...string) []string {
	return append(append([]string{"BEGIN:VEVENT", "UID:ev1", "DTSTAMP:20260101T000000Z"}, lines...), "END:VEVENT")
}

// valarm is a DISPLAY alarm with this UID and TRIGGER line.
func valarm(uid, trigger string, more ...string) string {
	l := []string{"BEGIN:VALARM", "UID:" + uid, "ACTION:DISPLAY", trigger}
	return strings.Join(append(append(l, more...), "END:VALARM"), "\r\n")
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

var paris = func() *time.Location {
	l, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(err)
	}
	return l
}()

func TestNext(t *testing.T) {
	t.Parallel()
	weekly := func(more ...string) string {
		return cal(event(append([]string{
			"DTSTART;TZID=Europe/Paris:20260316T090000", "DTEND;TZID=Europe/Paris:20260316T100000",
			valarm("a1", "TRIGGER:-PT15M"),
		}, more...)...)...)
	}
	type want struct {
		id, at, start, end, rid string
		rep                     int
	}
	for _, tc := range []struct {
		name  string
		ical  string
		opts  Options
		after string
		want  []want
	}{{
		name:  "5 minutes before the start, in the event's zone",
		ical:  cal(event("DTSTART;TZID=Europe/Paris:20260310T090000", "DURATION:PT1H", valarm("a1", "TRIGGER:-PT5M"))...),
		after: "2026-03-01T00:00:00Z",
		want:  []want{{id: "a1", at: "2026-03-10T07:55:00Z", start: "2026-03-10T08:00:00Z", end: "2026-03-10T09:00:00Z"}},
	}, {
		name:  "relative to the end",
		ical:  cal(event("DTSTART;TZID=Europe/Paris:20260310T090000", "DTEND;TZID=Europe/Paris:20260310T103000", valarm("a1", "TRIGGER;RELATED=END:PT10M"))...),
		after: "2026-03-01T00:00:00Z",
		want:  []want{{id: "a1", at: "2026-03-10T09:40:00Z", start: "2026-03-10T08:00:00Z", end: "2026-03-10T09:30:00Z"}},
	}, {
		name:  "absolute",
		ical:  cal(event("DTSTART:20260310T090000Z", valarm("a1", "TRIGGER;VALUE=DATE-TIME:20260309T120000Z"))...),
		after: "2026-03-01T00:00:00Z",
		want:  []want{{id: "a1", at: "2026-03-09T12:00:00Z", start: "2026-03-10T09:00:00Z", end: "2026-03-10T09:00:00Z"}},
	}, {
		name:  "absolute fires once, not per occurrence",
		ical:  cal(event("DTSTART:20260310T090000Z", "RRULE:FREQ=DAILY", valarm("a1", "TRIGGER;VALUE=DATE-TIME:20260309T120000Z"))...),
		after: "2026-03-09T12:00:00Z",
	}, {
		name:  "weekly across the spring DST change: 09:00 local, one hour earlier in UTC",
		ical:  weekly("RRULE:FREQ=WEEKLY;BYDAY=MO"),
		after: "2026-03-23T07:45:00Z", // the 23 March alarm (CET) has just fired
		want:  []want{{id: "a1", at: "2026-03-30T06:45:00Z", start: "2026-03-30T07:00:00Z", end: "2026-03-30T08:00:00Z", rid: "20260330T070000Z"}},
	}, {
		name:  "a day before, across the DST change, is 23 hours",
		ical:  cal(event("DTSTART;TZID=Europe/Paris:20260329T090000", valarm("a1", "TRIGGER:-P1D"), valarm("a2", "TRIGGER:-PT24H"))...),
		after: "2026-03-01T00:00:00Z",
		want: []want{
			{id: "a2", at: "2026-03-28T07:00:00Z", start: "2026-03-29T07:00:00Z", end: "2026-03-29T07:00:00Z"},
			{id: "a1", at: "2026-03-28T08:00:00Z", start: "2026-03-29T07:00:00Z", end: "2026-03-29T07:00:00Z"},
		},
	}, {
		name:  "a week before, across the autumn DST change, is 7 calendar days",
		ical:  cal(event("DTSTART;TZID=Europe/Paris:20261026T090000", valarm("a1", "TRIGGER:-P1W"))...),
		after: "2026-10-01T00:00:00Z",
		want:  []want{{id: "a1", at: "2026-10-19T07:00:00Z", start: "2026-10-26T08:00:00Z", end: "2026-10-26T08:00:00Z"}},
	}, {
		name:  "EXDATE removes the next occurrence",
		ical:  weekly("RRULE:FREQ=WEEKLY", "EXDATE;TZID=Europe/Paris:20260330T090000"),
		after: "2026-03-23T07:45:00Z",
		want:  []want{{id: "a1", at: "2026-04-06T06:45:00Z", start: "2026-04-06T07:00:00Z", end: "2026-04-06T08:00:00Z", rid: "20260406T070000Z"}},
	}, {
		name: "an overridden occurrence moved to the afternoon fires at its own time",
		ical: cal(append(event("DTSTART;TZID=Europe/Paris:20260316T090000", "DTEND;TZID=Europe/Paris:20260316T100000", "RRULE:FREQ=WEEKLY",
			valarm("a1", "TRIGGER:-PT15M")),
			event("RECURRENCE-ID;TZID=Europe/Paris:20260330T090000", "DTSTART;TZID=Europe/Paris:20260330T140000", "DTEND;TZID=Europe/Paris:20260330T150000",
				valarm("a1", "TRIGGER:-PT15M"))...)...),
		after: "2026-03-23T07:45:00Z",
		want:  []want{{id: "a1", at: "2026-03-30T11:45:00Z", start: "2026-03-30T12:00:00Z", end: "2026-03-30T13:00:00Z", rid: "20260330T070000Z"}},
	}, {
		name: "an override without VALARM has no alarm: the next occurrence's fires",
		ical: cal(append(event("DTSTART;TZID=Europe/Paris:20260316T090000", "RRULE:FREQ=WEEKLY", valarm("a1", "TRIGGER:-PT15M")),
			event("RECURRENCE-ID;TZID=Europe/Paris:20260330T090000", "DTSTART;TZID=Europe/Paris:20260330T140000")...)...),
		after: "2026-03-23T07:45:00Z",
		want:  []want{{id: "a1", at: "2026-04-06T06:45:00Z", start: "2026-04-06T07:00:00Z", end: "2026-04-06T07:00:00Z", rid: "20260406T070000Z"}},
	}, {
		name:  "RDATE adds an occurrence",
		ical:  weekly("RRULE:FREQ=WEEKLY;COUNT=2", "RDATE;TZID=Europe/Paris:20260325T180000"),
		after: "2026-03-23T07:45:00Z",
		want:  []want{{id: "a1", at: "2026-03-25T16:45:00Z", start: "2026-03-25T17:00:00Z", end: "2026-03-25T18:00:00Z", rid: "20260325T170000Z"}},
	}, {
		name:  "RDATE as a PERIOD gives its own end",
		ical:  cal(event("DTSTART:20260310T090000Z", "RDATE;VALUE=PERIOD:20260312T100000Z/PT2H", valarm("a1", "TRIGGER;RELATED=END:PT0S"))...),
		after: "2026-03-10T09:00:00Z",
		want:  []want{{id: "a1", at: "2026-03-12T12:00:00Z", start: "2026-03-12T10:00:00Z", end: "2026-03-12T12:00:00Z", rid: "20260312T100000Z"}},
	}, {
		name:  "COUNT ends the series: nothing after the last",
		ical:  weekly("RRULE:FREQ=WEEKLY;COUNT=2"),
		after: "2026-03-23T07:45:00Z",
	}, {
		name:  "UNTIL ends the series, inclusive",
		ical:  weekly("RRULE:FREQ=WEEKLY;UNTIL=20260330T070000Z"),
		after: "2026-03-23T07:45:00Z",
		want:  []want{{id: "a1", at: "2026-03-30T06:45:00Z", start: "2026-03-30T07:00:00Z", end: "2026-03-30T08:00:00Z", rid: "20260330T070000Z"}},
	}, {
		name:  "a date UNTIL on a date-time event includes that day, lower case read",
		ical:  weekly("RRULE:freq=weekly;until=20260330"),
		after: "2026-03-23T07:45:00Z",
		want:  []want{{id: "a1", at: "2026-03-30T06:45:00Z", start: "2026-03-30T07:00:00Z", end: "2026-03-30T08:00:00Z", rid: "20260330T070000Z"}},
	}, {
		name:  "a date UNTIL: nothing after that day",
		ical:  weekly("RRULE:FREQ=WEEKLY;UNTIL=20260329"),
		after: "2026-03-23T07:45:00Z",
	}, {
		name:  "after the exact trigger time gives the next one",
		ical:  weekly("RRULE:FREQ=WEEKLY"),
		after: "2026-03-16T07:45:00Z",
		want:  []want{{id: "a1", at: "2026-03-23T07:45:00Z", start: "2026-03-23T08:00:00Z", end: "2026-03-23T09:00:00Z", rid: "20260323T080000Z"}},
	}, {
		name:  "a second before the trigger gives it",
		ical:  weekly("RRULE:FREQ=WEEKLY"),
		after: "2026-03-16T07:44:59Z",
		want:  []want{{id: "a1", at: "2026-03-16T07:45:00Z", start: "2026-03-16T08:00:00Z", end: "2026-03-16T09:00:00Z", rid: "20260316T080000Z"}},
	}, {
		name:  "all-day event: midnight UTC by default, one day long",
		ical:  cal(event("DTSTART;VALUE=DATE:20260329", valarm("a1", "TRIGGER:-PT15H"))...),
		after: "2026-03-01T00:00:00Z",
		want:  []want{{id: "a1", at: "2026-03-28T09:00:00Z", start: "2026-03-29T00:00:00Z", end: "2026-03-30T00:00:00Z"}},
	}, {
		name:  "all-day event in the floating zone, recurring daily across DST",
		ical:  cal(event("DTSTART;VALUE=DATE:20260328", "RRULE:FREQ=DAILY", valarm("a1", "TRIGGER:-PT1H"))...),
		opts:  Options{Floating: paris},
		after: "2026-03-28T22:00:00Z", // the alarm for 29 March (midnight CET, 23:00Z) fires now
		want:  []want{{id: "a1", at: "2026-03-29T21:00:00Z", start: "2026-03-29T22:00:00Z", end: "2026-03-30T22:00:00Z", rid: "20260330"}},
	}, {
		name:  "floating time, UTC by default",
		ical:  cal(event("DTSTART:20260310T090000", valarm("a1", "TRIGGER:-PT5M"))...),
		after: "2026-03-01T00:00:00Z",
		want:  []want{{id: "a1", at: "2026-03-10T08:55:00Z", start: "2026-03-10T09:00:00Z", end: "2026-03-10T09:00:00Z"}},
	}, {
		name:  "floating time in a given zone",
		ical:  cal(event("DTSTART:20260310T090000", "RRULE:FREQ=DAILY", valarm("a1", "TRIGGER:-PT5M"))...),
		opts:  Options{Floating: paris},
		after: "2026-03-01T00:00:00Z",
		want:  []want{{id: "a1", at: "2026-03-10T07:55:00Z", start: "2026-03-10T08:00:00Z", end: "2026-03-10T08:00:00Z", rid: "20260310T090000"}},
	}, {
		name:  "REPEAT: the next repetition once the first has fired",
		ical:  cal(event("DTSTART:20260310T090000Z", valarm("a1", "TRIGGER:-PT15M", "REPEAT:2", "DURATION:PT5M"))...),
		after: "2026-03-10T08:45:00Z",
		want:  []want{{id: "a1", at: "2026-03-10T08:50:00Z", start: "2026-03-10T09:00:00Z", end: "2026-03-10T09:00:00Z", rep: 1}},
	}, {
		name:  "REPEAT: after the last repetition, nothing",
		ical:  cal(event("DTSTART:20260310T090000Z", valarm("a1", "TRIGGER:-PT15M", "REPEAT:2", "DURATION:PT5M"))...),
		after: "2026-03-10T08:55:00Z",
	}, {
		name:  "an event over: no trigger",
		ical:  cal(event("DTSTART:20260310T090000Z", valarm("a1", "TRIGGER:-PT15M"))...),
		after: "2026-03-10T08:45:00Z",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev, err := Parse(tc.ical, tc.opts)
			require.NoError(t, err)
			got := ev.Next(utc(tc.after))
			require.Len(t, got, len(tc.want), "%+v", got)
			for i, w := range tc.want {
				g := got[i]
				require.Equal(t, w.id, g.AlarmID)
				require.Equal(t, utc(w.at), g.At, "fire time")
				require.Equal(t, utc(w.start), g.Start, "start")
				require.Equal(t, utc(w.end), g.End, "end")
				require.Equal(t, w.rid, g.RecurrenceID)
				require.Equal(t, w.rep, g.Repetition)
				require.Equal(t, time.UTC, g.At.Location())
				require.True(t, g.At.After(utc(tc.after)))
			}
		})
	}
}

// TestWeeklyAcrossDST walks a fake clock through a weekly Monday 09:00
// Europe/Paris meeting that straddles the change to summer time on 29
// March 2026, with one occurrence moved (an exception) and one removed,
// firing each alarm when its time comes as the calendar service will.
func TestWeeklyAcrossDST(t *testing.T) {
	t.Parallel()
	text := cal(append(event(
		"DTSTART;TZID=Europe/Paris:20260316T090000", "DTEND;TZID=Europe/Paris:20260316T100000",
		"RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6", "EXDATE;TZID=Europe/Paris:20260413T090000",
		"BEGIN:VALARM", "ACTION:EMAIL", "TRIGGER:-PT10M", "SUMMARY:x", "DESCRIPTION:x", "ATTENDEE:mailto:a@example.com", "END:VALARM"),
		event("RECURRENCE-ID;TZID=Europe/Paris:20260330T090000", "DTSTART;TZID=Europe/Paris:20260331T110000",
			"DTEND;TZID=Europe/Paris:20260331T120000",
			"BEGIN:VALARM", "ACTION:EMAIL", "TRIGGER:-PT10M", "SUMMARY:x", "DESCRIPTION:x", "ATTENDEE:mailto:a@example.com", "END:VALARM")...)...)
	ev, err := Parse(text, Options{})
	require.NoError(t, err)
	clk := clock.NewFake(utc("2026-03-01T00:00:00Z"))
	var fired []Trigger
	for range 10 {
		next := ev.Next(clk.Now())
		if len(next) == 0 {
			break
		}
		require.Len(t, next, 1, "one alarm, one pending trigger")
		clk.Advance(next[0].At.Sub(clk.Now()))
		fired = append(fired, next[0])
	}
	type occ struct{ local, at, rid string }
	want := []occ{
		{"2026-03-16 09:00 CET", "2026-03-16T07:50:00Z", "20260316T080000Z"},
		{"2026-03-23 09:00 CET", "2026-03-23T07:50:00Z", "20260323T080000Z"},
		{"2026-03-31 11:00 CEST", "2026-03-31T08:50:00Z", "20260330T070000Z"}, // moved to Tuesday 11:00
		{"2026-04-06 09:00 CEST", "2026-04-06T06:50:00Z", "20260406T070000Z"}, // 09:00 still, an hour earlier in UTC
		// 13 April removed; COUNT=6 ends on 20 April.
		{"2026-04-20 09:00 CEST", "2026-04-20T06:50:00Z", "20260420T070000Z"},
	}
	require.Len(t, fired, len(want))
	for i, w := range want {
		f := fired[i]
		require.Equal(t, w.local, f.Start.In(paris).Format("2006-01-02 15:04 MST"), "occurrence %d", i)
		require.Equal(t, utc(w.at), f.At, "occurrence %d", i)
		require.Equal(t, w.rid, f.RecurrenceID, "occurrence %d", i)
		require.Equal(t, "Europe/Paris", f.StartTZ)
		require.Equal(t, "Europe/Paris", f.EndTZ)
		require.Equal(t, time.Hour, f.End.Sub(f.Start))
		require.Equal(t, "EMAIL", f.Action)
		require.Equal(t, task.CalendarAlarmEmail, f.Variant)
	}
	require.Equal(t, fired[0].AlarmID, fired[2].AlarmID, "the override's copy of the alarm is the same alarm")
}

func TestAlarmID(t *testing.T) {
	t.Parallel()
	text := func(alarms ...string) string {
		return cal(event(append([]string{"DTSTART:20260310T090000Z"}, alarms...)...)...)
	}
	plain := func(trigger string) string {
		return "BEGIN:VALARM\r\nACTION:AUDIO\r\n" + trigger + "\r\nEND:VALARM"
	}
	after := utc("2026-03-01T00:00:00Z")
	got, err := Next(text(
		valarm("uid-1", "TRIGGER:-PT1M"),
		"BEGIN:VALARM\r\nX-WR-ALARMUID:wr-2\r\nACTION:DISPLAY\r\nTRIGGER:-PT2M\r\nEND:VALARM",
		plain("TRIGGER:-PT3M"), plain("TRIGGER:-PT4M")), after)
	require.NoError(t, err)
	require.Len(t, got, 4)
	ids := map[string]string{}
	for _, g := range got {
		ids[g.At.Format("15:04")] = g.AlarmID
		require.Equal(t, task.CalendarAlarmNotification, g.Variant, g.Action)
	}
	require.Equal(t, "uid-1", ids["08:59"])
	require.Equal(t, "wr-2", ids["08:58"])
	require.Regexp(t, `^valarm-[0-9a-f]{16}$`, ids["08:57"])
	require.NotEqual(t, ids["08:57"], ids["08:56"])
	require.Equal(t, "AUDIO", got[0].Action)

	again, err := Next(text(plain("TRIGGER:-PT9M"), valarm("uid-1", "TRIGGER:-PT1M"), plain("TRIGGER:-PT3M")), after)
	require.NoError(t, err)
	require.Len(t, again, 3)
	require.Equal(t, ids["08:57"], again[1].AlarmID, "same position and trigger, same id")
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	ev := func(lines ...string) string { return cal(event(lines...)...) }
	for _, tc := range []struct{ name, ical, want string }{
		{"empty", "", "empty: give a VCALENDAR with a VEVENT"},
		{"not iCalendar", "hello", "not iCalendar"},
		{"a line go-ical panics on", "0;0=", "not iCalendar: malformed content line"},
		{"no event", cal("BEGIN:VTODO", "UID:x", "END:VTODO"), "the VCALENDAR has no VEVENT without RECURRENCE-ID"},
		{"no DTSTART", ev("SUMMARY:x"), "VEVENT: no DTSTART"},
		{"unknown TZID", ev("DTSTART;TZID=Mars/Olympus:20260310T090000"), `VEVENT DTSTART "20260310T090000": unknown TZID "Mars/Olympus" (want an IANA name such as Europe/Paris)`},
		{"Local is not a zone", ev("DTSTART;TZID=Local:20260310T090000"), `TZID "Local" is not an IANA time zone`},
		{"bad DTSTART", ev("DTSTART:20261310T090000"), `VEVENT DTSTART "20261310T090000": not a DATE (20060102) or DATE-TIME`},
		{"bad date", ev("DTSTART;VALUE=DATE:2026031"), `VEVENT DTSTART "2026031": not a DATE (20060102)`},
		{"ends before", ev("DTSTART:20260310T090000Z", "DTEND:20260310T080000Z"), `VEVENT DTEND "20260310T080000Z": ends before DTSTART`},
		{"negative DURATION", ev("DTSTART:20260310T090000Z", "DURATION:-PT1H"), `VEVENT DURATION "-PT1H": negative`},
		{"no ACTION", ev("DTSTART:20260310T090000Z", "BEGIN:VALARM", "TRIGGER:-PT5M", "END:VALARM"), "VALARM #1 of VEVENT: no ACTION"},
		{"no TRIGGER", ev("DTSTART:20260310T090000Z", "BEGIN:VALARM", "ACTION:DISPLAY", "END:VALARM"), "VALARM #1 of VEVENT: no TRIGGER"},
		{"TRIGGER without P", ev("DTSTART:20260310T090000Z", valarm("a", "TRIGGER:-T5M")), `VALARM #1 of VEVENT TRIGGER "-T5M": a duration starts with P`},
		{"TRIGGER unit", ev("DTSTART:20260310T090000Z", valarm("a", "TRIGGER:-PT5X")), `TRIGGER "-PT5X": unit "X" is not allowed here`},
		{"TRIGGER no unit", ev("DTSTART:20260310T090000Z", valarm("a", "TRIGGER:-PT5")), `TRIGGER "-PT5": the number "5" has no unit`},
		{"TRIGGER days after T", ev("DTSTART:20260310T090000Z", valarm("a", "TRIGGER:-PT1D")), `TRIGGER "-PT1D": unit "D" is not allowed here`},
		{"TRIGGER order", ev("DTSTART:20260310T090000Z", valarm("a", "TRIGGER:-PT5M1H")), `TRIGGER "-PT5M1H": unit "H" out of order`},
		{"TRIGGER RELATED", ev("DTSTART:20260310T090000Z", valarm("a", "TRIGGER;RELATED=MIDDLE:-PT5M")), `TRIGGER "-PT5M": RELATED=MIDDLE: want START or END`},
		{"TRIGGER absolute date", ev("DTSTART:20260310T090000Z", valarm("a", "TRIGGER;VALUE=DATE-TIME:20260310")), `an absolute trigger is a DATE-TIME, not a DATE`},
		{"TRIGGER value type", ev("DTSTART:20260310T090000Z", valarm("a", "TRIGGER;VALUE=TEXT:soon")), `TRIGGER "soon": VALUE=TEXT: want DURATION or DATE-TIME`},
		{"second alarm", ev("DTSTART:20260310T090000Z", valarm("a", "TRIGGER:-PT5M"), valarm("b", "TRIGGER:")), `VALARM #2 of VEVENT TRIGGER "": a duration starts with P`},
		{"REPEAT alone", ev("DTSTART:20260310T090000Z", valarm("a", "TRIGGER:-PT5M", "REPEAT:2")), "REPEAT and DURATION go together"},
		{"REPEAT bad", ev("DTSTART:20260310T090000Z", valarm("a", "TRIGGER:-PT5M", "REPEAT:-1", "DURATION:PT5M")), `REPEAT "-1": want a count from 0 to 1000`},
		{"REPEAT zero delay", ev("DTSTART:20260310T090000Z", valarm("a", "TRIGGER:-PT5M", "REPEAT:1", "DURATION:PT0S")), `DURATION "PT0S": want a positive delay`},
		{"RRULE", ev("DTSTART:20260310T090000Z", "RRULE:FREQ=SOMETIMES"), `VEVENT RRULE "FREQ=SOMETIMES"`},
		{"RRULE interval", ev("DTSTART:20260310T090000Z", "RRULE:FREQ=DAILY;INTERVAL=-1"), `INTERVAL=-1: want a whole number of 1 or more`},
		{"RRULE UNTIL", ev("DTSTART:20260310T090000Z", "RRULE:FREQ=DAILY;UNTIL=soon"), `RRULE "FREQ=DAILY;UNTIL=soon": UNTIL: not a DATE`},
		{"RRULE never meets its BYMINUTE", ev("DTSTART:20260310T090000Z", "RRULE:FREQ=SECONDLY;INTERVAL=3600;BYMINUTE=1"), "never meet its BYHOUR, BYMINUTE or BYSECOND"},
		{"RRULE never meets its BYHOUR", ev("DTSTART:20260310T090000Z", "RRULE:FREQ=HOURLY;INTERVAL=24;BYHOUR=5"), "never meet its BYHOUR"},
		{"RRULE part", ev("DTSTART:20260310T090000Z", "RRULE:FREQ=DAILY;;"), `part "" is not NAME=VALUE`},
		{"RDATE", ev("DTSTART:20260310T090000Z", "RDATE:20260399T090000Z"), `VEVENT RDATE "20260399T090000Z": not a DATE-TIME`},
		{"EXDATE zone", ev("DTSTART:20260310T090000Z", "EXDATE;TZID=Nowhere:20260311T090000"), `VEVENT EXDATE "20260311T090000": unknown TZID "Nowhere"`},
		{"override", cal(append(event("DTSTART:20260310T090000Z", "RRULE:FREQ=DAILY"), event("RECURRENCE-ID:20260311T090000Z", "DTSTART:20260311T100000Z", valarm("a", "TRIGGER:P"))...)...),
			`VALARM #1 of VEVENT RECURRENCE-ID=20260311T090000Z TRIGGER "P": the duration has no value`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Next(tc.ical, time.Time{})
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			var e *Error
			require.True(t, errors.As(err, &e), "an *Error")
		})
	}
}

func TestParseSpan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want span
	}{
		{"PT15M", span{Exact: 15 * time.Minute}},
		{"-PT15M", span{Neg: true, Exact: 15 * time.Minute}},
		{"+P1D", span{Days: 1}},
		{"P2W", span{Days: 14}},
		{"P1W2D", span{Days: 9}},
		{"-P1DT2H3M4S", span{Neg: true, Days: 1, Exact: 2*time.Hour + 3*time.Minute + 4*time.Second}},
		{"PT1H30S", span{Exact: time.Hour + 30*time.Second}},
		{"PT0S", span{}},
	} {
		got, err := parseSpan(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
	for _, bad := range []string{"", "P", "PT", "1D", "P1H", "PT1D", "P1DT", "PTT1H", "P1D1W", "PT1S1M", "P1234567890D", "P9999999W", "PT999999999H", "P-1D", "P1.5D"} {
		_, err := parseSpan(bad)
		require.Error(t, err, bad)
	}
}

// TestWall checks RFC 5545 3.3.5's reading of times a DST change skips
// or repeats.
func TestWall(t *testing.T) {
	t.Parallel()
	// 29 March 2026, 02:30 does not exist in Paris: read with +01:00.
	require.Equal(t, utc("2026-03-29T01:30:00Z"), wall(paris, 2026, 3, 29, 2, 30, 0, 0).UTC())
	// 25 October 2026, 02:30 happens twice: the first, +02:00.
	require.Equal(t, utc("2026-10-25T00:30:00Z"), wall(paris, 2026, 10, 25, 2, 30, 0, 0).UTC())
	require.Equal(t, utc("2026-03-29T07:00:00Z"), wall(paris, 2026, 3, 29, 9, 0, 0, 0).UTC())
	require.Equal(t, utc("2026-03-28T08:00:00Z"), wall(paris, 2026, 3, 28, 9, 0, 0, 0).UTC())
	require.Equal(t, utc("2026-04-01T08:00:00Z"), wall(paris, 2026, 3, 32, 10, 0, 0, 0).UTC(), "fields normalised")
}

// TestBounded: rules that never end, or never match, return promptly.
func TestBounded(t *testing.T) {
	t.Parallel()
	for _, rule := range []string{"FREQ=DAILY", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "FREQ=MINUTELY", "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31",
		"FREQ=HOURLY;INTERVAL=5;BYHOUR=3", "FREQ=MINUTELY;INTERVAL=7;BYMINUTE=1", "FREQ=SECONDLY;INTERVAL=86401;BYSECOND=30"} {
		got, err := Next(cal(event("DTSTART:20000101T000000Z", "RRULE:"+rule, valarm("a", "TRIGGER:-PT1M"))...), utc("2026-03-01T00:00:00Z"))
		require.NoError(t, err, rule)
		for _, g := range got {
			require.True(t, g.At.After(utc("2026-03-01T00:00:00Z")), rule)
		}
	}
}

func TestZones(t *testing.T) {
	t.Parallel()
	after := utc("2026-03-01T00:00:00Z")
	for _, tc := range []struct {
		name, start, end string
		opts             Options
		startTZ, endTZ   string
	}{
		{"UTC", "DTSTART:20260310T090000Z", "DTEND:20260310T100000Z", Options{}, "UTC", "UTC"},
		{"floating, default", "DTSTART:20260310T090000", "DURATION:PT1H", Options{}, "UTC", "UTC"},
		{"floating in Paris", "DTSTART:20260310T090000", "DURATION:PT1H", Options{Floating: paris}, "Europe/Paris", "Europe/Paris"},
		{"a flight: two zones", "DTSTART;TZID=Europe/Paris:20260310T090000", "DTEND;TZID=America/New_York:20260310T113000", Options{}, "Europe/Paris", "America/New_York"},
		{"date", "DTSTART;VALUE=DATE:20260310", "DTEND;VALUE=DATE:20260312", Options{Floating: paris}, "Europe/Paris", "Europe/Paris"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev, err := Parse(cal(event(tc.start, tc.end, valarm("a", "TRIGGER;RELATED=END:PT0S"))...), tc.opts)
			require.NoError(t, err)
			got := ev.Next(after)
			require.Len(t, got, 1)
			require.Equal(t, tc.startTZ, got[0].StartTZ)
			require.Equal(t, tc.endTZ, got[0].EndTZ)
			require.Equal(t, got[0].End, got[0].At, "RELATED=END:PT0S fires at the end")
			for _, tz := range []string{got[0].StartTZ, got[0].EndTZ} {
				_, err := time.LoadLocation(tz)
				require.NoError(t, err, "the task checks its zones load")
			}
		})
	}
}

// BenchmarkNext: a daily 09:00 Paris event started ten years before the
// instant asked about, with two alarms and an override; figures only.
func BenchmarkNext(b *testing.B) {
	ev, err := Parse(cal(append(event("DTSTART;TZID=Europe/Paris:20160101T090000", "DURATION:PT1H", "RRULE:FREQ=DAILY",
		valarm("a", "TRIGGER:-PT15M"), valarm("b", "TRIGGER:-P1D")),
		event("RECURRENCE-ID;TZID=Europe/Paris:20260401T090000", "DTSTART;TZID=Europe/Paris:20260401T100000", valarm("a", "TRIGGER:-PT15M"))...)...), Options{})
	require.NoError(b, err)
	after := utc("2026-03-01T00:00:00Z")
	for b.Loop() {
		if len(ev.Next(after)) != 2 {
			b.Fatal("want two triggers")
		}
	}
}
