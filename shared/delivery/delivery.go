// Package delivery carries out the outbound queue's deliveries: SMTP to a
// domain's MX hosts or to a relay, with STARTTLS, DKIM signing, a limit of
// connections per remote host and connection reuse; or into the local
// mailbox store.
package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/jetmail/jetmail/shared/address"
	"github.com/jetmail/jetmail/shared/aggreport"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/dkimkey"
	"github.com/jetmail/jetmail/shared/dupid"
	"github.com/jetmail/jetmail/shared/duration"
	"github.com/jetmail/jetmail/shared/itip"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/spam"
	"github.com/jetmail/jetmail/shared/spamstore"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/trace"
)

// Params configures a Deliverer.
type Params struct {
	Config *config.Config
	// Store receives local mail (the local route).
	Store  *store.Store
	Logger *slog.Logger
	// Hostname is the EHLO name; default smtp.hostname.
	Hostname string
	// Resolver looks up MX and address records; default from queue.resolver.
	Resolver *net.Resolver
	// Trace records each attempt, one event per recipient and host tried
	// (the queue's, mailqueue.Queue.Trace). Default none: nil records
	// nothing.
	Trace *trace.Recorder
	// Duplicates is the duplicate-ID list of local delivery
	// (store.duplicates.retention): a message whose Message-ID an account
	// was delivered within it is not stored again. Default none: nil
	// stores every message.
	Duplicates *dupid.List
	// Spam scores each message for its recipient's account
	// (spam.enable): it is stamped with X-Spam-Status and X-Spam-Score,
	// and goes into Junk from spam.threshold.junk. Default none: nil
	// stores every message unscored in the Inbox.
	Spam *spamstore.Filter
	// Itip applies the iTIP message a local mail carries (an invitation,
	// a reply) to its recipient's calendar before the mail is stored.
	// Default none: nil stores calendar mail as any other.
	Itip *itip.Receiver
	// DKIM are the rotated DKIM keys (DkimManagement): a domain's active
	// one signs in place of its configured key. Default none: nil signs
	// with dkim.<domain>.
	DKIM *dkimkey.Ring
	// Reports records each new MX session's TLS outcome for the TLS
	// aggregate report of the domains that ask for one (_smtp._tls).
	// Default none: nil records nothing.
	Reports *aggreport.Events
	// PolicyClient fetches MTA-STS policies. Default a client that
	// verifies with the system's CAs and queue.tls.ca-file's and follows
	// no redirect (RFC 8461 §3.3).
	PolicyClient *http.Client
}

// Deliverer implements mailqueue.Deliverer.
type Deliverer struct {
	p     Params
	cfg   *config.Config
	keys  map[string]key
	hosts *hostPool
	// tlsrpt remembers which domains ask for TLS reports.
	tlsrpt tlsReporting
	// sts caches MTA-STS policies; roots verify TLS that must be
	// verified; policyClient fetches the policies.
	sts          stsCache
	roots        *x509.CertPool
	policyClient *http.Client
}

// New returns a Deliverer; it loads the DKIM keys.
func New(p Params) (*Deliverer, error) {
	if p.Hostname == "" {
		p.Hostname = p.Config.SMTP.Hostname
	}
	if p.Resolver == nil {
		p.Resolver = ResolverFor(p.Config.Queue.Resolver)
	}
	d := &Deliverer{p: p, cfg: p.Config, keys: map[string]key{}, hosts: newHostPool(p.Config.Queue.MaxPerHost)}
	var err error
	if d.roots, err = roots(p.Config.Queue.TLSCAFile); err != nil {
		return nil, err
	}
	d.policyClient = p.PolicyClient
	if d.policyClient == nil {
		d.policyClient = &http.Client{Timeout: time.Minute,
			Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: d.roots}, Proxy: http.ProxyFromEnvironment},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	for domain, k := range p.Config.DKIM {
		s, err := dkimkey.Load(k.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("dkim.%s: %w", domain, err)
		}
		d.keys[domain] = key{k.Selector, s}
	}
	return d, nil
}

