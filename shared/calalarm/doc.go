// Package calalarm computes when a calendar event's alarms fire next:
// the pure computation behind the calendar service, which keeps one
// pending CalendarAlarmEmail or CalendarAlarmNotification task for the
// next trigger of each alarm of each event (issue #11). No NATS, no
// tasks here: Parse reads the event's iCalendar text (RFC 5545), and
// Event.Next(after) gives each alarm's first trigger strictly after
// after. Once a trigger has fired, the service asks again with
// after = that trigger's time and schedules what comes back.
//
// # Events
//
// The master is the first VEVENT without RECURRENCE-ID; VEVENTs with a
// RECURRENCE-ID and the master's UID override one occurrence each
// (RFC 5545 3.8.4.4). TZIDs are IANA names loaded with time.LoadLocation
// (time/tzdata is linked in, so they load on a scratch image); VTIMEZONE
// components are not read, and a TZID that is not an IANA name
// (a Windows name, "Local") is an error. A time without TZID or Z is
// floating, and a DATE (an all-day event) starts at its midnight: both
// in Options.Floating, UTC by default (3.3.4, 3.3.5).
//
// A time a DST change skips (02:30 on a spring-forward night) is read
// with the offset before the gap, so 03:30 of the new offset; a time it
// repeats is the first of the two (3.3.5).
//
// An occurrence ends DTEND-DTSTART later, an exact duration, or after
// its DURATION, a nominal one (3.8.5.3); a DATE-to-DATE DTEND counts
// whole days; without either, a date lasts a day and a date-time none
// (3.6.1). An override without DTEND or DURATION keeps the master's
// length; without DTSTART it starts at its RECURRENCE-ID.
//
// # Triggers (RFC 5545 3.8.6.3)
//
//   - A duration (-PT15M, -P1D, P1W) is relative to the occurrence's
//     start, or its end with RELATED=END. Durations (3.3.6) keep days
//     and weeks nominal: they move the wall clock in the time's zone, so
//     -P1D before a 09:00 Europe/Paris event the day after the spring
//     change fires 09:00 the day before, 23 hours earlier, while -PT24H
//     fires 24 hours earlier. Hours, minutes and seconds are exact.
//   - VALUE=DATE-TIME is absolute and fires once, not per occurrence; a
//     master's carries its first occurrence (DTSTART) and no
//     RecurrenceID; an override's carries that occurrence.
//   - REPEAT and DURATION (3.6.6, 3.8.6.2): each repetition is a trigger
//     of the same alarm, Trigger.Repetition counting them from 1.
//
// ACTION EMAIL goes to a CalendarAlarmEmail task, any other action
// (DISPLAY, AUDIO, unknown ones) to a CalendarAlarmNotification.
//
// An alarm's id is its UID, else its X-WR-ALARMUID (Apple), else
// "valarm-" and a hash of its position among its VEVENT's VALARMs and
// its TRIGGER: stable while the text is, and the same for an override
// that copies the master's alarms in the same order, so the master's
// alarm and its copy are one alarm with one pending trigger.
//
// # Recurrence (RFC 5545 3.8.5)
//
// The instances are DTSTART (always the first, 3.8.5.3), the RRULE's
// (3.3.10, via rrule-go), and the RDATEs (dates, times or PERIODs, whose
// end then is the period's), less the EXDATEs and the overridden
// occurrences, whose own DTSTART, DTEND and VALARMs apply instead; an
// override without VALARM has no alarm. The rule is expanded on the
// wall clock and each instance then placed in the event's zone, so a
// weekly 09:00 Europe/Paris meeting stays at 09:00 local across DST
// while its UTC instant moves by an hour. COUNT and UNTIL are honoured
// (UNTIL inclusive; in UTC, or in the event's zone for a floating or
// date event; a date UNTIL on a date-time event covers that whole day).
// Walking a daily event ten years old costs about 2.6 ms (BenchmarkNext). RecurrenceID is an instance's original start: UTC
// ("20260330T070000Z"), a date ("20260330") or a floating time.
//
// # Bounds
//
// Next looks at most Horizon (10 years) past after and walks at most
// MaxInstances (100 000) instances, those before after included, so no
// rule loops: an hourly event started 12 years ago, or a secondly one,
// yields no trigger. A rule that can never match (BYMONTH=2;
// BYMONTHDAY=30) runs rrule-go to the year 9999 once: about 0.25 s.
// INTERVAL and COUNT below 1 are refused (rrule-go would loop on them),
// and so is a sub-daily rule whose steps never meet its BYHOUR,
// BYMINUTE or BYSECOND (FREQ=SECONDLY;INTERVAL=3600;BYMINUTE=1 from
// minute 0): rrule-go would step through every interval to 9999.
//
// # Errors
//
// Parse returns an *Error naming the component (VEVENT, "VEVENT
// RECURRENCE-ID=…", "VALARM #2 of VEVENT"), the property and value, and
// why: malformed text, no DTSTART, an unknown TZID, a bad date, a bad
// duration (which unit, which order), a TRIGGER's RELATED or VALUE, a
// VALARM without ACTION or TRIGGER, REPEAT without DURATION, a bad RRULE.
// One bad alarm fails the whole event: the service reports it rather
// than scheduling a subset. No input panics (FuzzNext); go-ical's
// decoder panics on some lines and that is recovered as an error.
//
// # Left out
//
//   - RECURRENCE-ID;RANGE=THISANDFUTURE: read as that one occurrence.
//   - ACKNOWLEDGED, RELATED-TO snoozes (RFC 9074): a snoozed or
//     acknowledged alarm still gets its next trigger.
//   - VTODO alarms (DUE-relative), EXRULE (deprecated), VTIMEZONE
//     definitions for non-IANA TZIDs.
//   - A master's absolute alarm is not repeated per occurrence, and an
//     RDATE PERIOD whose end is later than the next instance's may, with
//     a RELATED=END alarm, be passed over for that next instance.
package calalarm
