package config

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/jetmail/jetmail/shared/address"
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
	var doc map[string]any
	md, err := toml.Decode(string(data), &doc)
	if err != nil {
		return nil, fmt.Errorf("TOML syntax: %w%s", err, syntaxHint(data, err))
	}
	l := &loader{cfg: defaults(), thenKeys: map[string][]string{}}
	f, err := l.decode(md, doc)
	if err != nil {
		return nil, err
	}
	l.cluster(f)
	l.queue(f)
	l.nats(f)
	l.http(f)
	f.Storage.DataDir.to(&l.cfg.Storage.DataDir)
	f.Storage.IndexDir.to(&l.cfg.Storage.IndexDir)
	l.task(f)
	l.smtp(f)
	l.dkim(f)
	l.stores(f)
	l.sqlStores()
	l.api(f)
	l.spam(f)
	fp := &f.Push
	fp.MaxFailures.to(&l.cfg.Push.MaxFailures)
	fp.Timeout.to(&l.cfg.Push.Timeout)
	fp.Coalesce.to(&l.cfg.Push.Coalesce)
	fp.Concurrency.to(&l.cfg.Push.Concurrency)
	l.dns(f)
	fa, a := &f.ACME, &l.cfg.ACME
	fa.Directory.to(&a.Directory)
	fa.Contact.to(&a.Contact)
	fa.RenewBefore.to(&a.RenewBefore)
	fa.CAFile.to(&a.CAFile)
	fa.Challenge.to(&a.Challenge)
	l.oneOf("acme.challenge", fa.Challenge, "http-01", "dns-01", "tls-alpn-01")
	if u := a.Directory; u != "" && !strings.HasPrefix(u, "https://") {
		l.fail("acme.directory", "must be an https:// URL (RFC 8555 requires HTTPS), got %q", u)
	}
	for i, c := range a.Contact {
		if !strings.HasPrefix(c, "mailto:") {
			l.fail(fmt.Sprintf("acme.contact[%d]", i), "must be a mailto: URL, got %q", c)
		}
	}
	l.metrics(f)
	fr, r := &f.Report, &l.cfg.Report
	fr.Window.to(&r.Window)
	fr.OrgName.to(&r.OrgName)
	fr.Address.to(&r.Address)
	if w := r.Window; w < time.Minute || w > 24*time.Hour || (24*time.Hour)%w != 0 {
		l.fail("report.window", "must divide a day, from 1m to 1d (1h, 6h, 1d), got %s", duration.Format(w))
	}
	if a := r.Address; a != "" && !strings.Contains(a, "@") {
		l.fail("report.address", "must be an email address, got %q", a)
	}
	// The default queues apply when the file defines none of its own: other
	// queue settings (limits, routes) keep them.
	if q := &l.cfg.Queue; len(q.Virtual) == 0 && len(q.Schedule) == 0 && len(q.Strategy.Schedule) == 0 {
		var def file
		md, err := toml.Decode(defaultQueueTOML, &def)
		if err != nil {
			panic("default queue config: " + err.Error())
		}
		l.check(md, &def)
		l.queue(&def)
	}
	l.ranges(f)
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
	// exprs are the compiled expressions with their key paths, checked
	// against the stores once every section is read.
	exprs []keyedExpr
}

type keyedExpr struct {
	key string
	p   *queueexpr.Program
}

func (l *loader) fail(key, format string, args ...any) {
	l.problems = append(l.problems, Problem{Key: key, Reason: fmt.Sprintf(format, args...)})
}

