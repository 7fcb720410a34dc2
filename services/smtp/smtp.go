// Package smtp is the SMTP intake service: submission and relay on
// smtp.listen. Mail to local domains is accepted from anyone (for known
// users when smtp.users lists them); mail to other domains only from
// authenticated users: never an open relay. A message is stored in
// JetStream, with one queue entry per recipient, before the 250 reply.
//
// smtp.limits bound what clients can take: connections in all and per
// address (gate.go), the time of each line and of a session (limitedConn),
// and AUTH failures (authguard.go). A body streams to the queue, so a
// connection's memory is a buffer, not its message. Across the cluster,
// rate limits per client address, sender and account (smtp.limits.rate.*)
// and greylisting (smtp.greylist) keep their state in KV (protect.go).
package smtp

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/jetmail/jetmail/shared/address"
	"github.com/jetmail/jetmail/shared/aggreport"
	"github.com/jetmail/jetmail/shared/certs"
	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/delivery"
	"github.com/jetmail/jetmail/shared/mailauth"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/spam"
	"github.com/jetmail/jetmail/shared/spamstore"
	"github.com/jetmail/jetmail/shared/store"
)

// Name is the service's name for `jetmail serve`.
const Name = "smtp"

// Service is the SMTP intake.
type Service struct {
	cfg     *config.Config
	q       *mailqueue.Queue
	store   *store.Component
	log     *slog.Logger
	servers []*gosmtp.Server
	addrs   []string
	local   map[string]bool
	tls     *tls.Config
	certs   *certs.Component
	wg      sync.WaitGroup

	ready    func() bool
	auth     *authGuard
	protect  *protections
	clock    clock.Clock
	accepted *prometheus.CounterVec
	sessions prometheus.Counter
	// spam scores messages at DATA when spam.threshold.reject is set;
	// stopSpam ends its watch of the models.
	spam     *spamstore.Filter
	stopSpam context.CancelFunc
	// checker checks mail from other servers (smtp.checks); reports
	// records their DMARC results; host stamps Authentication-Results.
	checker *mailauth.Checker
	reports *aggreport.Events
	host    string
}

// enqueueTimeout bounds the store's part in queueing one message, the time
// not spent waiting for the client's bytes: past it the client gets 451 and
// tries again, rather than wait on a struggling store. A slow client is
// bounded by smtp.limits instead.
const enqueueTimeout = 5 * time.Second

// maxRecipients is how many recipients one transaction takes.
const maxRecipients = 1000

// storeTimePerByte is what each byte of a body adds to enqueueTimeout: the
// store's part grows with the message (each chunk is hashed, published and
// its ack awaited), and with 5 s for any size a 50 MB message got 451 from
// a store that queues small ones in time, again at every retry. 100 ns a
// byte is a store that takes 10 MB/s: 5 more seconds for 50 MB.
const storeTimePerByte = 100 * time.Nanosecond

// New returns the service, enqueueing into q (started before it).
func New(cfg *config.Config, q *mailqueue.Queue) *Service { return &Service{cfg: cfg, q: q} }

// WithStore makes the intake look up accounts (local recipients, AUTH) in
// the node's store component, started before it; without one, Start opens
// the store's directory itself.
func (s *Service) WithStore(c *store.Component) *Service { s.store = c; return s }

// WithCerts makes STARTTLS serve the certificates ACME obtained (when
// acme.directory is set), renewed without a restart. c must be started
// before the service.
func (s *Service) WithCerts(c *certs.Component) *Service { s.certs = c; return s }

// WithClock makes the rate limits' windows and greylisting's delays
// follow clk (tests); default the node's clock.
func (s *Service) WithClock(clk clock.Clock) *Service { s.clock = clk; return s }

// Name implements node.Service.
func (s *Service) Name() string { return Name }

// WithoutRoleWork implements node.WithoutRoleWork: it uses no role streams.
func (*Service) WithoutRoleWork() {}

// Addrs are the addresses the listeners are bound to.
func (s *Service) Addrs() []string { return s.addrs }

