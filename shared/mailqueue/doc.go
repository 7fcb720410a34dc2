// Package mailqueue is jetmail's outbound queue: it stores accepted
// messages, gives each recipient a queue entry scheduled by the scheduling
// strategy, delivers through virtual queues with a fixed number of workers
// per node, retries, notifies and expires as the recipient's schedule says,
// and sends delivery status notifications.
//
// # Storage
//
//   - jetmail-messages (object store): message bodies, by message id. A body
//     is stored before the SMTP 250 is sent and removed when the message's
//     last recipient leaves the queue. A small message with one recipient
//     (up to Params.InlineBodyMax, 64 KiB) is not stored here: its body
//     travels in its entry (Recipient.Body), so that it is queued with one
//     write and gone with its trigger's ack.
//   - jetmail-queue (KV): one entry per recipient, "<message id>.<n>", with
//     the envelope, the schedule, the attempt count and the last outcome.
//     Entries are items of package engine, which keeps their triggers.
//   - jetmail-queue (stream, WorkQueue): triggers. A recipient due now gets
//     a trigger on jetmail.queue.due.<virtual queue>.<entry key>; a
//     recipient due later a message schedule on
//     jetmail.queue.sched.<virtual queue>.<entry key> targeting it. A new
//     recipient due now lives in its trigger alone (an inline item of
//     package engine: one write to queue it, its trigger's ack once
//     delivered); its first deferral, claim or change gives it its KV
//     entry. Each virtual queue has one durable consumer, vq-<name>, shared
//     by every node; each node works it with threads-per-node slots, so a
//     node never runs more deliveries from a queue than that. The stream
//     keeps one anchor message on jetmail.queue.anchor that no consumer
//     reads (work.EnsureAnchor): without it the server searches every
//     recipient's subject for a consumer's next trigger whenever all
//     delivered ones are acknowledged. A message's delayed-DSN schedule is
//     on jetmail.queue.notify.<message id> and fires on
//     jetmail.queue.delayed.<message id>, for one durable consumer of its
//     own, delayed-dsn, worked on every delivery node and never paused.
//   - No node holds the queue in memory: a trigger reads its entry, a
//     transaction finds its message's entries by key pattern (engine.Match,
//     records and inline triggers alike), and listings stream the bucket
//     and the triggers. The depth gauge reads no entry at all: it adds the
//     pending counts of the vq consumer (due now) and of a counting
//     consumer per virtual queue, vq-<name>-scheduled, filtered on its
//     schedules and never pulled (waiting for a later attempt).
//
// # A recipient's life
//
//	SMTP DATA accepted --> queued{due: now}
//	queued --trigger--> delivering (recipients of the same message and
//	    domain due now join the same transaction)
//	delivering --2xx--> delivered: entry removed (DSN if NOTIFY=SUCCESS)
//	delivering --5xx--> failed: entry removed, failure DSN
//	delivering --4xx or no connection--> queued{due: next retry}
//	    (the strategy is evaluated again: retry_num, last_error...)
//	queued --expire passed, or max-attempts reached--> expired: entry
//	    removed, failure DSN
//	queued --notify time passed--> delayed DSN (once per notify time, its
//	    queue paused or not; the schedule is written at the message's
//	    first deferral, so mail delivered at its first attempt costs no
//	    notify writes; an attempt deferred meanwhile keeps the count)
//	queued --hold--> held (no trigger) --release--> queued
//
// Triggers are checked by package engine: one whose entry was rescheduled,
// held or retried since is stale and dropped. An entry whose message body
// is gone is a bug: it is held, logged and counted
// (jetmail_queue_body_missing_total), and no DSN goes to the sender.
//
// # Pausing and removing virtual queues
//
// Pause (control key paused.<queue>) stops every node fetching from the
// queue's consumer; in-flight deliveries finish, and triggers that come
// due wait in the consumer until Resume, which fetches them at once.
// Delayed DSNs are not held. A queue removed from queue.virtual is retired
// by the next delivery node that starts without it, once no live node
// announces slots for it: each of its entries gets the schedule and queue
// the strategy picks now (held ones stay held, due times stay), its
// leftover triggers are purged, and its two consumers are deleted, with
// one INFO line naming the queue and how many entries moved where. An
// entry that cannot be moved (the strategy fails for it) is logged and
// keeps the queue's consumers, to be tried again at the next start.
// Remove a queue from every node's configuration, intake nodes included:
// mail an old configuration still routes there after it is retired waits
// for an operator (jetmail queue ls shows it).
//
// # Traces
//
// Each message's life is recorded on its trace (package trace), its
// trace id the message id: received at Enqueue; after each attempt
// (which the deliverer records, one per host tried) delivered, bounced,
// deferred with the next attempt's time, or expired; the DSNs queued
// about it; held, released, rescheduled and cancelled by an operator, or
// held for a missing body. One Recorder per node (Params.Trace, made at
// Start by default) is shared with the deliverer (Queue.Trace).
// Recording never blocks: an event not recorded is counted and logged,
// and the queue's state never depends on traces.
//
// # Crashes
//
// A node that dies mid-delivery leaves its triggers unacknowledged: after
// the lease (AckWait, 8s by default) they go to another node. A message may
// then be delivered twice; at-least-once is the SMTP norm, and the
// duplicates are bounded by what was in flight. A delivered recipient's
// entry is removed with retries until it is gone (engine.Complete), and a
// body is deleted only when the bucket shows no entry of its message. A node
// that dies between writing an entry (a deferral, a release) and publishing
// its trigger leaves the entry waiting: the rescuer (engine.Rescue, a duty one node holds)
// finds entries over a minute past due with no trigger of theirs waiting
// (each has its own subject), however busy the queue, and triggers them.
package mailqueue
