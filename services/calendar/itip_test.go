package calendar_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/calendar"
	"github.com/jetmail/jetmail/services/delivery"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/itip"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/store/storetest"
)

// itipConfig has two local users and routes remote.test to smtp-sink.
const itipConfig = `
[smtp]
listen = ["127.0.0.1:0"]
hostname = "mx.example.org"
local-domains = ["example.org"]
[smtp.users.alice]
secret = "alice-secret-long"
addresses = ["alice@example.org"]
[smtp.users.bob]
secret = "bob-secret-long"
addresses = ["bob@example.org"]
[queue.route.sink]
type = "relay"
address = "127.0.0.1"
port = %s
tls = "none"
[queue.strategy]
route = [ { if = "is_local_domain('*', rcpt_domain)", then = "'local'" }, { else = "'sink'" } ]
`

// parseIMIP reads an iMIP message with Python's email module, an
// independent parser: its type, and each part's type, method and text.
const parseIMIP = `
import email, json, sys
from email import policy
msg = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
out = {"type": msg.get_content_type(), "subject": str(msg["subject"]), "parts": []}
for part in msg.iter_parts():
    out["parts"].append({"type": part.get_content_type(), "method": part.get_param("method"), "text": part.get_content()})
print(json.dumps(out))
`

type imipParsed struct {
	Type    string `json:"type"`
	Subject string `json:"subject"`
	Parts   []struct {
		Type   string `json:"type"`
		Method string `json:"method"`
		Text   string `json:"text"`
	} `json:"parts"`
}

type itipNode struct {
	node       *node.Node
	js         jetstream.JetStream
	st         *store.Store
	q          *mailqueue.Queue
	alice, bob *store.Account
	dump       string
}

func startItip(t *testing.T) *itipNode {
	t.Helper()
	sinkAddr := jetmailtest.FreePort(t)
	dump, _ := jetmailtest.SMTPSink(t, sinkAddr)
	_, port, _ := net.SplitHostPort(sinkAddr)
	srv := jetmailtest.Server(t)
	cfg, err := config.Parse(fmt.Appendf(nil, itipConfig, port))
	require.NoError(t, err)
	base := jetmailtest.Config(t, "1")
	cfg.Cluster, cfg.HTTP = base.Cluster, base.HTTP
	cfg.Task.Periodic = map[string]config.Periodic{}
	sc := store.NewComponent(store.Params{})
	q := mailqueue.New(mailqueue.Params{})
	nd := jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, sc, q, delivery.New(cfg, q).WithStore(sc), calendar.New(cfg, sc, calendar.Params{Queue: q}))
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	st := sc.Store()
	ctx := context.Background()
	alice, err := st.AccountByAddress(ctx, "alice@example.org")
	require.NoError(t, err)
	bob, err := st.AccountByAddress(ctx, "bob@example.org")
	require.NoError(t, err)
	return &itipNode{nd, js, st, q, alice, bob, dump}
}

func meeting(seq int, summary string) string {
	return strings.ReplaceAll(fmt.Sprintf(`BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//jetmail test//EN
BEGIN:VEVENT
UID:meeting-1@example.org
DTSTAMP:20261201T080000Z
SEQUENCE:%d
DTSTART;TZID=Europe/Paris:20261214T150000
DTEND;TZID=Europe/Paris:20261214T160000
SUMMARY:%s
LOCATION:Room 4
ORGANIZER;CN=Alice:mailto:alice@example.org
ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org
ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:bob@example.org
ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:carol@remote.test
BEGIN:VALARM
ACTION:DISPLAY
TRIGGER:-PT10M
END:VALARM
END:VEVENT
END:VCALENDAR
`, seq, summary), "\n", "\r\n")
}

// text reads an account's event.
func (n *itipNode) text(t *testing.T, account, id string) string {
	t.Helper()
	d, err := n.st.Document(context.Background(), account, store.CalendarType, id)
	if err != nil {
		return ""
	}
	var ev store.CalendarEvent
	require.NoError(t, d.Decode(&ev))
	return ev.ICal
}

func (n *itipNode) write(t *testing.T, account, id, text string) string {
	t.Helper()
	ctx := context.Background()
	if id == "" {
		d := &store.Document{Account: account, Type: store.CalendarType}
		require.NoError(t, store.SetCalendarText(d, text))
		require.NoError(t, n.st.CreateDocument(ctx, d))
		return d.ID
	}
	_, err := n.st.UpdateDocument(ctx, account, store.CalendarType, id, func(d *store.Document) error { return store.SetCalendarText(d, text) })
	require.NoError(t, err)
	return id
}