// Start implements node.Service.
func (s *Service) Start(ctx context.Context, d node.Deps) error {
	s.log = d.Logger.With("service", Name)
	if s.store == nil {
		s.store = store.NewComponent(store.Params{DirectoryOnly: true})
		if err := s.store.Start(ctx, d); err != nil {
			return err
		}
	}
	s.local = map[string]bool{}
	for _, d := range s.cfg.SMTP.LocalDomains {
		s.local[strings.ToLower(d)] = true
	}
	var static *tls.Certificate
	if s.cfg.SMTP.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.SMTP.TLSCert, s.cfg.SMTP.TLSKey)
		if err != nil {
			return fmt.Errorf("smtp.tls: %w", err)
		}
		static = &cert
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	// With ACME, STARTTLS serves the certificate obtained for the name
	// the client asks for (or the host's), as it is renewed.
	if s.certs != nil && s.cfg.ACME.Directory != "" {
		if s.certs.Store() == nil {
			return errors.New("smtp: the certificates are not open")
		}
		s.tls = &tls.Config{GetCertificate: s.certs.Store().GetCertificate(s.cfg.SMTP.Hostname, static), MinVersion: tls.VersionTLS12}
	}
	f := promauto.With(d.Metrics)
	s.accepted = f.NewCounterVec(prometheus.CounterOpts{
		Name: "jetmail_smtp_messages_total", Help: "Messages offered over SMTP, by result (accepted, rejected, failed).",
	}, []string{"result"})
	s.sessions = f.NewCounter(prometheus.CounterOpts{Name: "jetmail_smtp_sessions_total", Help: "SMTP sessions opened."})
	refused := f.NewCounterVec(prometheus.CounterOpts{
		Name: "jetmail_smtp_refused_total", Help: "SMTP connections turned away with 421, by reason (max-connections, max-connections-per-ip, not-ready).",
	}, []string{"reason"})
	open := f.NewGauge(prometheus.GaugeOpts{Name: "jetmail_smtp_connections", Help: "Open SMTP connections."})
	s.ready = d.Conn.IsConnected
	lim := s.cfg.SMTP.Limits
	s.auth = newAuthGuard(lim)
	if s.clock == nil {
		s.clock = d.Clock
	}
	var err error
	if s.protect, err = newProtections(ctx, s.cfg, d, s.clock, s.log); err != nil {
		return err
	}
	if sp := s.cfg.Spam; sp.Enable && sp.RejectThreshold > 0 {
		if err := s.startSpam(ctx, d); err != nil {
			return err
		}
	}
	host := mailqueue.Hostname(s.cfg)
	if s.cfg.SMTP.Checks {
		s.checker = &mailauth.Checker{Resolver: delivery.ResolverFor(s.cfg.Queue.Resolver), Timeout: s.cfg.SMTP.ChecksTimeout}
		if s.reports, err = aggreport.Open(ctx, d.JS(), d.Config.NATS.Replicas, s.log); err != nil {
			return err
		}
		s.host = host
	}
	door := newGate(lim, host, s.ready, s.log, refused, open)
	for _, addr := range s.cfg.SMTP.Listen {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			s.closeAll()
			return fmt.Errorf("smtp.listen %s: %w", addr, err)
		}
		srv := gosmtp.NewServer(&backend{s})
		srv.Domain = host
		srv.MaxMessageBytes = s.cfg.SMTP.MaxMessageSize
		// RFC 5321 4.5.3.1.8 asks for 100 at least; past the limit go-smtp
		// answers 452 4.5.3, and the client sends the rest in another
		// transaction (4.5.3.1.10). EHLO tells it (LIMITS RCPTMAX=1000).
		srv.MaxRecipients = maxRecipients
		srv.ReadTimeout, srv.WriteTimeout = lim.IdleTimeout, lim.IdleTimeout
		ln = door.wrap(ln)
		srv.AllowInsecureAuth = true // enforced per session: TLS, or loopback when allowed
		srv.EnableDSN, srv.EnableMTPRIORITY, srv.EnableSMTPUTF8 = true, true, true
		srv.TLSConfig = s.tls
		srv.ErrorLog = slogLogger{s.log}
		s.servers = append(s.servers, srv)
		s.addrs = append(s.addrs, ln.Addr().String())
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, gosmtp.ErrServerClosed) {
				s.log.Error("smtp listener stopped", "addr", ln.Addr().String(), "err", err)
			}
		}()
		s.log.Info("smtp listening", "addr", ln.Addr().String())
	}
	return nil
}

