package indexer

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	held                    prometheus.Gauge
	indexed, fed            prometheus.Counter
	tracesFolded, replayed  prometheus.Counter
	builds                  *prometheus.CounterVec
	checkpoint              *prometheus.GaugeVec
	batchSeconds, batchSize prometheus.Observer
	searchSeconds           prometheus.Observer
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		held: f.NewGauge(prometheus.GaugeOpts{Name: "jetmail_index_partitions_held", Help: "Partitions whose full-text index this node holds."}),
		indexed: f.NewCounter(prometheus.CounterOpts{Name: "jetmail_index_entries_applied_total",
			Help: "Index entries (puts and deletes) committed to the indexes this node holds."}),
		fed: f.NewCounter(prometheus.CounterOpts{Name: "jetmail_index_tasks_fed_total",
			Help: "IndexDocument and UnindexDocument tasks created from the change log by this node's feed."}),
		replayed: f.NewCounter(prometheus.CounterOpts{Name: "jetmail_index_changes_replayed_total",
			Help: "Changes of the change log read again to make a gained partition's index whole (from its checkpoint)."}),
		tracesFolded: f.NewCounter(prometheus.CounterOpts{Name: "jetmail_index_trace_messages_total",
			Help: "Messages of the traces stream (each one or more events of a trace) folded into the trace indexes this node holds."}),
		checkpoint: f.NewGaugeVec(prometheus.GaugeOpts{Name: "jetmail_index_checkpoint",
			Help: "The change-log sequence a held partition's index would replay from after a restart: every change before it is indexed."}, []string{"partition"}),
		builds: f.NewCounterVec(prometheus.CounterOpts{Name: "jetmail_index_builds_total",
			Help: "Partition indexes made whole on gaining them, by kind: replay (from the index's checkpoint) or rebuild (from the documents)."}, []string{"kind"}),
		batchSeconds: f.NewHistogram(prometheus.HistogramOpts{Name: "jetmail_index_commit_seconds",
			Help: "Time one batch of index entries took to commit.", Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 10)}),
		batchSize: f.NewHistogram(prometheus.HistogramOpts{Name: "jetmail_index_commit_entries",
			Help: "Index entries per commit.", Buckets: prometheus.ExponentialBuckets(1, 2, 10)}),
		searchSeconds: f.NewHistogram(prometheus.HistogramOpts{Name: "jetmail_index_search_seconds",
			Help: "Time a search took on this node's index.", Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 10)}),
	}
}
