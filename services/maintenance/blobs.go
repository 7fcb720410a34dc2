package maintenance

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// purgeBlobs runs StoreMaintenance purgeBlob (daily by default,
// task.periodic purge-blob): the blobs older than the store's grace that
// no document, archived document or upload refers to are removed
// (store.PurgeBlobs: mark and sweep, safe against writers meanwhile).
func (s *Service) purgeBlobs(ctx context.Context) error {
	r, err := s.st.PurgeBlobs(ctx)
	m := blobMetricsOf(s.d.Metrics, s.log)
	m.removed.Add(float64(r.Removed + r.Temporary))
	m.freed.Add(float64(r.Freed + r.TemporaryBytes))
	if err != nil {
		s.log.Warn("blob store purge stopped", "blobs", r.Blobs, "removed", r.Removed, "bytes_freed", r.Freed, "err", err)
		return err
	}
	m.blobs.Set(float64(r.Blobs - r.Removed))
	m.bytes.Set(float64(r.Bytes - r.Freed))
	s.log.Info("blob store purged", "blobs", r.Blobs, "bytes", r.Bytes, "young", r.Young, "referenced", r.Referenced,
		"held_for_writers", r.Held, "removed", r.Removed, "temporary_removed", r.Temporary, "bytes_freed", r.Freed+r.TemporaryBytes,
		"stale_pins_removed", r.StalePins)
	return nil
}

// resetBlobQuotas runs StoreMaintenance resetBlobQuotas: there is nothing
// to reset. A blob quota (the reference's) bounds what an account may
// hold in uploads not yet used; jetmail bounds one upload by
// maxSizeUpload and counts no account's uploads, and the blobs its
// documents refer to are charged to the account's quota with them
// (resetUserQuotas recalculates those).
func (s *Service) resetBlobQuotas(context.Context) error {
	s.log.Info("store maintenance: jetmail keeps no blob quotas, nothing to reset", "maintenance_type", "resetBlobQuotas")
	return nil
}

// blobMetrics are the blob purge's metrics.
type blobMetrics struct {
	removed, freed prometheus.Counter
	blobs, bytes   prometheus.Gauge
}

// blobMetricsOf registers the blob purge's metrics on reg, or finds them
// registered by an earlier purge.
func blobMetricsOf(reg prometheus.Registerer, log *slog.Logger) blobMetrics {
	return blobMetrics{
		removed: register(reg, log, prometheus.NewCounter(prometheus.CounterOpts{Name: "jetmail_blob_purge_removed_total",
			Help: "Blobs (and temporary objects of large writes) the blob purges run on this node removed."})),
		freed: register(reg, log, prometheus.NewCounter(prometheus.CounterOpts{Name: "jetmail_blob_purge_freed_bytes_total",
			Help: "Bytes the blob purges run on this node freed."})),
		blobs: register(reg, log, prometheus.NewGauge(prometheus.GaugeOpts{Name: "jetmail_blob_store_blobs",
			Help: "Blobs in the blob store after the last blob purge run on this node."})),
		bytes: register(reg, log, prometheus.NewGauge(prometheus.GaugeOpts{Name: "jetmail_blob_store_bytes",
			Help: "Bytes of the blobs in the blob store after the last blob purge run on this node."})),
	}
}

// register registers c on reg, or returns the collector of its name
// registered already; with no registry, c counts for no one.
func register[C prometheus.Collector](reg prometheus.Registerer, log *slog.Logger, c C) C {
	if reg == nil {
		return c
	}
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	switch {
	case err == nil:
	case errors.As(err, &are):
		if got, ok := are.ExistingCollector.(C); ok {
			return got
		}
	default:
		log.Warn("metric not registered", "err", err)
	}
	return c
}
