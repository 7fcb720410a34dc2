package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/jetmail/jetmail/shared/queueexpr"
	"github.com/jetmail/jetmail/shared/roles"
)

// validate applies the rules that span keys, and fills defaults that depend
// on other keys.
func (l *loader) validate() {
	c := l.cfg
	for _, r := range roles.All {
		if _, ok := c.Cluster.Roles[r]; !ok {
			c.Cluster.Roles[r] = roles.Shards{{c.Cluster.NodeID}}
		}
		if n := len(c.Cluster.Roles[r]); n > c.Cluster.Partitions {
			l.fail(roleKey(r), "%d shards but only %d partitions (cluster.partitions): every shard needs a partition", n, c.Cluster.Partitions)
		}
	}
	if c.Task.Periodic == nil {
		c.Task.Periodic = DefaultPeriodic
	}
	if c.Cluster.HeartbeatInterval >= c.Cluster.NodeTimeout {
		l.fail("cluster.node-timeout", "must be longer than cluster.heartbeat-interval (%s)", c.Cluster.HeartbeatInterval)
	}

	for _, name := range sortedKeys(c.Queue.Virtual) {
		key := "queue.virtual." + name
		if len(name) > MaxQueueNameBytes {
			l.fail(key, "virtual queue name %q is %d bytes; names are at most %d bytes", name, len(name), MaxQueueNameBytes)
		}
	}

	for _, id := range sortedKeys(c.Queue.Schedule) {
		key := "queue.schedule." + id
		s := c.Queue.Schedule[id]
		switch {
		case s.QueueName == "":
			l.fail(key+".queue-name", "missing: a schedule must name its virtual queue")
		default:
			if _, ok := c.Queue.Virtual[s.QueueName]; !ok {
				l.fail(key+".queue-name", "virtual queue %q is not defined (define queue.virtual.%s.threads-per-node)", s.QueueName, s.QueueName)
			}
		}
		if s.Expire > 0 && s.MaxAttempts > 0 {
			l.fail(key, "expire and max-attempts are both set; a schedule expires by one of them only")
		}
		if s.Retry == nil {
			s.Retry = slices.Clone(DefaultRetry)
		}
		if len(s.Retry) == 0 {
			l.fail(key+".retry", "must list at least one interval")
		}
		if s.Expire == 0 && s.MaxAttempts == 0 {
			s.Expire = DefaultExpire
		}
		c.Queue.Schedule[id] = s
	}

	if len(c.Queue.Strategy.Schedule) == 0 {
		l.fail("queue.strategy.schedule", "missing: list the rules that choose a schedule, ending with an else")
	} else if last := c.Queue.Strategy.Schedule[len(c.Queue.Strategy.Schedule)-1]; last.If != nil {
		l.fail("queue.strategy.schedule", "the last rule must be an else, so every recipient gets a schedule")
	}
	if len(c.Queue.Strategy.Route) == 0 {
		c.Queue.Strategy.Route = defaultRouteRules()
	}
	for _, t := range []RouteType{RouteMX, RouteLocal} {
		if _, ok := c.Queue.Route[string(t)]; !ok {
			c.Queue.Route[string(t)] = Route{Type: t, Port: 25}
		}
	}
	for i, r := range c.Queue.Strategy.Route {
		if r.Then == nil {
			continue
		}
		if id, ok := r.Then.Constant(); ok {
			if _, defined := c.Queue.Route[id]; !defined {
				key := fmt.Sprintf("queue.strategy.route[%d]", i)
				if keys := l.thenKeys["queue.strategy.route"]; i < len(keys) {
					key = keys[i]
				}
				l.fail(key, "route %q is not defined (define queue.route.%s)", id, id)
			}
		}
	}
	for name, u := range c.SMTP.Users {
		for i, a := range u.Addresses {
			if !strings.Contains(a, "@") {
				l.fail(fmt.Sprintf("smtp.users.%s.addresses[%d]", name, i), "%q is not an email address", a)
			}
		}
	}
	if (c.SMTP.TLSCert == "") != (c.SMTP.TLSKey == "") {
		l.fail("smtp.tls", "cert and key go together")
	}
	for i, r := range c.Queue.Strategy.Schedule {
		if r.Then == nil {
			continue
		}
		if id, ok := r.Then.Constant(); ok {
			if _, defined := c.Queue.Schedule[id]; !defined {
				l.fail(l.thenKeys["queue.strategy.schedule"][i], "schedule %q is not defined (define queue.schedule.%s)", id, id)
			}
		}
	}
}

func defaultRouteRules() []Rule {
	cond, _ := queueexpr.Compile("is_local_domain('*', rcpt_domain)", nil)
	local, _ := queueexpr.Compile("'local'", nil)
	mx, _ := queueexpr.Compile("'mx'", nil)
	return []Rule{{If: cond, Then: local}, {Then: mx}}
}

func roleKey(r roles.Role) string { return "cluster.roles." + string(r) }
