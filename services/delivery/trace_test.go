package delivery_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/trace"
)

// tracedMsg is a message with a Message-ID header.
func tracedMsg(id string) string {
	return "From: alice@example.org\r\nTo: bob@remote.test\r\nMessage-ID: " + id + "\r\nSubject: hi\r\n\r\nhello\r\n"
}

// traceOf waits until a received event with Message-ID header msgID is
// on the traces stream, and returns its trace id.
func traceOf(t *testing.T, js jetstream.JetStream, msgID string) string {
	t.Helper()
	var id string
	require.Eventually(t, func() bool {
		for _, e := range allEvents(t, js) {
			if e.Kind == trace.KindReceived && e.MessageID == msgID {
				id = e.TraceID
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond, "no received event for %s", msgID)
	return id
}

// allEvents reads the whole traces stream.
func allEvents(t *testing.T, js jetstream.JetStream) []trace.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, trace.Stream)
	require.NoError(t, err)
	n := s.CachedInfo().State.Msgs
	if n == 0 {
		return nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	batch, err := cons.Fetch(int(n), jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	var out []trace.Event
	for m := range batch.Messages() {
		events, err := trace.Decode(m.Data())
		require.NoError(t, err)
		out = append(out, events...)
	}
	return out
}

// kinds waits until trace id's events are of the kinds want, in order,
// and returns them.
func kinds(t *testing.T, js jetstream.JetStream, id string, want ...trace.Kind) []trace.Event {
	t.Helper()
	var events []trace.Event
	var got []trace.Kind
	ok := assert.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		events, err = trace.Read(ctx, js, 16, id)
		require.NoError(t, err)
		got = got[:0]
		for _, e := range events {
			got = append(got, e.Kind)
		}
		return fmt.Sprint(got) == fmt.Sprint(want)
	}, 15*time.Second, 50*time.Millisecond, "trace %s", id)
	if !ok {
		for _, e := range events {
			t.Logf("%+v", e)
		}
		t.FailNow()
	}
	return events
}

// A message delivered to the sink leaves received, attempt and delivered
// on its trace, with the Message-ID, the remote host and its reply; the
// index finds it by recipient, domain and Message-ID.
func TestTraceOfDeliveredMessage(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	sk := newSink(t)
	mn := startMailNode(t, srv, "1", "mx.example.org", sk, 4)
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	require.NoError(t, send(t, mn.smtp.Addrs()[0], "alice", "alice@example.org", []string{"bob@remote.test"}, tracedMsg("<m1@example.org>")))

	id := traceOf(t, js, "<m1@example.org>")
	ev := kinds(t, js, id, trace.KindReceived, trace.KindAttempt, trace.KindDelivered)
	received, attempt, delivered := ev[0], ev[1], ev[2]
	require.Equal(t, "alice@example.org", received.Sender)
	require.Equal(t, []string{"bob@remote.test"}, received.Recipients)
	require.Equal(t, "1", received.Node)
	require.Equal(t, "remote", received.Queue)
	require.Equal(t, "client.test [127.0.0.1]", received.RemoteHost)
	require.Positive(t, received.Size)
	for _, e := range ev[1:] {
		require.Equal(t, "bob@remote.test", e.Recipient)
		require.Equal(t, "127.0.0.1", e.RemoteHost, "the relay route's host")
		require.Equal(t, 1, e.Attempt)
		require.Equal(t, "remote", e.Queue)
	}
	require.Contains(t, attempt.Reply, "250")
	require.Equal(t, "2.0.0", delivered.Status)
	require.False(t, delivered.At.Before(attempt.At))

	// The index, as the indexer will feed it.
	ix, err := trace.Open(filepath.Join(t.TempDir(), "traces"), trace.Options{})
	require.NoError(t, err)
	defer ix.Close()
	ctx := context.Background()
	require.NoError(t, ix.Apply(ctx, []trace.Trace{{ID: id, Events: ev}}))
	for _, q := range []trace.Query{{Rcpt: "Bob@Remote.test"}, {Rcpt: "@remote.test"}, {MessageID: "m1@example.org"}, {Sender: "example.org"}} {
		got, err := ix.Search(ctx, q)
		require.NoError(t, err)
		require.Len(t, got, 1, "%+v", q)
		require.Equal(t, id, got[0].TraceID)
		require.Equal(t, trace.KindDelivered, got[0].LastKind)
	}
}

// A recipient refused for good records its attempt and its bounce with
// the remote's reply and host, then the DSN queued to the sender, whose
// own trace starts with the null sender.
func TestTraceOfBouncedMessage(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	sk := newSink(t)
	mn := startMailNode(t, srv, "1", "mx.example.org", sk, 4)
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	require.NoError(t, send(t, mn.smtp.Addrs()[0], "alice", "alice@example.org", []string{"reject@remote.test"}, tracedMsg("<m2@example.org>")))

	id := traceOf(t, js, "<m2@example.org>")
	ev := kinds(t, js, id, trace.KindReceived, trace.KindAttempt, trace.KindBounced, trace.KindDSNSent)
	for _, e := range ev[1:3] {
		require.Equal(t, "reject@remote.test", e.Recipient)
		require.Equal(t, "127.0.0.1", e.RemoteHost)
		require.Equal(t, "550 5.1.1 no such user", e.Reply)
		require.Equal(t, "5.1.1", e.Status)
	}
	dsn := ev[3]
	require.Equal(t, []string{"reject@remote.test"}, dsn.Recipients)
	require.Contains(t, dsn.Reply, "failed DSN to <alice@example.org> queued as ")

	var dsnTrace string
	_, err = fmt.Sscanf(dsn.Reply[len("failed DSN to <alice@example.org> queued as "):], "%s", &dsnTrace)
	require.NoError(t, err)
	// Into alice's local mailbox, once the store has her account.
	var own []trace.Event
	require.Eventually(t, func() bool {
		own, err = trace.Read(context.Background(), js, 16, dsnTrace)
		require.NoError(t, err)
		return len(own) >= 3 && own[len(own)-1].Kind == trace.KindDelivered
	}, 15*time.Second, 50*time.Millisecond)
	require.Equal(t, trace.KindReceived, own[0].Kind)
	require.Equal(t, trace.KindAttempt, own[1].Kind)
	require.Equal(t, "", own[0].Sender, "a DSN has the null sender")
	require.Equal(t, []string{"alice@example.org"}, own[0].Recipients)
	require.Contains(t, own[0].Reply, "dsn")
	require.NotEmpty(t, own[0].MessageID, "the DSN's own Message-ID")
}

// A deferred recipient records its next attempt's time; an operator's
// hold and cancel are on the trace too.
func TestTraceOfDeferredMessage(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	sk := newSink(t)
	mn := startMailNode(t, srv, "1", "mx.example.org", sk, 4)
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	addr := mn.smtp.Addrs()[0]

	// Greylisted once (the remote schedule retries after 1s), then
	// delivered.
	require.NoError(t, send(t, addr, "alice", "alice@example.org", []string{"tempfail-1@remote.test"}, tracedMsg("<m3@example.org>")))
	id := traceOf(t, js, "<m3@example.org>")
	ev := kinds(t, js, id, trace.KindReceived, trace.KindAttempt, trace.KindDeferred, trace.KindAttempt, trace.KindDelivered)
	deferred := ev[2]
	require.Equal(t, "451 4.7.1 greylisted, try later", deferred.Reply)
	require.Equal(t, "4.7.1", deferred.Status)
	require.Equal(t, 1, deferred.Attempt)
	require.WithinDuration(t, deferred.At.Add(time.Second), deferred.Due, 100*time.Millisecond, "retry = [\"1s\"]")
	require.Equal(t, 2, ev[3].Attempt)
	require.Equal(t, 2, ev[4].Attempt)

	// Greylisted for ever: held and cancelled by an operator.
	require.NoError(t, send(t, addr, "alice", "alice@example.org", []string{"tempfail-99@remote.test"}, tracedMsg("<m4@example.org>")))
	id = traceOf(t, js, "<m4@example.org>")
	kinds(t, js, id, trace.KindReceived, trace.KindAttempt, trace.KindDeferred)
	ctx := context.Background()
	key := mailqueue.EntryKey(id, 0)
	_, err = mn.dlv.Queue.Hold(ctx, key)
	require.NoError(t, err)
	require.NoError(t, mn.dlv.Queue.Cancel(ctx, key, false))
	// Another attempt may have come between the first deferral and the
	// hold (the retry is 1s).
	require.Eventually(t, func() bool {
		ev, err = trace.Read(ctx, js, 16, id)
		require.NoError(t, err)
		return len(ev) >= 5 && ev[len(ev)-1].Kind == trace.KindCancelled
	}, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, trace.KindReceived, ev[0].Kind)
	for i, e := range ev[1 : len(ev)-2] {
		require.Equal(t, []trace.Kind{trace.KindAttempt, trace.KindDeferred}[i%2], e.Kind, "%+v", ev)
	}
	held := ev[len(ev)-2]
	require.Equal(t, trace.KindHeld, held.Kind)
	require.Equal(t, "held by an operator", held.Reply)
	require.Equal(t, "tempfail-99@remote.test", ev[len(ev)-1].Recipient)
}

// With every body in the store (InlineBodyMax negative), the Message-ID
// is still read from the header on its way there.
func TestTraceMessageIDOfStoredBody(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	sk := newSink(t)
	in, _ := startWithQueueParams(t, srv, sk, mailqueue.Params{InlineBodyMax: -1})
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	require.NoError(t, send(t, in.Addrs()[0], "alice", "alice@example.org", []string{"bob@remote.test", "carol@remote.test"}, tracedMsg("<m5@example.org>")))
	id := traceOf(t, js, "<m5@example.org>")
	delivered := map[string]bool{}
	require.Eventually(t, func() bool {
		ev, err := trace.Read(context.Background(), js, 16, id)
		require.NoError(t, err)
		require.Equal(t, []string{"bob@remote.test", "carol@remote.test"}, ev[0].Recipients)
		for _, e := range ev {
			if e.Kind == trace.KindDelivered {
				delivered[e.Recipient] = true
			}
		}
		return len(delivered) == 2
	}, 15*time.Second, 50*time.Millisecond)
}
