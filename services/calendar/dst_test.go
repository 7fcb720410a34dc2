package calendar_test

import (
	"bytes"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/calendar"
	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/store/storetest"
)

// weeklyOverDST is a weekly Monday 09:00 Paris meeting over the change to
// summer time (29 March 2026), whose 23 March occurrence is moved to
// 11:00, with an email alarm 15 minutes before each.
const weeklyOverDST = `BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//jetmail test//EN
BEGIN:VEVENT
UID:weekly@x
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Paris:20260316T090000
DURATION:PT1H
RRULE:FREQ=WEEKLY;COUNT=4
SUMMARY:Weekly
BEGIN:VALARM
UID:alarm-1
ACTION:EMAIL
SUMMARY:reminder
DESCRIPTION:reminder
ATTENDEE:mailto:alice@example.org
TRIGGER:-PT15M
END:VALARM
END:VEVENT
BEGIN:VEVENT
UID:weekly@x
DTSTAMP:20260101T000000Z
RECURRENCE-ID;TZID=Europe/Paris:20260323T090000
DTSTART;TZID=Europe/Paris:20260323T110000
DURATION:PT1H
SUMMARY:Weekly (moved)
BEGIN:VALARM
UID:alarm-1
ACTION:EMAIL
SUMMARY:reminder
DESCRIPTION:reminder
ATTENDEE:mailto:alice@example.org
TRIGGER:-PT15M
END:VALARM
END:VEVENT
END:VCALENDAR
`

// A weekly event with one moved occurrence fires on the right dates, at
// the right wall-clock time in Paris on both sides of the DST change. The
// service's clock is set to the week before: the alarms are due in the
// real past, so each fires at once and the next is scheduled after it,
// and the whole series runs through in the test.
func TestWeeklyAlarmAcrossDST(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	n := startCalendarWith(t, calendar.Params{Clock: clk})
	doc := n.put(t, "", strings.ReplaceAll(weeklyOverDST, "\n", "\r\n"))

	var subjects []string
	require.Eventually(t, func() bool {
		msgs, err := storetest.Mail(n.js, "alice@example.org")
		if err != nil || len(msgs) < 4 {
			return false
		}
		subjects = subjects[:0]
		for _, b := range msgs {
			m, err := mail.ReadMessage(bytes.NewReader(b))
			require.NoError(t, err)
			s, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			require.NoError(t, err)
			subjects = append(subjects, s)
		}
		return true
	}, 60*time.Second, 100*time.Millisecond, "four reminders arrive")
	// Each fired once its task ran, but two reminders queued at once may
	// be delivered in either order.
	require.ElementsMatch(t, []string{
		"Reminder: Weekly — Mon 16 Mar 09:00",         // winter time (UTC+1)
		"Reminder: Weekly (moved) — Mon 23 Mar 11:00", // the moved occurrence, with its own summary
		"Reminder: Weekly — Mon 30 Mar 09:00",         // summer time (UTC+2): still 09:00 in Paris
		"Reminder: Weekly — Mon 6 Apr 09:00",
	}, subjects)
	require.Empty(t, n.pending(t, doc), "the series is over: no task left")
}