// Shutdown stops accepting and waits for sessions to end until ctx does.
func (s *Service) Shutdown(ctx context.Context) error {
	for _, srv := range s.servers {
		_ = srv.Shutdown(ctx)
	}
	s.wg.Wait()
	if s.stopSpam != nil {
		s.stopSpam()
	}
	return nil
}

// startSpam opens the spam filter that refuses spam at DATA.
func (s *Service) startSpam(ctx context.Context, d node.Deps) error {
	st, err := spamstore.OpenModels(ctx, d.JS(), s.cfg.NATS.Replicas)
	if err != nil {
		return fmt.Errorf("spam.threshold.reject: %w", err)
	}
	if s.spam, err = spamstore.NewFilter(st, spam.Params{}, s.log); err != nil {
		return fmt.Errorf("spam.threshold.reject: %w", err)
	}
	watch, stop := context.WithCancel(context.WithoutCancel(ctx))
	if err := s.spam.Start(watch); err != nil {
		stop()
		return fmt.Errorf("spam.threshold.reject: %w", err)
	}
	s.stopSpam = stop
	return nil
}

// refuseSpam reads the message whole (up to smtp.max-message-size: a
// larger one is the queue's to refuse) and scores it with the global
// model; from spam.threshold.reject it is refused with 550 5.7.1. The
// message is then read from memory. A filter that cannot answer lets the
// message in.
func (ss *session) refuseSpam(r io.Reader) (io.Reader, error) {
	if ss.s.spam == nil {
		return r, nil
	}
	buf, err := io.ReadAll(io.LimitReader(r, ss.s.cfg.SMTP.MaxMessageSize+1))
	if err != nil {
		return nil, err
	}
	if int64(len(buf)) > ss.s.cfg.SMTP.MaxMessageSize {
		return io.MultiReader(bytes.NewReader(buf), r), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := ss.s.spam.Classify(ctx, "", buf)
	if err != nil {
		ss.s.log.Warn("spam filter unavailable at DATA; accepting", "err", err)
		return bytes.NewReader(buf), nil
	}
	if v.Score >= ss.s.cfg.Spam.RejectThreshold {
		ss.s.log.Info("refused as spam", "from", ss.env.Sender, "ip", ss.ip, "score", v.Score)
		return nil, &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1},
			Message: fmt.Sprintf("Message refused as spam (score %.2f, spam.threshold.reject %.2f)", v.Score, ss.s.cfg.Spam.RejectThreshold)}
	}
	return bytes.NewReader(buf), nil
}

func (s *Service) closeAll() {
	for _, srv := range s.servers {
		_ = srv.Close()
	}
}

type slogLogger struct{ l *slog.Logger }

func (l slogLogger) Printf(format string, v ...any) { l.l.Warn(fmt.Sprintf(format, v...)) }
func (l slogLogger) Println(v ...any)               { l.l.Warn(fmt.Sprint(v...)) }

type backend struct{ s *Service }

func (b *backend) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	b.s.sessions.Inc()
	sess := &session{s: b.s, conn: c}
	sess.limited, _ = c.Conn().(*limitedConn)
	if tcp, ok := c.Conn().RemoteAddr().(*net.TCPAddr); ok {
		sess.ip = tcp.IP
	}
	if tcp, ok := c.Conn().LocalAddr().(*net.TCPAddr); ok {
		sess.port = tcp.Port
	}
	return sess, nil
}

type session struct {
	s       *Service
	conn    *gosmtp.Conn
	limited *limitedConn
	// authFailures counts this connection's failed AUTH attempts.
	authFailures int
	ip           net.IP
	port         int
	user         string
	env          mailqueue.Envelope
	rcpts        []mailqueue.RcptIn
	mail         bool
}

