// Package push is the push service (`jetmail serve push`), the node side
// of role push-notifications: it serves PushSubscription/get and /set
// (shared/push) and POSTs a StateChange (RFC 8620 §7.1) to an account's
// active subscriptions when the account's data changes, and a
// CalendarAlert when one of its alarms triggers.
//
// # From a change to a push
//
//	store write --change--> jetmail-changes (stream)
//	  --feed (one node: duty "push-notifications feed", durable consumer
//	    push-notifications-feed): push.coalesce of changes (default 100ms,
//	    at most 1000), for each account with an active subscription the
//	    latest state of each data type changed--> one item per account on
//	    jetmail.work.push-notifications.p.<partition>, de-duplicated by
//	    account and state; then the batch is acknowledged
//	  --the shard that owns the partition (package work), one node of it-->
//	    for each active subscription of the account: the states above what
//	    its Sent record holds, POSTed as one StateChange, recorded by
//	    compare-and-set, then the item acknowledged
//
// A burst of changes in an account thus becomes one push per feed batch,
// carrying the latest states. The calendar service hands alarms with a
// display action to the same stream (push.SubmitAlert), pushed once per
// subscription by the alarm task's id.
//
// # Failures
//
// A POST that fails (unreachable, timed out, not 2xx) counts against its
// subscription and hands the item back: it is worked again after
// RetryBase (1s), doubling with each attempt up to RetryMax (5m), for the
// subscriptions it failed for only. After push.max-failures in a row the
// subscription is disabled, with the reason shown by
// PushSubscription/get (x:disabled) and logged, and the item is done.
//
// # Exactly once
//
// Only the nodes of the shard that owns an account's partition work its
// items, one node per item at a time; a re-shard first drains every
// node's items in flight (package work), and a planned stop finishes
// them. Nothing is pushed twice then: a state at or below a
// subscription's Sent record is never POSTed. After a crash (kill -9),
// only the POSTs the node had sent without recording them are sent
// again, at most push.concurrency per subscription, each with the same
// Push-Id header as the first.
package push
