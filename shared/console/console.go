package console

import (
	"context"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/kvttl"
	"github.com/jetmail/jetmail/shared/lifecycle"
	"github.com/jetmail/jetmail/shared/node"
)

// Name is the component's name among a node's services.
const Name = "console"

// Path is where the console is served on the admin HTTP listener.
const Path = "/ui/"

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Component serves the console on a node's HTTP listener: built once per
// node (every node serves it), started after the services whose API
// methods it calls.
type Component struct {
	life lifecycle.Lifecycle
	c    *console
}

// NewComponent returns the component.
func NewComponent() *Component { return &Component{} }

// Name implements node.Service.
func (c *Component) Name() string { return Name }

// WithoutRoleWork implements node.WithoutRoleWork.
func (*Component) WithoutRoleWork() {}

// Start implements node.Service: it opens the session bucket and serves
// the pages. A node without an HTTP listener serves no console.
func (c *Component) Start(ctx context.Context, d node.Deps) error {
	return c.life.Start(ctx, func(ctx context.Context, undo *lifecycle.Undo) error {
		if d.HTTP == nil || d.Config.HTTP.Listen == "" {
			return nil
		}
		b, err := kvttl.Open(ctx, d.JS(), SessionBucket, "jetmail web console sessions", d.Config.NATS.Replicas)
		if err != nil {
			return err
		}
		con, err := newConsole(d, openSessions(b, d.Clock.Now), d.Clock)
		if err != nil {
			return err
		}
		c.c = con
		d.HTTP.HandleHTTP(Path, con.routes())
		return nil
	})
}

// Shutdown implements node.Service.
func (c *Component) Shutdown(ctx context.Context) error { return c.life.Stop(ctx) }

// console is the pages and what they need.
type console struct {
	api      *jmap.Server
	buckets  *cluster.Buckets
	nodeID   string
	log      *slog.Logger
	clock    clock.Clock
	sessions *sessions
	pages    map[string]*template.Template
}

func newConsole(d node.Deps, s *sessions, clk clock.Clock) (*console, error) {
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	return &console{api: d.API, buckets: d.Buckets, nodeID: d.NodeID, log: d.Logger.With("component", Name), clock: clk, sessions: s, pages: pages}, nil
}

// parsePages parses each page template with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	out := map[string]*template.Template{}
	for _, name := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		out[base] = t
	}
	return out, nil
}

// routes are the console's handlers, under Path.
func (c *console) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFiles, "static") // embedded: cannot fail
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", staticHandler(http.FileServerFS(static))))
	mux.HandleFunc("GET /ui/login", c.loginPage)
	mux.HandleFunc("POST /ui/login", c.login)
	mux.Handle("POST /ui/logout", c.post(c.logout))
	mux.Handle("GET /ui/{$}", c.get(func(w http.ResponseWriter, r *http.Request, u *user) {
		http.Redirect(w, r, "/ui/queue", http.StatusSeeOther)
	}))
	mux.Handle("GET /ui/tasks/{view}", c.get(c.tasksPage))
	mux.Handle("POST /ui/tasks/action", c.post(c.taskAction))
	mux.Handle("GET /ui/taskmanager", c.get(c.managerPage))
	mux.Handle("POST /ui/taskmanager", c.post(c.managerSave))
	mux.Handle("GET /ui/queue", c.get(c.queuePage))
	mux.Handle("GET /ui/queue/entry/{id}", c.get(c.entryPage))
	mux.Handle("POST /ui/queue/action", c.post(c.queueAction))
	mux.Handle("POST /ui/queue/pause", c.post(c.queuePause))
	mux.Handle("GET /ui/cluster", c.get(c.clusterPage))
	mux.Handle("POST /ui/cluster/reshard", c.post(c.reshard))
	mux.Handle("GET /ui/accounts", c.get(c.accountsPage))
	mux.Handle("GET /ui/accounts/{id}", c.get(c.accountPage))
	mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such console page", http.StatusNotFound)
	})
	return securityHeaders(mux)
}

// securityHeaders keep the console's pages out of frames and other
// sites' scripts.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

func staticHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}

type handler func(w http.ResponseWriter, r *http.Request, u *user)

// authenticated returns the request's user, or nil when there is none
// (no session, expired, or a user no longer configured).
func (c *console) authenticated(r *http.Request) (*user, error) {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" {
		return nil, nil
	}
	se, err := c.sessions.get(r.Context(), ck.Value)
	if err != nil || se == nil {
		return nil, err
	}
	p, prob := c.api.Principal(se.User)
	if prob != nil {
		return nil, nil
	}
	return &user{session: se, p: p}, nil
}

// get serves a page to a logged-in user; others go to the login page.
func (c *console) get(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := c.authenticated(r)
		if err != nil {
			c.fail(w, r, nil, http.StatusServiceUnavailable, fmt.Errorf("read the session: %w", err))
			return
		}
		if u == nil {
			http.Redirect(w, r, "/ui/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r, u)
	})
}

