// Package kvwatch follows a JetStream KV bucket: it applies every entry to
// a caller's state as it changes, and says when the values that existed at
// the start have been applied (Follow); and it lists a bucket's current
// values without missing a key rewritten meanwhile (Scan).
package kvwatch

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// Follow watches the keys of kv matching pattern ("" for all), calling apply
// for each entry (puts, deletes and purges alike) until bgCtx ends. It
// returns once the initial values are applied, or ctx ends first. wg counts
// the watching goroutine.
func Follow(ctx, bgCtx context.Context, kv jetstream.KeyValue, pattern string, wg *sync.WaitGroup, apply func(jetstream.KeyValueEntry)) error {
	var w jetstream.KeyWatcher
	var err error
	if pattern == "" {
		w, err = kv.WatchAll(bgCtx)
	} else {
		w, err = kv.Watch(bgCtx, pattern)
	}
	if err != nil {
		return fmt.Errorf("watch %s: %w", kv.Bucket(), err)
	}
	ready := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() { _ = w.Stop() }()
		loaded := sync.OnceFunc(func() { close(ready) })
		for {
			select {
			case <-bgCtx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					loaded()
					continue
				}
				apply(e)
			}
		}
	}()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
