package itip

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	organizer = []string{"olga@example.com", "o@example.com"}
	stamp     = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
)

// event is an organizer's event; extra lines go into the VEVENT.
func event(seq int, attendees []string, extra ...string) string {
	lines := []string{"BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VEVENT", "UID:ev-1@example.com",
		"DTSTAMP:20261201T100000Z", "DTSTART;TZID=Europe/Paris:20261210T100000", "DTEND;TZID=Europe/Paris:20261210T110000",
		"SUMMARY:Planning", "ORGANIZER:mailto:Olga@Example.com"}
	if seq > 0 {
		lines = append(lines, "SEQUENCE:"+strconv.Itoa(seq))
	}
	for _, a := range attendees {
		lines = append(lines, "ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:"+a)
	}
	lines = append(lines, extra...)
	lines = append(lines, "BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT5M", "END:VALARM", "END:VEVENT", "END:VCALENDAR")
	return strings.Join(lines, "\r\n") + "\r\n"
}

func methods(out []Outgoing) []string {
	var s []string
	for _, o := range out {
		s = append(s, string(o.Method)+" "+strings.Join(o.To, ","))
	}
	return s
}

func TestPlanOrganizer(t *testing.T) {
	t.Parallel()
	two := []string{"ann@example.com", "bob@remote.example"}
	out, sent, err := Plan(nil, event(0, append([]string{"olga@example.com"}, two...)), organizer, stamp)
	require.NoError(t, err)
	require.Equal(t, []string{"REQUEST ann@example.com,bob@remote.example"}, methods(out), "the organizer is not invited by itself")
	p := out[0].Payload
	require.Contains(t, p, "METHOD:REQUEST\r\n")
	require.Contains(t, p, "DTSTAMP:20261203T090000Z\r\n")
	require.NotContains(t, p, "VALARM", "the organizer's alarms stay its own")
	require.Equal(t, "olga@example.com", out[0].From)
	m, err := Parse(p)
	require.NoError(t, err)
	require.Equal(t, "ev-1@example.com", m.UID)

	again, sent2, err := Plan(sent, event(0, append([]string{"olga@example.com"}, two...)), organizer, stamp.Add(time.Hour))
	require.NoError(t, err)
	require.Empty(t, again, "nothing changed, nothing sent")
	require.Equal(t, sent, sent2)

	replied := strings.Replace(event(0, two), "PARTSTAT=NEEDS-ACTION:mailto:ann", "PARTSTAT=ACCEPTED;X-JETMAIL-DTSTAMP=20261202T000000Z:mailto:ann", 1)
	out, _, err = Plan(sent, replied, organizer, stamp)
	require.NoError(t, err)
	require.Empty(t, out, "an answer applied to the organizer's event sends nothing")

	out, sent3, err := Plan(sent, strings.Replace(event(1, two), "Planning", "Planning (moved)", 1), organizer, stamp)
	require.NoError(t, err)
	require.Equal(t, []string{"REQUEST ann@example.com,bob@remote.example"}, methods(out))
	require.Contains(t, out[0].Payload, "SEQUENCE:1")

	out, sent4, err := Plan(sent3, strings.Replace(event(1, append(two, "cat@example.com")), "Planning", "Planning (moved)", 1), organizer, stamp)
	require.NoError(t, err)
	require.Equal(t, []string{"REQUEST cat@example.com"}, methods(out), "an added attendee only is invited")

	out, sent5, err := Plan(sent4, strings.Replace(event(1, []string{"ann@example.com", "cat@example.com"}), "Planning", "Planning (moved)", 1), organizer, stamp)
	require.NoError(t, err)
	require.Equal(t, []string{"CANCEL bob@remote.example"}, methods(out))
	require.Contains(t, out[0].Payload, "STATUS:CANCELLED")
	require.Contains(t, out[0].Payload, "mailto:bob@remote.example")
	require.NotContains(t, out[0].Payload, "mailto:ann@example.com", "the CANCEL names the removed attendee only")

	withRDate := strings.Replace(event(1, []string{"ann@example.com", "cat@example.com"}, "RDATE;TZID=Europe/Paris:20261220T100000"), "Planning", "Planning (moved)", 1)
	out, sent6, err := Plan(sent5, withRDate, organizer, stamp)
	require.NoError(t, err)
	require.Equal(t, []string{"ADD ann@example.com,cat@example.com"}, methods(out))
	require.Contains(t, out[0].Payload, "RDATE;TZID=Europe/Paris:20261220T100000")

	out, sent7, err := Plan(sent6, strings.Replace(withRDate, "SUMMARY", "STATUS:CANCELLED\r\nSUMMARY", 1), organizer, stamp)
	require.NoError(t, err)
	require.Equal(t, []string{"CANCEL ann@example.com,cat@example.com"}, methods(out))
	require.True(t, sent7.Cancelled)
	out, gone, err := Plan(sent7, "", organizer, stamp)
	require.NoError(t, err)
	require.Empty(t, out, "a cancelled event destroyed is not cancelled twice")
	require.Nil(t, gone)

	out, gone, err = Plan(sent6, "", organizer, stamp)
	require.NoError(t, err)
	require.Nil(t, gone)
	require.Equal(t, []string{"CANCEL ann@example.com,cat@example.com"}, methods(out))
	require.Contains(t, out[0].Payload, "SEQUENCE:2", "a destroyed event's CANCEL comes after its last version")
	require.Contains(t, out[0].Payload, "STATUS:CANCELLED")
}

