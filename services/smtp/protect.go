package smtp

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strings"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/duration"
	"github.com/jetmail/jetmail/shared/greylist"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/ratelimit"
)

// protections are the intake's cluster-wide checks, their state in KV so
// that every node counts the same: rate limits at MAIL FROM
// (smtp.limits.rate.*) and greylisting at RCPT TO (smtp.greylist). Each
// is built only when configured; off, it costs nothing.
//
// A rate limit counts transactions: each MAIL FROM it lets through,
// whatever becomes of the message after (Postfix's
// smtpd_client_message_rate_limit counts the same "message delivery
// requests"). The limits are checked most specific first, account,
// sender, address, and the first refusal answers; those before it have
// counted the transaction.
//
// A check that cannot reach its bucket lets the mail in (fails open),
// logged and counted in jetmail_smtp_check_failures_total{check}: a
// struggling KV must not stop intake or lose mail, and the queue, which
// the mail needs, answers for itself at DATA.
type protections struct {
	lim   config.SMTPLimits
	rates *ratelimit.Limiter // nil: no rate limit set
	grey  *greylist.Greylist // nil: greylisting off
	clock clock.Clock
	log   *slog.Logger

	limited  *prometheus.CounterVec
	greyed   *prometheus.CounterVec
	failures *prometheus.CounterVec
}

// checkTimeout bounds one check's KV requests: past it the check fails
// open, and the client waits no longer.
const checkTimeout = 2 * time.Second

func newProtections(ctx context.Context, cfg *config.Config, d node.Deps, clk clock.Clock, log *slog.Logger) (*protections, error) {
	f := promauto.With(d.Metrics)
	p := &protections{lim: cfg.SMTP.Limits, clock: clk, log: log,
		limited: f.NewCounterVec(prometheus.CounterOpts{Name: "jetmail_smtp_rate_limited_total",
			Help: "MAIL FROM commands refused with 451 4.7.1 by a rate limit (smtp.limits.rate.*), by limit (ip, sender, account)."}, []string{"limit"}),
		greyed: f.NewCounterVec(prometheus.CounterOpts{Name: "jetmail_smtp_greylist_total",
			Help: "Recipients checked by greylisting (smtp.greylist), by result (greylisted, passed, whitelisted)."}, []string{"result"}),
		failures: f.NewCounterVec(prometheus.CounterOpts{Name: "jetmail_smtp_check_failures_total",
			Help: "Intake checks that could not reach their KV bucket and let the mail in, by check (rate-limit, greylist)."}, []string{"check"}),
	}
	var err error
	if l := cfg.SMTP.Limits; !l.RateIP.Off() || !l.RateSender.Off() || !l.RateAccount.Off() {
		if p.rates, err = ratelimit.Open(ctx, ratelimit.Params{JS: d.JS(), Replicas: cfg.NATS.Replicas, Clock: clk}); err != nil {
			return nil, fmt.Errorf("smtp.limits.rate: %w", err)
		}
	}
	if g := cfg.SMTP.Greylist; g.Enable {
		if p.grey, err = greylist.Open(ctx, greylist.Params{JS: d.JS(), Replicas: cfg.NATS.Replicas, Config: g, Clock: clk}); err != nil {
			return nil, fmt.Errorf("smtp.greylist: %w", err)
		}
	}
	return p, nil
}

// rateCheck is one rate limit as a MAIL FROM meets it.
type rateCheck struct {
	kind ratelimit.Kind
	key  string
	rate config.Rate
	// whose words the reply: "from your address".
	whose string
}

// mailFrom takes the transaction from the rate limits that apply: the
// account's when authenticated, the sender's unless null, the client
// address's unless it is in smtp.relay-networks.
func (p *protections) mailFrom(ip net.IP, trusted bool, user, sender string) error {
	if p.rates == nil {
		return nil
	}
	var checks []rateCheck
	if user != "" {
		checks = append(checks, rateCheck{ratelimit.KindAccount, strings.ToLower(user), p.lim.RateAccount, "for your account"})
	}
	if sender != "" {
		checks = append(checks, rateCheck{ratelimit.KindSender, strings.ToLower(sender), p.lim.RateSender, "from this sender"})
	}
	if !trusted && ip != nil {
		checks = append(checks, rateCheck{ratelimit.KindIP, rateIPKey(ip), p.lim.RateIP, "from your address"})
	}
	for _, c := range checks {
		if c.rate.Off() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
		v, err := p.rates.Take(ctx, c.kind, c.key, c.rate)
		cancel()
		if err != nil {
			p.failures.WithLabelValues("rate-limit").Inc()
			p.log.Warn("rate limit unavailable; letting the transaction through", "limit", c.kind, "remote", ip.String(), "sender", sender, "err", err)
			continue
		}
		if !v.Allowed {
			p.limited.WithLabelValues(string(c.kind)).Inc()
			wait := v.Reset.Sub(p.clock.Now())
			p.log.Warn("rate limit reached", "limit", c.kind, "rate", c.rate.String(), "remote", ip.String(), "sender", sender, "user", user, "retry_in", wait)
			return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1}, Message: fmt.Sprintf(
				"Rate limit reached: %d messages per %s %s (smtp.limits.rate.%s); try again in %d seconds",
				c.rate.Count, duration.Format(c.rate.Window), c.whose, c.kind, ceilSeconds(wait))}
		}
	}
	return nil
}

// rcptTo greylists a recipient of a client that is neither authenticated
// nor trusted.
func (p *protections) rcptTo(ip net.IP, trusted bool, user, sender, rcpt string) error {
	if p.grey == nil || user != "" || trusted || ip == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	v, err := p.grey.Check(ctx, ip, sender, rcpt)
	if err != nil {
		p.failures.WithLabelValues("greylist").Inc()
		p.log.Warn("greylisting unavailable; letting the recipient through", "remote", ip.String(), "sender", sender, "rcpt", rcpt, "err", err)
		return nil
	}
	p.greyed.WithLabelValues(string(v.Result)).Inc()
	if v.Pass() {
		return nil
	}
	p.log.Info("greylisted", "remote", ip.String(), "sender", sender, "rcpt", rcpt, "retry_in", v.Wait)
	return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1},
		Message: fmt.Sprintf("Greylisted, please try again in %d seconds", ceilSeconds(v.Wait))}
}

// rateIPKey is what a client address is counted as: itself, or an IPv6
// client's /64, which one host commonly holds whole.
func rateIPKey(ip net.IP) string {
	if ip.To4() != nil {
		return ip.To4().String()
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}

func ceilSeconds(d time.Duration) int64 { return int64(math.Ceil(max(d, 0).Seconds())) }
