package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// The store's buckets are read from their stream's leader, never from a
// follower: JetStream's direct gets (AllowDirect, which nats.go turns on
// for every KV bucket and object store) may be answered by any replica,
// and a replica that has not yet applied a write answers with what was
// there before. The store reads what it has just written (an account
// right after creating it, a document a change names), so a stale read
// would be a wrong answer: an email indexed as gone, a mailbox missing.
// Leader reads cost a hop to the leader's server; they are exact.

// ConsistentKV opens (creating if needed) a KV bucket whose reads go to
// its stream's leader: the way to open any bucket whose writer reads its
// own writes back (the store's, the push subscriptions').
func ConsistentKV(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	stream := "KV_" + cfg.Bucket
	if _, err := js.Stream(ctx, stream); errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := js.CreateKeyValue(ctx, cfg); err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
			return nil, fmt.Errorf("create KV bucket %s: %w", cfg.Bucket, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("open KV bucket %s: %w", cfg.Bucket, err)
	}
	if err := leaderReads(ctx, js, stream); err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("open KV bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// consistentObjectStore is ConsistentKV for an object store.
func consistentObjectStore(ctx context.Context, js jetstream.JetStream, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	stream := "OBJ_" + cfg.Bucket
	if _, err := js.Stream(ctx, stream); errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := js.CreateObjectStore(ctx, cfg); err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
			return nil, fmt.Errorf("create object store %s: %w", cfg.Bucket, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("open object store %s: %w", cfg.Bucket, err)
	}
	if err := leaderReads(ctx, js, stream); err != nil {
		return nil, err
	}
	obs, err := js.ObjectStore(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("open object store %s: %w", cfg.Bucket, err)
	}
	return obs, nil
}

// leaderReads turns direct gets off on the stream, if they are on.
func leaderReads(ctx context.Context, js jetstream.JetStream, stream string) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("open stream %s: %w", stream, err)
	}
	cfg := s.CachedInfo().Config
	if !cfg.AllowDirect {
		return nil
	}
	cfg.AllowDirect = false
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("stream %s: read from the leader only: %w", stream, err)
	}
	return nil
}