func TestPlanNotScheduled(t *testing.T) {
	t.Parallel()
	out, sent, err := Plan(nil, event(0, nil), organizer, stamp)
	require.NoError(t, err)
	require.Empty(t, out)
	require.Nil(t, sent, "an event without attendees is not remembered")
	out, sent, err = Plan(nil, event(0, []string{"ann@example.com"}), []string{"zed@example.com"}, stamp)
	require.NoError(t, err)
	require.Empty(t, out)
	require.Nil(t, sent, "neither organizer nor attendee")
	_, kept, err := Plan(&Sent{Role: RoleOrganizer, UID: "x"}, "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", organizer, stamp)
	require.ErrorIs(t, err, ErrMalformed)
	require.Equal(t, "x", kept.UID, "a malformed version keeps what was sent")
}

func TestPlanAttendee(t *testing.T) {
	t.Parallel()
	ann := []string{"ann@example.com"}
	invited := event(0, []string{"ann@example.com", "bob@remote.example"})
	out, sent, err := Plan(nil, invited, ann, stamp)
	require.NoError(t, err)
	require.Empty(t, out, "not answered yet")
	require.Equal(t, NeedsAction, sent.PartStat)

	accepted := strings.Replace(invited, "PARTSTAT=NEEDS-ACTION:mailto:ann", "PARTSTAT=ACCEPTED:mailto:ann", 1)
	out, sent2, err := Plan(sent, accepted, ann, stamp)
	require.NoError(t, err)
	require.Equal(t, []string{"REPLY olga@example.com"}, methods(out))
	require.Equal(t, "ann@example.com", out[0].From)
	m, err := Parse(out[0].Payload)
	require.NoError(t, err)
	require.Equal(t, Reply, m.Method)
	require.Equal(t, []Attendee{{Address: "ann@example.com", PartStat: Accepted, RSVP: true}}, m.Attendees, "a REPLY names the one who answers")

	out, _, err = Plan(sent2, accepted, ann, stamp)
	require.NoError(t, err)
	require.Empty(t, out, "answered once")
}

func TestApplyRequestOrdering(t *testing.T) {
	t.Parallel()
	ann, olga := []string{"ann@example.com"}, []string{"olga@example.com"}
	req := func(seq int, dtstamp string, summary string) *Message {
		text := strings.Replace(strings.Replace(event(seq, []string{"ann@example.com"}), "DTSTAMP:20261201T100000Z", "DTSTAMP:"+dtstamp, 1), "Planning", summary, 1)
		out, _, err := Plan(nil, text, olga, stamp)
		require.NoError(t, err)
		m, err := Parse(out[0].Payload)
		require.NoError(t, err)
		m.Stamp, _ = time.Parse(stampLayout, dtstamp)
		setStamp(m.master, m.Stamp)
		return m
	}
	copy1, o, err := Apply("", req(1, "20261201T100000Z", "v1"), ann, olga)
	require.NoError(t, err)
	require.Equal(t, Applied, o)
	require.NotContains(t, copy1, "METHOD", "a stored event has no METHOD")

	_, o, err = Apply(copy1, req(1, "20261201T100000Z", "v1"), ann, olga)
	require.NoError(t, err)
	require.Equal(t, Unchanged, o, "the same message twice")
	_, o, err = Apply(copy1, req(0, "20261205T100000Z", "v0"), ann, olga)
	require.NoError(t, err)
	require.Equal(t, Unchanged, o, "a lower SEQUENCE never overwrites")
	_, o, err = Apply(copy1, req(1, "20261130T100000Z", "older"), ann, olga)
	require.NoError(t, err)
	require.Equal(t, Unchanged, o, "the same SEQUENCE and an older DTSTAMP")
	_, o, err = Apply(copy1, req(2, "20261202T100000Z", "v2"), ann, []string{"mallory@example.com"})
	require.NoError(t, err)
	require.Equal(t, Refused, o, "only the organizer updates")

	mine := strings.Replace(copy1, "PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED", 1)
	mine = strings.Replace(mine, "END:VEVENT", "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT1H\r\nEND:VALARM\r\nEND:VEVENT", 1)
	same, o, err := Apply(mine, req(1, "20261202T100000Z", "v1 bis"), ann, olga)
	require.NoError(t, err)
	require.Equal(t, Applied, o)
	require.Contains(t, same, "SUMMARY:v1 bis")
	require.Contains(t, same, "PARTSTAT=ACCEPTED", "the attendee's answer stays at the same SEQUENCE")
	require.Contains(t, same, "TRIGGER:-PT1H", "the attendee's alarm stays")
	newer, o, err := Apply(mine, req(2, "20261202T100000Z", "v2"), ann, olga)
	require.NoError(t, err)
	require.Equal(t, Applied, o)
	require.Contains(t, newer, "PARTSTAT=NEEDS-ACTION", "a new SEQUENCE asks again")
}

