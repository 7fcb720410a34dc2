package trace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// readInactive is how long an abandoned Read's consumer outlives it on
// the server.
const readInactive = 30 * time.Second

// Read returns every event of trace id still in the stream, in the order
// they happened (by At; events of the same time in the order stored); none (and no error) when the trace is unknown
// or past retention. partitions is cluster.partitions, as the events were
// recorded with. It costs three round trips, whatever the number of
// events: an ephemeral consumer filtered on the trace's subject is
// created (its info says how many messages match), fetched and deleted.
func Read(ctx context.Context, js jetstream.JetStream, partitions int, id string) ([]Event, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("read trace %q: not a valid trace id", id)
	}
	cons, err := js.CreateConsumer(ctx, Stream, jetstream.ConsumerConfig{
		FilterSubject: Subject(id, partitions), DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true, Replicas: 1, InactiveThreshold: readInactive,
	})
	if err != nil {
		return nil, fmt.Errorf("read trace %s: %w", id, err)
	}
	info := cons.CachedInfo()
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = js.DeleteConsumer(dctx, Stream, info.Name) // else it goes after readInactive
	}()
	want := int(info.NumPending)
	out := make([]Event, 0, want)
	for read := 0; read < want; {
		wait := 5 * time.Second
		if d, ok := ctx.Deadline(); ok {
			wait = max(min(wait, time.Until(d)), time.Millisecond)
		}
		batch, err := cons.Fetch(want-read, jetstream.FetchMaxWait(wait))
		if err != nil {
			return nil, fmt.Errorf("read trace %s: %w", id, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			events, _ := Decode(m.Data()) // what is not events is skipped, as a reader of a newer format would
			out = append(out, events...)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("read trace %s: %w", id, err)
		}
		if n == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("read trace %s: %w", id, err)
			}
			break // expired meanwhile
		}
		read += n
	}
	// Events recorded on several nodes, or by several goroutines of one,
	// may reach the stream out of order by a few milliseconds.
	slices.SortStableFunc(out, func(a, b Event) int { return a.At.Compare(b.At) })
	return out, nil
}

// Decode reads the events of one message of the traces stream: a JSON
// array of events of its trace (or one event, as an object), for a
// reader that consumes the stream itself rather than Read.
func Decode(data []byte) ([]Event, error) {
	var events []Event
	err := json.Unmarshal(data, &events)
	if err == nil {
		return events, nil
	}
	var e Event
	if json.Unmarshal(data, &e) == nil && e.TraceID != "" {
		return []Event{e}, nil
	}
	return nil, fmt.Errorf("decode trace events: %w", err)
}
