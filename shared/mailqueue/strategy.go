package mailqueue

import (
	"fmt"
	"strings"
	"time"

	"github.com/jetmail/jetmail/shared/address"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/queueexpr"
)

// Strategy evaluates queue.strategy.schedule and queue.strategy.route for a
// recipient.
type Strategy struct {
	cfg      *config.Config
	schedule []rule
	route    []rule
}

type rule struct{ cond, then *queueexpr.Program }

// Lookups answers is_local_domain from smtp.local-domains, and sql_query
// from the configured SQL stores (none yet: it reports that).
type Lookups struct {
	Local map[string]bool
	SQL   func(store, query string, args []any) (any, error)
}

// IsLocalDomain implements queueexpr.Lookups.
func (l *Lookups) IsLocalDomain(_, domain string) (bool, error) {
	return l.Local[strings.ToLower(domain)], nil
}

// SQLQuery implements queueexpr.Lookups.
func (l *Lookups) SQLQuery(store, query string, args []any) (any, error) {
	if l.SQL == nil {
		return nil, fmt.Errorf("sql_query: no SQL store %q is configured", store)
	}
	return l.SQL(store, query, args)
}

// NewStrategy compiles the configured rules with real lookups.
func NewStrategy(cfg *config.Config, l *Lookups) (*Strategy, error) {
	if l.Local == nil {
		l.Local = map[string]bool{}
		for _, d := range cfg.SMTP.LocalDomains {
			l.Local[strings.ToLower(d)] = true
		}
	}
	compile := func(rules []config.Rule) ([]rule, error) {
		out := make([]rule, 0, len(rules))
		for _, r := range rules {
			var cr rule
			var err error
			if r.If != nil {
				if cr.cond, err = queueexpr.Compile(r.If.Source(), l); err != nil {
					return nil, err
				}
			}
			if cr.then, err = queueexpr.Compile(r.Then.Source(), l); err != nil {
				return nil, err
			}
			out = append(out, cr)
		}
		return out, nil
	}
	s := &Strategy{cfg: cfg}
	var err error
	if s.schedule, err = compile(cfg.Queue.Strategy.Schedule); err != nil {
		return nil, fmt.Errorf("queue.strategy.schedule: %w", err)
	}
	if s.route, err = compile(cfg.Queue.Strategy.Route); err != nil {
		return nil, fmt.Errorf("queue.strategy.route: %w", err)
	}
	return s, nil
}

func pick(rules []rule, v queueexpr.Vars) (string, error) {
	for _, r := range rules {
		if r.cond != nil {
			ok, err := r.cond.Run(v)
			if err != nil {
				return "", err
			}
			if !queueexpr.Truthy(ok) {
				continue
			}
		}
		out, err := r.then.Run(v)
		if err != nil {
			return "", err
		}
		id, ok := out.(string)
		if !ok {
			return "", fmt.Errorf("%q gave %v, not a name", r.then.Source(), out)
		}
		return id, nil
	}
	return "", fmt.Errorf("no rule matched")
}

// Schedule returns the scheduling strategy for v.
func (s *Strategy) Schedule(v queueexpr.Vars) (string, config.Schedule, error) {
	id, err := pick(s.schedule, v)
	if err != nil {
		return "", config.Schedule{}, fmt.Errorf("queue.strategy.schedule: %w", err)
	}
	sc, ok := s.cfg.Queue.Schedule[id]
	if !ok {
		return "", config.Schedule{}, fmt.Errorf("queue.strategy.schedule chose %q, which is not defined", id)
	}
	return id, sc, nil
}

// Route returns the route for v.
func (s *Strategy) Route(v queueexpr.Vars) (string, config.Route, error) {
	id, err := pick(s.route, v)
	if err != nil {
		return "", config.Route{}, fmt.Errorf("queue.strategy.route: %w", err)
	}
	r, ok := s.cfg.Queue.Route[id]
	if !ok {
		return "", config.Route{}, fmt.Errorf("queue.strategy.route chose %q, which is not defined", id)
	}
	return id, r, nil
}

// Vars are the strategy variables of r at now.
func Vars(r *Recipient, now time.Time) queueexpr.Vars {
	v := queueexpr.Vars{
		Rcpt: r.Address, RcptDomain: r.Domain(), Sender: r.Sender, SenderDomain: address.DomainOf(r.Sender),
		Priority: r.Priority, RetryNum: r.Attempts, NotifyNum: r.NotifyNum, LastStatus: r.LastStatus, LastError: r.LastError,
		QueueName: r.Queue, QueueAge: int64(now.Sub(r.ReceivedAt).Seconds()), ReceivedFromIP: r.ReceivedFromIP,
		ReceivedViaPort: r.ReceivedViaPort, Source: string(r.Source), Size: r.Size,
	}
	if !r.Expires.IsZero() {
		v.ExpiresIn = int64(r.Expires.Sub(now).Seconds())
	}
	return v
}
