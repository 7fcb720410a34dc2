package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/roles"
)

// Layout is the partition layout a role's consumers were built for.
type Layout struct {
	Role roles.Role `json:"role"`
	// Epoch is the revision of the role map the layout was built from; it
	// is part of the consumers' names.
	Epoch      uint64 `json:"epoch"`
	Shards     int    `json:"shards"`
	Partitions int    `json:"partitions"`
}

// Fits reports whether the layout serves the role map: the same number of
// shards. Moving nodes between shards needs no new layout.
func (l *Layout) Fits(m RoleMap) bool { return l != nil && l.Shards == len(m.Shards) }

func layoutKey(r roles.Role) string { return "layout." + r.Token() }

func drainKey(r roles.Role, node string) string { return "drained." + r.Token() + "." + node }

// GetLayout reads a role's layout; nil if it has none yet.
func GetLayout(ctx context.Context, b *Buckets, r roles.Role) (*Layout, error) {
	e, err := b.Shards.Get(ctx, layoutKey(r))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read layout of %s: %w", r, err)
	}
	var l Layout
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		return nil, fmt.Errorf("decode layout of %s: %w", r, err)
	}
	return &l, nil
}

// PutLayout stores a role's layout.
func PutLayout(ctx context.Context, b *Buckets, l Layout) error {
	data, _ := json.Marshal(l)
	if _, err := b.Shards.Put(ctx, layoutKey(l.Role), data); err != nil {
		return fmt.Errorf("store layout of %s: %w", l.Role, err)
	}
	return nil
}

// AckDrain records that node has no work of role r in flight and will take
// none until a layout fits role map revision rev.
func AckDrain(ctx context.Context, b *Buckets, r roles.Role, node string, rev uint64) error {
	if _, err := b.Shards.Put(ctx, drainKey(r, node), []byte(strconv.FormatUint(rev, 10))); err != nil {
		return fmt.Errorf("acknowledge drain of %s: %w", r, err)
	}
	return nil
}

// Drained reports whether node acknowledged a drain of r at revision rev or later.
func Drained(ctx context.Context, b *Buckets, r roles.Role, node string, rev uint64) (bool, error) {
	e, err := b.Shards.Get(ctx, drainKey(r, node))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	got, _ := strconv.ParseUint(string(e.Value()), 10, 64)
	return got >= rev, nil
}
