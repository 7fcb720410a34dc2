// Package shard spreads a role's work over a fixed number of partitions and
// assigns partitions to shards.
//
// A work item's partition is FNV-32a of its shard key modulo the partition
// count: the same function as JetStream's {{partition(n, ...)}} subject
// transform, so a client and the server agree on where a key lives.
// Partition p belongs to shard p mod S (S = number of shards), so every
// partition has exactly one owner for any S.
package shard

import "hash/fnv"

// DefaultPartitions is the partition count of every role unless
// cluster.partitions says otherwise. It bounds how many shards a role can use.
const DefaultPartitions = 16

// Partition returns the partition of key among n partitions.
func Partition(key string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// Owner returns the index of the shard that owns partition p when a role has
// the given number of shards.
func Owner(p, shards int) int { return p % shards }

// Assign returns, for each of the shards, the partitions it owns.
func Assign(partitions, shards int) [][]int {
	out := make([][]int, shards)
	for p := 0; p < partitions; p++ {
		s := Owner(p, shards)
		out[s] = append(out[s], p)
	}
	return out
}
