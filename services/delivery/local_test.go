package delivery_test

import (
	"context"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/store/storetest"
)

// Local mail goes into the account's Inbox in the store. Over quota, the
// recipient gets 452 4.2.2 and the message stays queued; once there is
// room, it is delivered, once.
func TestLocalDeliveryWaitsForQuota(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	mn := startMailNode(t, srv, "1", "mx.example.org", newSink(t), 2)
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Params{JS: js})
	require.NoError(t, err)
	alice, err := st.AccountByAddress(ctx, "alice@example.org")
	require.NoError(t, err, "smtp.users seeded the store")
	_, err = st.UpdateAccount(ctx, alice.ID, func(a *store.Account) error { a.Quota = 10; return nil })
	require.NoError(t, err)

	body := "From: x@outside.test\r\nTo: alice@example.org\r\nSubject: quota\r\n\r\nroom for me?\r\n"
	require.NoError(t, send(t, mn.smtp.Addrs()[0], "", "x@outside.test", []string{"alice@example.org"}, body))
	require.Eventually(t, func() bool {
		keys, _ := list(t, mn.dlv.Queue, mailqueue.Filter{})
		if len(keys) != 1 {
			return false
		}
		r, err := mn.dlv.Queue.Get(ctx, keys[0])
		return err == nil && strings.HasPrefix(r.LastStatus, "452 4.2.2")
	}, 10*time.Second, 50*time.Millisecond, "over quota: 452 4.2.2, still queued")
	require.False(t, mailboxContains(js, "alice@example.org", "room for me?"))

	_, err = st.UpdateAccount(ctx, alice.ID, func(a *store.Account) error { a.Quota = 0; return nil })
	require.NoError(t, err)
	require.Eventually(t, func() bool { return queueLen(t, mn.dlv.Queue) == 0 }, 10*time.Second, 50*time.Millisecond)
	msgs, err := storetest.Mail(js, "alice@example.org")
	require.NoError(t, err)
	require.Len(t, msgs, 1, "delivered once")
	require.Contains(t, string(msgs[0]), "room for me?")
	alice, err = st.Account(ctx, alice.ID)
	require.NoError(t, err)
	require.EqualValues(t, len(msgs[0]), alice.Used)
}

// The intake asks the store: an account made in the store (not in the
// configuration) receives mail and may authenticate; one over quota gets
// 452 4.2.2 at RCPT; a seed account destroyed in the store is refused,
// though the configuration still lists it.
func TestIntakeAsksTheStore(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	sk := newSink(t)
	mn := startMailNode(t, srv, "1", "mx.example.org", sk, 2)
	addr := mn.smtp.Addrs()[0]
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Params{JS: js})
	require.NoError(t, err)
	erin, err := st.CreateAccount(ctx, store.Account{Name: "erin", Domain: "example.org", Addresses: []string{"erin@example.org"}}, "erin-secret-123")
	require.NoError(t, err)

	require.NoError(t, jetmailtest.SendMail(addr, "erin", "erin-secret-123", "erin@example.org", []string{"bob@remote.test"}, msg), "AUTH with a store account")
	require.NoError(t, send(t, addr, "", "x@outside.test", []string{"erin@example.org"}, msg))
	require.Eventually(t, func() bool { return mailboxContains(js, "erin@example.org", "hello") }, 10*time.Second, 50*time.Millisecond)

	_, err = st.UpdateAccount(ctx, erin.ID, func(a *store.Account) error { a.Quota = 1; return nil })
	require.NoError(t, err)
	err = send(t, addr, "", "x@outside.test", []string{"erin@example.org"}, msg)
	var se *gosmtp.SMTPError
	require.ErrorAs(t, err, &se)
	require.Equal(t, 452, se.Code)
	require.Equal(t, gosmtp.EnhancedCode{4, 2, 2}, se.EnhancedCode)

	alice, err := st.AccountByName(ctx, "alice")
	require.NoError(t, err)
	require.NoError(t, st.DestroyAccount(ctx, alice.ID))
	err = send(t, addr, "", "x@outside.test", []string{"alice@example.org"}, msg)
	require.ErrorAs(t, err, &se)
	require.Equal(t, 550, se.Code)
	err = send(t, addr, "alice", "alice@example.org", []string{"bob@remote.test"}, msg)
	require.ErrorAs(t, err, &se)
	require.Equal(t, 535, se.Code)
}
