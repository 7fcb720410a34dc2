// Package indexer is the indexer service (`jetmail serve indexer`), the
// node side of role fts-indexing: it keeps a full-text index (package fts)
// of the accounts of each partition the node holds, and answers their
// searches; and the index of the message traces of those partitions.
//
// # From a change to the index
//
//	store write --change--> jetmail-changes (stream)
//	  --feed (one node: duty "fts-indexing feed", durable consumer
//	    fts-indexing-feed)--> IndexDocument / UnindexDocument tasks, one per
//	    document changed in the batch, created together (CreateMany)
//	  --trigger on the partition's subject--> a node of the shard that owns
//	    the partition (package work) runs the task: it reads the document from
//	    the store and builds its index entry (the blob parsed, HTML reduced to
//	    text), hands it to the partition's batcher, and returns once it is
//	    indexed
//	  --batcher: every entry waiting when the last batch ended, in one
//	    commit--> the holder's index (locally, or over NATS: package search)
//
// Both task variants make the index say what the store says now: the
// document is read and put, or deleted when it is gone. They are
// therefore idempotent and their order does not matter, as background
// work that runs at least once must be.
//
// # Who holds a partition
//
// Each partition p of the role's S shards is owned by shard p mod S
// (package work). Within the shard, its live nodes that run the indexer
// (membership, sorted by id) share the shard's partitions: p is held by
// node (p div S) mod n. Every node works this out each heartbeat interval
// and when the role map changes, so when a node dies (its membership
// lapses after cluster.node-timeout) or the shards change, its partitions
// pass to the others. During a re-shard's drain the holdings stay as they
// were, and searches go on.
//
// # Gaining a partition
//
// The holder subscribes to the partition's subjects at once, and its
// answers say partial until the index is built:
//
//  1. The index on local disk (storage.index-dir/p<n>) stores, with its
//     last batch, a checkpoint: the next change-log sequence to read. If the
//     change log still holds that sequence, the changes since are replayed.
//  2. Otherwise (a new or lost index, or one older than
//     store.changelog.retention) it is emptied and rebuilt from the
//     documents of the partition's accounts, and the changes logged since
//     the rebuild began are replayed.
//
// Replaying reads each changed document as it is now, so entries that
// tasks indexed meanwhile, in any order, end as the store says. Tasks are
// applied while the index is built.
//
// The checkpoint moves on with the tasks too, so that a restart replays
// only what the index may have missed: the feed remembers, per batch of
// changes read, the tasks it made, and every CheckpointInterval (default
// 30s) finds the last batch whose tasks, and all before it, are done (or
// failed for good, which a replay would do again). Each built partition
// index then stores the sequence after it, in a batch after the entries
// it covers, so never ahead of what its disk holds
// (jetmail_index_checkpoint). A partition still building ignores it: its
// replay is what makes it whole.
//
// StoreMaintenance reindexAccounts and reindexTelemetry (the maintenance
// service) take this path on purpose: the holder lets the partition go,
// removes its index (or trace index) directory and gains it again
// (jetmail.fts.rebuild.<p>).
//
// # Losing a partition
//
// The node unsubscribes and closes the index; it keeps it on disk, so
// that gaining it back replays from its checkpoint.
//
// # Message traces
//
// The holder of partition p also keeps the trace index of p
// (storage.index-dir/traces/p<n>, package trace): the message traces the
// queue records on jetmail.traces.<p>.<trace id>. It reads those subjects
// itself, with one ordered consumer from the index's checkpoint (the next
// stream sequence), and folds each batch of events into the traces'
// documents with the checkpoint, so that after a crash it goes on from
// what the disk holds; folding an event twice changes nothing. A trace per
// task would cost a task and a read of the trace per event, where the
// stream already has them in order per partition. Until the follower has
// read up to the partition's last message its answers say partial. Once
// an hour, and on gaining, the traces whose latest event is past
// queue.trace.retention (gone from the stream) are removed.
//
// A trace search (x:Trace/query, `jetmail trace search`) asks every
// partition's holder at once (package search) and merges the answers,
// the most recently received first; a partition no live node holds makes
// the answer partial, and none answering is serverUnavailable.
// x:Trace/get reads each trace whole from the stream. Task IndexTrace
// reads one trace whole and folds it in again, or removes it when the
// stream no longer has it: the repair of one trace, by the operator.
package indexer