var (
	errLookup    = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Cannot look up accounts now: try again later"}
	errRelay     = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Relay access denied: authenticate to send to other domains"}
	errAuth      = &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
	errStoreDown = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure storing the message; try again"}
	errLongLine  = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0},
		Message: "Message refused: a line is longer than the limit (RFC 5321 allows 998 characters)"}
	errPlain = &gosmtp.SMTPError{Code: 538, EnhancedCode: gosmtp.EnhancedCode{5, 7, 11}, Message: "Encryption required for requested authentication mechanism: STARTTLS first"}
)

func (ss *session) authAllowed() bool {
	if _, tlsOn := ss.conn.TLSConnectionState(); tlsOn {
		return true
	}
	return ss.s.cfg.SMTP.AllowPlainAuthOnLoopback && ss.ip != nil && ss.ip.IsLoopback()
}

func (ss *session) AuthMechanisms() []string {
	if !ss.authAllowed() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if !ss.authAllowed() {
		return nil, errPlain
	}
	if ss.s.auth.locked(ss.ip.String()) {
		ss.s.log.Warn("authentication refused: too many failures from this address", "remote", ss.ip.String())
		return nil, errAuthLocked
	}
	check := func(username, password string) error {
		ctx, cancel := context.WithTimeout(context.Background(), enqueueTimeout)
		defer cancel()
		ok, err := ss.s.checkSecret(ctx, username, password)
		if err != nil {
			ss.s.log.Warn("authentication: cannot look up the account", "user", username, "err", err)
			return errLookup
		}
		if ok {
			ss.user = username
			ss.s.log.Info("authenticated", "user", username, "remote", ss.ip.String())
			return nil
		}
		ss.authFailures++
		ss.s.log.Warn("authentication failed", "user", username, "remote", ss.ip.String(), "failures", ss.authFailures)
		err = ss.s.auth.failed(ss.ip.String(), ss.authFailures)
		if err == errAuthTooMany && ss.limited != nil {
			ss.limited.endAfterReply()
		}
		return err
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return check("", "") // counted as a failure
			}
			return check(username, password)
		}), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

func (ss *session) Mail(from string, opts *gosmtp.MailOptions) error {
	if opts != nil && opts.Size > ss.s.cfg.SMTP.MaxMessageSize {
		return &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 3, 4},
			Message: fmt.Sprintf("Message size %d exceeds the limit of %d bytes", opts.Size, ss.s.cfg.SMTP.MaxMessageSize)}
	}
	if hasControl(from) {
		return &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 1, 7}, Message: "Bad sender address syntax: control characters"}
	}
	if _, ok := validAddress(from); from != "" && !ok {
		return &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 1, 7}, Message: "Bad sender address syntax"}
	}
	if err := ss.s.protect.mailFrom(ss.ip, ss.s.trusted(ss.ip), ss.user, from); err != nil {
		return err
	}
	ss.env = mailqueue.Envelope{Sender: from, ReceivedFromIP: ss.ip.String(), ReceivedViaPort: ss.port, Helo: ss.conn.Hostname(),
		Source: mailqueue.SourceUnauthenticated}
	if ss.user != "" {
		ss.env.Source = mailqueue.SourceAuthenticated
	}
	if opts != nil {
		if opts.MTPriority != nil { // RFC 6710: a MAIL parameter
			ss.env.Priority = *opts.MTPriority
		}
		ss.env.EnvID = opts.EnvelopeID
		if opts.Return == gosmtp.DSNReturnFull {
			ss.env.Ret = "FULL"
		}
	}
	ss.mail = true
	return nil
}