// ResolverFor returns the resolver of queue.resolver: "system", or a DNS
// server's address.
func ResolverFor(addr string) *net.Resolver {
	if addr == "" || addr == "system" {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

// Close ends idle connections.
func (d *Deliverer) Close() { d.hosts.closeIdle() }

// Deliver implements mailqueue.Deliverer.
func (d *Deliverer) Deliver(ctx context.Context, dl *mailqueue.Delivery) []mailqueue.Result {
	if dl.Route.Type == config.RouteLocal {
		results := d.deliverLocal(ctx, dl)
		d.attempted(ctx, dl, results)
		return results
	}
	body := dl.Body
	if signed, err := d.Sign(dl.Envelope.Sender, body); err == nil {
		body = signed
	} else {
		d.p.Logger.Warn("dkim signing failed; sending unsigned", "domain", address.DomainOf(dl.Envelope.Sender), "err", err)
	}
	hosts, res, ok := d.hostsFor(ctx, dl)
	var sts *stsPolicy
	if ok && dl.Route.Type != config.RouteRelay {
		if sts = d.stsFor(ctx, dl.Domain); sts != nil && sts.mode == "enforce" {
			hosts = slices.DeleteFunc(hosts, func(h host) bool { return !sts.matches(h.name) })
			if len(hosts) == 0 {
				res, ok = mailqueue.Result{Code: 451, Enhanced: "4.7.5", Text: "no MX host of " + dl.Domain + " matches its MTA-STS policy (mx: " + strings.Join(sts.mx, ", ") + ")"}, false
			}
		}
	}
	if !ok {
		results := fill(len(dl.Recipients), res)
		d.attempted(ctx, dl, results)
		return results
	}
	tlsPolicy := dl.Route.TLS
	if tlsPolicy == "" {
		tlsPolicy = d.cfg.Queue.StartTLS
	}
	var last mailqueue.Result
	for _, h := range hosts {
		results, err := d.transaction(ctx, h, dl, body, tlsPolicy, sts)
		if err == nil {
			d.attempted(ctx, dl, results)
			return results
		}
		last = mailqueue.Result{Text: err.Error(), RemoteMTA: h.name}
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			last = mailqueue.Result{Code: se.Code, Enhanced: enhanced(se), Text: se.Message, RemoteMTA: h.name}
		}
		d.attempted(ctx, dl, fill(len(dl.Recipients), last))
		if se != nil && se.Code >= 500 {
			break // a permanent session-level refusal: no point trying the next MX
		}
		d.p.Logger.Info("host failed, trying the next", "host", h.name, "domain", dl.Domain, "err", err)
	}
	return fill(len(dl.Recipients), last)
}

// attempted records the attempt of each recipient of dl, with its result
// at one host (or without one).
func (d *Deliverer) attempted(ctx context.Context, dl *mailqueue.Delivery, results []mailqueue.Result) {
	if d.p.Trace == nil {
		return
	}
	now := time.Now().UTC()
	for i, r := range dl.Recipients {
		res := results[i]
		d.p.Trace.Record(ctx, trace.Event{TraceID: r.MessageID, Kind: trace.KindAttempt, At: now, Sender: dl.Envelope.Sender,
			Recipient: r.Address, Size: dl.Envelope.Size, Queue: r.Queue, Attempt: r.Attempts + 1,
			RemoteHost: res.RemoteMTA, Reply: res.Diagnostic(), Status: res.EnhancedStatus()})
	}
}

func fill(n int, r mailqueue.Result) []mailqueue.Result {
	out := make([]mailqueue.Result, n)
	for i := range out {
		out[i] = r
	}
	return out
}

type host struct {
	name string // for Remote-MTA
	addr string // host:port
}

// hostsFor lists where to try, in order: a relay route's host, or the
// domain's MX hosts (equal preferences shuffled; the implicit MX when
// there is none; a null MX refuses mail for good).
func (d *Deliverer) hostsFor(ctx context.Context, dl *mailqueue.Delivery) ([]host, mailqueue.Result, bool) {
	if dl.Route.Type == config.RouteRelay {
		port := dl.Route.Port
		if port == 0 {
			port = 25
		}
		return []host{{dl.Route.Address, net.JoinHostPort(dl.Route.Address, strconv.Itoa(port))}}, mailqueue.Result{}, true
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	mxs, err := d.p.Resolver.LookupMX(rctx, dl.Domain)
	var dnsErr *net.DNSError
	switch {
	case err == nil && len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == ""):
		return nil, mailqueue.Result{Code: 556, Enhanced: "5.1.10", Text: "domain " + dl.Domain + " accepts no mail (null MX)"}, false
	case err == nil && len(mxs) > 0:
		out := make([]host, 0, len(mxs))
		for _, mx := range mxs {
			name := strings.TrimSuffix(mx.Host, ".")
			out = append(out, host{name, net.JoinHostPort(name, d.mxPort())})
		}
		return out, mailqueue.Result{}, true
	case err == nil || errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		// No MX: the domain itself is the implicit MX (RFC 5321 5.1), if it
		// has an address.
		if _, aerr := d.p.Resolver.LookupHost(rctx, dl.Domain); aerr != nil {
			if errors.As(aerr, &dnsErr) && dnsErr.IsNotFound {
				return nil, mailqueue.Result{Code: 550, Enhanced: "5.1.2", Text: "domain " + dl.Domain + " has no MX and no address"}, false
			}
			return nil, mailqueue.Result{Text: "DNS lookup of " + dl.Domain + ": " + aerr.Error()}, false
		}
		return []host{{dl.Domain, net.JoinHostPort(dl.Domain, d.mxPort())}}, mailqueue.Result{}, true
	default:
		return nil, mailqueue.Result{Text: "MX lookup of " + dl.Domain + ": " + err.Error()}, false
	}
}

// mxPort is queue.mx-port (25 when unset).
func (d *Deliverer) mxPort() string {
	if p := d.cfg.Queue.MXPort; p > 0 {
		return strconv.Itoa(p)
	}
	return "25"
}

// transaction delivers to one host. An error means the host gave no
// per-recipient answer (connection, greeting, MAIL FROM, DATA refused as a
// whole): the caller may try the next host.
func (d *Deliverer) transaction(ctx context.Context, h host, dl *mailqueue.Delivery, body []byte, tlsPolicy config.TLSMode, sts *stsPolicy) ([]mailqueue.Result, error) {
	release, err := d.hosts.acquire(ctx, h.addr)
	if err != nil {
		return nil, err
	}
	defer release()
	c, reused, err := d.session(ctx, h, dl.Domain, dl.Route, tlsPolicy, sts, true)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		switch {
		case c == nil: // a new connection could not be had
		case ok:
			d.hosts.putIdle(idleKey(h, dl.Route, tlsPolicy, sts), c)
		default:
			_ = c.Close()
		}
	}()
	dsnExt, _ := c.Extension("DSN")
	mopts := &smtp.MailOptions{Size: int64(len(body))}
	if dsnExt {
		mopts.EnvelopeID = dl.Envelope.EnvID
		if dl.Envelope.Ret == "FULL" {
			mopts.Return = smtp.DSNReturnFull
		}
	}
	if ok8, _ := c.Extension("8BITMIME"); ok8 && hasHighBit(body) {
		mopts.Body = smtp.Body8BitMIME
	}
	err = c.Mail(dl.Envelope.Sender, mopts)
	if err != nil && reused && stale(err) {
		// The server dropped the connection while it was idle: the mail
		// goes on a new one, and nobody is told of the old.
		d.p.Logger.Debug("reused connection failed at MAIL FROM; opening a new one", "host", h.name, "err", err)
		_ = c.Close()
		if c, _, err = d.session(ctx, h, dl.Domain, dl.Route, tlsPolicy, sts, false); err != nil {
			c = nil
			return nil, err
		}
		err = c.Mail(dl.Envelope.Sender, mopts)
	}
	if err != nil {
		return nil, err
	}
	results := make([]mailqueue.Result, len(dl.Recipients))
	accepted := 0
	for i, r := range dl.Recipients {
		var ropts *smtp.RcptOptions
		if dsnExt {
			ropts = &smtp.RcptOptions{}
			for _, n := range r.Notify {
				ropts.Notify = append(ropts.Notify, smtp.DSNNotify(strings.ToUpper(string(n))))
			}
			if addr, found := strings.CutPrefix(strings.ToLower(r.ORCPT), "rfc822;"); found {
				ropts.OriginalRecipientType, ropts.OriginalRecipient = smtp.DSNAddressTypeRFC822, r.ORCPT[len(r.ORCPT)-len(addr):]
			}
		}
		if err := c.Rcpt(r.Address, ropts); err != nil {
			results[i] = resultOf(err, h.name)
			continue
		}
		results[i] = mailqueue.Result{Code: -1} // accepted; the DATA reply decides
		accepted++
	}
	if accepted == 0 {
		_ = c.Reset()
		ok = true
		return results, nil
	}
	w, err := c.Data()
	if err == nil {
		if _, err = w.Write(body); err == nil {
			err = w.Close()
		}
	}
	final := mailqueue.Result{Code: 250, Text: "ok", RemoteMTA: h.name}
	if err != nil {
		final = resultOf(err, h.name)
		if final.Code == 0 {
			return nil, err // the connection broke during DATA
		}
	}
	for i := range results {
		if results[i].Code == -1 {
			results[i] = final
		}
	}
	ok = err == nil
	return results, nil
}

