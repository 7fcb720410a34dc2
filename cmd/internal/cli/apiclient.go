package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/natsconn"
)

// devSecretFile is where `jetmail dev` keeps its admin API secret.
const devSecretFile = "admin.secret"

// apiFlags are the flags of the commands that call the admin API.
func apiFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "api", Value: "http://127.0.0.1:8080/jmap", Usage: "admin API `URL`, or \"nats\" to call it over NATS (--nats-url, --nats-nkey, ...) as API user --user, authenticated by the NATS identity alone", EnvVars: []string{"JETMAIL_API"}},
		&cli.StringFlag{Name: "token", Usage: "API `SECRET`, sent as a bearer token (default: the secret jetmail dev wrote to DIR/admin.secret, DIR being --data-dir, else ./data)", EnvVars: []string{"JETMAIL_TOKEN"}},
		devDirFlag(),
		&cli.StringFlag{Name: "user", Usage: "API user: for basic authentication (with --token as its secret), or the user to call as over NATS (default admin)", EnvVars: []string{"JETMAIL_USER"}},
		&cli.StringFlag{Name: "ca", Usage: "PEM `FILE` of the CA that signed the node's http.tls certificate, for an https:// --api (default: the system's CAs)", EnvVars: []string{"JETMAIL_API_CA"}},
		outputFlag(),
	}, natsFlags(defaultAdminURL)...)
}

func apiClient(c *cli.Context) (*jmap.Client, error) {
	if c.String("api") == "nats" {
		var n config.NATS
		applyNATSFlags(c, &n)
		user := c.String("user")
		if user == "" {
			user = "admin"
		}
		errw := c.App.ErrWriter
		nc, err := natsconn.Connect(n, "jetmail cli", nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			// A refused publish has no reply: say so now rather than at
			// the request's timeout.
			if errors.Is(err, nats.ErrPermissionViolation) {
				fmt.Fprintf(errw, "jetmail: NATS refused this identity: %v (may it call the API as user %s? see jetmail nats-auth)\n", err, user)
				os.Exit(ExitFailure)
			}
		}))
		if err != nil {
			return nil, cli.Exit(err.Error(), ExitFailure)
		}
		return &jmap.Client{NATS: nc, User: user}, nil
	}
	secret := c.String("token")
	if secret == "" {
		if b, err := os.ReadFile(filepath.Join(devDir(c), devSecretFile)); err == nil {
			secret = strings.TrimSpace(string(b))
		}
	}
	if secret == "" {
		return nil, cli.Exit("no API credentials: give --token (or JETMAIL_TOKEN), or --data-dir DIR of a jetmail dev node (default ./data)", ExitUsage)
	}
	auth := "Bearer " + secret
	if u := c.String("user"); u != "" {
		auth = "Basic " + basicAuth(u, secret)
	}
	cl := &jmap.Client{URL: c.String("api"), Authorization: auth}
	if ca := c.String("ca"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, cli.Exit(fmt.Sprintf("--ca: %v", err), ExitUsage)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, cli.Exit(fmt.Sprintf("--ca: %s holds no PEM certificate", ca), ExitUsage)
		}
		cl.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	}
	return cl, nil
}

// apiError turns an API error into a clean exit: a usage error when the
// server refused the request as invalid, a failure otherwise.
func apiError(err error) error {
	var me *jmap.MethodError
	if errors.As(err, &me) {
		code := ExitFailure
		if me.Type == "invalidArguments" || me.Type == "unsupportedFilter" || me.Type == "unsupportedSort" || me.Type == "forbidden" {
			code = ExitUsage
		}
		return cli.Exit(fmt.Sprintf("%s: %s", me.Type, me.Description), code)
	}
	var p *jmap.Problem
	if errors.As(err, &p) {
		return cli.Exit(fmt.Sprintf("%s (HTTP %d)", p.Detail, p.Status), ExitFailure)
	}
	return cli.Exit(err.Error(), ExitFailure)
}

// timeFlags reads the time flags given (parseWhen) into their
// destinations, in UTC; a flag not given leaves its destination nil.
func timeFlags(c *cli.Context, flags map[string]**time.Time) error {
	for flag, dst := range flags {
		if s := c.String(flag); s != "" {
			t, err := parseWhen(s)
			if err != nil {
				return cli.Exit("--"+flag+" "+err.Error(), ExitUsage)
			}
			t = t.UTC()
			*dst = &t
		}
	}
	return nil
}

// parseWhen reads a time as RFC 3339, "now", or "+<duration>" from now
// ("-<duration>" before it).
func parseWhen(s string) (time.Time, error) {
	switch {
	case s == "":
		return time.Time{}, fmt.Errorf("is required: RFC 3339 (2026-01-02T15:04:05Z), now, or +<duration> such as +10m")
	case s == "now":
		return time.Now(), nil
	case strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-"):
		d, err := time.ParseDuration(s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: use RFC 3339, now, or +<duration> such as +10m", s)
		}
		return time.Now().Add(d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: use RFC 3339 (2026-01-02T15:04:05Z), now, or +<duration> such as +10m", s)
	}
	return t, nil
}

// progress reports bulk work on w: a bar on a terminal, lines otherwise.
type progress struct {
	w     io.Writer
	verb  string
	total int
	tty   bool
	last  time.Time
	start time.Time
}

func newProgress(w io.Writer, verb string, total int) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, verb: verb, total: total, tty: tty, start: time.Now()}
}

// counts reports bulk work whose total is not known beforehand (a
// stream): how much is done, at what rate, and how much was skipped and
// failed; final ends the line.
func (p *progress) counts(done, skipped, failed int, final bool) {
	if !final && !p.tty && time.Since(p.last) < time.Second {
		return
	}
	p.last = time.Now()
	line := fmt.Sprintf("%s %d (%s), %d skipped, %d failed", p.verb, done, p.rate(done+skipped+failed), skipped, failed)
	switch {
	case p.tty && final:
		fmt.Fprintf(p.w, "\r%s\n", line)
	case p.tty:
		fmt.Fprintf(p.w, "\r%s", line)
	default:
		fmt.Fprintln(p.w, line)
	}
}

// rate is n over the time since the start, per second.
func (p *progress) rate(n int) string {
	secs := time.Since(p.start).Seconds()
	if secs <= 0 {
		return "- /s"
	}
	return fmt.Sprintf("%.1f/s", float64(n)/secs)
}

func (p *progress) update(done int) {
	if p.tty {
		const width = 30
		filled := 0
		if p.total > 0 {
			filled = done * width / p.total
		}
		fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d", p.verb, strings.Repeat("#", filled), strings.Repeat(" ", width-filled), done, p.total)
		if done == p.total {
			fmt.Fprintln(p.w)
		}
		return
	}
	if done == p.total || time.Since(p.last) > time.Second {
		fmt.Fprintf(p.w, "%s %d/%d\n", p.verb, done, p.total)
		p.last = time.Now()
	}
}