// checkSecret reports whether secret is the account's: the store's
// account, or, for an smtp.users account the store has not been seeded
// with yet (no delivery node has started), the configuration's.
func (s *Service) checkSecret(ctx context.Context, name, secret string) (bool, error) {
	st := s.store.Store()
	a, err := st.AccountByName(ctx, name)
	if err == nil {
		return a.CheckSecret(secret), nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	u, ok := s.cfg.SMTP.Users[name]
	if !ok {
		return false, nil
	}
	seeded, err := st.Seeded(ctx, name)
	if err != nil || seeded {
		return false, err
	}
	return subtle.ConstantTimeCompare([]byte(u.Secret), []byte(secret)) == 1, nil
}

// configOwner is the smtp.users account with address addr, if any.
func (s *Service) configOwner(addr string) (string, bool) {
	for name, u := range s.cfg.SMTP.Users {
		for _, a := range u.Addresses {
			if strings.EqualFold(a, addr) {
				return name, true
			}
		}
	}
	return "", false
}

// localRecipient checks a recipient at a local domain: an account must
// receive its mail (550 5.1.1), with room for more (452 4.2.2: the client
// tries again later); a store that cannot answer now gets 451 4.3.0.
func (ss *session) localRecipient(to string) error {
	ctx, cancel := context.WithTimeout(context.Background(), enqueueTimeout)
	defer cancel()
	a, err := ss.s.store.Store().AccountByAddress(ctx, to)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if name, ok := ss.s.configOwner(to); ok {
			if seeded, err := ss.s.store.Store().Seeded(ctx, name); err == nil && !seeded {
				return nil // a seed account: the store has it once a delivery node has started
			}
		}
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	case err != nil:
		ss.s.log.Warn("cannot look up a local recipient", "rcpt", to, "err", err)
		return errLookup
	case a.Quota > 0 && a.Used >= a.Quota:
		return &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full: try again later"}
	}
	return nil
}

// postmaster is where mail to <postmaster> goes: smtp.postmaster, or
// postmaster at the first local domain; "" when there is neither.
func (s *Service) postmaster() string {
	if s.cfg.SMTP.Postmaster != "" {
		return s.cfg.SMTP.Postmaster
	}
	if len(s.cfg.SMTP.LocalDomains) > 0 {
		return "postmaster@" + strings.ToLower(s.cfg.SMTP.LocalDomains[0])
	}
	return ""
}

func (ss *session) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	if !ss.mail {
		return &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "MAIL FROM first"}
	}
	if hasControl(to) {
		return &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax: control characters"}
	}
	if strings.EqualFold(to, "postmaster") {
		// RFC 5321 §4.1.1.3: <postmaster> without a domain is accepted,
		// for this server's postmaster.
		if to = ss.s.postmaster(); to == "" {
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No postmaster here: this server has no local domain (smtp.postmaster)"}
		}
	}
	rcpt, ok := validAddress(to)
	if !ok {
		return &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"}
	}
	trusted := ss.s.trusted(ss.ip)
	if ss.s.local[rcpt.Domain] {
		if err := ss.localRecipient(to); err != nil {
			return err
		}
	} else if ss.user == "" && !trusted {
		ss.s.log.Warn("relay refused", "remote", ss.ip.String(), "rcpt", to)
		return errRelay
	}
	if err := ss.s.protect.rcptTo(ss.ip, trusted, ss.user, ss.env.Sender, to); err != nil {
		return err
	}
	rc := mailqueue.RcptIn{Address: to}
	if opts != nil {
		for _, n := range opts.Notify {
			rc.Notify = append(rc.Notify, mailqueue.Notify(n))
		}
		if opts.OriginalRecipient != "" {
			rc.ORCPT = string(opts.OriginalRecipientType) + ";" + opts.OriginalRecipient
		}
	}
	ss.rcpts = append(ss.rcpts, rc)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	if len(ss.rcpts) == 0 {
		return &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "RCPT TO first"}
	}
	if !ss.s.ready() {
		ss.s.accepted.WithLabelValues("failed").Inc()
		return errStoreDown
	}
	var auth mailauth.Result
	authHeader := ""
	if ss.checked() {
		sp, err := ss.spoolMessage(r)
		if err != nil {
			ss.rcpts, ss.mail = nil, false
			var se *gosmtp.SMTPError
			if errors.As(err, &se) { // 552: too large, as the server read it
				ss.s.accepted.WithLabelValues("rejected").Inc()
				return se
			}
			ss.s.log.Warn("reading the message for its checks failed", "err", err)
			ss.s.accepted.WithLabelValues("failed").Inc()
			return errStoreDown
		}
		defer sp.close()
		if sp.complete() {
			if auth, authHeader, err = ss.check(sp); err != nil {
				ss.s.accepted.WithLabelValues("failed").Inc()
				return errStoreDown
			}
		}
		if r, err = sp.body(); err != nil {
			ss.s.accepted.WithLabelValues("failed").Inc()
			return errStoreDown
		}
	}
	r, err := ss.refuseSpam(r)
	if err != nil {
		ss.s.accepted.WithLabelValues("rejected").Inc()
		ss.rcpts, ss.mail = nil, false
		var se *gosmtp.SMTPError
		if errors.As(err, &se) {
			return se
		}
		return errStoreDown
	}
	received := fmt.Sprintf("Received: from %s ([%s])\r\n\tby %s (jetmail) with ESMTP%s;\r\n\t%s\r\n",
		ss.conn.Hostname(), ss.ip, mailqueue.Hostname(ss.s.cfg), map[bool]string{true: "SA", false: ""}[ss.user != ""], time.Now().Format(time.RFC1123Z)) + authHeader
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The body streams to the queue: a connection holds a buffer, not the
	// message (see mailqueue.Queue.EnqueueFrom).
	body := newStoreClock(io.MultiReader(strings.NewReader(received), r), enqueueTimeout, cancel)
	defer body.stop()
	id, err := ss.s.q.EnqueueFrom(ctx, ss.env, ss.rcpts, body)
	if err != nil {
		var se *gosmtp.SMTPError
		switch {
		case errors.As(err, &se): // 552 5.3.4 too large, ...
			ss.s.accepted.WithLabelValues("rejected").Inc()
			return se
		case errors.Is(err, gosmtp.ErrTooLongLine):
			ss.s.accepted.WithLabelValues("rejected").Inc()
			return errLongLine
		}
		ss.s.accepted.WithLabelValues("failed").Inc()
		ss.s.log.Error("queueing failed", "err", err)
		return errStoreDown
	}
	ss.s.accepted.WithLabelValues("accepted").Inc()
	if authHeader != "" {
		ss.recordDMARC(auth)
	}
	ss.s.log.Info("accepted", "message", id, "from", ss.env.Sender, "rcpts", len(ss.rcpts))
	ss.rcpts, ss.mail = nil, false
	return nil
}

