package reports

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/jetmail/jetmail/shared/clusterstats"
	"github.com/jetmail/jetmail/shared/work"
)

// retryMax caps the wait between retries of a failed push.
const retryMax = time.Minute

// push works one firing of the push schedule: it PUTs the latest groups
// to the gateway, replacing what was pushed before.
func (s *Service) push(ctx context.Context, job *work.Job) error {
	m := s.cfg.Metrics
	if m.PushURL == "" {
		return nil // the schedule outlived the setting: it is removed at the next start
	}
	if age := s.d.Clock.Now().Sub(job.Published); age > m.PushInterval && job.Attempt > 1 {
		s.log.Warn("cluster figures not pushed: a newer push is due", "url", m.PushURL, "attempts", job.Attempt-1)
		return nil
	}
	if len(s.stats.Groups()) == 0 {
		s.log.Info("cluster figures not pushed: none computed yet (role metrics.calculate)")
		return nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(clusterstats.NewCollector(s.stats))
	p := push.New(m.PushURL, m.PushJob).Gatherer(reg).Client(s.p.Client)
	if m.PushUsername != "" {
		p = p.BasicAuth(m.PushUsername, m.PushSecret)
	}
	pctx, cancel := context.WithTimeout(ctx, m.PushTimeout)
	defer cancel()
	if err := p.PushContext(pctx); err != nil {
		s.pushes.WithLabelValues("failed").Inc()
		wait := min(s.p.RetryBase<<min(job.Attempt-1, 16), retryMax)
		s.log.Warn("push cluster figures", "url", m.PushURL, "attempt", job.Attempt, "retry_in", wait, "err", err)
		return work.RetryIn(wait, fmt.Errorf("push to %s: %w", m.PushURL, err))
	}
	s.pushes.WithLabelValues("ok").Inc()
	return nil
}