// file mirrors the sections of the file that jetmail owns, each key named
// by its toml tag. Its values are vals, which take any TOML value, so that
// decoding goes on past a wrong one.
type file struct {
	Cluster struct {
		NodeID            nodeID             `toml:"node-id"`
		Partitions        val[int]           `toml:"partitions"`
		HeartbeatInterval val[time.Duration] `toml:"heartbeat-interval"`
		NodeTimeout       val[time.Duration] `toml:"node-timeout"`
		// Roles is read by roles: a role's name depends on how its group
		// is written.
		Roles map[string]any `toml:"roles"`
	} `toml:"cluster"`
	Queue struct {
		Virtual map[string]struct {
			ThreadsPerNode val[int] `toml:"threads-per-node"`
		} `toml:"virtual"`
		Schedule map[string]struct {
			QueueName   val[string]          `toml:"queue-name"`
			Retry       val[[]time.Duration] `toml:"retry"`
			Notify      val[[]time.Duration] `toml:"notify"`
			Expire      val[time.Duration]   `toml:"expire"`
			MaxAttempts val[int]             `toml:"max-attempts"`
		} `toml:"schedule"`
		Strategy struct {
			Schedule rules `toml:"schedule"`
			Route    rules `toml:"route"`
		} `toml:"strategy"`
		Route map[string]struct {
			Type    val[string] `toml:"type"`
			Address val[string] `toml:"address"`
			Port    val[int]    `toml:"port"`
			TLS     val[string] `toml:"tls"`
			Auth    struct {
				Username val[string] `toml:"username"`
				Secret   val[string] `toml:"secret"`
			} `toml:"auth"`
		} `toml:"route"`
		TLS struct {
			StartTLS val[string] `toml:"starttls"`
			MTASTS   val[bool]   `toml:"mta-sts"`
			DANE     val[bool]   `toml:"dane"`
			CAFile   val[string] `toml:"ca-file"`
		} `toml:"tls"`
		Resolver val[string] `toml:"resolver"`
		MXPort   val[int]    `toml:"mx-port"`
		Limits   struct {
			PerHost val[int] `toml:"per-host"`
		} `toml:"limits"`
		Timeout struct {
			Connect val[time.Duration] `toml:"connect"`
			Command val[time.Duration] `toml:"command"`
		} `toml:"timeout"`
		Trace struct {
			Retention val[time.Duration] `toml:"retention"`
		} `toml:"trace"`
	} `toml:"queue"`
	NATS struct {
		URL         val[string] `toml:"url"`
		Replicas    val[int]    `toml:"replicas"`
		Connections val[int]    `toml:"connections"`
		Creds       val[string] `toml:"creds"`
		NKey        val[string] `toml:"nkey"`
		User        val[string] `toml:"user"`
		Password    val[string] `toml:"password"`
		Token       val[string] `toml:"token"`
		TLS         struct {
			CA   val[string] `toml:"ca"`
			Cert val[string] `toml:"cert"`
			Key  val[string] `toml:"key"`
		} `toml:"tls"`
	} `toml:"nats"`
	HTTP struct {
		Listen val[string] `toml:"listen"`
		TLS    struct {
			Cert val[string] `toml:"cert"`
			Key  val[string] `toml:"key"`
		} `toml:"tls"`
	} `toml:"http"`
	Spam struct {
		Enable    val[bool] `toml:"enable"`
		Threshold struct {
			Junk   val[float64] `toml:"junk"`
			Reject val[float64] `toml:"reject"`
		} `toml:"threshold"`
		Rules struct {
			URL    val[string] `toml:"url"`
			SHA256 val[string] `toml:"sha256"`
		} `toml:"rules"`
		Samples struct {
			MaxPerAccount val[int] `toml:"max-per-account"`
		} `toml:"samples"`
	} `toml:"spam"`
	Push struct {
		MaxFailures val[int]           `toml:"max-failures"`
		Timeout     val[time.Duration] `toml:"timeout"`
		Coalesce    val[time.Duration] `toml:"coalesce"`
		Concurrency val[int]           `toml:"concurrency"`
	} `toml:"push"`
	DNS struct {
		Server map[string]struct {
			Address  val[string]        `toml:"address"`
			Protocol val[string]        `toml:"protocol"`
			Domains  val[[]string]      `toml:"domains"`
			Timeout  val[time.Duration] `toml:"timeout"`
			TSIG     struct {
				Name      val[string] `toml:"name"`
				Algorithm val[string] `toml:"algorithm"`
				Secret    val[string] `toml:"secret"`
			} `toml:"tsig"`
		} `toml:"server"`
		CAAIssuers val[[]string]      `toml:"caa-issuers"`
		TTL        val[time.Duration] `toml:"ttl"`
	} `toml:"dns"`
	ACME struct {
		Directory   val[string]        `toml:"directory"`
		Contact     val[[]string]      `toml:"contact"`
		RenewBefore val[time.Duration] `toml:"renew-before"`
		CAFile      val[string]        `toml:"ca-file"`
		Challenge   val[string]        `toml:"challenge"`
	} `toml:"acme"`
	Metrics struct {
		Calculate struct {
			Interval val[time.Duration] `toml:"interval"`
		} `toml:"calculate"`
		Push struct {
			URL      val[string]        `toml:"url"`
			Interval val[time.Duration] `toml:"interval"`
			Job      val[string]        `toml:"job"`
			Timeout  val[time.Duration] `toml:"timeout"`
			Username val[string]        `toml:"username"`
			Secret   val[string]        `toml:"secret"`
		} `toml:"push"`
	} `toml:"metrics"`
	Report struct {
		Window  val[time.Duration] `toml:"window"`
		OrgName val[string]        `toml:"org-name"`
		Address val[string]        `toml:"address"`
	} `toml:"report"`
	Storage struct {
		DataDir  val[string] `toml:"data-dir"`
		IndexDir val[string] `toml:"index-dir"`
	} `toml:"storage"`
	Task struct {
		Concurrency val[int] `toml:"concurrency"`
		Periodic    map[string]struct {
			Schedule     val[string] `toml:"schedule"`
			Task         taskJSON    `toml:"task"`
			PerPartition val[bool]   `toml:"per-partition"`
		} `toml:"periodic"`
	} `toml:"task"`
	API struct {
		Users map[string]struct {
			Secret      val[string]   `toml:"secret"`
			Permissions val[[]string] `toml:"permissions"`
		} `toml:"users"`
	} `toml:"api"`
	SMTP struct {
		Listen                   val[[]string] `toml:"listen"`
		Hostname                 val[string]   `toml:"hostname"`
		RelayNetworks            val[[]string] `toml:"relay-networks"`
		MaxMessageSize           val[int]      `toml:"max-message-size"`
		LocalDomains             val[[]string] `toml:"local-domains"`
		Postmaster               val[string]   `toml:"postmaster"`
		AllowPlainAuthOnLoopback val[bool]     `toml:"allow-plain-auth-on-loopback"`
		Checks                   struct {
			Enable  val[bool]          `toml:"enable"`
			Timeout val[time.Duration] `toml:"timeout"`
		} `toml:"checks"`
		TLS struct {
			Cert val[string] `toml:"cert"`
			Key  val[string] `toml:"key"`
		} `toml:"tls"`
		Users map[string]struct {
			Secret    val[string]   `toml:"secret"`
			Addresses val[[]string] `toml:"addresses"`
		} `toml:"users"`
		Limits struct {
			MaxConnections            val[int]           `toml:"max-connections"`
			MaxConnectionsPerIP       val[int]           `toml:"max-connections-per-ip"`
			IdleTimeout               val[time.Duration] `toml:"idle-timeout"`
			SessionTimeout            val[time.Duration] `toml:"session-timeout"`
			AuthFailuresPerConnection val[int]           `toml:"auth-failures-per-connection"`
			AuthFailuresPerIP         val[int]           `toml:"auth-failures-per-ip"`
			AuthLockout               val[time.Duration] `toml:"auth-lockout"`
			AuthFailureDelay          val[time.Duration] `toml:"auth-failure-delay"`
			Rate                      struct {
				IP      val[string] `toml:"ip"`
				Sender  val[string] `toml:"sender"`
				Account val[string] `toml:"account"`
			} `toml:"rate"`
		} `toml:"limits"`
		Greylist struct {
			Enable               val[bool]          `toml:"enable"`
			Delay                val[time.Duration] `toml:"delay"`
			MaxAge               val[time.Duration] `toml:"max-age"`
			RetryWindow          val[time.Duration] `toml:"retry-window"`
			AutoWhitelistClients val[int]           `toml:"auto-whitelist-clients"`
		} `toml:"greylist"`
	} `toml:"smtp"`
	DKIM map[string]struct {
		Selector   val[string]        `toml:"selector"`
		PrivateKey val[string]        `toml:"private-key"`
		Algorithm  val[string]        `toml:"algorithm"`
		Grace      val[time.Duration] `toml:"grace"`
	} `toml:"dkim"`
	Store map[string]storeFile `toml:"store"`
}

