// Package kvttl is a JetStream KV bucket whose entries expire on their
// own: every write carries a time to live (per-message TTL, nats-server
// 2.11 and later), so that state worth keeping only for a while (rate
// counters, greylist triplets, the duplicate-ID list of local delivery)
// costs nothing once it is stale, with no sweeper to run.
//
// nats.go's KV takes a TTL on Create only: an Update's revision would
// live for ever. Write publishes the new revision itself, with the same
// compare-and-set header Update sends and a TTL, so an entry lives its
// TTL past its last write. Writers that race on a key get ErrConflict,
// read again and retry: that is what makes a counter correct under
// concurrent increments from several nodes.
//
// The server expires entries by its own clock. The packages built on
// this keep the times that matter in their values and judge them by
// their injected clock; the TTL only collects the garbage.
package kvttl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrConflict is a Write that lost a race: the entry is not at the
// revision it was read at. Read it again and retry.
var ErrConflict = errors.New("the entry changed since it was read")

// MinTTL is the shortest TTL the server takes; shorter ones are raised
// to it.
const MinTTL = time.Second

// markerTTL is how long the server keeps the marker it leaves when an
// entry expires (watchers see a delete). Nothing here watches: the least.
const markerTTL = time.Second

// Bucket is a KV bucket of entries with TTLs.
type Bucket struct {
	name string
	js   jetstream.JetStream
	kv   jetstream.KeyValue
}

// Open creates or updates the bucket name (with description) and opens
// it.
func Open(ctx context.Context, js jetstream.JetStream, name, description string, replicas int) (*Bucket, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: name, Description: description, History: 1, Storage: jetstream.FileStorage,
		Replicas: max(replicas, 1), LimitMarkerTTL: markerTTL, // LimitMarkerTTL is what allows per-message TTLs
	})
	if err != nil {
		return nil, fmt.Errorf("create KV bucket %s: %w", name, err)
	}
	return &Bucket{name: name, js: js, kv: kv}, nil
}

// Name is the bucket's name.
func (b *Bucket) Name() string { return b.name }

// Get returns the value of key and its revision; an absent (or expired)
// key gives nil and revision 0, with no error.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	e, err := b.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, 0, nil
	case err != nil:
		return nil, 0, fmt.Errorf("read %s in %s: %w", key, b.name, err)
	}
	return e.Value(), e.Revision(), nil
}

// Write sets key to value if it is still at revision rev (0: absent),
// to live ttl from now; it returns the new revision, or ErrConflict.
func (b *Bucket) Write(ctx context.Context, key string, value []byte, rev uint64, ttl time.Duration) (uint64, error) {
	ttl = max(ttl, MinTTL).Round(time.Second) // the server counts whole seconds
	var err error
	var next uint64
	if rev == 0 {
		// Create also takes a key whose last message is a delete marker.
		next, err = b.kv.Create(ctx, key, value, jetstream.KeyTTL(ttl))
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, fmt.Errorf("create %s in %s: %w", key, b.name, ErrConflict)
		}
	} else {
		var ack *jetstream.PubAck
		ack, err = b.js.PublishMsg(ctx, &nats.Msg{Subject: "$KV." + b.name + "." + key, Data: value},
			jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgTTL(ttl))
		if wrongRevision(err) {
			return 0, fmt.Errorf("update %s in %s: %w", key, b.name, ErrConflict)
		}
		if ack != nil {
			next = ack.Sequence
		}
	}
	if err != nil {
		return 0, fmt.Errorf("write %s in %s: %w", key, b.name, err)
	}
	return next, nil
}

// Delete removes key if it is still at revision rev; a key changed or
// gone meanwhile is left as it is, with no error.
func (b *Bucket) Delete(ctx context.Context, key string, rev uint64) error {
	err := b.kv.Delete(ctx, key, jetstream.LastRevision(rev))
	if err != nil && !wrongRevision(err) {
		return fmt.Errorf("delete %s in %s: %w", key, b.name, err)
	}
	return nil
}

// wrongRevision reports the server's compare-and-set refusal, as a
// single server (10071) and a replicated stream (10164) word it.
func wrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Clear removes every entry of bucket name, if it exists, and returns
// how many keys it held (a write racing with it may be counted or not).
// A bucket that does not exist holds nothing: 0, no error.
func Clear(ctx context.Context, js jetstream.JetStream, name string) (int, error) {
	s, err := js.Stream(ctx, "KV_"+name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("open KV bucket %s: %w", name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("read KV bucket %s: %w", name, err)
	}
	if err := s.Purge(ctx); err != nil {
		return 0, fmt.Errorf("empty KV bucket %s: %w", name, err)
	}
	return int(info.State.NumSubjects), nil
}
