package work

import (
	"time"

	"github.com/jetmail/jetmail/shared/shard"
)

// Params are the settings shared by a cluster's workers, publisher and
// coordinator. Zero fields take the defaults noted.
type Params struct {
	// Partitions is cluster.partitions. Default shard.DefaultPartitions (16).
	Partitions int
	// Replicas of streams and consumers. Default 1.
	Replicas int
	// AckWait is how long an item stays leased without a heartbeat before it
	// goes to another node. Default 8s.
	AckWait time.Duration
	// DrainTimeout bounds how long re-sharding waits for nodes to finish
	// their in-flight items. Default 30s.
	DrainTimeout time.Duration
	// PollWait is how long one fetch waits for items. Default 1s.
	PollWait time.Duration
}

// WithDefaults returns p with its zero fields set to their defaults.
func (p Params) WithDefaults() Params { return p.withDefaults() }

func (p Params) withDefaults() Params {
	if p.Partitions == 0 {
		p.Partitions = shard.DefaultPartitions
	}
	if p.Replicas == 0 {
		p.Replicas = 1
	}
	if p.AckWait == 0 {
		p.AckWait = 8 * time.Second
	}
	if p.DrainTimeout == 0 {
		p.DrainTimeout = 30 * time.Second
	}
	if p.PollWait == 0 {
		p.PollWait = time.Second
	}
	return p
}