// post runs an action of a logged-in user whose form carries the CSRF
// token, from this console's origin.
func (c *console) post(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		u, err := c.authenticated(r)
		if err != nil {
			c.fail(w, r, nil, http.StatusServiceUnavailable, fmt.Errorf("read the session: %w", err))
			return
		}
		if u == nil {
			http.Error(w, "not logged in: log in at /ui/login", http.StatusUnauthorized)
			return
		}
		if !sameOrigin(r) || !csrfOK(r, u.session) {
			c.log.Warn("console request refused: CSRF token missing or wrong", "user", u.User, "path", r.URL.Path, "origin", r.Header.Get("Origin"))
			http.Error(w, "refused: the form's CSRF token is missing or wrong (reload the page and try again)", http.StatusForbidden)
			return
		}
		h(w, r, u)
	})
}

// client calls the admin API as u, in process.
func (c *console) client(u *user) *jmap.Client { return &jmap.Client{Server: c.api, As: u.p} }

// audit logs an action u took.
func (c *console) audit(r *http.Request, u *user, action string, attrs ...any) {
	c.log.Info("console action", append([]any{"user", u.User, "action", action, "remote", r.RemoteAddr}, attrs...)...)
}

// view is what every page template gets.
type view struct {
	Title string
	// Nav is the section of the page, for the menu.
	Nav    string
	User   *user
	NodeID string
	Flash  []flash
	Data   any
	Now    time.Time
}

// flash is a message at the top of a page.
type flash struct {
	Kind string // ok, warn, error
	Text string
}

// CSRF is the token the page's forms carry.
func (v view) CSRF() string {
	if v.User == nil {
		return ""
	}
	return v.User.CSRF
}

// Can reports whether the user holds permission perm (the page shows the
// action's button only then).
func (v view) Can(perm string) bool { return v.User != nil && v.User.p.Can(perm) }

// render writes page name with data.
func (c *console) render(w http.ResponseWriter, r *http.Request, u *user, status int, name, title, nav string, data any, flashes ...flash) {
	t, ok := c.pages[name]
	if !ok {
		http.Error(w, "no template "+name, http.StatusInternalServerError)
		return
	}
	if msg := r.URL.Query().Get("ok"); msg != "" {
		flashes = append([]flash{{Kind: "ok", Text: msg}}, flashes...)
	}
	if msg := r.URL.Query().Get("err"); msg != "" {
		flashes = append([]flash{{Kind: "error", Text: msg}}, flashes...)
	}
	var b strings.Builder
	if err := t.Execute(&b, view{Title: title, Nav: nav, User: u, NodeID: c.nodeID, Flash: flashes, Data: data, Now: c.clock.Now()}); err != nil {
		c.log.Error("console page failed", "page", name, "err", err)
		http.Error(w, "the page could not be drawn: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// fail draws an error page: what failed and why, in the API's words.
func (c *console) fail(w http.ResponseWriter, r *http.Request, u *user, status int, err error) {
	c.render(w, r, u, status, "error", "Error", "", nil, flash{Kind: "error", Text: describe(err)})
}

// describe is an API error as an operator reads it.
func describe(err error) string {
	var me *jmap.MethodError
	if errors.As(err, &me) {
		switch me.Type {
		case "unknownMethod":
			desc, _, _ := strings.Cut(me.Description, " (methods:") // the node's whole list is noise here
			return "not available on this node: " + desc + " (the service that serves it does not run here)"
		case "forbidden":
			return "not allowed: " + me.Description
		}
		return me.Type + ": " + me.Description
	}
	var p *jmap.Problem
	if errors.As(err, &p) {
		return p.Detail
	}
	return err.Error()
}

func (c *console) loginPage(w http.ResponseWriter, r *http.Request) {
	if u, _ := c.authenticated(r); u != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.render(w, r, nil, http.StatusOK, "login", "Log in", "", map[string]string{"Next": safeNext(r.URL.Query().Get("next"))})
}

func (c *console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if !sameOrigin(r) {
		http.Error(w, "refused: the login form must come from this console", http.StatusForbidden)
		return
	}
	name, secret, next := r.PostFormValue("user"), r.PostFormValue("secret"), safeNext(r.PostFormValue("next"))
	again := func(why string) {
		c.log.Warn("console login refused", "user", name, "remote", r.RemoteAddr, "reason", why)
		c.render(w, r, nil, http.StatusUnauthorized, "login", "Log in", "", map[string]string{"Next": next, "User": name}, flash{Kind: "error", Text: why})
	}
	if name == "" || secret == "" {
		again("give the API user's name and secret (api.users.<name>)")
		return
	}
	p, prob := c.api.Authenticate("Basic " + base64.StdEncoding.EncodeToString([]byte(name+":"+secret)))
	if prob != nil {
		again("wrong user name or secret")
		return
	}
	if p.Account != "" {
		again("the console is for API users (api.users.<name>), not mail accounts")
		return
	}
	token, _, err := c.sessions.create(r.Context(), p.Name)
	if err != nil {
		c.fail(w, r, nil, http.StatusServiceUnavailable, err)
		return
	}
	setCookie(w, r, token, int(SessionIdle/time.Second))
	c.log.Info("console login", "user", p.Name, "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *console) logout(w http.ResponseWriter, r *http.Request, u *user) {
	if err := c.sessions.remove(r.Context(), u.session); err != nil {
		c.fail(w, r, u, http.StatusServiceUnavailable, err)
		return
	}
	setCookie(w, r, "", -1)
	c.log.Info("console logout", "user", u.User, "remote", r.RemoteAddr)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// safeNext keeps a redirect target inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/ui/queue"
	}
	return next
}
