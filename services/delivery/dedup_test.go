package delivery_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/store/storetest"
)

// The delivery service keeps the duplicate-ID list (store.duplicates.*,
// on by default): the same message submitted twice over SMTP reaches the
// account once, and both submissions leave the queue delivered.
func TestSameMessageIDSubmittedTwiceIsStoredOnce(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	mn := startMailNode(t, srv, "1", "mx.example.org", newSink(t), 2)
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	body := "Message-ID: <twice@outside.test>\r\nFrom: x@outside.test\r\nTo: alice@example.org\r\nSubject: twice\r\n\r\nonce only\r\n"
	for range 2 {
		require.NoError(t, send(t, mn.smtp.Addrs()[0], "", "x@outside.test", []string{"alice@example.org"}, body))
	}
	duplicates := func() float64 {
		mfs, err := mn.n.Deps().Metrics.(prometheus.Gatherer).Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "jetmail_delivery_duplicates_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return 0
	}
	require.Eventually(t, func() bool { return queueLen(t, mn.dlv.Queue) == 0 && duplicates() == 1 }, 20*time.Second, 50*time.Millisecond)
	msgs, err := storetest.Mail(js, "alice@example.org")
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.Contains(t, string(msgs[0]), "once only")
}