func resultOf(err error, remote string) mailqueue.Result {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return mailqueue.Result{Code: se.Code, Enhanced: enhanced(se), Text: se.Message, RemoteMTA: remote}
	}
	return mailqueue.Result{Text: err.Error(), RemoteMTA: remote}
}

func enhanced(se *smtp.SMTPError) string {
	if se.EnhancedCode == (smtp.EnhancedCode{}) || se.EnhancedCode == smtp.NoEnhancedCode {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
}

// session returns a ready client for h: an idle one reused, or a new one
// greeted, upgraded to TLS as the policy says, and authenticated to a relay.
// freshIdle is how long a connection may have been idle and still be used
// at once: older ones are checked with RSET first.
const freshIdle = time.Second

// stale reports an error of a reused connection that the server closed
// while it was idle: a broken connection, or 421 (closing).
func stale(err error) bool {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code == 421
	}
	return true
}

// session opens (or reuses) a session with h for mail to domain. A new
// session's STARTTLS outcome on an MX route goes to domain's TLS report.
func (d *Deliverer) session(ctx context.Context, h host, domain string, route config.Route, tlsPolicy config.TLSMode, sts *stsPolicy, reuse bool) (*smtp.Client, bool, error) {
	for reuse {
		c, since := d.hosts.getIdle(idleKey(h, route, tlsPolicy, sts))
		if c == nil {
			break
		}
		// A connection just put back is used as it is (a failure at MAIL
		// FROM is retried on a new one); one idle longer is checked.
		if time.Since(since) < freshIdle {
			return c, true, nil
		}
		if err := c.Reset(); err == nil {
			return c, true, nil
		}
		_ = c.Close()
	}
	dial := func() (net.Conn, error) {
		// The MX host's address comes from queue.resolver too.
		dl := net.Dialer{Timeout: d.cfg.Queue.ConnectTimeout, Resolver: d.p.Resolver}
		return dl.DialContext(ctx, "tcp", h.addr)
	}
	tlsCfg := &tls.Config{ServerName: strings.Split(h.addr, ":")[0],
		// Opportunistic STARTTLS between MTAs does not check certificates
		// (RFC 7435); DANE and MTA-STS policies do (below).
		InsecureSkipVerify: true} //nolint:gosec // see above
	var c *smtp.Client
	var tlsa *tlsaSet
	if route.Type != config.RouteRelay {
		var err error
		if tlsa, err = d.tlsaFor(ctx, h.name); err != nil {
			return nil, false, err
		}
	}
	if tlsa != nil {
		// DANE (before MTA-STS, RFC 8461 §2): TLS whose certificate
		// matches the host's TLSA records.
		conn, err := dial()
		if err != nil {
			return nil, false, err
		}
		c, err = d.startTLS(conn, &tls.Config{ServerName: h.name, InsecureSkipVerify: true, VerifyConnection: tlsa.verify(h.name)}) //nolint:gosec // verified by VerifyConnection
		ip, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
		d.recordTLS(ctx, domain, h, ip, tlsa.policy(), err)
		if err != nil {
			_ = conn.Close()
			return nil, false, &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 5},
				Message: "DANE: " + h.name + " has TLSA records, and TLS with a certificate matching them failed: " + err.Error()}
		}
	}
	if c == nil && sts != nil {
		// MTA-STS: TLS with a certificate valid for the MX's name.
		conn, err := dial()
		if err != nil {
			return nil, false, err
		}
		c, err = d.startTLS(conn, &tls.Config{ServerName: h.name, RootCAs: d.roots})
		ip, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
		d.recordTLS(ctx, domain, h, ip, sts.policy(h.name), err)
		if err != nil {
			_ = conn.Close()
			if sts.mode == "enforce" {
				return nil, false, &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 5},
					Message: "the MTA-STS policy of " + domain + " (enforce) needs TLS with a valid certificate for " + h.name + ": " + err.Error()}
			}
			c = nil // testing: reported, and delivered as without a policy
		}
	}
	if c == nil && tlsPolicy != config.TLSNone {
		conn, err := dial()
		if err != nil {
			return nil, false, err
		}
		c, err = d.startTLS(conn, tlsCfg)
		if route.Type != config.RouteRelay && sts == nil {
			ip, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
			d.recordTLS(ctx, domain, h, ip, noPolicy, err)
		}
		if err != nil {
			_ = conn.Close()
			if tlsPolicy == config.TLSRequire {
				return nil, false, &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "TLS is required (queue.tls.starttls) but " + h.name + " did not start it: " + err.Error()}
			}
			c = nil // opportunistic: retry in the clear
		}
	}
	if c == nil {
		conn, err := dial()
		if err != nil {
			return nil, false, err
		}
		c = smtp.NewClient(conn)
		c.CommandTimeout = d.cfg.Queue.CommandTimeout
		c.SubmissionTimeout = d.cfg.Queue.CommandTimeout
		if err := c.Hello(d.p.Hostname); err != nil {
			_ = c.Close()
			return nil, false, err
		}
	}
	if route.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", route.Username, route.Secret)); err != nil {
			_ = c.Close()
			return nil, false, err
		}
	}
	return c, false, nil
}

