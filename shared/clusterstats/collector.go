package clusterstats

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector shows the groups a node follows on its /metrics: each series
// as Prefix+name, and jetmail_cluster_stats_updated_timestamp_seconds
// {group} saying when each group was computed (alert on its age). It
// reads only memory.
type Collector struct{ s *Stats }

// NewCollector returns the collector of s.
func NewCollector(s *Stats) *Collector { return &Collector{s} }

var updatedDesc = prometheus.NewDesc(Prefix+"stats_updated_timestamp_seconds",
	"When each group of cluster-wide figures was last computed by a node holding metrics.calculate (Unix time).", []string{"group", "node"}, nil)

// Describe implements prometheus.Collector. The series depend on what the
// groups hold, so the collector is unchecked (it describes nothing).
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, g := range c.s.Groups() {
		ch <- prometheus.MustNewConstMetric(updatedDesc, prometheus.GaugeValue, float64(g.At.UnixMilli())/1000, g.Name, g.Node)
		for _, sr := range g.Series {
			desc := prometheus.NewDesc(Prefix+sr.Name, sr.Help, sr.Labels, nil)
			for _, sm := range sr.Samples {
				if len(sm.Labels) != len(sr.Labels) {
					continue
				}
				m, err := prometheus.NewConstMetric(desc, prometheus.GaugeValue, sm.Value, sm.Labels...)
				if err == nil {
					ch <- m
				}
			}
		}
	}
}
