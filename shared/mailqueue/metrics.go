package mailqueue

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	attempts *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	dsns     *prometheus.CounterVec
	enqueued *prometheus.CounterVec
	inFlight *prometheus.GaugeVec
	stale    prometheus.Counter
	rescued  prometheus.Counter
	bodyGone prometheus.Counter
}

func newMetrics(q *Queue) *metrics {
	f := promauto.With(q.d.Metrics)
	m := &metrics{
		attempts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "jetmail_delivery_attempts_total", Help: "Delivery attempts by this node, per recipient, by virtual queue and result (delivered, temporary, permanent).",
		}, []string{"queue", "result"}),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jetmail_delivery_latency_seconds", Help: "Time from acceptance to delivery, by virtual queue.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 1800, 3600, 21600, 86400},
		}, []string{"queue"}),
		dsns: f.NewCounterVec(prometheus.CounterOpts{
			Name: "jetmail_dsn_sent_total", Help: "Delivery status notifications queued by this node, by kind (failed, delayed, delivered).",
		}, []string{"kind"}),
		enqueued: f.NewCounterVec(prometheus.CounterOpts{
			Name: "jetmail_queue_enqueued_total", Help: "Messages queued through this node, by source.",
		}, []string{"source"}),
		inFlight: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jetmail_queue_in_flight", Help: "Recipients this node is delivering now, by virtual queue.",
		}, []string{"queue"}),
		stale: f.NewCounter(prometheus.CounterOpts{
			Name: "jetmail_queue_stale_triggers_total", Help: "Queue triggers dropped because their entry changed or left since.",
		}),
		rescued: f.NewCounter(prometheus.CounterOpts{
			Name: "jetmail_queue_rescued_total", Help: "Queue entries found past due with no trigger and triggered again by this node as leader.",
		}),
		bodyGone: f.NewCounter(prometheus.CounterOpts{
			Name: "jetmail_queue_body_missing_total", Help: "Queue entries found referring to a message body that is gone (a bug: they are held, no DSN is sent).",
		}),
	}
	q.d.Metrics.MustRegister(&depthGauge{q})
	return m
}

// depthGauge reports jetmail_queue_messages{queue}: queued recipients per
// virtual queue, cluster-wide.
type depthGauge struct{ q *Queue }

var depthDesc = prometheus.NewDesc("jetmail_queue_messages", "Queued recipients per virtual queue, cluster-wide.", []string{"queue"}, nil)

func (g *depthGauge) Describe(ch chan<- *prometheus.Desc) { ch <- depthDesc }

func (g *depthGauge) Collect(ch chan<- prometheus.Metric) {
	if g.q.eng == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := g.q.Depth(ctx)
	if err != nil {
		g.q.log.Warn("count queue entries for jetmail_queue_messages", "err", err)
		return
	}
	for name := range g.q.d.Config.Queue.Virtual {
		ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(d[name]), name)
	}
}
