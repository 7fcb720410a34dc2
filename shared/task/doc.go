// Package task defines jetmail's background tasks: the 18 variants of the
// reference with their fields, the status every task carries, the
// TaskManager settings and the retry policy they describe, and which role
// (and shard key) runs each variant.
//
// # Status
//
//	           create                      run ok
//	(none) ----------------> Pending{due} ------------> (removed)
//	                            |   ^
//	                 run fails, |   | retry (API) / reschedule
//	           attempts left    v   |
//	                         Retry{due, attemptNumber, failureReason} --run ok--> (removed)
//	                            |         ^  |
//	                            |         +--+ run fails, attempts left
//	  attempts == maxAttempts,  v
//	  or next due past          Failed{failedAt, failedAttemptNumber, failureReason}
//	  activeSince+totalDeadline     |
//	                                +--- retry (API) --> Pending{due: now}, attempts from 1 again
//
// A task that completes is removed: the task list holds work still to do
// and work that failed, as in the reference's Scheduled and Failed views.
// Metrics count completions; the log records each.
//
// Attempt numbers count from 1. A Retry's attemptNumber is the attempt that
// failed last; a Failed's failedAttemptNumber is the final attempt.
// totalDeadline counts from activeSince: creation, or the last manual retry,
// so that retrying a failed task gives it a fresh budget.
package task
