// Package engine is jetmail's one durable-trigger engine: it keeps items in
// a JetStream KV bucket and makes each run when it is due, on whichever node
// consumes its trigger. The outbound queue (package mailqueue, one item per
// recipient) and the task manager (package taskmanager, one item per task)
// are domain layers on it, the way one job table serves many kinds of job.
//
// # What lives where
//
//   - The record: one KV entry per item, the source of truth. Its value is
//     an envelope {"gen", "token", "value"}: value is the domain's item,
//     gen and token name the item's current trigger.
//   - The trigger: a message on a work stream naming the item's key, gen and
//     token. An item due now has its trigger on the domain's due subject (a
//     virtual queue, a role's partition); an item due later has a message
//     schedule on its own subject, "@at <due>" targeting the due subject.
//     One schedule per subject: rescheduling publishes a new one that
//     replaces the old, and cancelling purges the subject.
//   - Inline items (Params.Inline, the task manager's): a new item lives in
//     its trigger alone until it changes. Its trigger is on its own subject
//     (<due subject>.<key>) and carries its value, gen and token; an item
//     due later is its schedule on its schedule subject. Creating it is one
//     write, running it needs no read, and completing it is the trigger's
//     acknowledgement. The first change (an update, a failure that retries,
//     a claim) gives it a record and then removes the inline trigger.
//   - No node holds every item in memory: a trigger is checked by reading
//     its record, and listings stream the bucket and the inline triggers
//     (Scan).
//
// # An item's life
//
//	Create ------------------> due{gen 1} (records and triggers pipelined, one round trip per 1,024 items;
//	                                      an inline item: its trigger only)
//	due --trigger fires--> running: the record is read; the trigger is
//	    current when its gen and token are the record's
//	running --Complete--> removed (a purge marker that expires)
//	running --Save(retrigger)--> due{gen+1, due: the retry time}
//	running --Save(park)--> parked{gen+1} (held, failed: no trigger)
//	due, parked --Update (reschedule, retry, hold, release)--> due or parked{gen+1}
//	any --Destroy--> removed, schedule cancelled
//
// Every change that retriggers an item writes the record first, with a new
// gen, and then publishes the trigger: a trigger never names a gen the
// bucket did not accept. Only Create sends both at once, since a new key
// cannot conflict: a trigger that overtakes its record is retried until the
// record shows, and if a record is refused Create takes back the records
// it stored, so that their triggers find nothing.
//
// # Checking a trigger
//
//	inline trigger                                 -> the handler runs (see below)
//	record missing, trigger young (< YoungTrigger) -> the record is on its way: retried
//	record missing, trigger older                  -> the item is done or destroyed: dropped
//	trigger gen < record gen, or same gen and another token -> stale: dropped
//	trigger gen > record gen                       -> a replica lags: retried, never dropped
//	current, item parked                           -> dropped
//	current                                        -> the handler runs
//
// A retry here is a negative acknowledgement with a short delay, so a slot
// is not held while a replica catches up.
//
// # Firing early
//
// With Params.FireEarly (the task manager's: 1s), a schedule fires that
// long before its item is due and the run waits, holding its slot, until
// the due time: under a burst the server's schedules fire a few hundred
// milliseconds late, and this keeps that delay out of the item's
// lateness. Having waited, the run reads the item again; if it changed
// meanwhile (rescheduled, destroyed, retried), the early trigger is stale
// and dropped, so nothing runs at a due time it no longer has. A trigger
// further ahead of its due time than twice FireEarly (a clock ahead of
// this node's) is handed back until then.
//
// An inline trigger is not checked against anything: any change to its item
// writes the record first and then purges the inline trigger (Destroy just
// purges it), so an inline trigger that is still there is current. One
// already delivered when the change comes still runs: a change racing a
// run is settled as at-least-once allows (the run may happen, and the
// changed item runs again as changed). Get reads the record, then the
// inline trigger, then the record again, and Scan the inline triggers
// before the records, so that an item changing between the reads is not
// missed (Scan may see it twice).
//
// # Durability and crashes
//
// Each step is durable once JetStream acknowledges it. What a crash between
// two steps does:
//
//   - Create, between record and trigger: the record waits with no trigger;
//     the rescuer (Rescue, a duty one node holds) finds items past due by
//     RescueAfter with no trigger of their gen and token on their own
//     subject or schedule, however busy the consumers, and publishes their
//     trigger again (same gen and token, de-duplicated by message id). Each
//     pass checks at most RescueChecks items and the next goes on from
//     there, so every record is checked within a bounded number of passes.
//   - Save or Update, between record and trigger: the same.
//   - During the handler: the trigger is not acknowledged; after the lease
//     (AckWait) another node runs the item again. Items run at least once.
//   - An inline item, between its new record and the purge of its inline
//     trigger: the trigger runs the item once more; at least once.
//   - Complete, after the purge was applied but before its reply: the retry
//     finds the record gone, which counts as done. A purge refused because
//     the record changed meanwhile keeps the change, unless only the
//     revision moved with the gen unchanged, in which case it is retried.
package engine