// storeClock is a body reader that gives the store enqueueTimeout of the
// time spent outside its reads, that is not waiting for the client, and
// storeTimePerByte more for each byte read, and cancels the enqueue past
// it.
type storeClock struct {
	r     io.Reader
	left  time.Duration
	timer *time.Timer
	since time.Time
}

func newStoreClock(r io.Reader, d time.Duration, cancel context.CancelFunc) *storeClock {
	return &storeClock{r: r, left: d, timer: time.AfterFunc(d, cancel), since: time.Now()}
}

func (s *storeClock) Read(p []byte) (int, error) {
	// The store's clock stops while the client is read.
	s.timer.Stop()
	s.left -= time.Since(s.since)
	n, err := s.r.Read(p)
	s.since = time.Now()
	s.left += time.Duration(n) * storeTimePerByte
	s.timer.Reset(max(s.left, 0))
	return n, err
}

func (s *storeClock) stop() { s.timer.Stop() }

// hasControl reports an ASCII control character (NUL, CR, LF, DEL...): no
// address may hold one.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

func (ss *session) Reset() { ss.rcpts, ss.mail = nil, false }

func (ss *session) Logout() error { return nil }

// trusted reports whether ip is in smtp.relay-networks.
func (s *Service) trusted(ip net.IP) bool {
	for _, n := range s.cfg.SMTP.RelayNetworks {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// validAddress parses an envelope address whose domain can be reached: one
// with a dot, or localhost.
func validAddress(s string) (address.Address, bool) {
	a, err := address.Parse(s)
	return a, err == nil && (strings.Contains(a.Domain, ".") || a.Domain == "localhost")
}

// loginServer is the LOGIN mechanism (draft-murchison-sasl-login).
type loginServer struct {
	check    func(u, p string) error
	username string
	step     int
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if len(response) > 0 { // initial response carries the user name
			l.username = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.username = string(response)
		l.step++
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.username, string(response))
	}
}
