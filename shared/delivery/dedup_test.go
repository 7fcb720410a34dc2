package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/dupid"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/store/storetest"
)

// Local delivery with the duplicate-ID list: a second submission of a
// Message-ID to the same account within the retention is reported
// delivered and not stored; the first one tried again (a crash between
// store and ack) stores nothing new either; another account gets its
// copy; past the retention, the Message-ID is stored again. A message
// without a Message-ID is stored each time.
func TestLocalDuplicatesAreStoredOnce(t *testing.T) {
	t.Parallel()
	js, err := jetstream.New(jetmailtest.Conn(t, jetmailtest.Server(t)))
	require.NoError(t, err)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Params{JS: js, Logger: jetmailtest.Logger()})
	require.NoError(t, err)
	require.NoError(t, st.CreateDomain(ctx, store.Domain{Name: "example.org"}))
	for _, name := range []string{"alice", "bob"} {
		_, err := st.CreateAccount(ctx, store.Account{Name: name, Domain: "example.org", Addresses: []string{name + "@example.org", name + ".alias@example.org"}})
		require.NoError(t, err)
	}
	clk := clock.NewFake(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	dups, err := dupid.Open(ctx, dupid.Params{JS: js, Retention: 24 * time.Hour, Clock: clk})
	require.NoError(t, err)
	cfg, err := config.Parse(nil)
	require.NoError(t, err)
	d, err := New(Params{Config: cfg, Store: st, Logger: jetmailtest.Logger(), Hostname: "mx.example.org", Duplicates: dups})
	require.NoError(t, err)

	body := []byte("Message-ID: <same@shop.test>\r\nFrom: ann@shop.test\r\nSubject: twice\r\n\r\nhello\r\n")
	deliver := func(queueID string, body []byte, rcpts ...string) []mailqueue.Result {
		t.Helper()
		dl := &mailqueue.Delivery{Route: config.Route{Type: config.RouteLocal}, Domain: "example.org", Body: body}
		for i, r := range rcpts {
			dl.Recipients = append(dl.Recipients, &mailqueue.Recipient{Envelope: mailqueue.Envelope{MessageID: queueID}, Index: i, Address: r})
		}
		return d.Deliver(ctx, dl)
	}
	stored := func(addr string) int {
		t.Helper()
		msgs, err := storetest.Mail(js, addr)
		require.NoError(t, err)
		return len(msgs)
	}

	res := deliver("q1", body, "alice@example.org", "alice.alias@example.org")
	require.Equal(t, 250, res[0].Code)
	require.Equal(t, 250, res[1].Code, "two addresses of one account: one message, both delivered")
	require.NotContains(t, res[1].Text, "duplicate")
	require.Equal(t, 1, stored("alice@example.org"))

	clk.Advance(23 * time.Hour)
	res = deliver("q2", body, "alice@example.org", "bob@example.org")
	require.Equal(t, 250, res[0].Code)
	require.Equal(t, "2.0.0", res[0].Enhanced)
	require.True(t, strings.HasPrefix(res[0].Text, "duplicate: alice's Inbox has had Message-ID <same@shop.test> since 2026-05-01T10:00:00Z (within 1d)"), res[0].Text)
	require.Equal(t, 250, res[1].Code)
	require.NotContains(t, res[1].Text, "duplicate", "bob had none")
	require.Equal(t, 1, stored("alice@example.org"), "the duplicate was not stored")
	require.Equal(t, 1, stored("bob@example.org"))

	res = deliver("q1", body, "alice@example.org")
	require.Equal(t, 250, res[0].Code)
	require.NotContains(t, res[0].Text, "duplicate", "the first delivery tried again is itself")
	require.Equal(t, 1, stored("alice@example.org"))

	clk.Advance(time.Hour)
	res = deliver("q3", body, "alice@example.org")
	require.Equal(t, 250, res[0].Code)
	require.NotContains(t, res[0].Text, "duplicate")
	require.Equal(t, 2, stored("alice@example.org"), "past the retention: stored again")

	noID := []byte("From: ann@shop.test\r\nSubject: no id\r\n\r\nhello\r\n")
	deliver("q4", noID, "bob@example.org")
	deliver("q5", noID, "bob@example.org")
	require.Equal(t, 3, stored("bob@example.org"), "no Message-ID: never a duplicate")
}

// A delivery that fails after its claim releases it: another copy that
// comes before the retry is stored, and the failed one is then the
// duplicate.
func TestFailedLocalDeliveryReleasesItsClaim(t *testing.T) {
	t.Parallel()
	js, err := jetstream.New(jetmailtest.Conn(t, jetmailtest.Server(t)))
	require.NoError(t, err)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Params{JS: js, Logger: jetmailtest.Logger()})
	require.NoError(t, err)
	require.NoError(t, st.CreateDomain(ctx, store.Domain{Name: "example.org"}))
	a, err := st.CreateAccount(ctx, store.Account{Name: "alice", Domain: "example.org", Addresses: []string{"alice@example.org"}, Quota: 10})
	require.NoError(t, err)
	dups, err := dupid.Open(ctx, dupid.Params{JS: js, Retention: time.Hour})
	require.NoError(t, err)
	cfg, err := config.Parse(nil)
	require.NoError(t, err)
	d, err := New(Params{Config: cfg, Store: st, Logger: jetmailtest.Logger(), Hostname: "mx.example.org", Duplicates: dups})
	require.NoError(t, err)
	deliver := func(queueID string) mailqueue.Result {
		dl := &mailqueue.Delivery{Route: config.Route{Type: config.RouteLocal}, Domain: "example.org",
			Body:       []byte("Message-ID: <big@shop.test>\r\nSubject: big\r\n\r\nmore than ten bytes\r\n"),
			Recipients: []*mailqueue.Recipient{{Envelope: mailqueue.Envelope{MessageID: queueID}, Address: "alice@example.org"}}}
		return d.Deliver(ctx, dl)[0]
	}
	require.Equal(t, 452, deliver("q1").Code, "over quota")
	_, err = st.UpdateAccount(ctx, a.ID, func(a *store.Account) error { a.Quota = 0; return nil })
	require.NoError(t, err)
	r := deliver("q2")
	require.Equal(t, 250, r.Code)
	require.NotContains(t, r.Text, "duplicate", "q1 released its claim")
	r = deliver("q1")
	require.Equal(t, 250, r.Code)
	require.Contains(t, r.Text, "duplicate", "q1's retry finds q2's copy")
	msgs, err := storetest.Mail(js, "alice@example.org")
	require.NoError(t, err)
	require.Len(t, msgs, 1)
}
