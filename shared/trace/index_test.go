package trace_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/trace"
)

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

// message is a trace: received at t0+minutes, then delivered to each
// recipient but the last, which bounces.
func message(id, sender, msgID string, minutes int, rcpts ...string) trace.Trace {
	at := t0.Add(time.Duration(minutes) * time.Minute)
	tr := trace.Trace{ID: id, Events: []trace.Event{{TraceID: id, Kind: trace.KindReceived, At: at, Sender: sender, Recipients: rcpts, MessageID: msgID}}}
	for i, r := range rcpts {
		e := trace.Event{TraceID: id, Kind: trace.KindDelivered, At: at.Add(time.Duration(i+1) * time.Second), Sender: sender, Recipient: r, Reply: "250 2.0.0 ok", RemoteHost: "mx.test"}
		if i == len(rcpts)-1 && len(rcpts) > 1 {
			e.Kind, e.Reply = trace.KindBounced, "550 5.1.1 no such user"
		}
		tr.Events = append(tr.Events, e)
	}
	return tr
}

func openIndex(t *testing.T) (*trace.Index, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "traces")
	ix, err := trace.Open(dir, trace.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ix.Close() })
	return ix, dir
}

func ids(ss []trace.Summary) []string {
	out := []string{}
	for _, s := range ss {
		out = append(out, s.TraceID)
	}
	return out
}

func TestIndexSearch(t *testing.T) {
	t.Parallel()
	ix, _ := openIndex(t)
	c := context.Background()
	require.NoError(t, ix.Apply(c, []trace.Trace{
		message("A", "Alice@Example.org", "<a1@example.org>", 0, "bob@remote.test", "carol@other.test"),
		message("B", "alice@example.org", "<b1@example.org>", 10, "Dave@Remote.Test"),
		message("C", "", "<dsn-1@mx.example.org>", 20, "alice@example.org"), // a bounce: null sender
		message("D", "eve@sub.example.org", "", 30, "bob@remote.test"),
	}))

	cases := []struct {
		name string
		q    trace.Query
		want []string
	}{
		{"everything, newest first", trace.Query{}, []string{"D", "C", "B", "A"}},
		{"sender, any case", trace.Query{Sender: "ALICE@example.ORG"}, []string{"B", "A"}},
		{"sender in angle brackets", trace.Query{Sender: "<alice@example.org>"}, []string{"B", "A"}},
		{"sender domain with @", trace.Query{Sender: "@example.org"}, []string{"B", "A"}},
		{"sender domain without @", trace.Query{Sender: "Example.org"}, []string{"B", "A"}},
		{"a subdomain is another domain", trace.Query{Sender: "sub.example.org"}, []string{"D"}},
		{"null sender", trace.Query{Sender: "<>"}, []string{"C"}},
		{"recipient", trace.Query{Rcpt: "bob@remote.test"}, []string{"D", "A"}},
		{"recipient, any case", trace.Query{Rcpt: "dave@remote.test"}, []string{"B"}},
		{"recipient domain", trace.Query{Rcpt: "remote.test"}, []string{"D", "B", "A"}},
		{"recipient domain with @", trace.Query{Rcpt: "@REMOTE.test"}, []string{"D", "B", "A"}},
		{"the second recipient", trace.Query{Rcpt: "carol@other.test"}, []string{"A"}},
		{"message-id with brackets", trace.Query{MessageID: "<a1@example.org>"}, []string{"A"}},
		{"message-id without", trace.Query{MessageID: "a1@example.org"}, []string{"A"}},
		{"message-id is exact", trace.Query{MessageID: "A1@example.org"}, []string{}},
		{"sender and recipient", trace.Query{Sender: "alice@example.org", Rcpt: "carol@other.test"}, []string{"A"}},
		{"no match", trace.Query{Rcpt: "nobody@remote.test"}, []string{}},
		{"after, inclusive", trace.Query{After: t0.Add(10 * time.Minute)}, []string{"D", "C", "B"}},
		{"before, exclusive", trace.Query{Before: t0.Add(10 * time.Minute)}, []string{"A"}},
		{"between", trace.Query{After: t0.Add(5 * time.Minute), Before: t0.Add(25 * time.Minute)}, []string{"C", "B"}},
		{"limit", trace.Query{Limit: 2}, []string{"D", "C"}},
	}
	for _, tc := range cases {
		got, err := ix.Search(c, tc.q)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, ids(got), tc.name)
	}

	got, err := ix.Search(c, trace.Query{MessageID: "a1@example.org"})
	require.NoError(t, err)
	require.Equal(t, trace.Summary{TraceID: "A", MessageID: "<a1@example.org>", Sender: "Alice@Example.org",
		Recipients: []string{"bob@remote.test", "carol@other.test"}, Received: t0,
		LastKind: trace.KindBounced, LastAt: t0.Add(2 * time.Second), LastReply: "550 5.1.1 no such user"}, got[0])
	got, err = ix.Search(c, trace.Query{Sender: "<>"})
	require.NoError(t, err)
	require.Equal(t, "", got[0].Sender)

	_, err = ix.Search(c, trace.Query{Limit: -1})
	require.Error(t, err)
}

