// Package spamtrainer is the spam-trainer service (`jetmail serve
// spam-trainer`), the node side of role bayes-training: it runs the
// SpamFilterMaintenance tasks that train the spam filter's models from
// what users do, and updates its rules. Local delivery scores every
// message with those models (package spamstore's Filter).
//
// # Samples
//
// Samples come from the change log: an email its user moved into Junk is
// spam, one moved out of Junk is ham (store.Change.Into and OutOf). A
// training first reads the log from the trainer's watermark (per
// partition) to its end, recording each sample (its email's blob) in
// jetmail-spam-samples, at most spam.samples.max-per-account per account,
// the oldest dropped; then the watermark moves. A user who only ever moves
// spam into Junk gives no ham, and a model learns nothing from one label
// alone: so, for an account with new spam samples, as many of its Inbox
// emails (the newest, which it kept) are taken as ham.
//
// # The maintenance types
//
//	train        the samples since the last training added to the global
//	             model and to the accounts' own models
//	retrain      the models built again from every kept sample
//	abort        a training running on any node stops (jetmail.spam.abort);
//	             its models are not written, so they stay as they were
//	reset        every model removed: the default (empty) model, so only
//	             rules score until the next training; the samples stay
//	updateRules  the rule file downloaded from spam.rules.url, its SHA-256
//	             checked (spam.rules.sha256, or the .sha256 beside it),
//	             parsed and validated whole, then stored: every node's filter
//	             loads it at once. A file that fails any check is not
//	             stored, the task fails with the reason, and the rules in
//	             use stay. Nothing in a rule file is ever executed: it is
//	             data (regular expressions of Go's RE2 and scores).
//
// # A crash
//
// A model is written whole (an object put), after its training ended: a
// crash during a training leaves the models as they were, and the task is
// run again. A crash after the models but before the trainer's state is
// stored makes the next training count those samples a second time, which
// only strengthens what was learnt.
package spamtrainer
