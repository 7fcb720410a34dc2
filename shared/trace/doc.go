// Package trace records the life of each message the outbound queue
// accepts, and makes those records searchable: the operator's "where is
// my mail", which Postfix users answer with grep on their logs.
//
// # Events
//
// An Event is one thing that happened to a message or to one of its
// recipients. Its TraceID is the queue's message id (mailqueue: the
// Envelope's MessageID), so one trace is one accepted message, all its
// recipients together. The kinds are those the queue has:
//
//	received     the message was queued (Recipients lists them; a message
//	             with very many recipients has several received events,
//	             each listing some of them, so that none is too large to
//	             publish)
//	attempt      one delivery attempt of one recipient at one host: the
//	             host's name and its reply (package delivery records one
//	             per host tried, so an MX that timed out before the next
//	             one answered shows)
//	delivered    the recipient was delivered and left the queue
//	deferred     the attempt failed for now; Due is the next attempt
//	bounced      the recipient failed for good (5xx) and left the queue
//	expired      the recipient left the queue at its expire time or its
//	             max-attempts
//	dsn-sent     a delivery status notification about the message was
//	             queued to its sender (Reply names the DSN's own trace)
//	held         an operator held the recipient, or the queue did (its
//	             message body is gone)
//	released     an operator released it
//	rescheduled  an operator moved its next attempt (Due)
//	cancelled    an operator removed it from the queue
//
// Sender is "" for the null sender <> (a DSN's own trace); MessageID is
// the RFC 5322 Message-ID header, read from the message's header at
// enqueue when it has one.
//
// # Where events live
//
// Stream jetmail-traces (Stream), subjects
// jetmail.traces.<partition>.<trace id> (Subject), where partition =
// shard.Partition(trace id, cluster.partitions): the partitions of the
// cluster's roles, so that an indexer shard reads the traces of its
// partitions. A stream message holds one or more events of its trace, as
// a JSON array. The stream keeps events for queue.trace.retention
// (default 7d, 1h to 365d) and discards the oldest past that age; it has
// nats.replicas replicas. A trace is read whole with Read: the events of
// one subject, in the order of their At.
//
// # Durability
//
// Recording must never slow, block or fail a delivery. Record only
// appends the event to its trace's events in memory; after
// RecorderOptions.Linger (default 100ms) the lingering events are
// published asynchronously, one message per trace, so that a message
// delivered at once costs the stream one write for its received,
// attempt and delivered events rather than three (each write of a
// stream is a write to its file: measured in a relay through one node,
// traces cost 15% more CPU per message with a write per event, 7% with
// them lingering; Record itself takes about 300ns). Both the lingering events and the
// unacknowledged publishes are bounded (RecorderOptions.MaxPending,
// default 4096 each): past either, or when the stream is unreachable or
// refuses a publish, events are dropped, counted in
// jetmail_trace_events_dropped_total and logged (at most once per
// RecorderOptions.LogInterval, default 10s). A lost trace event is a gap
// in the history, never a lost message: the queue's own state does not
// depend on traces. Events are as durable as the stream is once
// acknowledged; those lingering or in flight when a node dies are lost.
// Flush publishes what lingers and waits for the acknowledgements, for
// shutdown. A nil *Recorder records nothing, so code and tests without
// one keep working.
//
// Events of one trace come from several nodes (the intake node records
// received, delivery nodes the rest) and goroutines, so the stream's
// order is the order they arrived in, which for events milliseconds
// apart may differ from their At; Read returns them in the order of At.
// A redelivered attempt (a delivery node that died mid-transaction)
// appears twice: the history is what happened.
//
// # Searching
//
// An Index is a local bleve index of traces, one document per trace:
// the indexer reads a trace (Read) and gives it to Index.Apply, which
// replaces the trace's document, so applying a trace again after more
// events arrived is the way to update it. Index.Search finds traces by
// sender, recipient (an address, case-insensitively, or a whole domain,
// "@example.org" or "example.org"), Message-ID (with or without its
// angle brackets) and time received, newest first, and returns a Summary
// of each: enough to list them; the history itself is read with Read.
package trace