// Apply replaces a trace's document: applying it again, with more events,
// updates it; a trace with no events, or Delete, removes it; the index
// outlives Close.
func TestIndexApplyReplacesAndPersists(t *testing.T) {
	t.Parallel()
	ix, dir := openIndex(t)
	c := context.Background()
	tr := message("A", "alice@example.org", "<a@x>", 0, "bob@remote.test")
	tr.Events = tr.Events[:1] // received only
	require.NoError(t, ix.Apply(c, []trace.Trace{tr, message("B", "alice@example.org", "", 1, "carol@remote.test")}))
	require.NoError(t, ix.Apply(c, []trace.Trace{tr}))
	n, err := ix.Count()
	require.NoError(t, err)
	require.EqualValues(t, 2, n, "applying a trace twice keeps one document")

	got, err := ix.Search(c, trace.Query{MessageID: "<a@x>"})
	require.NoError(t, err)
	require.Equal(t, trace.KindReceived, got[0].LastKind)
	tr.Events = append(tr.Events,
		trace.Event{TraceID: "A", Kind: trace.KindAttempt, At: t0.Add(time.Second), Recipient: "bob@remote.test", Reply: "451 4.7.1 later"},
		trace.Event{TraceID: "A", Kind: trace.KindDeferred, At: t0.Add(time.Second), Recipient: "bob@remote.test", Due: t0.Add(time.Hour)},
		// A DSN recorded with no reply: the last reply stays the attempt's.
		trace.Event{TraceID: "A", Kind: trace.KindDSNSent, At: t0.Add(2 * time.Second)},
	)
	require.NoError(t, ix.Apply(c, []trace.Trace{tr}))
	got, err = ix.Search(c, trace.Query{MessageID: "<a@x>"})
	require.NoError(t, err)
	require.Equal(t, trace.KindDSNSent, got[0].LastKind)
	require.Equal(t, "451 4.7.1 later", got[0].LastReply)

	require.NoError(t, ix.Apply(c, []trace.Trace{{ID: "A"}}))
	require.NoError(t, ix.Close())

	ix, err = trace.Open(dir, trace.Options{})
	require.NoError(t, err)
	defer ix.Close()
	got, err = ix.Search(c, trace.Query{})
	require.NoError(t, err)
	require.Equal(t, []string{"B"}, ids(got), "a trace without events is removed; the rest persists")
	require.NoError(t, ix.Delete(c, []string{"B", "never-indexed"}))
	n, err = ix.Count()
	require.NoError(t, err)
	require.Zero(t, n)

	require.ErrorContains(t, ix.Apply(c, []trace.Trace{{ID: ""}}), "empty trace id")
	require.ErrorContains(t, ix.Delete(c, []string{"a\x00b"}), "NUL")
}

// Events out of order (two nodes' clocks) and a trace whose received
// event is gone still summarize sensibly.
func TestIndexSummaryWithoutReceived(t *testing.T) {
	t.Parallel()
	ix, _ := openIndex(t)
	c := context.Background()
	require.NoError(t, ix.Apply(c, []trace.Trace{{ID: "X", Events: []trace.Event{
		{TraceID: "X", Kind: trace.KindDelivered, At: t0.Add(5 * time.Second), Sender: "a@b.test", Recipient: "c@d.test", Reply: "250 ok"},
		{TraceID: "X", Kind: trace.KindAttempt, At: t0.Add(4 * time.Second), Sender: "a@b.test", Recipient: "c@d.test", Reply: "250 attempt"},
	}}}))
	got, err := ix.Search(c, trace.Query{Rcpt: "c@d.test"})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, t0.Add(4*time.Second), got[0].Received, "the earliest event stands for the received one")
	require.Equal(t, trace.KindDelivered, got[0].LastKind)
	require.Equal(t, "250 ok", got[0].LastReply)
	require.Equal(t, "a@b.test", got[0].Sender)
}

// Odd input: 10,000 recipients on one message, a reply of a megabyte, an
// address and a Message-ID far longer than any real one.
func TestIndexOddInput(t *testing.T) {
	t.Parallel()
	ix, _ := openIndex(t)
	c := context.Background()
	rcpts := make([]string, 10000)
	for i := range rcpts {
		rcpts[i] = fmt.Sprintf("user%05d@dom%d.test", i, i%100)
	}
	big := message("many", "list@example.org", "<list-1@example.org>", 0, rcpts...)
	long := message("long", strings.Repeat("l", 5000)+"@example.org", "<"+strings.Repeat("m", 5000)+"@x>", 1, "bob@remote.test")
	long.Events[1].Reply = "550 " + strings.Repeat("very long reply ", 65536)
	require.NoError(t, ix.Apply(c, []trace.Trace{big, long}))

	got, err := ix.Search(c, trace.Query{Rcpt: "user09999@dom99.test"})
	require.NoError(t, err)
	require.Equal(t, []string{"many"}, ids(got))
	require.Len(t, got[0].Recipients, 10000)
	got, err = ix.Search(c, trace.Query{Rcpt: "dom42.test"})
	require.NoError(t, err)
	require.Equal(t, []string{"many"}, ids(got))

	got, err = ix.Search(c, trace.Query{Sender: strings.Repeat("L", 5000) + "@example.org"})
	require.NoError(t, err)
	require.Equal(t, []string{"long"}, ids(got))
	require.Len(t, got[0].LastReply, len(long.Events[1].Reply))
	got, err = ix.Search(c, trace.Query{MessageID: strings.Repeat("m", 5000) + "@x"})
	require.NoError(t, err)
	require.Equal(t, []string{"long"}, ids(got))
}

