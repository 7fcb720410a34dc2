// Package clusterstats holds the cluster-wide figures (queue sizes, tasks,
// accounts, store bytes, deliveries per minute) that the nodes holding
// metrics.calculate compute, and shows them on every node's /metrics as
// jetmail_cluster_* series, distinct from each node's own jetmail_*.
//
// # Where figures live
//
// KV bucket jetmail-cluster-stats (Bucket), nats.replicas replicas:
//
//	group.<name>           one Group: the series computed together, when
//	                       and by which node, and the state its next
//	                       computation starts from
//	counter.<name>.<node>  one node's Counter: a count since the node
//	                       started (deliveries), written every
//	                       CounterInterval while it changes
//
// A group is computed by one node per interval (the reports service runs
// it as metrics.calculate work, fired by a server-side schedule, so no
// two nodes compute the same figures) and replaces the last one whole:
// a reader never sees half of a computation. Every node follows the
// bucket (Component) and serves the latest groups from memory, so a
// scrape reads nothing.
//
// # Rates from node counters
//
// A rate across the cluster (deliveries per minute) is the sum of the
// node counters' increase since the last computation, divided by the time
// between them. The last computation's counters are kept in its group's
// State, so the node computing next, whichever it is, continues from
// them. A counter whose Since changed (its node restarted) counts whole.
package clusterstats
