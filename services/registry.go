// Package services lists the services a jetmail node can run, by the names
// `jetmail serve` takes. Each service lives in its own package below this
// folder and is added here.
package services

import (
	"fmt"
	"sort"
	"strings"

	"github.com/jetmail/jetmail/services/acme"
	"github.com/jetmail/jetmail/services/calendar"
	"github.com/jetmail/jetmail/services/delivery"
	"github.com/jetmail/jetmail/services/indexer"
	"github.com/jetmail/jetmail/services/maintenance"
	"github.com/jetmail/jetmail/services/push"
	"github.com/jetmail/jetmail/services/reports"
	"github.com/jetmail/jetmail/services/scheduler"
	"github.com/jetmail/jetmail/services/smtp"
	"github.com/jetmail/jetmail/services/spamtrainer"
	"github.com/jetmail/jetmail/shared/certs"
	"github.com/jetmail/jetmail/shared/clusterstats"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/console"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// Components are what a node's services share, each built once (here, in
// Build) and handed to the services that need it.
type Components struct {
	queue    *mailqueue.Queue
	store    *store.Component
	certs    *certs.Component
	stats    *clusterstats.Component
	handlers *task.Handlers
}

// Stats are the cluster-wide figures (every node shows them), made the
// first time a service asks.
func (c *Components) Stats() *clusterstats.Component {
	if c.stats == nil {
		c.stats = clusterstats.NewComponent()
	}
	return c.stats
}

// Store is the node's mail store, made the first time a service asks: its
// directory only, unless a service that needs all of it (delivery) asks
// with all.
func (c *Components) Store(all bool) *store.Component {
	if c.store == nil {
		c.store = store.NewComponent(store.Params{DirectoryOnly: true})
	}
	if all {
		c.store.NeedAll()
	}
	return c.store
}

// Certs are the node's certificates (ACME's, for the TLS listeners),
// made the first time a service asks.
func (c *Components) Certs() *certs.Component {
	if c.certs == nil {
		c.certs = certs.NewComponent()
	}
	return c.certs
}

// TaskHandlers is the node's registry of task handlers: the scheduler runs
// what the services register in it.
func (c *Components) TaskHandlers() *task.Handlers {
	if c.handlers == nil {
		c.handlers = task.NewHandlers()
	}
	return c.handlers
}

// Queue is the node's outbound queue, made the first time a service asks.
func (c *Components) Queue() *mailqueue.Queue {
	if c.queue == nil {
		c.queue = mailqueue.New(mailqueue.Params{})
	}
	return c.queue
}

// Factory builds a service from the configuration and the shared
// components.
type Factory func(cfg *config.Config, c *Components) (node.Service, error)

// registry maps each service name to its factory; a new service adds its
// line here.
var registry = map[string]Factory{
	smtp.Name: func(cfg *config.Config, c *Components) (node.Service, error) {
		return smtp.New(cfg, c.Queue()).WithStore(c.Store(false)).WithCerts(c.Certs()), nil
	},
	delivery.Name: func(cfg *config.Config, c *Components) (node.Service, error) {
		return delivery.New(cfg, c.Queue()).WithStore(c.Store(true)), nil
	},
	indexer.Name: func(cfg *config.Config, c *Components) (node.Service, error) {
		return indexer.New(cfg, c.Store(true), indexer.Params{}), nil
	},
	maintenance.Name: func(cfg *config.Config, c *Components) (node.Service, error) {
		return maintenance.New(cfg, c.Store(true), maintenance.Params{Queue: c.Queue()}), nil
	},
	calendar.Name: func(cfg *config.Config, c *Components) (node.Service, error) {
		return calendar.New(cfg, c.Store(true), calendar.Params{Queue: c.Queue()}), nil
	},
	acme.Name: func(cfg *config.Config, c *Components) (node.Service, error) {
		return acme.New(cfg, c.Store(false), c.Certs(), acme.Params{}), nil
	},
	push.Name: func(cfg *config.Config, c *Components) (node.Service, error) {
		return push.New(cfg, c.Store(true), push.Params{}), nil
	},
	spamtrainer.Name: func(cfg *config.Config, c *Components) (node.Service, error) {
		return spamtrainer.New(cfg, c.Store(true), spamtrainer.Params{}), nil
	},
	reports.Name: func(cfg *config.Config, c *Components) (node.Service, error) {
		return reports.New(cfg, c.Store(false), c.Stats(), c.Queue(), reports.Params{}), nil
	},
	scheduler.Name: func(cfg *config.Config, _ *Components) (node.Service, error) {
		return scheduler.New(cfg, taskmanager.Params{Roles: rolesOfScheduler()}), nil
	},
}

// roleServices are the roles whose tasks a service of their own runs,
// wherever it runs; the scheduler runs the tasks of the other roles.
var roleServices = map[roles.Role]string{
	indexer.Role:           indexer.Name,
	roles.PurgeStores:      maintenance.Name,
	roles.PurgeAccounts:    maintenance.Name,
	spamtrainer.Role:       spamtrainer.Name,
	calendar.Role:          calendar.Name,
	calendar.RoleItip:      calendar.Name,
	push.Role:              push.Name,
	acme.Role:              acme.Name,
	roles.MetricsCalculate: reports.Name,
	roles.MetricsPush:      reports.Name,
}

// rolesOfScheduler are the roles no other service runs the tasks of.
func rolesOfScheduler() []roles.Role {
	// Not nil, which taskmanager.Params.Roles takes for every role: today
	// every role has a service, and the scheduler runs none.
	out := []roles.Role{}
	for _, r := range roles.All {
		if _, ok := roleServices[r]; !ok {
			out = append(out, r)
		}
	}
	return out
}

// Names lists the known services, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for name := range registry {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Build returns the named services, no names meaning every service, in
// the order a node starts them: the shared components first (the store
// and the queue, if a service uses them), so that they stop last.
func Build(cfg *config.Config, names []string) ([]node.Service, error) {
	if len(names) == 0 {
		names = Names()
	}
	c := &Components{}
	c.Certs() // every node answers HTTP-01 challenges
	c.Stats() // every node shows the cluster figures
	var out []node.Service
	for _, name := range names {
		f, ok := registry[name]
		if !ok {
			known := "none yet"
			if len(registry) > 0 {
				known = strings.Join(Names(), ", ")
			}
			return nil, fmt.Errorf("unknown service %q (services: %s)", name, known)
		}
		s, err := f(cfg, c)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", name, err)
		}
		out = append(out, s)
	}
	if c.queue != nil {
		// The node's deliveries count in the cluster's rate.
		c.stats.Count(clusterstats.CounterDeliveries, c.queue.Delivered)
		out = append([]node.Service{c.queue}, out...)
	}
	out = append([]node.Service{c.stats}, out...)
	if c.certs != nil {
		out = append([]node.Service{c.certs}, out...)
	}
	if c.store != nil {
		out = append([]node.Service{c.store}, out...)
	}
	// The console calls the services' API methods: it starts last and
	// stops first.
	out = append(out, console.NewComponent())
	return out, nil
}
