package taskmanager

import (
	"context"
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetmail/jetmail/shared/engine"
	"github.com/jetmail/jetmail/shared/task"
)

type metrics struct {
	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	lateness *prometheus.HistogramVec
	createdC *prometheus.CounterVec
	stale    prometheus.Counter
	rescued  prometheus.Counter
	// byVariant holds each variant's series (task.Variant ->
	// *variantMetrics), looked up on the variant's first use: later runs
	// touch no label map. Series appear on first use, as before.
	byVariant sync.Map
}

// variantMetrics are the series of one task variant.
type variantMetrics struct {
	lateness, duration prometheus.Observer
	ok, retry, failed  prometheus.Counter
	created            prometheus.Counter
}

// of returns the series of variant v.
func (mt *metrics) of(v task.Variant) *variantMetrics {
	if vm, ok := mt.byVariant.Load(v); ok {
		return vm.(*variantMetrics)
	}
	l := string(v)
	vm, _ := mt.byVariant.LoadOrStore(v, &variantMetrics{
		lateness: mt.lateness.WithLabelValues(l), duration: mt.duration.WithLabelValues(l),
		ok: mt.runs.WithLabelValues(l, "ok"), retry: mt.runs.WithLabelValues(l, "retry"), failed: mt.runs.WithLabelValues(l, "failed"),
		created: mt.createdC.WithLabelValues(l),
	})
	return vm.(*variantMetrics)
}

// newMetrics registers the manager's metrics. A node may run two
// managers (the scheduler's and a role service's runner, such as the
// indexer's): the second shares the first's series.
func newMetrics(m *Manager) *metrics {
	reg := m.d.Metrics
	mt := &metrics{
		runs: shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetmail_task_runs_total", Help: "Task attempts run by this node, by type and result (ok, retry, failed).",
		}, []string{"type", "result"})),
		duration: shared(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jetmail_task_duration_seconds", Help: "Time a task attempt took, by type.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"type"})),
		lateness: shared(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jetmail_task_lateness_seconds", Help: "How long after its due time a task attempt started, by type.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"type"})),
		createdC: shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetmail_tasks_created_total", Help: "Tasks created through this node, by type.",
		}, []string{"type"})),
		stale: shared(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jetmail_task_stale_triggers_total", Help: "Triggers dropped because their task was destroyed, done, rescheduled or retried since.",
		})),
		rescued: shared(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jetmail_task_rescued_total", Help: "Tasks found past due with no trigger and triggered again by this node as leader.",
		})),
	}
	return mt
}

// shared registers c on reg, or returns the collector of the same
// description registered before it.
func shared[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if prev, ok := are.ExistingCollector.(C); ok {
				return prev
			}
		}
		panic(err)
	}
	return c
}

func (mt *metrics) created(t *task.Task) { mt.of(t.Variant()).created.Inc() }

// Count is the tasks in the cluster by status and variant. It streams
// every task (no node keeps them all in memory): the reports service
// counts them once per metrics.calculate.interval, for
// jetmail_cluster_tasks.
func (m *Manager) Count(ctx context.Context) (map[[2]string]int, error) {
	counts := map[[2]string]int{}
	err := m.eng.Scan(ctx, func(it *engine.Item[task.Task]) bool {
		counts[[2]string{string(it.Value.Status.Type), string(it.Value.Variant())}]++
		return true
	})
	return counts, err
}