// decode checks the keys of doc, the file md describes, and decodes it into
// a file. toml.Decode stops at its first error and takes a key for a field
// whatever its case, so it only gets what passed this check: an unknown
// key is reported and dropped, and a value where a table belongs is
// reported and replaced by an empty table (whose entry, if it is one, is
// checked as empty).
func (l *loader) decode(md toml.MetaData, doc map[string]any) (*file, error) {
	for _, s := range sortedKeys(doc) {
		if _, ok := field(reflect.ValueOf(file{}), s); !ok {
			l.cfg.Ignored = append(l.cfg.Ignored, s)
			delete(doc, s)
		}
	}
	for _, k := range md.Keys() {
		v, n, known := resolve(reflect.ValueOf(file{}), k)
		_, isLeaf := v.Interface().(leaf)
		wantTable := n == len(k) && !isLeaf && (v.Kind() == reflect.Struct || v.Kind() == reflect.Map)
		parent := lookup(doc, k[:n-1])
		value, ok := parent[k[n-1]]
		switch _, isTable := value.(map[string]any); {
		case !ok:
			// Under a value dropped or replaced already.
		case !known:
			l.fail(strings.Join(k[:n], "."), "unknown key (known: %s)", strings.Join(tableKeys(v.Type()), ", "))
			delete(parent, k[n-1])
		case wantTable && !isTable:
			l.fail(strings.Join(k, "."), "must be a table, got %s", typeName(value))
			parent[k[n-1]] = map[string]any{}
		}
	}
	// toml decodes only text: encode what passed.
	var b strings.Builder
	if err := toml.NewEncoder(&b).Encode(doc); err != nil {
		return nil, err
	}
	var f file
	md, err := toml.Decode(b.String(), &f)
	if err != nil {
		return nil, err
	}
	l.check(md, &f)
	return &f, nil
}

// check reports what was wrong with each value of f, under its key.
func (l *loader) check(md toml.MetaData, f *file) {
	seen := map[string]bool{}
	for _, k := range md.Keys() {
		v, n, _ := resolve(reflect.ValueOf(f).Elem(), k)
		key := strings.Join(k[:n], ".")
		if lf, ok := v.Interface().(leaf); ok && !seen[key] {
			seen[key] = true
			l.report(key, lf)
		}
	}
}

func (l *loader) report(key string, lf leaf) {
	for _, p := range lf.problems() {
		l.problems = append(l.problems, Problem{Key: key + p.Key, Reason: p.Reason})
	}
}

// resolve follows k from v, a file, through struct fields by toml tag and
// map entries. It returns the value it reached and how many parts of k it
// took: it stops at a leaf and at a value of type any. known is false if
// the last part taken is not a key of the table v.
func resolve(v reflect.Value, k toml.Key) (_ reflect.Value, n int, known bool) {
	for i, part := range k {
		if _, ok := v.Interface().(leaf); ok {
			return v, i, true
		}
		switch v.Kind() {
		case reflect.Map:
			if e := v.MapIndex(reflect.ValueOf(part)); e.IsValid() {
				v = e
			} else {
				v = reflect.Zero(v.Type().Elem())
			}
		case reflect.Struct:
			f, ok := field(v, part)
			if !ok {
				return v, i + 1, false
			}
			v = f
		default:
			return v, i, true
		}
	}
	return v, len(k), true
}