func TestApplyReply(t *testing.T) {
	t.Parallel()
	olga := []string{"olga@example.com"}
	ev := event(1, []string{"ann@example.com", "bob@remote.example"})
	reply := func(who, ps, dtstamp string, seq int) *Message {
		text := strings.Join([]string{"BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//x//EN", "METHOD:REPLY", "BEGIN:VEVENT",
			"UID:ev-1@example.com", "DTSTAMP:" + dtstamp, "SEQUENCE:" + strconv.Itoa(seq), "ORGANIZER:mailto:olga@example.com",
			"ATTENDEE;PARTSTAT=" + ps + ":mailto:" + who, "END:VEVENT", "END:VCALENDAR"}, "\r\n")
		m, err := Parse(text)
		require.NoError(t, err)
		return m
	}
	got, o, err := Apply(ev, reply("ann@example.com", "ACCEPTED", "20261202T100000Z", 1), olga, []string{"ann@example.com"})
	require.NoError(t, err)
	require.Equal(t, Applied, o)
	m, err := read(got)
	require.NoError(t, err)
	a, _ := m.Attendee("ann@example.com")
	require.Equal(t, Accepted, a.PartStat)

	_, o, err = Apply(got, reply("ann@example.com", "DECLINED", "20261201T100000Z", 1), olga, []string{"ann@example.com"})
	require.NoError(t, err)
	require.Equal(t, Unchanged, o, "an older REPLY arriving late does not undo a newer one")
	_, o, err = Apply(got, reply("ann@example.com", "DECLINED", "20261203T100000Z", 0), olga, []string{"ann@example.com"})
	require.NoError(t, err)
	require.Equal(t, Unchanged, o, "a REPLY to an older SEQUENCE")
	_, o, err = Apply(got, reply("ann@example.com", "DECLINED", "20261203T100000Z", 1), olga, []string{"bob@remote.example"})
	require.NoError(t, err)
	require.Equal(t, Refused, o, "bob cannot answer for ann")
	_, o, err = Apply(got, reply("ann@example.com", "DECLINED", "20261203T100000Z", 1), []string{"ann@example.com"}, []string{"ann@example.com"})
	require.NoError(t, err)
	require.Equal(t, Ignored, o, "a REPLY to an account that is not the organizer")
	later, o, err := Apply(got, reply("ann@example.com", "DECLINED", "20261203T100000Z", 1), olga, []string{"ann@example.com"})
	require.NoError(t, err)
	require.Equal(t, Applied, o)
	m, _ = read(later)
	a, _ = m.Attendee("ann@example.com")
	require.Equal(t, Declined, a.PartStat)
}

