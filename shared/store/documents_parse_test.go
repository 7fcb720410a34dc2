package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/store"
)

const event = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:ev1@example.org\r\nDTSTAMP:20260101T000000Z\r\n" +
	"DTSTART;TZID=Europe/Paris:20260310T090000\r\nDURATION:PT1H30M\r\nSUMMARY:Planning\\, Q2\r\nDESCRIPTION:Bring the numbers\r\n" +
	"LOCATION:Room 4\r\nRRULE:FREQ=WEEKLY;BYDAY=TU\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"

// An iCalendar text is read into its event, in UTC; what is not an event
// is refused with the reason.
func TestParseCalendarEvent(t *testing.T) {
	t.Parallel()
	ev, err := store.ParseCalendarEvent(event)
	require.NoError(t, err)
	require.Equal(t, "Planning, Q2", ev.Summary)
	require.Equal(t, "Bring the numbers", ev.Description)
	require.Equal(t, "Room 4", ev.Location)
	require.Equal(t, "ev1@example.org", ev.UID)
	require.Equal(t, time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC), ev.Start)
	require.Equal(t, ev.Start.Add(90*time.Minute), ev.End)
	require.Equal(t, "FREQ=WEEKLY;BYDAY=TU", ev.RRule)
	require.Equal(t, []string{"DISPLAY -PT15M"}, ev.Alarms)

	allDay, err := store.ParseCalendarEvent("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20260501\r\nSUMMARY:Holiday\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
	require.NoError(t, err)
	require.Equal(t, 24*time.Hour, allDay.End.Sub(allDay.Start))

	for name, text := range map[string]string{
		"empty":           "",
		"not iCalendar":   "hello",
		"no VEVENT":       "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n",
		"no DTSTART":      "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
		"bad DTSTART":     "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:tomorrow\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
		"ends too early":  "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20260101T100000Z\r\nDTEND:20260101T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
		"bad RRULE":       "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20260101T100000Z\r\nRRULE:FREQ=SOMETIMES\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
		"unclosed VEVENT": "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20260101T100000Z\r\n",
	} {
		_, err := store.ParseCalendarEvent(text)
		require.Error(t, err, name)
	}
}

// A vCard is read into the names and addresses it is found by.
func TestParseContactCard(t *testing.T) {
	t.Parallel()
	c, err := store.ParseContactCard("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:c1\r\nFN:Ada Lovelace\r\nN:Lovelace;Ada;King;;\r\n" +
		"EMAIL;TYPE=work:ada@example.org\r\nEMAIL:countess@example.net\r\nORG:Analytical Engines;Research\r\nEND:VCARD\r\n")
	require.NoError(t, err)
	require.Equal(t, "Ada Lovelace", c.FullName)
	require.Equal(t, []string{"ada@example.org", "countess@example.net"}, c.Emails)
	require.Equal(t, []string{"Ada Lovelace", "Ada King Lovelace", "ada@example.org", "countess@example.net"}, c.Names)
	require.Equal(t, "Analytical Engines", c.Organization)
	for name, text := range map[string]string{
		"empty":      "",
		"not vCard":  "hello\r\n",
		"no VERSION": "BEGIN:VCARD\r\nFN:x\r\nEND:VCARD\r\n",
		"no name":    "BEGIN:VCARD\r\nVERSION:4.0\r\nEMAIL:x@example.org\r\nEND:VCARD\r\n",
		"unclosed":   "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:x\r\n",
	} {
		_, err := store.ParseContactCard(text)
		require.Error(t, err, name)
	}
}

// Text that makes the iCalendar decoder panic is an error, not a crash.
func TestParseCalendarEventNeverPanics(t *testing.T) {
	t.Parallel()
	_, err := store.ParseCalendarEvent("BEGIN:VCALENDAR\r\n0;0=\r\nEND:VCALENDAR\r\n")
	require.ErrorContains(t, err, "malformed content line")
}
