package trace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// readInactive is how long an abandoned Read's consumer outlives it on
// the server.
const readInactive = 30 * time.Second

// Read returns every event of trace id still in the stream, in the order
// the stream stored them; none (and no error) when the trace is unknown
// or past retention. partitions is cluster.partitions, as the events were
// recorded with. It costs three round trips, whatever the number of
// events: an ephemeral consumer filtered on the trace's subject is
// created (its info says how many events match), fetched and deleted.
func Read(ctx context.Context, js jetstream.JetStream, partitions int, id string) ([]Event, error) {
	if !validID(id) {
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
			var e Event
			if err := json.Unmarshal(m.Data(), &e); err != nil {
				continue // not an event: skipped, as a reader of a newer format would
			}
			out = append(out, e)
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
	return out, nil
}