func TestApplyCancelAndAdd(t *testing.T) {
	t.Parallel()
	ann, olga := []string{"ann@example.com"}, []string{"olga@example.com"}
	weekly := event(0, []string{"ann@example.com"}, "RRULE:FREQ=WEEKLY;COUNT=5")
	out, sent, err := Plan(nil, weekly, olga, stamp)
	require.NoError(t, err)
	m, _ := Parse(out[0].Payload)
	cp, _, err := Apply("", m, ann, olga)
	require.NoError(t, err)

	one := strings.Join([]string{"BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//x//EN", "METHOD:CANCEL", "BEGIN:VEVENT",
		"UID:ev-1@example.com", "DTSTAMP:20261204T100000Z", "ORGANIZER:mailto:olga@example.com", "ATTENDEE:mailto:ann@example.com",
		"RECURRENCE-ID;TZID=Europe/Paris:20261217T100000", "END:VEVENT", "END:VCALENDAR"}, "\r\n")
	cm, err := Parse(one)
	require.NoError(t, err)
	got, o, err := Apply(cp, cm, ann, olga)
	require.NoError(t, err)
	require.Equal(t, Applied, o)
	require.Contains(t, got, "EXDATE;TZID=Europe/Paris:20261217T100000")
	require.NotContains(t, got, "STATUS:CANCELLED", "one occurrence cancelled, not the event")
	_, o, _ = Apply(got, cm, ann, olga)
	require.Equal(t, Unchanged, o)

	out, _, err = Plan(sent, strings.Replace(weekly, "RRULE", "RDATE;TZID=Europe/Paris:20261224T150000\r\nRRULE", 1), olga, stamp)
	require.NoError(t, err)
	require.Equal(t, []string{"ADD ann@example.com"}, methods(out))
	am, _ := Parse(out[0].Payload)
	added, o, err := Apply(got, am, ann, olga)
	require.NoError(t, err)
	require.Equal(t, Applied, o)
	require.Contains(t, added, "RDATE;TZID=Europe/Paris:20261224T150000")
	require.Contains(t, added, "EXDATE", "the earlier cancel stays")

	_, o, _ = Apply("", am, ann, olga)
	require.Equal(t, Ignored, o, "an ADD without a copy has nothing to add to")
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	for name, text := range map[string]string{
		"not iCalendar": "hello",
		"no VEVENT":     "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n",
		"no UID":        "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
		"bad SEQUENCE":  "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:a\r\nSEQUENCE:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
		"no METHOD":     "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
		"panicky line":  "BEGIN:VCALENDAR\r\n0;0=\r\nEND:VCALENDAR\r\n",
	} {
		_, err := Parse(text)
		require.ErrorIs(t, err, ErrMalformed, name)
	}
}

func TestComposeExtract(t *testing.T) {
	t.Parallel()
	out, _, err := Plan(nil, event(0, []string{"ann@example.com", "bob@remote.example"}, "DESCRIPTION:"+strings.Repeat("long line é ", 20)), organizer, stamp)
	require.NoError(t, err)
	for _, line := range strings.Split(out[0].Payload, "\r\n") {
		require.LessOrEqual(t, len(line), 75, "lines are folded")
	}
	mail, err := Compose(out[0], "mx.example.com", "task-1/0", stamp)
	require.NoError(t, err)
	again, _ := Compose(out[0], "mx.example.com", "task-1/0", stamp)
	require.Equal(t, mail, again, "the same id, the same message")
	s := string(mail)
	require.Contains(t, s, "Content-Type: multipart/alternative")
	require.Contains(t, s, "text/calendar; charset=utf-8; method=REQUEST")
	require.Contains(t, s, "Subject: Invitation: Planning")

	c, err := Extract(mail)
	require.NoError(t, err)
	require.Equal(t, "REQUEST", c.Method)
	require.Equal(t, []string{"olga@example.com"}, c.From)
	require.Equal(t, out[0].Payload, c.Text)

	_, err = Extract([]byte("From: a@b\r\nSubject: hi\r\n\r\nno calendar here\r\n"))
	require.True(t, errors.Is(err, errNoCalendar))
}

func FuzzApply(f *testing.F) {
	f.Add(event(1, []string{"ann@example.com"}))
	f.Add("BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:ev-1@example.com\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:ann@example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
	f.Add("BEGIN:VCALENDAR\r\nMETHOD:CANCEL\r\nBEGIN:VEVENT\r\nUID:ev-1@example.com\r\nRECURRENCE-ID:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
	organizerCopy := event(1, []string{"ann@example.com"})
	f.Fuzz(func(t *testing.T, text string) {
		if m, err := Parse(text); err == nil {
			for _, cur := range []string{"", organizerCopy} {
				_, _, _ = Apply(cur, m, []string{"ann@example.com"}, []string{"olga@example.com"})
				_, _, _ = Apply(cur, m, []string{"olga@example.com"}, []string{"ann@example.com"})
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("an error that is not ErrMalformed: %v", err)
		}
		_, _, _ = Plan(nil, text, []string{"olga@example.com"}, stamp)
	})
}
