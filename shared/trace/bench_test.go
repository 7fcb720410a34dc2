package trace_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/trace"
)

// BenchmarkRecord is the cost of recording an event on the caller's path
// (ns-on-path/op: appending it to the lingering events), and of
// publishing and storing it (ns/op, until the stream acknowledged it),
// in rounds of 3,000 events (1,000 traces of three events, as messages
// delivered at once have) each flushed before the next: the recorder's
// steady state, its buffer reused.
func BenchmarkRecord(b *testing.B) {
	js, err := jetstream.New(jetmailtest.Conn(b, jetmailtest.Server(b)))
	require.NoError(b, err)
	ctx := context.Background()
	require.NoError(b, trace.EnsureStream(ctx, js, time.Hour, 1))
	rec, err := trace.NewRecorder(js, 16, trace.RecorderOptions{Node: "1", Linger: time.Hour})
	require.NoError(b, err)
	const round = 3000
	ids := make([]string, b.N/3+1)
	for i := range ids {
		ids[i] = fmt.Sprintf("M%020d", i)
	}
	e := trace.Event{Kind: trace.KindDelivered, Sender: "alice@example.org", Recipient: "bob@remote.test", Size: 1024,
		Queue: "remote", Attempt: 1, RemoteHost: "mx.remote.test", Reply: "250 2.0.0 ok queued as 4Zx", Status: "2.0.0"}
	b.ReportAllocs()
	b.ResetTimer()
	var onPath time.Duration
	for i := 0; i < b.N; {
		start := time.Now()
		for n := 0; n < round && i < b.N; n, i = n+1, i+1 {
			e.TraceID = ids[i/3]
			rec.Record(ctx, e)
		}
		onPath += time.Since(start)
		require.NoError(b, rec.Flush(ctx))
	}
	b.StopTimer()
	b.ReportMetric(float64(onPath.Nanoseconds())/float64(b.N), "ns-on-path/op")
	require.Zero(b, rec.Dropped())
}
