package trace_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/trace"
)

func stream(t *testing.T) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(jetmailtest.Conn(t, jetmailtest.Server(t)))
	require.NoError(t, err)
	return js
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// Events recorded are read back by trace, in order, with the node and
// time filled in; other traces' events stay apart, an unknown trace has
// none.
func TestRecordAndRead(t *testing.T) {
	t.Parallel()
	js, c := stream(t), ctx(t)
	require.NoError(t, trace.EnsureStream(c, js, time.Hour, 1))
	rec, err := trace.NewRecorder(js, 16, trace.RecorderOptions{Node: "n1"})
	require.NoError(t, err)

	at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	want := []trace.Event{
		{TraceID: "M1", Kind: trace.KindReceived, At: at, Sender: "alice@example.org", Recipients: []string{"bob@remote.test"}, MessageID: "<x@example.org>", Size: 120},
		{TraceID: "M1", Kind: trace.KindAttempt, At: at.Add(time.Second), Sender: "alice@example.org", Recipient: "bob@remote.test", Attempt: 1, RemoteHost: "mx.remote.test", Reply: "451 4.7.1 greylisted", Status: "4.7.1", Queue: "remote"},
		{TraceID: "M1", Kind: trace.KindDeferred, At: at.Add(2 * time.Second), Sender: "alice@example.org", Recipient: "bob@remote.test", Attempt: 1, Due: at.Add(time.Minute), Node: "n2"},
	}
	for _, e := range want {
		rec.Record(c, e)
	}
	rec.Record(c, trace.Event{TraceID: "M2", Kind: trace.KindReceived})
	require.NoError(t, rec.Flush(c))
	require.Zero(t, rec.Dropped())

	got, err := trace.Read(c, js, 16, "M1")
	require.NoError(t, err)
	want[0].Node, want[1].Node = "n1", "n1"
	require.Equal(t, want, got)

	got, err = trace.Read(c, js, 16, "M2")
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.WithinDuration(t, time.Now(), got[0].At, time.Minute, "At defaults to now")

	got, err = trace.Read(c, js, 16, "nobody")
	require.NoError(t, err)
	require.Empty(t, got)
	_, err = trace.Read(c, js, 16, "a.b")
	require.ErrorContains(t, err, "not a valid trace id")

	// Events live on their partition's subject.
	s, err := js.Stream(c, trace.Stream)
	require.NoError(t, err)
	m, err := s.GetLastMsgForSubject(c, trace.Subject("M1", 16))
	require.NoError(t, err)
	require.Contains(t, string(m.Data), `"kind":"deferred"`)
	require.Equal(t, fmt.Sprintf("jetmail.traces.%d.M1", trace.Partition("M1", 16)), m.Subject)
}

// The stream keeps events for the retention given, discards the oldest,
// and takes a new retention on the next EnsureStream.
func TestEnsureStream(t *testing.T) {
	t.Parallel()
	js, c := stream(t), ctx(t)
	require.NoError(t, trace.EnsureStream(c, js, 7*24*time.Hour, 1))
	s, err := js.Stream(c, trace.Stream)
	require.NoError(t, err)
	cfg := s.CachedInfo().Config
	require.Equal(t, 7*24*time.Hour, cfg.MaxAge)
	require.Equal(t, jetstream.DiscardOld, cfg.Discard)
	require.Equal(t, jetstream.LimitsPolicy, cfg.Retention)
	require.Equal(t, []string{"jetmail.traces.>"}, cfg.Subjects)

	require.NoError(t, trace.EnsureStream(c, js, time.Hour, 1))
	s, err = js.Stream(c, trace.Stream)
	require.NoError(t, err)
	require.Equal(t, time.Hour, s.CachedInfo().Config.MaxAge)
	require.ErrorContains(t, trace.EnsureStream(c, js, 0, 1), "retention must be positive")
}

// A nil Recorder is a no-op.
func TestNilRecorder(t *testing.T) {
	t.Parallel()
	var rec *trace.Recorder
	rec.Record(context.Background(), trace.Event{TraceID: "x", Kind: trace.KindReceived})
	require.NoError(t, rec.Flush(context.Background()))
	require.Zero(t, rec.Dropped())
}

