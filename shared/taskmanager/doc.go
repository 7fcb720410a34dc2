// Package taskmanager stores, schedules and runs background tasks (package
// task) on JetStream.
//
// # Where things live
//
//   - jetmail-tasks (KV): one key per task id, the task with its status. It
//     is the source of truth; the task list and x:Task/query stream it.
//     Tasks are items of package engine, which keeps their triggers.
//   - jetmail-settings (KV): the TaskManager singleton ("task-manager").
//     Every node watches it, so a change applies from the next retry.
//   - jetmail-work-<role> (the role's work stream, package work): triggers.
//     A trigger is a message naming a task id and its gen. A task due now
//     gets its trigger on the partition subject of its shard key at once; a
//     task due later gets a message schedule on
//     jetmail.work.<role>.sched.<task id> ("@at <due>", target: the partition
//     subject). One schedule per subject: rescheduling publishes a new one
//     that replaces the old, destroying purges it. Periodic tasks are cron
//     schedules on jetmail.work.<role>.cron.<name>: the server fires them,
//     so they fire once per cluster however many nodes run.
//
// # Creating tasks
//
// Create stores one task; CreateMany stores a batch, validated first as a
// whole (every invalid task named by its index, nothing written), then
// written in one pipelined call to the engine. A batch is all or nothing:
// if a write fails, the tasks written before it are taken back and the
// error names the task that failed. A task due now is one write (its
// trigger carries it); a task due later is its schedule.
//
// # Running a trigger
//
// The node that gets a trigger (one of the role's shard, package work)
// reads the task (package engine checks the trigger). A missing task
// (destroyed, done), a trigger superseded by a reschedule or retry, or a
// Failed task makes the trigger stale: it is dropped. Otherwise the
// handler runs while the work lease is renewed. On success the task is
// removed (engine.Complete, retried until it is gone). On failure the retry
// policy gives Retry{due} with a new trigger, or Failed.
//
// # Many tasks due at once
//
// A task due later is a message schedule, and the server fires every
// schedule due at the same moment in one pass: it first collects them all
// (the first fired trigger is stored only after that), then stores the
// fired triggers one by one, each with the removal of its schedule. For
// 10,000 tasks due in the same second this takes, measured on 2 cores,
// 65-300 ms before the first trigger is stored and 330-1,000 ms before the
// last, at about 100 us of server CPU per task; running them costs the
// node about 30 us each. The lateness of such a burst is therefore mostly
// the server's firing, and the node's part is to keep up with it: it asks
// for triggers while it works the last ones (package work) and decodes a
// task in one pass (package task).
//
// # Crashes
//
//   - During the handler: the trigger is not acknowledged; after the lease
//     (AckWait) another node of the shard runs the task again.
//   - Between writing a task (create, reschedule, retry) and publishing its
//     trigger: the task waits with no trigger. The rescuer (a duty one node holds) finds
//     tasks due over a minute ago with no trigger of theirs on their own
//     subject (jetmail.work.<role>.p.<n>.<id>) or schedule, however busy
//     the shard, and publishes their trigger again.
//
// Tasks therefore run at least once; a task whose trigger was rescued while
// the original was still on its way can run twice. Handlers must be
// idempotent, as background work on a cluster must be anyway.
package taskmanager