// field returns the field of table v that is named key by its toml tag.
func field(v reflect.Value, key string) (reflect.Value, bool) {
	for i := range v.NumField() {
		if v.Type().Field(i).Tag.Get("toml") == key {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// tableKeys lists the keys of a table of the file, sorted.
func tableKeys(t reflect.Type) []string {
	keys := make([]string, t.NumField())
	for i := range keys {
		keys[i] = t.Field(i).Tag.Get("toml")
	}
	slices.Sort(keys)
	return keys
}

// lookup returns the table at path in doc, or nil.
func lookup(doc map[string]any, path []string) map[string]any {
	for _, part := range path {
		doc, _ = doc[part].(map[string]any)
	}
	return doc
}

// A leaf is a value of the file: a val, or a type built on one.
type leaf interface{ problems() []Problem }

// val is a value of type T read from the file: v is T's zero value unless
// set, and a value of the wrong type leaves it unset. What was wrong is kept
// in bad, with keys relative to the value's ("", "[1]", "[0].if").
type val[T any] struct {
	v   T
	set bool
	bad []Problem
}

func (x val[T]) problems() []Problem { return x.bad }

// to copies the value to dst if the file set it, and says whether it did.
func (x val[T]) to(dst *T) bool {
	if x.set {
		*dst = x.v
	}
	return x.set
}

func (x *val[T]) fail(key, format string, args ...any) {
	x.bad = append(x.bad, Problem{Key: key, Reason: fmt.Sprintf(format, args...)})
}

func (x *val[T]) UnmarshalTOML(data any) error {
	var v any
	ok := false
	switch any(x.v).(type) {
	case string:
		v, ok = x.str("", data)
	case int:
		var n int64
		n, ok = as[int64](x, "", data, "an integer")
		v = int(n)
	case bool:
		v, ok = as[bool](x, "", data, "true or false")
	case float64:
		// A number: 0.9, or 1 written as an integer.
		if n, isInt := data.(int64); isInt {
			v, ok = float64(n), true
		} else {
			v, ok = as[float64](x, "", data, "a number")
		}
	case []string:
		v, ok = x.strs(data)
	case time.Duration:
		v, ok = x.dur("", data)
	case []time.Duration:
		// A bad interval is reported and left out; the others stand.
		var list []string
		if list, ok = x.strs(data); ok {
			ds := make([]time.Duration, 0, len(list))
			for i, s := range list {
				if d, good := x.dur(fmt.Sprintf("[%d]", i), s); good {
					ds = append(ds, d)
				}
			}
			v = ds
		}
	}
	if ok {
		x.v, x.set = v.(T), true
	}
	return nil
}

// as returns data as a V, or reports at key that it must be want.
func as[V, T any](x *val[T], key string, data any, want string) (V, bool) {
	v, ok := data.(V)
	if !ok {
		x.fail(key, "must be %s, got %s", want, typeName(data))
	}
	return v, ok
}

func (x *val[T]) str(key string, data any) (string, bool) {
	return as[string](x, key, data, "a string")
}

func (x *val[T]) strs(data any) ([]string, bool) {
	list, ok := as[[]any](x, "", data, "a list of strings")
	out := make([]string, len(list))
	for i := 0; ok && i < len(list); i++ {
		out[i], ok = x.str(fmt.Sprintf("[%d]", i), list[i])
	}
	return out, ok
}

func (x *val[T]) dur(key string, data any) (time.Duration, bool) {
	s, ok := x.str(key, data)
	if !ok {
		return 0, false
	}
	d, err := duration.Parse(s)
	if err != nil {
		x.fail(key, "%v", err)
	}
	return d, err == nil
}

// nodeID is cluster.node-id, which the reference writes as a string or as
// an integer.
type nodeID struct{ val[string] }

func (x *nodeID) UnmarshalTOML(data any) error {
	if n, ok := data.(int64); ok {
		data = strconv.FormatInt(n, 10)
	}
	if s, ok := as[string](&x.val, "", data, "a string or an integer"); ok {
		if err := roles.CheckNodeID(s); err != nil {
			x.fail("", "%v", err)
		} else {
			x.v, x.set = s, true
		}
	}
	return nil
}

// rules is a strategy list: [{ if = "...", then = "..." }, { else = "..." }].
// TOML gives the items of an array no keys of their own, so rules reads its
// items itself, to report their problems by index.
type rules struct {
	val[[]Rule]
	// then is the key of each rule's result, relative to the list's.
	then []string
}

func (x *rules) UnmarshalTOML(data any) error {
	var items []any
	switch d := data.(type) {
	case []any:
		items = d
	case []map[string]any:
		for _, t := range d {
			items = append(items, t)
		}
	default:
		x.fail("", "must be a list of { if = ..., then = ... } and a final { else = ... }, got %s", typeName(data))
		return nil
	}
	x.set = true
	for i, item := range items {
		key := fmt.Sprintf("[%d]", i)
		m, ok := as[map[string]any](&x.val, key, item, `a table such as { if = "...", then = "..." }`)
		if !ok {
			continue
		}
		src := map[string]string{}
		for _, k := range sortedKeys(m) {
			if k != "if" && k != "then" && k != "else" {
				x.fail(key+"."+k, "unknown key (known: else, if, then)")
				continue
			}
			src[k], _ = x.str(key+"."+k, m[k])
		}
		compile := func(k string) *queueexpr.Program {
			p, err := queueexpr.Compile(src[k], nil)
			if err != nil {
				x.fail(key+"."+k, "expression %q does not compile: %s", src[k], oneLine(err))
			}
			return p
		}
		_, hasIf := m["if"]
		_, hasThen := m["then"]
		_, hasElse := m["else"]
		switch {
		case hasElse && !hasIf && !hasThen:
			x.v = append(x.v, Rule{Then: compile("else")})
			x.then = append(x.then, key+".else")
			if i != len(items)-1 {
				x.fail(key, "an else rule must come last")
			}
		case hasIf && hasThen && !hasElse:
			x.v = append(x.v, Rule{If: compile("if"), Then: compile("then")})
			x.then = append(x.then, key+".then")
		default:
			x.fail(key, "a rule has either if and then, or else alone")
		}
	}
	return nil
}

// storeFile is store.<id>. Only the SQL stores are jetmail's, each with the
// keys of its type; the stores of other software pass unchecked.
type storeFile struct {
	val[Store]
	raw map[string]any
}

func (x *storeFile) UnmarshalTOML(data any) error {
	m, ok := as[map[string]any](&x.val, "", data, "a table")
	if !ok {
		return nil
	}
	x.raw = m
	t, _ := m["type"].(string)
	x.v, x.set = Store{Type: t}, true
	key, dst := "path", &x.v.Path
	switch t {
	case "sqlite":
	case "postgresql":
		key, dst = "dsn", &x.v.DSN
	default:
		return nil
	}
	for _, k := range sortedKeys(m) {
		switch k {
		case "type":
		case key:
			*dst, _ = x.str("."+k, m[k])
		default:
			x.fail("."+k, "unknown key (known: %s, type)", key)
		}
	}
	return nil
}

// taskJSON is task.periodic.<name>.task: a table, kept as the JSON of the
// task to create (as for x:Task/set create).
type taskJSON struct{ val[json.RawMessage] }

func (x *taskJSON) UnmarshalTOML(data any) error {
	m, ok := as[map[string]any](&x.val, "", data, `a table such as { "@type" = "StoreMaintenance", maintenanceType = "purgeData" }`)
	if !ok {
		return nil
	}
	x.v, _ = json.Marshal(m)
	x.set = true
	if _, ok := m["status"]; ok {
		x.fail(".status", "a periodic task runs when its schedule fires; it has no status")
		return nil
	}
	_, _, errs := task.DecodeCreate(x.v)
	for _, e := range errs {
		x.fail(strings.TrimSuffix("."+strings.ReplaceAll(e.Property, "/", "."), "."), "%s", e.Reason)
	}
	return nil
}

func (l *loader) cluster(f *file) {
	c, fc := &l.cfg.Cluster, &f.Cluster
	fc.NodeID.to(&c.NodeID)
	fc.Partitions.to(&c.Partitions)
	fc.HeartbeatInterval.to(&c.HeartbeatInterval)
	fc.NodeTimeout.to(&c.NodeTimeout)
	l.roles(fc.Roles)
}

// roles reads cluster.roles. The reference writes a role either as a key of
// its group ([cluster.roles.purge] stores = [...]) or, for single-word roles,
// as a table holding a key of the same name ([cluster.roles.fts-indexing]
// fts-indexing = [...]); a plain array (cluster.roles.fts-indexing = [...])
// is accepted too.
func (l *loader) roles(groups map[string]any) {
	for _, group := range sortedKeys(groups) {
		key := "cluster.roles." + group
		names, ok := groups[group].(map[string]any)
		if !ok {
			l.role(key, group, groups[group])
			continue
		}
		for _, name := range sortedKeys(names) {
			role := group + "." + name
			if name == group {
				role = group
			}
			l.role(key+"."+name, role, names[name])
		}
	}
}

func (l *loader) role(key, name string, data any) {
	r, err := roles.Parse(name)
	if err != nil {
		l.fail(key, "%v", err)
		return
	}
	var lists val[[]string]
	_ = lists.UnmarshalTOML(data)
	if l.report(key, lists); !lists.set {
		return
	}
	shards, err := roles.ParseShards(lists.v)
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

func (l *loader) queue(f *file) {
	q, fq := &l.cfg.Queue, &f.Queue
	for name, v := range fq.Virtual {
		q.Virtual[name] = VirtualQueue{ThreadsPerNode: v.ThreadsPerNode.v}
	}
	for id, s := range fq.Schedule {
		q.Schedule[id] = Schedule{QueueName: s.QueueName.v, Retry: s.Retry.v, Notify: s.Notify.v, Expire: s.Expire.v, MaxAttempts: s.MaxAttempts.v}
	}
	l.rules("queue.strategy.schedule", fq.Strategy.Schedule, &q.Strategy.Schedule)
	l.rules("queue.strategy.route", fq.Strategy.Route, &q.Strategy.Route)
	for id, fr := range fq.Route {
		key := "queue.route." + id
		r := Route{Type: RouteType(fr.Type.v), Address: fr.Address.v, Port: 25, TLS: TLSMode(fr.TLS.v), Username: fr.Auth.Username.v, Secret: fr.Auth.Secret.v}
		fr.Port.to(&r.Port)
		l.oneOf(key+".type", fr.Type, string(RouteMX), string(RouteRelay), string(RouteLocal))
		l.oneOf(key+".tls", fr.TLS, string(TLSOpportunistic), string(TLSRequire), string(TLSNone))
		if r.Type == "" {
			l.fail(key+".type", `missing: "mx", "relay" or "local"`)
		}
		if r.Type == RouteRelay && r.Address == "" {
			l.fail(key+".address", "missing: a relay route needs the relay's host")
		}
		q.Route[id] = r
	}
	if fq.TLS.StartTLS.set {
		q.StartTLS = TLSMode(fq.TLS.StartTLS.v)
	}
	l.oneOf("queue.tls.starttls", fq.TLS.StartTLS, string(TLSOpportunistic), string(TLSRequire))
	fq.TLS.MTASTS.to(&q.MTASTS)
	fq.TLS.DANE.to(&q.DANE)
	fq.TLS.CAFile.to(&q.TLSCAFile)
	fq.Resolver.to(&q.Resolver)
	fq.MXPort.to(&q.MXPort)
	fq.Limits.PerHost.to(&q.MaxPerHost)
	fq.Timeout.Connect.to(&q.ConnectTimeout)
	fq.Timeout.Command.to(&q.CommandTimeout)
	fq.Trace.Retention.to(&q.TraceRetention)
}

func (l *loader) rules(key string, r rules, dst *[]Rule) {
	if r.to(dst) {
		l.thenKeys[key] = nil
		for i, k := range r.then {
			l.thenKeys[key] = append(l.thenKeys[key], key+k)
			if i < len(*dst) {
				l.exprs = append(l.exprs, keyedExpr{fmt.Sprintf("%s[%d].if", key, i), (*dst)[i].If}, keyedExpr{key + k, (*dst)[i].Then})
			}
		}
	}
}

// sqlStores checks that every store an expression's sql_query names is
// defined: otherwise every message it decides would get 451 at run time.
func (l *loader) sqlStores() {
	for _, e := range l.exprs {
		for _, id := range e.p.SQLStores() {
			if _, ok := l.cfg.Stores[id]; !ok {
				l.fail(e.key, "sql_query names store %q, which is not defined (define store.%s with type and path or dsn)", id, id)
			}
		}
	}
}

// metrics reads metrics.*.
func (l *loader) metrics(f *file) {
	fm, m := &f.Metrics, &l.cfg.Metrics
	fm.Calculate.Interval.to(&m.CalculateInterval)
	fp := &fm.Push
	fp.URL.to(&m.PushURL)
	fp.Interval.to(&m.PushInterval)
	fp.Job.to(&m.PushJob)
	fp.Timeout.to(&m.PushTimeout)
	fp.Username.to(&m.PushUsername)
	fp.Secret.to(&m.PushSecret)
	if u := m.PushURL; u != "" {
		pu, err := url.Parse(u)
		switch {
		case err != nil || pu.Host == "" || (pu.Scheme != "http" && pu.Scheme != "https"):
			l.fail("metrics.push.url", "must be an http:// or https:// URL of a Prometheus Pushgateway, got %q", redactURL(u))
		case pu.User != nil:
			l.fail("metrics.push.url", "must not hold credentials (set metrics.push.username and metrics.push.secret)")
		case pu.RawQuery != "" || pu.Fragment != "":
			l.fail("metrics.push.url", "must have no query or fragment, got %q", u)
		}
	}
	if m.PushJob == "" || strings.ContainsAny(m.PushJob, "/ ") {
		l.fail("metrics.push.job", "must be a non-empty name without / or spaces, got %q", m.PushJob)
	}
	if (m.PushUsername == "") != (m.PushSecret == "") {
		l.fail("metrics.push.secret", "metrics.push.username and metrics.push.secret go together: set both or neither")
	}
}

// redactURL is u without the password it may hold, for a message.
func redactURL(u string) string {
	if pu, err := url.Parse(u); err == nil {
		return pu.Redacted()
	}
	if i := strings.LastIndex(u, "@"); i >= 0 {
		return "…" + u[i:]
	}
	return u
}

func (l *loader) oneOf(key string, x val[string], allowed ...string) {
	if x.set && !slices.Contains(allowed, x.v) {
		l.fail(key, "%q is not one of %s", x.v, strings.Join(allowed, ", "))
	}
}

func (l *loader) nats(f *file) {
	n, fn := &l.cfg.NATS, &f.NATS
	fn.URL.to(&n.URL)
	fn.Creds.to(&n.Creds)
	fn.NKey.to(&n.NKey)
	fn.User.to(&n.User)
	fn.Password.to(&n.Password)
	fn.Token.to(&n.Token)
	fn.Replicas.to(&n.Replicas)
	fn.Connections.to(&n.Connections)
	fn.TLS.CA.to(&n.TLSCA)
	fn.TLS.Cert.to(&n.TLSCert)
	fn.TLS.Key.to(&n.TLSKey)
}

func (l *loader) task(f *file) {
	t, ft := &l.cfg.Task, &f.Task
	ft.Concurrency.to(&t.Concurrency)
	if ft.Periodic != nil {
		t.Periodic = map[string]Periodic{}
	}
	for name, p := range ft.Periodic {
		key := "task.periodic." + name
		if p.Schedule.set {
			if err := checkCron(p.Schedule.v); err != nil {
				l.fail(key+".schedule", "%v", err)
			}
		}
		if p.Schedule.v == "" {
			l.fail(key+".schedule", "missing: a cron expression such as \"0 0 * * * *\" or \"@every 1h\"")
		}
		if !p.Task.set {
			l.fail(key+".task", "missing: the task to create")
		}
		t.Periodic[name] = Periodic{Schedule: p.Schedule.v, Task: p.Task.v, PerPartition: p.PerPartition.v}
	}
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

func (l *loader) smtp(f *file) {
	s, fs := &l.cfg.SMTP, &f.SMTP
	fs.Listen.to(&s.Listen)
	fs.Hostname.to(&s.Hostname)
	for i, c := range fs.RelayNetworks.v {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			l.fail(fmt.Sprintf("smtp.relay-networks[%d]", i), "%q is not a network in CIDR form (127.0.0.0/8)", c)
			continue
		}
		s.RelayNetworks = append(s.RelayNetworks, n)
	}
	if m := fs.MaxMessageSize; m.set {
		if m.v < 1024 {
			l.fail("smtp.max-message-size", "must be at least 1024 bytes, got %d", m.v)
		}
		s.MaxMessageSize = int64(m.v)
	}
	if fs.LocalDomains.to(&s.LocalDomains) {
		for i, d := range s.LocalDomains {
			s.LocalDomains[i] = strings.ToLower(d)
		}
	}
	if fs.Postmaster.to(&s.Postmaster) {
		if _, err := address.Parse(s.Postmaster); err != nil {
			l.fail("smtp.postmaster", "%q is not an address (name@domain)", s.Postmaster)
		}
	}
	fs.AllowPlainAuthOnLoopback.to(&s.AllowPlainAuthOnLoopback)
	fs.Checks.Enable.to(&s.Checks)
	fs.Checks.Timeout.to(&s.ChecksTimeout)
	fs.TLS.Cert.to(&s.TLSCert)
	fs.TLS.Key.to(&s.TLSKey)
	for name, u := range fs.Users {
		if u.Secret.v == "" {
			l.fail("smtp.users."+name+".secret", "missing")
		}
		s.Users[name] = SMTPUser{Secret: u.Secret.v, Addresses: u.Addresses.v}
	}
	fl, lim := &fs.Limits, &s.Limits
	fl.MaxConnections.to(&lim.MaxConnections)
	fl.MaxConnectionsPerIP.to(&lim.MaxConnectionsPerIP)
	fl.IdleTimeout.to(&lim.IdleTimeout)
	fl.SessionTimeout.to(&lim.SessionTimeout)
	fl.AuthFailuresPerConnection.to(&lim.AuthFailuresPerConnection)
	fl.AuthFailuresPerIP.to(&lim.AuthFailuresPerIP)
	fl.AuthLockout.to(&lim.AuthLockout)
	fl.AuthFailureDelay.to(&lim.AuthFailureDelay)
	l.rate("smtp.limits.rate.ip", fl.Rate.IP, &lim.RateIP)
	l.rate("smtp.limits.rate.sender", fl.Rate.Sender, &lim.RateSender)
	l.rate("smtp.limits.rate.account", fl.Rate.Account, &lim.RateAccount)
	fg, g := &fs.Greylist, &s.Greylist
	fg.Enable.to(&g.Enable)
	fg.Delay.to(&g.Delay)
	fg.MaxAge.to(&g.MaxAge)
	fg.RetryWindow.to(&g.RetryWindow)
	fg.AutoWhitelistClients.to(&g.AutoWhitelistClients)
}

// rate reads a rate key ("100/1h") and checks its count and window
// against their ranges.
func (l *loader) rate(key string, x val[string], dst *Rate) {
	if !x.set {
		return
	}
	count, window, ok := strings.Cut(x.v, "/")
	n, err := strconv.Atoi(strings.TrimSpace(count))
	var d time.Duration
	if ok && err == nil {
		d, err = duration.Parse(window)
	}
	switch {
	case !ok || err != nil:
		l.fail(key, "%q is not a rate: write count/window, such as \"100/1h\"", x.v)
	case n < RateCountRange.Min || n > RateCountRange.Max:
		l.fail(key, "the count must be between %d and %d, got %d", RateCountRange.Min, RateCountRange.Max, n)
	case d < RateWindowRange.Min || d > RateWindowRange.Max:
		l.fail(key, "the window must be between %s and %s, got %s", duration.Format(RateWindowRange.Min), duration.Format(RateWindowRange.Max), duration.Format(d))
	case d%time.Second != 0:
		l.fail(key, "the window must be whole seconds, got %s", duration.Format(d))
	default:
		*dst = Rate{Count: n, Window: d}
	}
}

func (l *loader) spam(f *file) {
	sp, fs := &l.cfg.Spam, &f.Spam
	fs.Enable.to(&sp.Enable)
	fs.Threshold.Junk.to(&sp.JunkThreshold)
	fs.Threshold.Reject.to(&sp.RejectThreshold)
	fs.Rules.URL.to(&sp.RulesURL)
	fs.Rules.SHA256.to(&sp.RulesSHA256)
	fs.Samples.MaxPerAccount.to(&sp.MaxSamplesPerAccount)
	if sp.JunkThreshold <= 0 || sp.JunkThreshold > 1 {
		l.fail("spam.threshold.junk", "must be above 0 and at most 1 (a spam score), got %g", sp.JunkThreshold)
	}
	if r := sp.RejectThreshold; r != 0 && (r < 0 || r > 1 || r < sp.JunkThreshold) {
		l.fail("spam.threshold.reject", "must be 0 (off) or from spam.threshold.junk (%g) to 1, got %g", sp.JunkThreshold, r)
	}
	if u := sp.RulesURL; u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		l.fail("spam.rules.url", "must be an http:// or https:// URL, got %q", u)
	}
	if h := sp.RulesSHA256; h != "" {
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			l.fail("spam.rules.sha256", "must be 64 hex digits (a SHA-256), got %q", h)
		}
	}
}

func (l *loader) dns(f *file) {
	d, fd := &l.cfg.DNS, &f.DNS
	fd.CAAIssuers.to(&d.CAAIssuers)
	fd.TTL.to(&d.TTL)
	owner := map[string]string{}
	for _, id := range sortedKeys(fd.Server) {
		fs, key := fd.Server[id], "dns.server."+id
		s := DNSServer{Protocol: "tcp", TSIGAlgorithm: "hmac-sha256", Timeout: 10 * time.Second}
		fs.Address.to(&s.Address)
		fs.Protocol.to(&s.Protocol)
		fs.Domains.to(&s.Domains)
		fs.Timeout.to(&s.Timeout)
		fs.TSIG.Name.to(&s.TSIGName)
		fs.TSIG.Algorithm.to(&s.TSIGAlgorithm)
		fs.TSIG.Secret.to(&s.TSIGSecret)
		if _, _, err := net.SplitHostPort(s.Address); err != nil {
			l.fail(key+".address", "must be host:port, such as \"ns1.example.org:53\", got %q", s.Address)
		}
		l.oneOf(key+".protocol", fs.Protocol, "tcp", "udp")
		if len(s.Domains) == 0 {
			l.fail(key+".domains", "missing: the domains whose zones the server holds")
		}
		for i, dom := range s.Domains {
			dom = strings.ToLower(strings.TrimSuffix(dom, "."))
			s.Domains[i] = dom
			if other, ok := owner[dom]; ok {
				l.fail(key+".domains", "%s is already served by dns.server.%s", dom, other)
			}
			owner[dom] = id
		}
		if s.TSIGName != "" {
			l.oneOf(key+".tsig.algorithm", fs.TSIG.Algorithm, "hmac-sha256", "hmac-sha512", "hmac-sha1")
			if b, err := base64.StdEncoding.DecodeString(s.TSIGSecret); err != nil || len(b) == 0 {
				l.fail(key+".tsig.secret", "must be the key's secret in base64 (as tsig-keygen or keymgr prints it)")
			}
		} else if s.TSIGSecret != "" {
			l.fail(key+".tsig.name", "missing: the key's name, which tsig.secret goes with")
		}
		d.Servers[id] = s
	}
}

func (l *loader) dkim(f *file) {
	for domain, k := range f.DKIM {
		key := "dkim." + domain
		if k.Selector.v == "" {
			l.fail(key+".selector", "missing")
		}
		if k.PrivateKey.v == "" {
			l.fail(key+".private-key", "missing: a PEM file")
		}
		dk := DKIMKey{Selector: k.Selector.v, PrivateKey: k.PrivateKey.v, Algorithm: "rsa", Grace: 7 * 24 * time.Hour}
		k.Algorithm.to(&dk.Algorithm)
		k.Grace.to(&dk.Grace)
		l.oneOf(key+".algorithm", k.Algorithm, "rsa", "ed25519")
		DKIMGraceRange.check(l, key+".grace", dk.Grace)
		l.cfg.DKIM[strings.ToLower(domain)] = dk
	}
}

func (l *loader) stores(f *file) {
	for id, fs := range f.Store {
		key := "store." + id
		if dst := map[string]*time.Duration{"changelog": &l.cfg.Storage.ChangelogRetention, "archive": &l.cfg.Storage.ArchiveRetention,
			"trash": &l.cfg.Storage.TrashRetention, "junk": &l.cfg.Storage.JunkRetention,
			"duplicates": &l.cfg.Storage.DuplicateRetention}[id]; dst != nil {
			// The mail store's own settings, not a store of that id.
			for _, k := range sortedKeys(fs.raw) {
				if k != "retention" {
					l.fail(key+"."+k, "unknown key (known: retention)")
					continue
				}
				v, ok := fs.raw[k].(string)
				if !ok {
					l.fail(key+".retention", "must be a duration such as \"30d\", got %s", typeName(fs.raw[k]))
					continue
				}
				d, err := duration.Parse(v)
				if err != nil {
					l.fail(key+".retention", "%v", err)
					continue
				}
				*dst = d
			}
			continue
		}
		switch st := fs.v; {
		case !fs.set:
			continue
		case st.Type == "sqlite" && st.Path == "":
			l.fail(key+".path", "missing: the SQLite database file")
		case st.Type == "postgresql" && st.DSN == "":
			l.fail(key+".dsn", "missing: a connection string such as postgres://user:pass@host:5432/db")
		}
		l.cfg.Stores[id] = fs.v
	}
}

func (l *loader) api(f *file) {
	for name, u := range f.API.Users {
		key := "api.users." + name
		if len(u.Secret.v) < MinSecretLength {
			l.fail(key+".secret", "must be at least %d characters", MinSecretLength)
		}
		if len(u.Permissions.v) == 0 {
			l.fail(key+".permissions", "missing: list what the user may do, or [\"admin\"]")
		}
		l.cfg.API.Users[name] = APIUser{Secret: u.Secret.v, Permissions: u.Permissions.v}
	}
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