// Events the stream cannot take are dropped and counted, and Record never
// waits for the stream: not when it is missing, not when the window is
// full.
func TestRecordDropsWithoutWaiting(t *testing.T) {
	t.Parallel()
	js, c := stream(t), ctx(t) // no stream: every publish goes unanswered
	reg := prometheus.NewRegistry()
	rec, err := trace.NewRecorder(js, 16, trace.RecorderOptions{Metrics: reg, MaxPending: 8})
	require.NoError(t, err)
	start := time.Now()
	for i := range 100 {
		rec.Record(c, trace.Event{TraceID: fmt.Sprintf("M%d", i), Kind: trace.KindReceived})
	}
	require.Less(t, time.Since(start), time.Second, "recording does not wait")
	require.GreaterOrEqual(t, rec.Dropped(), int64(92), "past the window, events are dropped at once")
	require.NoError(t, rec.Flush(c))
	require.EqualValues(t, 100, rec.Dropped(), "the ones in the window are dropped when the stream does not answer")
	require.EqualValues(t, 100, counter(t, reg, "jetmail_trace_events_dropped_total"))
	rec.Record(c, trace.Event{TraceID: "bad.id", Kind: trace.KindReceived})
	require.EqualValues(t, 101, rec.Dropped(), "an id that is not a subject token is dropped")

	// A second recorder on the same registry counts into the same metric.
	rec2, err := trace.NewRecorder(js, 16, trace.RecorderOptions{Metrics: reg})
	require.NoError(t, err)
	rec2.Record(c, trace.Event{TraceID: "x.y"})
	require.EqualValues(t, 102, counter(t, reg, "jetmail_trace_events_dropped_total"), "both count into one metric")
}

// A received event too large to publish (10,000 addresses of 1 KB, past
// the embedded server's 8 MiB max_payload) is split
// into several, which together list every recipient; a reply past
// MaxReply is cut.
func TestLargeEventsAreSplitOrCut(t *testing.T) {
	t.Parallel()
	js, c := stream(t), ctx(t)
	require.NoError(t, trace.EnsureStream(c, js, time.Hour, 1))
	rec, err := trace.NewRecorder(js, 16, trace.RecorderOptions{})
	require.NoError(t, err)
	rcpts := make([]string, 10000)
	for i := range rcpts {
		rcpts[i] = fmt.Sprintf("%s-%05d@example.org", strings.Repeat("r", 1000), i)
	}
	rec.Record(c, trace.Event{TraceID: "big", Kind: trace.KindReceived, Sender: "", Recipients: rcpts})
	rec.Record(c, trace.Event{TraceID: "big", Kind: trace.KindBounced, Recipient: rcpts[0], Reply: strings.Repeat("550 no ", 100000)})
	require.NoError(t, rec.Flush(c))
	require.Zero(t, rec.Dropped())

	got, err := trace.Read(c, js, 16, "big")
	require.NoError(t, err)
	require.Greater(t, len(got), 2, "10 MB of recipients take several events")
	var all []string
	for _, e := range got[:len(got)-1] {
		require.Equal(t, trace.KindReceived, e.Kind)
		all = append(all, e.Recipients...)
	}
	require.Equal(t, rcpts, all)
	last := got[len(got)-1]
	require.Equal(t, trace.KindBounced, last.Kind)
	require.Len(t, last.Reply, trace.MaxReply)
	require.True(t, strings.HasSuffix(last.Reply, "..."))
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// Events of one trace recorded within Linger take one message of the
// stream; later ones another. Read gives them all, in order, and reads a
// message holding one event as an object too.
func TestLingeringEventsShareAMessage(t *testing.T) {
	t.Parallel()
	js, c := stream(t), ctx(t)
	require.NoError(t, trace.EnsureStream(c, js, time.Hour, 1))
	rec, err := trace.NewRecorder(js, 16, trace.RecorderOptions{Linger: 50 * time.Millisecond})
	require.NoError(t, err)
	for _, k := range []trace.Kind{trace.KindReceived, trace.KindAttempt, trace.KindDelivered} {
		rec.Record(c, trace.Event{TraceID: "L", Kind: k})
	}
	rec.Record(c, trace.Event{TraceID: "other", Kind: trace.KindReceived})
	s, err := js.Stream(c, trace.Stream)
	require.NoError(t, err)
	msgs := func() uint64 {
		info, err := s.Info(c, jetstream.WithSubjectFilter(trace.Subject("L", 16)))
		require.NoError(t, err)
		return info.State.Subjects[trace.Subject("L", 16)]
	}
	require.Eventually(t, func() bool { return msgs() == 1 }, 5*time.Second, 10*time.Millisecond, "published after Linger without a Flush")
	rec.Record(c, trace.Event{TraceID: "L", Kind: trace.KindDSNSent})
	require.NoError(t, rec.Flush(c))
	require.EqualValues(t, 2, msgs())

	_, err = js.Publish(c, trace.Subject("L", 16), []byte(`{"traceId":"L","kind":"held","at":"`+time.Now().UTC().Add(time.Second).Format(time.RFC3339Nano)+`"}`))
	require.NoError(t, err)
	_, err = js.Publish(c, trace.Subject("L", 16), []byte(`not an event`))
	require.NoError(t, err)
	got, err := trace.Read(c, js, 16, "L")
	require.NoError(t, err)
	var kinds []trace.Kind
	for _, e := range got {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []trace.Kind{trace.KindReceived, trace.KindAttempt, trace.KindDelivered, trace.KindDSNSent, trace.KindHeld}, kinds)
}
