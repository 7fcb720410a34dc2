// Package reports is the reports service (`jetmail serve reports`), the
// node side of roles metrics.calculate and metrics.push: it computes the
// cluster-wide figures, pushes them to a Prometheus Pushgateway, and runs
// the aggregate-report tasks of metrics.push (DmarcReport, TlsReport).
//
// # Cluster figures (metrics.calculate)
//
// Each group of figures is a job of its own, fired by a server-side
// schedule (work.FamilyJobs, "@every" metrics.calculate.interval) into the
// role's work stream, partitioned by the group's name: one firing per
// interval in the whole cluster, worked by the shard that owns the
// group's partition (so a role with several shards spreads the groups
// over them), and by another node of the shard if its node dies. Each
// computation replaces the group in jetmail-cluster-stats (package
// clusterstats), where every node reads it for its /metrics:
//
//	queue       jetmail_cluster_queue_recipients{queue,status}: every
//	            queue entry, held ones included (queued, retrying, held)
//	tasks       jetmail_cluster_tasks{status,type}
//	accounts    jetmail_cluster_accounts{state},
//	            jetmail_cluster_account_used_bytes (quota use, summed)
//	store       jetmail_cluster_store_bytes{part}: the bytes of the
//	            store's streams (directory, documents, blobs, changes)
//	deliveries  jetmail_cluster_deliveries_per_minute: recipients
//	            delivered per minute since the last computation, from
//	            every node's counter (clusterstats.CounterDeliveries)
//
// The queue, tasks and accounts groups stream their bucket: they cost
// one read of every item per interval, on one node, and hold nothing.
// A firing older than its interval when it is worked (its node was down)
// is dropped: the next one computes fresher figures.
//
// # Pushing (metrics.push)
//
// With metrics.push.url set, a job fired every metrics.push.interval
// PUTs the latest groups, as this node follows them, to the gateway's
// group job=<metrics.push.job> (replacing what was pushed before). A
// refused or failed push is retried, 1s doubling to a minute, until the
// next firing supersedes it; jetmail_metrics_pushes_total{result} counts
// them and the log says why, with the URL but never the secret.
//
// # Aggregate reports (metrics.push)
//
// The SMTP intake records DMARC evaluations, and delivery the STARTTLS
// outcomes, as events (package aggreport). A job fired every minute (a
// quarter of report.window when that is shorter) closes each window that
// ended, kind by kind:
//
//	read cursor.<kind>         the next window to close (jetmail-reports)
//	collect the window         one aggregate per reporting domain
//	store report.<id>          unless sent.<id> says it was sent
//	create task report-<id>    DmarcReport or TlsReport; ErrExists: made
//	move cursor.<kind> (CAS)   past the window
//
// A crash anywhere before the cursor moves redoes the window with the
// same ids: nothing is made twice. The task queues the report to each rua
// mailbox (source report), writes sent.<id>, then deletes report.<id>; a
// crash between the queueing and sent.<id> queues it again when the task
// is retried. Entries of jetmail-reports expire after the events'
// retention and a day.
package reports
