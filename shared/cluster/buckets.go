package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The KV buckets of the cluster state.
const (
	BucketNodes  = "jetmail-nodes"
	BucketRoles  = "jetmail-roles"
	BucketShards = "jetmail-shards"
	BucketLeases = "jetmail-leases"
)

// Buckets are handles to the cluster's KV buckets.
type Buckets struct {
	Nodes, Roles, Shards, Leases jetstream.KeyValue
}

// EnsureBuckets creates or updates the cluster's buckets. nodeTimeout is the
// TTL of membership and lease keys.
func EnsureBuckets(ctx context.Context, js jetstream.JetStream, replicas int, nodeTimeout time.Duration) (*Buckets, error) {
	mk := func(name, desc string, ttl time.Duration) (jetstream.KeyValue, error) {
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      name,
			Description: desc,
			History:     1,
			TTL:         ttl,
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
		})
		if err != nil {
			return nil, fmt.Errorf("create KV bucket %s: %w", name, err)
		}
		return kv, nil
	}
	var b Buckets
	var err error
	if b.Nodes, err = mk(BucketNodes, "jetmail cluster membership: one key per live node, renewed by heartbeat", nodeTimeout); err != nil {
		return nil, err
	}
	if b.Roles, err = mk(BucketRoles, "jetmail role maps: role -> shards -> nodes (cluster.roles.*)", 0); err != nil {
		return nil, err
	}
	if b.Shards, err = mk(BucketShards, "jetmail shard layouts per role and node drain acknowledgements", 0); err != nil {
		return nil, err
	}
	if b.Leases, err = mk(BucketLeases, "jetmail leases: cluster leader and other single-holder duties", nodeTimeout); err != nil {
		return nil, err
	}
	return &b, nil
}

// OpenBuckets opens existing buckets, for admin commands that must not
// create state.
func OpenBuckets(ctx context.Context, js jetstream.JetStream) (*Buckets, error) {
	var b Buckets
	for name, dst := range map[string]*jetstream.KeyValue{BucketNodes: &b.Nodes, BucketRoles: &b.Roles, BucketShards: &b.Shards, BucketLeases: &b.Leases} {
		kv, err := js.KeyValue(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("open KV bucket %s (has a jetmail node run against this NATS server?): %w", name, err)
		}
		*dst = kv
	}
	return &b, nil
}
