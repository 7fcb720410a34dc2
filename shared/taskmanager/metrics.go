package taskmanager

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetmail/jetmail/shared/engine"
	"github.com/jetmail/jetmail/shared/roles"
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
// indexer's): the second shares the first's series, and only the
// scheduler's reports jetmail_tasks.
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
	if !m.p.RunOnly {
		reg.MustRegister(&taskGauge{m: m})
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

// gaugeScanTimeout bounds the scan behind jetmail_tasks; gaugeMaxAge is
// how long its counts serve scrapes before the next scan: with a million
// tasks a scan takes seconds, and it runs at most this often however often
// Prometheus asks.
const (
	gaugeScanTimeout = 10 * time.Second
	gaugeMaxAge      = 30 * time.Second
)

// taskGauge reports jetmail_tasks{status,type}: the whole cluster's tasks.
// Only nodes holding metrics.calculate report it, so that a sum over nodes
// counts each task once. Its counts are at most gaugeMaxAge old.
type taskGauge struct {
	m *Manager

	mu      sync.Mutex // one scan at a time; scrapes meanwhile wait for it
	counted time.Time
	counts  map[[2]string]int
}

var taskGaugeDesc = prometheus.NewDesc("jetmail_tasks", "Tasks in the cluster by status (Pending, Retry, Failed) and type, counted at most 30s ago; reported by the nodes holding metrics.calculate.", []string{"status", "type"}, nil)

func (g *taskGauge) Describe(ch chan<- *prometheus.Desc) { ch <- taskGaugeDesc }

func (g *taskGauge) Collect(ch chan<- prometheus.Metric) {
	rm, _, _ := g.m.d.View.Role(roles.MetricsCalculate)
	if len(rm.Shards.Of(g.m.d.NodeID)) == 0 || g.m.eng == nil {
		return
	}
	counts, ok := g.current()
	if !ok {
		return
	}
	for _, st := range []task.StatusType{task.Pending, task.Retry, task.Failed} {
		for _, v := range task.Variants() {
			n := counts[[2]string{string(st), string(v)}]
			if n == 0 && !slices.Contains([]task.StatusType{task.Pending}, st) {
				continue
			}
			ch <- prometheus.MustNewConstMetric(taskGaugeDesc, prometheus.GaugeValue, float64(n), string(st), string(v))
		}
	}
}

// current returns the counts, scanning the tasks when the last counts are
// older than gaugeMaxAge.
func (g *taskGauge) current() (map[[2]string]int, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.m.p.Clock.Now()
	if g.counts != nil && now.Sub(g.counted) < gaugeMaxAge {
		return g.counts, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), gaugeScanTimeout)
	defer cancel()
	counts := map[[2]string]int{}
	if err := g.m.eng.Scan(ctx, func(it *engine.Item[task.Task]) bool {
		counts[[2]string{string(it.Value.Status.Type), string(it.Value.Variant())}]++
		return true
	}); err != nil {
		g.m.log.Warn("count tasks for jetmail_tasks", "err", err)
		return g.counts, g.counts != nil
	}
	g.counts, g.counted = counts, now
	return counts, true
}
