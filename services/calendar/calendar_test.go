package calendar_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/calendar"
	"github.com/jetmail/jetmail/services/delivery"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/store/storetest"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

const calConfig = `
[smtp]
listen = ["127.0.0.1:0"]
hostname = "mx.example.org"
local-domains = ["example.org"]
[smtp.users.alice]
secret = "alice-secret-long"
addresses = ["alice@example.org"]
`

type calNode struct {
	node  *node.Node
	js    jetstream.JetStream
	st    *store.Store
	cal   *calendar.Service
	alice *store.Account
}

// startCalendar runs a node with the store, the queue, local delivery and
// the calendar service.
func startCalendar(t testing.TB) *calNode {
	t.Helper()
	return startCalendarWith(t, calendar.Params{})
}

// startCalendarWith is startCalendar with the service's params (Queue is
// set).
func startCalendarWith(t testing.TB, p calendar.Params) *calNode {
	t.Helper()
	srv := jetmailtest.Server(t)
	cfg, err := config.Parse([]byte(calConfig))
	require.NoError(t, err)
	base := jetmailtest.Config(t, "1")
	cfg.Cluster, cfg.HTTP = base.Cluster, base.HTTP
	cfg.Task.Periodic = map[string]config.Periodic{}
	sc := store.NewComponent(store.Params{})
	q := mailqueue.New(mailqueue.Params{})
	p.Queue = q
	cal := calendar.New(cfg, sc, p)
	nd := jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, sc, q, delivery.New(cfg, q).WithStore(sc), cal)
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	st := sc.Store()
	alice, err := st.AccountByAddress(context.Background(), "alice@example.org")
	require.NoError(t, err)
	return &calNode{nd, js, st, cal, alice}
}

func event(uid, summary string, start time.Time, trigger string) string {
	return strings.ReplaceAll(fmt.Sprintf(`BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//jetmail test//EN
BEGIN:VEVENT
UID:%s
DTSTAMP:20260101T000000Z
DTSTART:%s
DURATION:PT30M
SUMMARY:%s
LOCATION:Room 4
BEGIN:VALARM
UID:alarm-1
ACTION:EMAIL
SUMMARY:reminder
DESCRIPTION:reminder
ATTENDEE:mailto:alice@example.org
TRIGGER:%s
END:VALARM
END:VEVENT
END:VCALENDAR
`, uid, start.UTC().Format("20060102T150405Z"), summary, trigger), "\n", "\r\n")
}

func (n *calNode) put(t testing.TB, id, ical string) string {
	t.Helper()
	ctx := context.Background()
	ev, err := store.ParseCalendarEvent(ical)
	require.NoError(t, err)
	if id == "" {
		d := &store.Document{Account: n.alice.ID, Type: store.CalendarType}
		require.NoError(t, d.Encode(ev))
		require.NoError(t, n.st.CreateDocument(ctx, d))
		return d.ID
	}
	_, err = n.st.UpdateDocument(ctx, n.alice.ID, store.CalendarType, id, func(d *store.Document) error { return d.Encode(ev) })
	require.NoError(t, err)
	return id
}

// pending reads the event's pending alarm tasks: alarm -> task id.
func (n *calNode) pending(t *testing.T, doc string) map[string]string {
	t.Helper()
	kv, err := n.js.KeyValue(context.Background(), calendar.BucketAlarms)
	require.NoError(t, err)
	e, err := kv.Get(context.Background(), n.alice.ID+"."+doc)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return map[string]string{}
	}
	require.NoError(t, err)
	var cur map[string]struct {
		TaskID string `json:"taskId"`
	}
	require.NoError(t, json.Unmarshal(e.Value(), &cur))
	out := map[string]string{}
	for k, v := range cur {
		out[k] = v.TaskID
	}
	return out
}

// A 5-minute-before email alarm fires at its time: the reminder arrives
// in the owner's Inbox and parses, with the event's summary, time and
// place.
func TestAlarmEmailArrives(t *testing.T) {
	t.Parallel()
	n := startCalendar(t)
	start := time.Now().Add(5*time.Minute + 2*time.Second).Truncate(time.Second)
	fire := start.Add(-5 * time.Minute)
	n.put(t, "", event("standup@x", "Stand-up", start, "-PT5M"))
	var got []byte
	require.Eventually(t, func() bool {
		msgs, err := storetest.Mail(n.js, "alice@example.org")
		if err != nil || len(msgs) == 0 {
			return false
		}
		got = msgs[0]
		return true
	}, 30*time.Second, 50*time.Millisecond, "the reminder arrives")
	t.Logf("alarm due %s, in the Inbox %s after", fire.Format(time.StampMilli), time.Since(fire).Round(time.Millisecond))
	m, err := mail.ReadMessage(bytes.NewReader(got))
	require.NoError(t, err)
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	require.NoError(t, err)
	require.Contains(t, subject, "Reminder: Stand-up")
	require.Equal(t, "auto-generated", m.Header.Get("Auto-Submitted"))
	var body bytes.Buffer
	_, err = body.ReadFrom(m.Body)
	require.NoError(t, err)
	require.Contains(t, body.String(), "Where: Room 4")
	require.Contains(t, body.String(), start.UTC().Format("15:04"))
}

// Moving the event moves its alarm task; destroying it removes the task.
func TestAlarmFollowsTheEvent(t *testing.T) {
	t.Parallel()
	n := startCalendar(t)
	ctx := context.Background()
	mgr := n.cal.Manager()
	start := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	doc := n.put(t, "", event("review@x", "Review", start, "-PT15M"))
	var first string
	require.Eventually(t, func() bool { first = n.pending(t, doc)["alarm-1"]; return first != "" }, 10*time.Second, 20*time.Millisecond)
	tk, err := mgr.Get(ctx, first)
	require.NoError(t, err)
	require.True(t, tk.Status.Due.Equal(start.Add(-15*time.Minute)), "due %s", tk.Status.Due)

	moved := start.Add(time.Hour)
	n.put(t, doc, event("review@x", "Review", moved, "-PT15M"))
	var second string
	require.Eventually(t, func() bool { second = n.pending(t, doc)["alarm-1"]; return second != "" && second != first }, 10*time.Second, 20*time.Millisecond)
	tk, err = mgr.Get(ctx, second)
	require.NoError(t, err)
	require.True(t, tk.Status.Due.Equal(moved.Add(-15*time.Minute)), "due %s", tk.Status.Due)
	// Tasks are destroyed after the entry is written (see schedule): a
	// moment after.
	gone := func(id string) func() bool {
		return func() bool { _, err := mgr.Get(ctx, id); return errors.Is(err, taskmanager.ErrNotFound) }
	}
	require.Eventually(t, gone(first), 10*time.Second, 20*time.Millisecond, "the old time's task is gone")

	require.NoError(t, n.st.DestroyDocument(ctx, n.alice.ID, store.CalendarType, doc))
	require.Eventually(t, func() bool { return len(n.pending(t, doc)) == 0 }, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, gone(second), 10*time.Second, 20*time.Millisecond, "no event, no alarm")
}
