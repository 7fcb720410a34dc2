package work

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the work metrics of one node.
type Metrics struct {
	jobs     *prometheus.CounterVec
	inFlight *prometheus.GaugeVec
	duration *prometheus.HistogramVec
	reshards *prometheus.CounterVec
}

// NewMetrics registers the work metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		jobs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "jetmail_work_items_total", Help: "Work items handled by this node, by role and result (ok, retry, failed).",
		}, []string{"role", "result"}),
		inFlight: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jetmail_work_in_flight", Help: "Work items this node is handling now, by role.",
		}, []string{"role"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jetmail_work_duration_seconds", Help: "Time a handler took per work item, by role.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"role"}),
		reshards: f.NewCounterVec(prometheus.CounterOpts{
			Name: "jetmail_reshards_total", Help: "Partition layouts this node built as leader, by role.",
		}, []string{"role"}),
	}
}
