package kvwatch

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Scan calls fn, streaming, for the current value of every key of kv
// matching one of filters (subject filters below the bucket, such as
// "account.>"); deleted keys are left out. It reads on until the server
// has no more to send (the last entry it got had none pending), not until
// it has as many entries as there were when it began: a key rewritten
// meanwhile is sent again at its new place in the stream, and a listing
// that stopped at the count would miss it. It stops at fn's first error.
func Scan(ctx context.Context, kv jetstream.KeyValue, filters []string, fn func(jetstream.KeyValueEntry) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	what := strings.Join(filters, ", ")
	w, err := kv.WatchFiltered(ctx, filters)
	if err != nil {
		return fmt.Errorf("scan %s: %w", what, err)
	}
	defer func() { _ = w.Stop() }()
	got := 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("scan " + what + ": the watch ended early")
			}
			if e == nil {
				if got == 0 {
					return nil // nothing there when it began
				}
				continue
			}
			got++
			if e.Operation() == jetstream.KeyValuePut {
				if err := fn(e); err != nil {
					return fmt.Errorf("scan %s: %s: %w", what, e.Key(), err)
				}
			}
			if e.Delta() == 0 {
				return nil
			}
		}
	}
}
