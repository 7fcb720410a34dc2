package calalarm

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzNext: no input panics, and every trigger Next returns is after the
// instant asked about, with its fields set.
func FuzzNext(f *testing.F) {
	seeds := []string{
		cal(event("DTSTART;TZID=Europe/Paris:20260316T090000", "DTEND;TZID=Europe/Paris:20260316T100000",
			"RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6", "EXDATE;TZID=Europe/Paris:20260413T090000", "RDATE;TZID=Europe/Paris:20260325T180000",
			valarm("a1", "TRIGGER:-PT15M", "REPEAT:2", "DURATION:PT5M"), valarm("a2", "TRIGGER;RELATED=END:P1DT1H"))...),
		cal(append(event("DTSTART;VALUE=DATE:20260328", "RRULE:FREQ=DAILY;UNTIL=20260410", valarm("a", "TRIGGER:-P1W")),
			event("RECURRENCE-ID;VALUE=DATE:20260330", "DTSTART;VALUE=DATE:20260331", valarm("a", "TRIGGER;VALUE=DATE-TIME:20260329T120000Z"))...)...),
		cal(event("DTSTART:20260310T090000", "DURATION:PT1H", "RDATE;VALUE=PERIOD:20260312T100000Z/20260312T110000Z",
			"BEGIN:VALARM", "X-WR-ALARMUID:x", "ACTION:EMAIL", "TRIGGER:PT0S", "END:VALARM")...),
		cal(event("DTSTART:20000101T000000Z", "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", valarm("a", "TRIGGER:-PT1M"))...),
		cal(event("DTSTART;TZID=America/New_York:20261101T013000", "RRULE:FREQ=HOURLY;COUNT=5", valarm("a", "TRIGGER:-PT30M"))...),
		"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
		"",
	}
	for _, s := range seeds {
		f.Add(s, int64(1772323200)) // 2026-03-01
	}
	f.Fuzz(func(t *testing.T, text string, afterUnix int64) {
		after := time.Unix(afterUnix%(400*365*86400), 0).UTC()
		opts := Options{}
		if strings.Contains(text, "X-FLOAT") {
			opts.Floating = paris
		}
		ev, err := Parse(text, opts)
		if err != nil {
			require.NotEmpty(t, err.Error())
			return
		}
		seen := map[string]bool{}
		for _, g := range ev.Next(after) {
			require.True(t, g.At.After(after), "%+v after %v", g, after)
			require.False(t, g.End.Before(g.Start), "%+v", g)
			require.NotEmpty(t, g.AlarmID)
			require.NotEmpty(t, g.StartTZ)
			require.NotEmpty(t, g.EndTZ)
			require.False(t, seen[g.AlarmID], "one trigger per alarm")
			seen[g.AlarmID] = true
			_, err := time.LoadLocation(g.StartTZ)
			require.NoError(t, err, "a task's time zone must load")
		}
	})
}

// FuzzRule fuzzes the parts that reach rrule-go and the date arithmetic
// (DTSTART, RRULE, EXDATE, TRIGGER) inside a well-formed event, which
// FuzzNext's whole-text mutations rarely get to.
func FuzzRule(f *testing.F) {
	for _, s := range [][4]string{
		{"TZID=Europe/Paris:20260316T090000", "FREQ=WEEKLY;BYDAY=MO;COUNT=6", "TZID=Europe/Paris:20260330T090000", "-PT15M"},
		{"VALUE=DATE:20260328", "FREQ=MONTHLY;BYDAY=-1SU;UNTIL=20270101", "VALUE=DATE:20260426", "-P1D"},
		{"TZID=America/New_York:20261101T013000", "FREQ=HOURLY;INTERVAL=2;BYSETPOS=-1", "TZID=America/New_York:20261101T033000", "P1W"},
		{":00010101T000000Z", "FREQ=YEARLY;BYEASTER=-2;BYWEEKNO=53", ":99991231T235959Z", "-P999D"},
		{":99991231T235959Z", "FREQ=SECONDLY;BYSECOND=59", ":99991231T235959Z", "PT23H59M59S"},
		{"TZID=Pacific/Apia:20111229T090000", "FREQ=DAILY;COUNT=3", "TZID=Pacific/Apia:20111230T090000", "-P1D"},
		// Found by this fuzzer: rrule-go stepped hourly to the year 9999.
		{":20260101T000000Z", "FREQ=SECONDLY;INTERVAL=3600;BYMINUTE=1", ":20260101T000000Z", "-PT1M"},
	} {
		f.Add(s[0], s[1], s[2], s[3], int64(1772323200))
	}
	f.Fuzz(func(t *testing.T, dtstart, rule, exdate, trigger string, afterUnix int64) {
		for _, s := range []string{dtstart, rule, exdate, trigger} {
			if strings.ContainsAny(s, "\r\n") {
				return
			}
		}
		after := time.Unix(afterUnix%(400*365*86400), 0).UTC()
		text := cal(event("DTSTART;"+dtstart, "RRULE:"+rule, "EXDATE;"+exdate,
			valarm("a", "TRIGGER:"+trigger, "REPEAT:3", "DURATION:P1DT1H"), valarm("b", "TRIGGER;RELATED=END:"+trigger))...)
		ev, err := Parse(text, Options{Floating: paris})
		if err != nil {
			return
		}
		for _, g := range ev.Next(after) {
			require.True(t, g.At.After(after), "%+v after %v", g, after)
			require.False(t, g.End.Before(g.Start), "%+v", g)
		}
	})
}
