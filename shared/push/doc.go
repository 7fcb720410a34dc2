// Package push is JMAP push (RFC 8620 §7.2) by URL: the subscriptions
// (PushSubscription/get and /set), what was last pushed to each, and the
// POSTs themselves. The push service (services/push) decides what to
// push and when.
//
// # A subscription's life
//
//	PushSubscription/set create   stored unverified, a PushVerification
//	                              POSTed to its URL; a URL that cannot be
//	                              reached (or is not https, or http to a
//	                              non-loopback address) is refused and
//	                              nothing stays stored
//	update verificationCode       verified: changes are pushed from now on
//	a POST fails                  failures+1 (the reason kept); the push is
//	                              retried with backoff
//	push.max-failures in a row    disabled: nothing more is pushed, and
//	                              PushSubscription/get shows why
//	                              (x:disabled); destroy and create again
//	a POST succeeds               failures back to 0
//	expires passes                nothing more is pushed; the subscription
//	                              is removed when next met
//
// # At most once per state
//
// Each subscription's Sent record (sent.<account>.<id> in
// jetmail-push-subscriptions) holds, per data type, the latest state
// pushed, updated by compare-and-set after the receiver answered 2xx and
// before the work item is acknowledged. A state at or below it is never
// POSTed again, whichever node works the item, so a redelivered item, a
// re-shard or a planned stop sends nothing twice. Only a POST that
// reached the receiver just before its node died, unrecorded, is sent
// again: each carries a Push-Id header (subscription and state) that is
// the same on every attempt, for the receiver to drop the second.
//
// Message encryption (RFC 8291, the keys property) is not supported: a
// create with keys is refused, and pushes are plain JSON over HTTPS.
package push
