package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/jetmail/jetmail/shared/push"
	"github.com/jetmail/jetmail/shared/work"
)

// deliver works one item on the node that owns its account's partition:
// each active subscription of the account gets what it has not been sent
// yet. A POST that fails is retried (the item handed back with backoff),
// for the subscriptions it failed for only: the others have their Sent
// recorded.
func (s *Service) deliver(ctx context.Context, job *work.Job) error {
	var it push.Item
	if err := json.Unmarshal(job.Data, &it); err != nil || it.Account == "" {
		return work.Permanent(fmt.Errorf("push item %q: not a push item", job.Key))
	}
	now := s.clock.Now()
	var failed error
	for _, sub := range s.reg.Of(it.Account) {
		if sub.Expired(now) {
			if err := s.reg.Delete(ctx, sub.Account, sub.ID); err != nil {
				return err
			}
			s.log.Info("push subscription expired: removed", "account", sub.Account, "subscription", sub.ID, "expires", sub.Expires)
			continue
		}
		if !sub.Active(now) {
			continue
		}
		if err := s.deliverTo(ctx, sub, &it); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failed = errors.Join(failed, err)
		}
	}
	if !job.Published.IsZero() && failed == nil {
		s.m.lag.Observe(time.Since(job.Published).Seconds())
	}
	if failed != nil {
		return work.RetryIn(s.backoff(job.Attempt), failed)
	}
	return nil
}

// backoff is the wait before the attempt after attempt.
func (s *Service) backoff(attempt uint64) time.Duration {
	d := s.p.RetryBase
	for i := uint64(1); i < attempt && d < s.p.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.p.RetryMax)
}

// deliverTo pushes to one subscription what of it has not been pushed to
// it yet, and records it; an error means the push is to be retried.
func (s *Service) deliverTo(ctx context.Context, sub *push.Subscription, it *push.Item) error {
	sent, err := s.reg.Sent(ctx, sub.Account, sub.ID)
	if err != nil {
		return err
	}
	if _, _, _, ok := s.what(sub, it, sent); !ok {
		return nil // all of it sent: no claim needed
	}
	now := s.clock.Now()
	sent, claimed, err := s.reg.Claim(ctx, sub.Account, sub.ID, now, now.Add(s.claimFor()))
	if err != nil {
		return err
	}
	if !claimed {
		return work.RetryIn(s.p.RetryBase, fmt.Errorf("another node is pushing to subscription %s", sub.ID))
	}
	body, kind, pushID, ok := s.what(sub, it, sent)
	if !ok {
		return s.reg.Release(ctx, sub.Account, sub.ID, nil, "")
	}
	perr := s.sender.Post(ctx, sub.URL, pushID, body)
	// The claim is released whatever happens next: with what was sent, or
	// with nothing.
	release := context.WithoutCancel(ctx)
	if perr != nil {
		s.m.posts.WithLabelValues(kind, "failed").Inc()
		if err := s.reg.Release(release, sub.Account, sub.ID, nil, ""); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return s.failed(ctx, sub, perr)
	}
	s.m.posts.WithLabelValues(kind, "ok").Inc()
	var states map[string]uint64
	if sc, isState := body.(push.StateChange); isState {
		states = map[string]uint64{}
		for t, v := range sc.Changed[sub.Account] {
			states[t], _ = strconv.ParseUint(v, 10, 64)
		}
	}
	if err := s.reg.Release(release, sub.Account, sub.ID, states, it.AlertKey); err != nil {
		return err
	}
	if sub.Failures > 0 {
		if _, err := s.reg.Update(ctx, sub.Account, sub.ID, func(x *push.Subscription) error {
			x.Failures, x.LastError = 0, ""
			return nil
		}); err != nil && !errors.Is(err, push.ErrNotFound) {
			return err
		}
	}
	return nil
}

// claimFor is how long a claim holds: longer than a POST may take, so
// that it only lapses when its node died.
func (s *Service) claimFor() time.Duration { return s.cfg.Timeout + 5*time.Second }

// what is the push of it that sub has not been sent (by sent): the body,
// its kind for the metrics and its Push-Id; ok is false when there is
// none.
func (s *Service) what(sub *push.Subscription, it *push.Item, sent push.Sent) (body any, kind, pushID string, ok bool) {
	if it.Alert != nil {
		if !sub.Wants("CalendarEvent") || slices.Contains(sent.Alerts, it.AlertKey) {
			return nil, "", "", false
		}
		return *it.Alert, "alert", sub.ID + "-alert-" + it.AlertKey, true
	}
	changed := map[string]string{}
	top := uint64(0)
	for _, t := range slices.Sorted(maps.Keys(it.States)) {
		v := it.States[t]
		if !sub.Wants(t) || v <= sent.States[t] {
			continue
		}
		changed[t] = strconv.FormatUint(v, 10)
		top = max(top, v)
	}
	if len(changed) == 0 {
		return nil, "", "", false
	}
	body = push.StateChange{Type: "StateChange", Changed: map[string]map[string]string{sub.Account: changed}}
	return body, "state", sub.ID + "-" + strconv.FormatUint(top, 10), true
}

// failed counts a failed POST against the subscription and disables it
// at push.max-failures in a row; the POST is to be retried unless it was.
func (s *Service) failed(ctx context.Context, sub *push.Subscription, perr error) error {
	var disabled bool
	x, err := s.reg.Update(ctx, sub.Account, sub.ID, func(x *push.Subscription) error {
		x.Failures++
		x.LastError = perr.Error()
		if x.Failures >= s.cfg.MaxFailures && x.Disabled == "" {
			x.Disabled = fmt.Sprintf("disabled at %s after %d POSTs failed in a row (push.max-failures); the last: %v",
				s.clock.Now().UTC().Format(time.RFC3339), x.Failures, perr)
			disabled = true
		}
		return nil
	})
	if errors.Is(err, push.ErrNotFound) {
		return nil // destroyed meanwhile
	}
	if err != nil {
		return err
	}
	if disabled {
		s.m.disabled.Inc()
		s.log.Warn("push subscription disabled", "account", x.Account, "subscription", x.ID, "failures", x.Failures, "err", perr)
		return nil
	}
	if x.Disabled != "" {
		return nil
	}
	s.log.Info("push failed, will retry", "account", x.Account, "subscription", x.ID, "failures", x.Failures, "err", perr)
	return fmt.Errorf("push to subscription %s: %w", x.ID, perr)
}