// Open refuses a directory that holds something other than an index.
func TestIndexOpenRefusesForeignDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o600))
	_, err := trace.Open(dir, trace.Options{})
	require.ErrorContains(t, err, "not empty")
}

// A trace folded in pieces, in any order and some of them twice, ends as
// the trace applied whole; the checkpoint of the last fold is kept.
func TestIndexFoldInPieces(t *testing.T) {
	t.Parallel()
	whole, _ := openIndex(t)
	folded, dir := openIndex(t)
	c := context.Background()
	tr := message("A", "alice@example.org", "<a@x>", 0, "bob@remote.test", "carol@other.test", "dave@remote.test")
	tr.Events = append(tr.Events, trace.Event{TraceID: "A", Kind: trace.KindDSNSent, At: t0.Add(time.Minute), Sender: "alice@example.org"})
	require.NoError(t, whole.Apply(c, []trace.Trace{tr}))

	ev := tr.Events
	pieces := [][]trace.Event{{ev[3], ev[2]}, {ev[4]}, {ev[0], ev[2]}, {ev[1], ev[4]}}
	for i, p := range pieces {
		require.NoError(t, folded.Fold(c, []trace.Trace{{ID: "A", Events: p}}, fmt.Appendf(nil, "%d", i+1)))
	}
	want, err := whole.Search(c, trace.Query{})
	require.NoError(t, err)
	got, err := folded.Search(c, trace.Query{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.ElementsMatch(t, want[0].Recipients, got[0].Recipients)
	want[0].Recipients, got[0].Recipients = nil, nil
	require.Equal(t, want[0], got[0])
	require.Equal(t, "alice@example.org", got[0].Sender)
	require.Equal(t, t0, got[0].Received, "from the received event, though it came third")
	require.Equal(t, trace.KindDSNSent, got[0].LastKind)
	require.Equal(t, "550 5.1.1 no such user", got[0].LastReply)
	for _, q := range []trace.Query{{Rcpt: "carol@other.test"}, {Sender: "example.org"}, {MessageID: "a@x"}} {
		found, err := folded.Search(c, q)
		require.NoError(t, err)
		require.Equal(t, []string{"A"}, ids(found), "%+v", q)
	}

	// Two pieces of one trace in one fold, beside another trace.
	require.NoError(t, folded.Fold(c, []trace.Trace{message("B", "x@y.test", "", 5, "z@y.test"), {ID: "A", Events: ev[:1]}, {ID: "A", Events: ev[4:]}}, nil))
	n, err := folded.Count()
	require.NoError(t, err)
	require.EqualValues(t, 2, n)

	cp, err := folded.Checkpoint()
	require.NoError(t, err)
	require.Equal(t, "4", string(cp), "a fold without a checkpoint leaves the last")
	require.NoError(t, folded.Close())
	folded, err = trace.Open(dir, trace.Options{UnsafeBatch: true})
	require.NoError(t, err)
	defer folded.Close()
	cp, err = folded.Checkpoint()
	require.NoError(t, err)
	require.Equal(t, "4", string(cp), "the checkpoint persists")
	got, err = folded.Search(c, trace.Query{MessageID: "a@x"})
	require.NoError(t, err)
	require.Equal(t, trace.KindDSNSent, got[0].LastKind)
}

// Prune removes the traces whose latest event is older than its bound,
// whenever they were received.
func TestIndexPrune(t *testing.T) {
	t.Parallel()
	ix, _ := openIndex(t)
	c := context.Background()
	old := message("old", "a@b.test", "", 0, "c@d.test")   // last event t0+1s
	late := message("late", "a@b.test", "", 0, "c@d.test") // received at t0, last event a day on
	late.Events[1].At = t0.Add(24 * time.Hour)
	recent := message("recent", "a@b.test", "", 60, "c@d.test")
	require.NoError(t, ix.Apply(c, []trace.Trace{old, late, recent}))
	n, err := ix.Prune(c, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	got, err := ix.Search(c, trace.Query{})
	require.NoError(t, err)
	require.Equal(t, []string{"recent", "late"}, ids(got))
	n, err = ix.Prune(c, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Zero(t, n)
}