// startTLS starts TLS on conn and greets the server over it: the
// handshake, and so the certificate's check, happens at the first
// command after STARTTLS, and its failure is STARTTLS's.
func (d *Deliverer) startTLS(conn net.Conn, cfg *tls.Config) (*smtp.Client, error) {
	c, err := smtp.NewClientStartTLS(conn, cfg)
	if err != nil {
		return nil, err
	}
	c.CommandTimeout = d.cfg.Queue.CommandTimeout
	c.SubmissionTimeout = d.cfg.Queue.CommandTimeout
	if err := c.Hello(d.p.Hostname); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// idleKey keys idle connections: only a session set up with the same TLS
// policy and credentials may be reused.
func idleKey(h host, route config.Route, tlsPolicy config.TLSMode, sts *stsPolicy) string {
	// A session held to MTA-STS (or DANE, looked up per MX host, which
	// comes with the route type) is not one without.
	return h.addr + "|" + string(tlsPolicy) + "|" + route.Username + "|" + string(route.Type) + "|" + map[bool]string{true: "sts"}[sts != nil]
}

func hasHighBit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// deliverLocal stores the message in each local recipient's account (its
// Inbox). An address no account has fails for good (550 5.1.1); an account
// over quota for now (452 4.2.2), so that the message stays queued until
// there is room. The email's id is made from the message's and the
// account's, so that a delivery repeated after a crash stores it once, and
// so does a message to several addresses of one account (or to one address
// twice): the others find it stored and are delivered. Another message
// with the same Message-ID, delivered to the account within
// store.duplicates.retention, is not stored: it is reported delivered, a
// duplicate (Params.Duplicates).
func (d *Deliverer) deliverLocal(ctx context.Context, dl *mailqueue.Delivery) []mailqueue.Result {
	out := make([]mailqueue.Result, len(dl.Recipients))
	messageID := ""
	if d.p.Duplicates != nil {
		messageID = dupid.MessageID(dl.Body)
	}
	// The message is analysed for the spam filter once, whatever the
	// number of local recipients; each account's models score it.
	var analysed *spam.Message
	analyse := func() *spam.Message {
		if analysed == nil {
			analysed = spam.Analyze(dl.Body)
		}
		return analysed
	}
	for i, r := range dl.Recipients {
		out[i] = d.storeLocal(ctx, r, dl.Envelope.Sender, dl.Body, messageID, analyse)
	}
	return out
}

func (d *Deliverer) storeLocal(ctx context.Context, r *mailqueue.Recipient, sender string, body []byte, messageID string, analyse func() *spam.Message) mailqueue.Result {
	a, err := d.p.Store.AccountByAddress(ctx, r.Address)
	if errors.Is(err, store.ErrNotFound) {
		return mailqueue.Result{Code: 550, Enhanced: "5.1.1", Text: "no such user here: " + r.Address, RemoteMTA: d.p.Hostname}
	}
	if err != nil {
		return mailqueue.Result{Text: "look up the account of " + r.Address + ": " + err.Error()}
	}
	// The calendar first: applying an iTIP message twice (a delivery
	// repeated) changes nothing the second time.
	if d.p.Itip != nil {
		if err := d.p.Itip.Receive(ctx, a, sender, body); err != nil {
			return mailqueue.Result{Text: "apply the calendar message for " + r.Address + ": " + err.Error()}
		}
	}
	emailID := r.MessageID + "-" + a.ID
	claim, res, stop := d.claim(ctx, a, messageID, emailID)
	if stop {
		return res
	}
	body, mailbox := d.score(ctx, a, body, analyse)
	_, err = d.p.Store.StoreEmail(ctx, a.ID, body, store.NewEmail{ID: emailID, MailboxIDs: map[string]bool{mailbox: true}})
	switch {
	case err == nil, errors.Is(err, store.ErrDuplicate):
		where := "Inbox"
		if mailbox == "junk" {
			where = "Junk"
		}
		return mailqueue.Result{Code: 250, Enhanced: "2.0.0", Text: "delivered to " + a.Name + "'s " + where, RemoteMTA: d.p.Hostname}
	}
	if rerr := claim.Release(ctx); rerr != nil {
		// The claim expires with the retention; until then another copy
		// of the message would be taken for a duplicate of this one.
		d.p.Logger.Warn("local delivery failed and its duplicate-ID claim could not be released", "account", a.Name, "email", emailID, "err", rerr)
	}
	if errors.Is(err, store.ErrOverQuota) {
		return mailqueue.Result{Code: 452, Enhanced: "4.2.2", Text: "mailbox full: " + err.Error(), RemoteMTA: d.p.Hostname}
	}
	return mailqueue.Result{Text: "store the message for " + r.Address + ": " + err.Error()}
}

// score scores the message for the account, when a spam filter is set:
// it returns the message stamped with the verdict, and the mailbox it goes
// to. A filter that cannot answer lets the message through unscored into
// the Inbox: mail is never held or lost for it.
func (d *Deliverer) score(ctx context.Context, a *store.Account, body []byte, analyse func() *spam.Message) ([]byte, string) {
	if d.p.Spam == nil {
		return body, "inbox"
	}
	v, err := d.p.Spam.ClassifyMessage(ctx, a.ID, analyse())
	if err != nil {
		d.p.Logger.Warn("spam filter unavailable; delivering unscored", "account", a.Name, "err", err)
		return body, "inbox"
	}
	junk := d.cfg.Spam.JunkThreshold
	if v.Score >= junk {
		return spam.Stamp(body, v, junk), "junk"
	}
	return spam.Stamp(body, v, junk), "inbox"
}

// claim claims the message's Message-ID in the account's duplicate-ID
// list before it is stored. A duplicate stops the delivery with 250 (the
// account has the message); a list that cannot answer lets it go on: a
// duplicate stored is better than a message lost or held.
func (d *Deliverer) claim(ctx context.Context, a *store.Account, messageID, emailID string) (*dupid.Claim, mailqueue.Result, bool) {
	if d.p.Duplicates == nil || messageID == "" {
		return nil, mailqueue.Result{}, false
	}
	claim, err := d.p.Duplicates.Claim(ctx, a.ID, messageID, emailID)
	var dup *dupid.DuplicateError
	switch {
	case errors.As(err, &dup):
		d.p.Logger.Info("duplicate not stored", "account", a.Name, "message_id", messageID, "email", emailID, "first", dup.Delivery, "first_at", dup.At)
		return nil, mailqueue.Result{Code: 250, Enhanced: "2.0.0", RemoteMTA: d.p.Hostname,
			Text: fmt.Sprintf("duplicate: %s's Inbox has had Message-ID <%s> since %s (within %s); not stored again",
				a.Name, messageID, dup.At.UTC().Format(time.RFC3339), duration.Format(d.p.Duplicates.Retention()))}, true
	case err != nil:
		d.p.Logger.Warn("duplicate-ID list unavailable; storing without the check", "account", a.Name, "message_id", messageID, "err", err)
	}
	return claim, mailqueue.Result{}, false
}

// hostPool limits connections per remote host and keeps idle ones for reuse.
type hostPool struct {
	max  int
	mu   sync.Mutex
	sems map[string]chan struct{}
	idle map[string][]idleConn
}

type idleConn struct {
	c     *smtp.Client
	since time.Time
}

// idleFor is how long an idle connection is kept.
const idleFor = 30 * time.Second

func newHostPool(max int) *hostPool {
	if max < 1 {
		max = 10
	}
	return &hostPool{max: max, sems: map[string]chan struct{}{}, idle: map[string][]idleConn{}}
}

func (p *hostPool) acquire(ctx context.Context, addr string) (func(), error) {
	p.mu.Lock()
	sem, ok := p.sems[addr]
	if !ok {
		sem = make(chan struct{}, p.max)
		p.sems[addr] = sem
	}
	p.mu.Unlock()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *hostPool) getIdle(addr string) (*smtp.Client, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[addr]
	for len(list) > 0 {
		ic := list[len(list)-1]
		list = list[:len(list)-1]
		p.idle[addr] = list
		if time.Since(ic.since) < idleFor {
			return ic.c, ic.since
		}
		_ = ic.c.Close()
	}
	return nil, time.Time{}
}

func (p *hostPool) putIdle(addr string, c *smtp.Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle[addr]) >= p.max {
		_ = c.Quit()
		return
	}
	p.idle[addr] = append(p.idle[addr], idleConn{c, time.Now()})
}

func (p *hostPool) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, list := range p.idle {
		for _, ic := range list {
			_ = ic.c.Quit()
		}
		delete(p.idle, addr)
	}
}
