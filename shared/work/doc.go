// Package work moves a role's work items through JetStream to the nodes that
// hold the role, shard by shard.
//
// # Streams, partitions, consumers
//
// Each role has a WorkQueue stream, jetmail-work-<role> (subjects
// jetmail.work.<role>.>). An item is published to
// jetmail.work.<role>.p.<partition>, where partition = FNV-32a(shard key) mod
// cluster.partitions (package shard). Partition p belongs to shard p mod S of
// the role's S shards. Each shard has one durable pull consumer,
// <role>-shard<i>-e<epoch>, whose FilterSubjects are its partitions; the
// nodes of the shard share it. JetStream refuses overlapping filters on a
// WorkQueue stream, so no partition is ever worked by two shards.
//
// Each stream also holds one anchor message (jetmail.work.<role>.anchor)
// that no consumer reads, so that the stream's first message is never a
// consumer's next: the server then finds the next item where the consumer
// left off instead of searching every subject of the stream, which with
// one subject per inline task costs as much as the backlog is long.
//
// # Per-node concurrency and leases
//
// A Worker runs a pool of Concurrency slots per node and asks the server
// only for as many messages as it has free slots (Fetch(free)), so
// nothing waits in a local buffer with its ack timer running. A slot is
// taken when it is asked for and freed when its handler ends (or when the
// fetch ends without bringing it). Up to two fetches are open at once, the
// next asked for while the items of the last are worked, so that the
// server is not left without a request while the node finishes a batch.
// While a handler runs, the worker sends InProgress every AckWait/4: the
// message stays leased however long the work takes, and if the node dies
// the lease lapses after AckWait and another node of the shard gets the
// item.
//
// Acknowledgements are sent one per item without waiting (msg.Ack): a
// WorkQueue stream requires explicit acks, so one ack cannot cover several
// items (AckAll is refused), and Flush makes sure they reached the server
// before a drain is reported.
//
// # Outcomes
//
//	handler returns nil            -> Ack: the item leaves the stream
//	handler returns Permanent(err) -> Term: the item leaves the stream, logged
//	handler returns another error  -> Nak with a delay growing with attempts
//	handler panics                 -> as another error
//	node dies mid-item             -> redelivered after AckWait
//
// # Re-sharding
//
// A layout (package cluster) records the shard count the consumers were
// built for, with the epoch (role map revision) in their names. Moving nodes
// between shards needs no new layout: nodes simply start or stop consuming.
// Changing the number of shards moves partitions, done by the leader so
// that no pending item is lost or worked twice:
//
//  1. `roles set` stores a role map whose shard count differs from the layout.
//  2. Every node running a Worker for the role stops fetching, waits for its
//     in-flight items to finish and their acks to reach the server (Flush),
//     then writes drained.<role>.<node> = revision.
//  3. The leader waits until every live node that consumes the role has
//     drained (or DrainTimeout passes: a node stuck in a long item may then
//     see it run again elsewhere), deletes the role's consumers, creates one
//     per new shard, named with the new epoch, and stores the layout.
//  4. Nodes see the layout, which now fits, and consume their new shards.
//
// Unacked items stay in the WorkQueue stream throughout, and a new consumer
// starts from the first one, so nothing is lost. A node that dies during the
// drain drops out of membership and is not waited for.
package work
