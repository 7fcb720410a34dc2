package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/jetmail/jetmail/shared/duration"
	"github.com/jetmail/jetmail/shared/queueexpr"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/task"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Key is the key path, such as "queue.schedule.remote.queue-name".
	Key string
	// Reason says what is wrong.
	Reason string
}

func (p Problem) Error() string { return p.Key + ": " + p.Reason }

// Problems is every problem found in a configuration; it is the error Load
// and Parse return for an invalid file.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return fmt.Sprintf("%d configuration problem(s):\n  %s", len(ps), strings.Join(lines, "\n  "))
}

// Load reads and validates the TOML file at path. An empty path gives the
// defaults.
func Load(path string) (*Config, error) {
	if path == "" {
		return Parse(nil)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		var ps Problems
		if errors.As(err, &ps) {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse reads and validates a TOML document. A syntax error is returned
// as is (it names the line); otherwise the error, if any, is Problems.
func Parse(data []byte) (*Config, error) {
	var root map[string]any
	if _, err := toml.Decode(string(data), &root); err != nil {
		return nil, fmt.Errorf("TOML syntax: %w%s", err, syntaxHint(data, err))
	}
	l := &loader{cfg: defaults(), thenKeys: map[string][]string{}}
	l.load(root)
	// The default queues apply when the file defines none of its own: other
	// queue settings (limits, routes) keep them.
	if q := &l.cfg.Queue; len(q.Virtual) == 0 && len(q.Schedule) == 0 && len(q.Strategy.Schedule) == 0 {
		var def map[string]any
		if _, err := toml.Decode(defaultQueueTOML, &def); err != nil {
			panic("default queue config: " + err.Error())
		}
		l.queue(def["queue"])
	}
	l.validate()
	if len(l.problems) > 0 {
		sort.SliceStable(l.problems, func(i, j int) bool { return l.problems[i].Key < l.problems[j].Key })
		return nil, l.problems
	}
	return l.cfg, nil
}

type loader struct {
	cfg      *Config
	problems Problems
	// thenKeys remembers the key path of each rule's result, per rule list
	// ("queue.strategy.schedule"), for validation.
	thenKeys map[string][]string
}

func (l *loader) fail(key, format string, args ...any) {
	l.problems = append(l.problems, Problem{Key: key, Reason: fmt.Sprintf(format, args...)})
}

func (l *loader) load(root map[string]any) {
	for _, k := range sortedKeys(root) {
		v := root[k]
		switch k {
		case "cluster":
			l.cluster(v)
		case "queue":
			l.queue(v)
		case "nats":
			l.nats(v)
		case "http":
			l.table("http", v, fields{
				"listen": func(key string, v any) { l.str(key, v, &l.cfg.HTTP.Listen) },
			})
		case "task":
			l.task(v)
		case "smtp":
			l.smtp(v)
		case "dkim":
			l.dkim(v)
		case "store":
			l.stores(v)
		case "api":
			l.api(v)
		case "storage":
			l.table("storage", v, fields{
				"data-dir": func(key string, v any) { l.str(key, v, &l.cfg.Storage.DataDir) },
			})
		default:
			l.cfg.Ignored = append(l.cfg.Ignored, k)
		}
	}
}

// fields maps a table's keys to their readers; a key not in it is unknown.
type fields map[string]func(key string, v any)

func (l *loader) table(key string, v any, f fields) {
	m, ok := v.(map[string]any)
	if !ok {
		l.fail(key, "must be a table, got %s", typeName(v))
		return
	}
	for _, k := range sortedKeys(m) {
		read, ok := f[k]
		if !ok {
			l.fail(key+"."+k, "unknown key (known: %s)", strings.Join(sortedKeys(f), ", "))
			continue
		}
		read(key+"."+k, m[k])
	}
}

func (l *loader) cluster(v any) {
	c := &l.cfg.Cluster
	l.table("cluster", v, fields{
		"node-id": func(key string, v any) {
			switch x := v.(type) {
			case int64:
				c.NodeID = fmt.Sprint(x)
			case string:
				c.NodeID = x
			default:
				l.fail(key, "must be a string or an integer, got %s", typeName(v))
				return
			}
			if err := roles.CheckNodeID(c.NodeID); err != nil {
				l.fail(key, "%v", err)
			}
		},
		"partitions": func(key string, v any) {
			if l.integer(key, v, &c.Partitions) && (c.Partitions < 1 || c.Partitions > 1024) {
				l.fail(key, "must be between 1 and 1024, got %d", c.Partitions)
			}
		},
		"heartbeat-interval": func(key string, v any) { l.dur(key, v, &c.HeartbeatInterval) },
		"node-timeout":       func(key string, v any) { l.dur(key, v, &c.NodeTimeout) },
		"roles":              func(key string, v any) { l.roles(key, v) },
	})
}

// roles reads cluster.roles. The reference writes a role either as a key of
// its group ([cluster.roles.purge] stores = [...]) or, for single-word roles,
// as a table holding a key of the same name ([cluster.roles.fts-indexing]
// fts-indexing = [...]); a plain array (cluster.roles.fts-indexing = [...])
// is accepted too.
func (l *loader) roles(key string, v any) {
	m, ok := v.(map[string]any)
	if !ok {
		l.fail(key, "must be a table, got %s", typeName(v))
		return
	}
	for _, group := range sortedKeys(m) {
		gv := m[group]
		if sub, ok := gv.(map[string]any); ok {
			for _, name := range sortedKeys(sub) {
				role := group + "." + name
				if name == group {
					role = group
				}
				l.role(key+"."+group+"."+name, role, sub[name])
			}
			continue
		}
		l.role(key+"."+group, group, gv)
	}
}

func (l *loader) role(key, name string, v any) {
	r, err := roles.Parse(name)
	if err != nil {
		l.fail(key, "%v", err)
		return
	}
	lists, ok := l.strings(key, v)
	if !ok {
		return
	}
	shards, err := roles.ParseShards(lists)
	if err != nil {
		var errs interface{ Unwrap() []error }
		if errors.As(err, &errs) {
			for _, e := range errs.Unwrap() {
				var se *roles.ShardError
				if errors.As(e, &se) {
					l.fail(fmt.Sprintf("%s[%d]", key, se.Index), "%s", se.Reason)
				}
			}
		}
		return
	}
	if err := roles.Check(r, shards); err != nil {
		l.fail(key, "%v", err)
		return
	}
	l.cfg.Cluster.Roles[r] = shards
	l.cfg.Cluster.RolesSet[r] = true
}

func (l *loader) queue(v any) {
	q := &l.cfg.Queue
	l.table("queue", v, fields{
		"virtual": func(key string, v any) {
			l.each(key, v, func(name string, key string, v any) {
				var vq VirtualQueue
				l.table(key, v, fields{
					"threads-per-node": func(key string, v any) { l.integer(key, v, &vq.ThreadsPerNode) },
				})
				q.Virtual[name] = vq
			})
		},
		"schedule": func(key string, v any) {
			l.each(key, v, func(id string, key string, v any) {
				var s Schedule
				l.table(key, v, fields{
					"queue-name":   func(key string, v any) { l.str(key, v, &s.QueueName) },
					"retry":        func(key string, v any) { s.Retry = l.durations(key, v) },
					"notify":       func(key string, v any) { s.Notify = l.durations(key, v) },
					"expire":       func(key string, v any) { l.dur(key, v, &s.Expire) },
					"max-attempts": func(key string, v any) { l.integer(key, v, &s.MaxAttempts) },
				})
				q.Schedule[id] = s
			})
		},
		"strategy": func(key string, v any) {
			l.table(key, v, fields{
				"schedule": func(key string, v any) { q.Strategy.Schedule = l.rules(key, v) },
				"route":    func(key string, v any) { q.Strategy.Route = l.rules(key, v) },
			})
		},
		"route": func(key string, v any) {
			l.each(key, v, func(id, key string, v any) {
				r := Route{Port: 25}
				l.table(key, v, fields{
					"type":    func(key string, v any) { l.oneOf(key, v, &r.Type, "mx", "relay", "local") },
					"address": func(key string, v any) { l.str(key, v, &r.Address) },
					"port":    func(key string, v any) { l.integer(key, v, &r.Port) },
					"tls":     func(key string, v any) { l.oneOf(key, v, &r.TLS, "opportunistic", "require", "none") },
					"auth": func(key string, v any) {
						l.table(key, v, fields{
							"username": func(key string, v any) { l.str(key, v, &r.Username) },
							"secret":   func(key string, v any) { l.str(key, v, &r.Secret) },
						})
					},
				})
				if r.Type == "" {
					l.fail(key+".type", `missing: "mx", "relay" or "local"`)
				}
				if r.Type == "relay" && r.Address == "" {
					l.fail(key+".address", "missing: a relay route needs the relay's host")
				}
				q.Route[id] = r
			})
		},
		"tls": func(key string, v any) {
			l.table(key, v, fields{
				"starttls": func(key string, v any) { l.oneOf(key, v, &q.StartTLS, "opportunistic", "require") },
			})
		},
		"resolver": func(key string, v any) { l.str(key, v, &q.Resolver) },
		"limits": func(key string, v any) {
			l.table(key, v, fields{
				"per-host": func(key string, v any) {
					if l.integer(key, v, &q.MaxPerHost) && q.MaxPerHost < 1 {
						l.fail(key, "must be at least 1, got %d", q.MaxPerHost)
					}
				},
			})
		},
		"timeout": func(key string, v any) {
			l.table(key, v, fields{
				"connect": func(key string, v any) { l.dur(key, v, &q.ConnectTimeout) },
				"command": func(key string, v any) { l.dur(key, v, &q.CommandTimeout) },
			})
		},
	})
}

func (l *loader) oneOf(key string, v any, dst *string, allowed ...string) {
	if !l.str(key, v, dst) {
		return
	}
	if !slices.Contains(allowed, *dst) {
		l.fail(key, "%q is not one of %s", *dst, strings.Join(allowed, ", "))
	}
}

func (l *loader) smtp(v any) {
	s := &l.cfg.SMTP
	l.table("smtp", v, fields{
		"listen": func(key string, v any) {
			if list, ok := l.strings(key, v); ok {
				s.Listen = list
			}
		},
		"hostname": func(key string, v any) { l.str(key, v, &s.Hostname) },
		"relay-networks": func(key string, v any) {
			if list, ok := l.strings(key, v); ok {
				for i, c := range list {
					_, n, err := net.ParseCIDR(c)
					if err != nil {
						l.fail(fmt.Sprintf("%s[%d]", key, i), "%q is not a network in CIDR form (127.0.0.0/8)", c)
						continue
					}
					s.RelayNetworks = append(s.RelayNetworks, n)
				}
			}
		},
		"max-message-size": func(key string, v any) {
			var n int
			if l.integer(key, v, &n) {
				if n < 1024 {
					l.fail(key, "must be at least 1024 bytes, got %d", n)
				}
				s.MaxMessageSize = int64(n)
			}
		},
		"local-domains": func(key string, v any) {
			if list, ok := l.strings(key, v); ok {
				for i, d := range list {
					list[i] = strings.ToLower(d)
				}
				s.LocalDomains = list
			}
		},
		"allow-plain-auth-on-loopback": func(key string, v any) {
			b, ok := v.(bool)
			if !ok {
				l.fail(key, "must be true or false, got %s", typeName(v))
			}
			s.AllowPlainAuthOnLoopback = b
		},
		"tls": func(key string, v any) {
			l.table(key, v, fields{
				"cert": func(key string, v any) { l.str(key, v, &s.TLSCert) },
				"key":  func(key string, v any) { l.str(key, v, &s.TLSKey) },
			})
		},
		"users": func(key string, v any) {
			l.each(key, v, func(name, key string, v any) {
				var u SMTPUser
				l.table(key, v, fields{
					"secret": func(key string, v any) { l.str(key, v, &u.Secret) },
					"addresses": func(key string, v any) {
						if list, ok := l.strings(key, v); ok {
							u.Addresses = list
						}
					},
				})
				if u.Secret == "" {
					l.fail(key+".secret", "missing")
				}
				s.Users[name] = u
			})
		},
	})
}

// stores reads store.<id>. Only the SQL stores are jetmail's: their keys
// are checked; other stores of a Stalwart file pass untouched.
func (l *loader) stores(v any) {
	l.each("store", v, func(id, key string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			l.fail(key, "must be a table, got %s", typeName(v))
			return
		}
		var st Store
		if t, ok := m["type"].(string); ok {
			st.Type = t
		}
		switch st.Type {
		case "sqlite":
			l.table(key, m, fields{
				"type": func(string, any) {},
				"path": func(key string, v any) { l.str(key, v, &st.Path) },
			})
			if st.Path == "" {
				l.fail(key+".path", "missing: the SQLite database file")
			}
		case "postgresql":
			l.table(key, m, fields{
				"type": func(string, any) {},
				"dsn":  func(key string, v any) { l.str(key, v, &st.DSN) },
			})
			if st.DSN == "" {
				l.fail(key+".dsn", "missing: a connection string such as postgres://user:pass@host:5432/db")
			}
		}
		l.cfg.Stores[id] = st
	})
}

func (l *loader) dkim(v any) {
	l.each("dkim", v, func(domain, key string, v any) {
		var k DKIMKey
		l.table(key, v, fields{
			"selector":    func(key string, v any) { l.str(key, v, &k.Selector) },
			"private-key": func(key string, v any) { l.str(key, v, &k.PrivateKey) },
		})
		if k.Selector == "" {
			l.fail(key+".selector", "missing")
		}
		if k.PrivateKey == "" {
			l.fail(key+".private-key", "missing: a PEM file")
		}
		l.cfg.DKIM[strings.ToLower(domain)] = k
	})
}

func (l *loader) rules(key string, v any) []Rule {
	list, ok := v.([]any)
	if tables, isTables := v.([]map[string]any); isTables {
		list, ok = make([]any, len(tables)), true
		for i, t := range tables {
			list[i] = t
		}
	}
	if !ok {
		l.fail(key, "must be a list of { if = ..., then = ... } and a final { else = ... }, got %s", typeName(v))
		return nil
	}
	var out []Rule
	for i, item := range list {
		ikey := fmt.Sprintf("%s[%d]", key, i)
		m, ok := item.(map[string]any)
		if !ok {
			l.fail(ikey, "must be a table such as { if = \"...\", then = \"...\" }, got %s", typeName(item))
			continue
		}
		var r Rule
		var ifSrc, thenSrc, elseSrc string
		l.table(ikey, m, fields{
			"if":   func(key string, v any) { l.str(key, v, &ifSrc) },
			"then": func(key string, v any) { l.str(key, v, &thenSrc) },
			"else": func(key string, v any) { l.str(key, v, &elseSrc) },
		})
		compile := func(k, src string) *queueexpr.Program {
			p, err := queueexpr.Compile(src, nil)
			if err != nil {
				l.fail(k, "expression %q does not compile: %s", src, oneLine(err))
				return nil
			}
			return p
		}
		_, hasIf := m["if"]
		_, hasThen := m["then"]
		_, hasElse := m["else"]
		switch {
		case hasElse && !hasIf && !hasThen:
			r.Then = compile(ikey+".else", elseSrc)
			l.thenKeys[key] = append(l.thenKeys[key], ikey+".else")
			if i != len(list)-1 {
				l.fail(ikey, "an else rule must come last")
			}
		case hasIf && hasThen && !hasElse:
			r.If = compile(ikey+".if", ifSrc)
			r.Then = compile(ikey+".then", thenSrc)
			l.thenKeys[key] = append(l.thenKeys[key], ikey+".then")
		default:
			l.fail(ikey, "a rule has either if and then, or else alone")
			continue
		}
		out = append(out, r)
	}
	return out
}

func (l *loader) task(v any) {
	t := &l.cfg.Task
	l.table("task", v, fields{
		"concurrency": func(key string, v any) {
			if l.integer(key, v, &t.Concurrency) && t.Concurrency < 1 {
				l.fail(key, "must be at least 1, got %d", t.Concurrency)
			}
		},
		"periodic": func(key string, v any) {
			t.Periodic = map[string]Periodic{}
			l.each(key, v, func(name, key string, v any) {
				var p Periodic
				l.table(key, v, fields{
					"schedule": func(key string, v any) {
						if l.str(key, v, &p.Schedule) {
							if err := checkCron(p.Schedule); err != nil {
								l.fail(key, "%v", err)
							}
						}
					},
					"task": func(key string, v any) {
						m, ok := v.(map[string]any)
						if !ok {
							l.fail(key, "must be a table such as { \"@type\" = \"StoreMaintenance\", maintenanceType = \"purgeData\" }, got %s", typeName(v))
							return
						}
						p.Task, _ = json.Marshal(m)
						if _, ok := m["status"]; ok {
							l.fail(key+".status", "a periodic task runs when its schedule fires; it has no status")
							return
						}
						if _, _, errs := task.DecodeCreate(p.Task); len(errs) > 0 {
							for _, e := range errs {
								l.fail(strings.TrimSuffix(key+"."+strings.ReplaceAll(e.Property, "/", "."), "."), "%s", e.Reason)
							}
						}
					},
				})
				if p.Schedule == "" {
					l.fail(key+".schedule", "missing: a cron expression such as \"0 0 * * * *\" or \"@every 1h\"")
				}
				if p.Task == nil {
					l.fail(key+".task", "missing: the task to create")
				}
				t.Periodic[name] = p
			})
		},
	})
}

// checkCron checks the form the server accepts: "@every <duration>" or six
// fields, seconds first. The server checks each field when the schedule is
// installed.
func checkCron(s string) error {
	if d, ok := strings.CutPrefix(s, "@every "); ok {
		v, err := duration.Parse(d)
		if err != nil {
			return err
		}
		if v < time.Second {
			return fmt.Errorf("@every needs at least 1s")
		}
		return nil
	}
	if n := len(strings.Fields(s)); n != 6 {
		return fmt.Errorf("cron expression %q has %d fields; use 6 (seconds minutes hours day-of-month month day-of-week) or \"@every <duration>\"", s, n)
	}
	return nil
}

func (l *loader) api(v any) {
	a := &l.cfg.API
	l.table("api", v, fields{
		"users": func(key string, v any) {
			l.each(key, v, func(name, key string, v any) {
				var u APIUser
				l.table(key, v, fields{
					"secret": func(key string, v any) { l.str(key, v, &u.Secret) },
					"permissions": func(key string, v any) {
						if list, ok := l.strings(key, v); ok {
							u.Permissions = list
						}
					},
				})
				if len(u.Secret) < 12 {
					l.fail(key+".secret", "must be at least 12 characters")
				}
				if len(u.Permissions) == 0 {
					l.fail(key+".permissions", "missing: list what the user may do, or [\"admin\"]")
				}
				a.Users[name] = u
			})
		},
	})
}

func (l *loader) nats(v any) {
	n := &l.cfg.NATS
	l.table("nats", v, fields{
		"url":      func(key string, v any) { l.str(key, v, &n.URL) },
		"creds":    func(key string, v any) { l.str(key, v, &n.Creds) },
		"user":     func(key string, v any) { l.str(key, v, &n.User) },
		"password": func(key string, v any) { l.str(key, v, &n.Password) },
		"token":    func(key string, v any) { l.str(key, v, &n.Token) },
		"replicas": func(key string, v any) {
			if l.integer(key, v, &n.Replicas) && (n.Replicas < 1 || n.Replicas > 5) {
				l.fail(key, "must be between 1 and 5, got %d", n.Replicas)
			}
		},
		"connections": func(key string, v any) {
			if l.integer(key, v, &n.Connections) && (n.Connections < 1 || n.Connections > 64) {
				l.fail(key, "must be between 1 and 64, got %d", n.Connections)
			}
		},
		"tls": func(key string, v any) {
			l.table(key, v, fields{
				"ca":   func(key string, v any) { l.str(key, v, &n.TLSCA) },
				"cert": func(key string, v any) { l.str(key, v, &n.TLSCert) },
				"key":  func(key string, v any) { l.str(key, v, &n.TLSKey) },
			})
		},
	})
}

// each calls f for every sub-table of a table of named entries.
func (l *loader) each(key string, v any, f func(name, key string, v any)) {
	m, ok := v.(map[string]any)
	if !ok {
		l.fail(key, "must be a table, got %s", typeName(v))
		return
	}
	for _, name := range sortedKeys(m) {
		f(name, key+"."+name, m[name])
	}
}

func (l *loader) str(key string, v any, dst *string) bool {
	s, ok := v.(string)
	if !ok {
		l.fail(key, "must be a string, got %s", typeName(v))
		return false
	}
	*dst = s
	return true
}

func (l *loader) integer(key string, v any, dst *int) bool {
	n, ok := v.(int64)
	if !ok {
		l.fail(key, "must be an integer, got %s", typeName(v))
		return false
	}
	*dst = int(n)
	return true
}

func (l *loader) strings(key string, v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		l.fail(key, "must be a list of strings, got %s", typeName(v))
		return nil, false
	}
	out := make([]string, 0, len(list))
	for i, item := range list {
		s, ok := item.(string)
		if !ok {
			l.fail(fmt.Sprintf("%s[%d]", key, i), "must be a string, got %s", typeName(item))
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func (l *loader) dur(key string, v any, dst *time.Duration) bool {
	var s string
	if !l.str(key, v, &s) {
		return false
	}
	d, err := duration.Parse(s)
	if err != nil {
		l.fail(key, "%v", err)
		return false
	}
	*dst = d
	return true
}

func (l *loader) durations(key string, v any) []time.Duration {
	list, ok := l.strings(key, v)
	if !ok {
		return nil
	}
	out := make([]time.Duration, 0, len(list))
	for i, s := range list {
		d, err := duration.Parse(s)
		if err != nil {
			l.fail(fmt.Sprintf("%s[%d]", key, i), "%v", err)
			continue
		}
		out = append(out, d)
	}
	return out
}

// syntaxHint explains the commonest mistake in strategy rules: an expression
// in a double-quoted TOML string that itself uses double quotes, as in
// "sql_query("my-db", ...)".
func syntaxHint(data []byte, err error) string {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return ""
	}
	lines := strings.Split(string(data), "\n")
	if n := pe.Position.Line; n >= 1 && n <= len(lines) && strings.Contains(lines[n-1], "(\"") {
		return "; an expression inside a double-quoted TOML string must write its own strings in single quotes ('my-db') or escape its double quotes (\\\")"
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "a list"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.SplitN(err.Error(), "\n", 2)[0]), " ")
}