func (n *itipNode) received(t *testing.T, outcome string) float64 {
	t.Helper()
	mfs, err := n.node.Deps().Metrics.(prometheus.Gatherer).Gather()
	require.NoError(t, err)
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "jetmail_imip_received_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}

// An invitation from a local organizer to a local and a remote attendee:
// the remote one gets an RFC 6047 message that Python parses as
// text/calendar with METHOD:REQUEST; the local one gets the mail in the
// Inbox and the event in the calendar; the local attendee's answer comes
// back to the organizer's event as a REPLY; an older update delivered
// late changes nothing; malformed iCalendar is delivered as plain mail.
func TestInvitationRoundTrip(t *testing.T) {
	t.Parallel()
	py := jetmailtest.Tool(t, "python3", "python3")
	n := startItip(t)
	ctx := context.Background()
	doc := n.write(t, n.alice.ID, "", meeting(0, "Budget review"))

	// The remote attendee's copy, through smtp-sink.
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(n.dump)
		return strings.Contains(string(b), "carol@remote.test") && strings.Contains(string(b), "--itip-")
	}, 30*time.Second, 50*time.Millisecond, "the remote attendee's invitation reaches smtp-sink")
	dir := t.TempDir()
	script := filepath.Join(dir, "parse.py")
	require.NoError(t, os.WriteFile(script, []byte(parseIMIP), 0o600))
	out, err := exec.Command(py, script, n.dump).CombinedOutput()
	require.NoError(t, err, string(out))
	var parsed imipParsed
	require.NoError(t, json.Unmarshal(out, &parsed), string(out))
	require.Equal(t, "multipart/alternative", parsed.Type)
	require.Equal(t, "Invitation: Budget review", parsed.Subject)
	require.Len(t, parsed.Parts, 2)
	require.Equal(t, "text/plain", parsed.Parts[0].Type)
	require.Contains(t, parsed.Parts[0].Text, "Monday 14 December 2026, 15:00 (Europe/Paris)", "the readable part shows the time in the event's zone")
	require.Equal(t, "text/calendar", parsed.Parts[1].Type)
	require.Equal(t, "REQUEST", parsed.Parts[1].Method)
	require.Contains(t, parsed.Parts[1].Text, "METHOD:REQUEST")
	require.Contains(t, parsed.Parts[1].Text, "UID:meeting-1@example.org")
	require.NotContains(t, parsed.Parts[1].Text, "VALARM", "the organizer's alarm is its own")

	// The local attendee: the mail in the Inbox, the event in the calendar.
	copyID := itip.CopyID("meeting-1@example.org")
	require.Eventually(t, func() bool { return n.text(t, n.bob.ID, copyID) != "" }, 30*time.Second, 50*time.Millisecond, "bob's calendar gets the event")
	msgs, err := storetest.Mail(n.js, "bob@example.org")
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.Contains(t, string(msgs[0]), "method=REQUEST")
	require.Contains(t, n.text(t, n.bob.ID, copyID), "SUMMARY:Budget review")

	// Bob accepts: a REPLY updates alice's event, and sends nothing more.
	accepted := strings.Replace(n.text(t, n.bob.ID, copyID), "PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.org", "PARTSTAT=ACCEPTED:mailto:bob@example.org", 1)
	require.Contains(t, accepted, "PARTSTAT=ACCEPTED:mailto:bob@example.org")
	n.write(t, n.bob.ID, copyID, accepted)
	require.Eventually(t, func() bool {
		return strings.Contains(strings.ReplaceAll(n.text(t, n.alice.ID, doc), "\r\n ", ""), "PARTSTAT=ACCEPTED;X-JETMAIL-DTSTAMP=")
	}, 30*time.Second, 50*time.Millisecond, "bob's REPLY reaches alice's event")
	require.Contains(t, strings.ReplaceAll(n.text(t, n.alice.ID, doc), "\r\n ", ""), "mailto:bob@example.org")

	// Alice moves the meeting (SEQUENCE 1); then an older invitation
	// (SEQUENCE 0) arrives late: bob's copy keeps the newer one.
	n.write(t, n.alice.ID, doc, meeting(1, "Budget review (moved)"))
	require.Eventually(t, func() bool { return strings.Contains(n.text(t, n.bob.ID, copyID), "SUMMARY:Budget review (moved)") }, 30*time.Second, 50*time.Millisecond)
	stale, _, err := itip.Plan(nil, meeting(0, "Stale"), []string{"alice@example.org"}, time.Now())
	require.NoError(t, err)
	body, err := itip.Compose(itip.Outgoing{Method: itip.Request, From: "alice@example.org", To: []string{"bob@example.org"}, Payload: stale[0].Payload}, "mx.example.org", "stale", time.Now())
	require.NoError(t, err)
	before := n.received(t, string(itip.Unchanged))
	_, err = n.q.Enqueue(ctx, mailqueue.Envelope{Sender: "alice@example.org"}, []mailqueue.RcptIn{{Address: "bob@example.org"}}, body)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return n.received(t, string(itip.Unchanged)) > before }, 30*time.Second, 50*time.Millisecond, "the old invitation is delivered")
	require.Contains(t, n.text(t, n.bob.ID, copyID), "SUMMARY:Budget review (moved)", "an old SEQUENCE never overwrites a newer one")

	// Malformed iCalendar: delivered as plain mail, counted.
	mailsBefore, err := storetest.Mail(n.js, "bob@example.org")
	require.NoError(t, err)
	bad := "From: <alice@example.org>\r\nTo: <bob@example.org>\r\nSubject: broken\r\nMessage-ID: <broken@example.org>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n0;0=\r\nEND:VCALENDAR\r\n"
	_, err = n.q.Enqueue(ctx, mailqueue.Envelope{Sender: "alice@example.org"}, []mailqueue.RcptIn{{Address: "bob@example.org"}}, []byte(bad))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		msgs, err := storetest.Mail(n.js, "bob@example.org")
		return err == nil && len(msgs) == len(mailsBefore)+1
	}, 30*time.Second, 50*time.Millisecond, "the malformed invitation is delivered as mail")
	require.Equal(t, 1.0, n.received(t, "malformed"))

	// Alice cancels by destroying the event: bob's copy is cancelled.
	require.NoError(t, n.st.DestroyDocument(ctx, n.alice.ID, store.CalendarType, doc))
	require.Eventually(t, func() bool { return strings.Contains(n.text(t, n.bob.ID, copyID), "STATUS:CANCELLED") }, 30*time.Second, 50*time.Millisecond)
}
