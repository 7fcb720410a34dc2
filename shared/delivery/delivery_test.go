package delivery

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
)

// dnsServer is a real DNS server on loopback answering from a zone map.
func dnsServer(t *testing.T, records map[string][]dns.RR) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		found := false
		for _, rr := range records[strings.ToLower(q.Name)] {
			found = true
			if rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
		if !found {
			m.Rcode = dns.RcodeNameError
		}
		if len(m.Answer) == 0 {
			// As an authoritative server does for NXDOMAIN and NODATA.
			soa, _ := dns.NewRR(q.Name + " 60 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60")
			m.Ns = append(m.Ns, soa)
			m.Authoritative = true
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func rr(t *testing.T, s string) dns.RR {
	r, err := dns.NewRR(s)
	require.NoError(t, err)
	return r
}

type recorder struct {
	mu   sync.Mutex
	got  []string // "host:rcpt"
	body []string
	name string
}

type recSession struct {
	r  *recorder
	to []string
}

func (r *recorder) NewSession(*gosmtp.Conn) (gosmtp.Session, error) { return &recSession{r: r}, nil }
func (s *recSession) Mail(string, *gosmtp.MailOptions) error        { return nil }
func (s *recSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *recSession) Data(rd io.Reader) error {
	b, _ := io.ReadAll(rd)
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	for _, to := range s.to {
		s.r.got = append(s.r.got, s.r.name+":"+to)
	}
	s.r.body = append(s.r.body, string(b))
	return nil
}
func (s *recSession) Reset()        { s.to = nil }
func (s *recSession) Logout() error { return nil }

// serveMX runs an SMTP server on addr (STARTTLS with cfg, when set)
// until the test ends.
func serveMX(t *testing.T, addr string, cfg *tls.Config) *recorder {
	t.Helper()
	r := &recorder{name: addr}
	s := gosmtp.NewServer(r)
	s.Domain, s.TLSConfig = "mx", cfg
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return r
}

// mta starts an SMTP server on addr (an IP of 127/8, port 25 is not ours
// to take, so tests bind port 0 and the deliverer's port is overridden).
func mta(t *testing.T, name string, tlsCfg *tls.Config) (*recorder, string) {
	t.Helper()
	r := &recorder{name: name}
	s := gosmtp.NewServer(r)
	s.Domain = name
	s.TLSConfig = tlsCfg
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return r, ln.Addr().String()
}

func deliverer(t *testing.T, cfgDoc string, resolver string) *Deliverer {
	t.Helper()
	cfg, err := config.Parse([]byte(cfgDoc))
	require.NoError(t, err)
	cfg.Queue.Resolver = resolver
	d, err := New(Params{Config: cfg, Logger: jetmailtest.Logger(), Hostname: "mx.example.org"})
	require.NoError(t, err)
	t.Cleanup(d.Close)
	return d
}

func delivery(route config.Route, domain string, rcpts ...string) *mailqueue.Delivery {
	d := &mailqueue.Delivery{Route: route, Domain: domain, Envelope: mailqueue.Envelope{Sender: "alice@example.org"},
		Body: []byte("From: alice@example.org\r\nTo: x@" + domain + "\r\nSubject: test\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nhello\r\n")}
	for _, r := range rcpts {
		d.Recipients = append(d.Recipients, &mailqueue.Recipient{Address: r})
	}
	return d
}

// MX resolution against a real DNS server: a null MX refuses mail for good;
// a domain with no MX has its own address as implicit MX; an MX host that
// refuses connections is skipped for the next one.
func TestMXResolution(t *testing.T) {
	t.Parallel()
	_, liveAddr := mta(t, "live", nil)
	_, livePort, _ := net.SplitHostPort(liveAddr)
	_, deadPort, _ := net.SplitHostPort(jetmailtest.FreePort(t)) // nothing listens there
	resolver := dnsServer(t, map[string][]dns.RR{
		"nullmx.test.":  {rr(t, "nullmx.test. 60 IN MX 0 .")},
		"nomx.test.":    {rr(t, "nomx.test. 60 IN A 127.0.0.1")},
		"nowhere.test.": nil,
		"multi.test.":   {rr(t, "multi.test. 60 IN MX 10 a.multi.test."), rr(t, "multi.test. 60 IN MX 20 b.multi.test.")},
		"a.multi.test.": {rr(t, "a.multi.test. 60 IN A 127.0.0.1")},
		"b.multi.test.": {rr(t, "b.multi.test. 60 IN A 127.0.0.1")},
	})
	d := deliverer(t, "", resolver)
	ctx := context.Background()

	res := d.Deliver(ctx, delivery(config.Route{Type: "mx"}, "nullmx.test", "a@nullmx.test"))
	require.Equal(t, 556, res[0].Code)
	require.Equal(t, "5.1.10", res[0].Enhanced)
	require.Equal(t, mailqueue.Permanent, res[0].Class())

	hosts, _, ok := d.hostsFor(ctx, delivery(config.Route{Type: "mx"}, "nomx.test"))
	require.True(t, ok)
	require.Equal(t, []host{{"nomx.test", "nomx.test:25"}}, hosts, "no MX: the domain is its own MX")

	res = d.Deliver(ctx, delivery(config.Route{Type: "mx"}, "nowhere.test", "a@nowhere.test"))
	require.Equal(t, mailqueue.Permanent, res[0].Class(), "%+v", res[0])

	hosts, _, ok = d.hostsFor(ctx, delivery(config.Route{Type: "mx"}, "multi.test"))
	require.True(t, ok)
	require.Equal(t, []string{"a.multi.test", "b.multi.test"}, []string{hosts[0].name, hosts[1].name}, "by preference")

	// Fall back across hosts: the first refuses connections, the second takes it.
	hosts = []host{{"a.multi.test", "127.0.0.1:" + deadPort}, {"b.multi.test", "127.0.0.1:" + livePort}}
	dl := delivery(config.Route{Type: "mx", TLS: "none"}, "multi.test", "x@multi.test")
	var results []mailqueue.Result
	for _, h := range hosts {
		r, err := d.transaction(ctx, h, dl, dl.Body, "none", nil)
		if err == nil {
			results = r
			break
		}
	}
	require.Equal(t, 250, results[0].Code)
	require.Equal(t, "b.multi.test", results[0].RemoteMTA)
}

func TestEqualPreferencesAreShuffled(t *testing.T) {
	t.Parallel()
	recs := map[string][]dns.RR{}
	for _, h := range []string{"a", "b", "c", "d"} {
		recs["eq.test."] = append(recs["eq.test."], rr(t, "eq.test. 60 IN MX 10 "+h+".eq.test."))
	}
	d := deliverer(t, "", dnsServer(t, recs))
	firsts := map[string]bool{}
	for range 40 {
		hosts, _, ok := d.hostsFor(context.Background(), delivery(config.Route{Type: "mx"}, "eq.test"))
		require.True(t, ok)
		firsts[hosts[0].name] = true
	}
	require.Greater(t, len(firsts), 1, "equal preferences must not always come in the same order")
}

func relayTo(t *testing.T, addr string, policy config.TLSMode) config.Route {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)
	return config.Route{Type: "relay", Address: h, Port: port, TLS: policy}
}

// STARTTLS: opportunistic uses it when offered and goes on in the clear
// when not; "require" fails (temporarily) a server without it.
func TestStartTLSPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := deliverer(t, "", "system")
	_, tlsAddr := mta(t, "tls", jetmailtest.SelfSigned(t))
	_, plainAddr := mta(t, "plain", nil)
	relay := func(addr string, policy config.TLSMode) config.Route { return relayTo(t, addr, policy) }
	res := d.Deliver(ctx, delivery(relay(tlsAddr, "require"), "remote.test", "a@remote.test"))
	require.Equal(t, 250, res[0].Code, "%+v", res[0])
	res = d.Deliver(ctx, delivery(relay(plainAddr, "opportunistic"), "remote.test", "a@remote.test"))
	require.Equal(t, 250, res[0].Code, "%+v", res[0])
	res = d.Deliver(ctx, delivery(relay(plainAddr, "require"), "remote.test", "a@remote.test"))
	require.Equal(t, 454, res[0].Code, "%+v", res[0])
	require.Equal(t, mailqueue.Temporary, res[0].Class())
	require.Contains(t, res[0].Text, "TLS is required")
}

// DKIM: mail from a domain with a key is signed, and the signature verifies
// against the public key published in DNS.
func TestDKIMSigning(t *testing.T) {
	t.Parallel()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	keyFile := filepath.Join(t.TempDir(), "dkim.pem")
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	d := deliverer(t, "[dkim.\"example.org\"]\nselector = \"s1\"\nprivate-key = \""+keyFile+"\"\n", "system")
	rec, addr := mta(t, "dkim", nil)
	res := d.Deliver(context.Background(), delivery(relayTo(t, addr, "none"), "remote.test", "a@remote.test"))
	require.Equal(t, 250, res[0].Code)
	rec.mu.Lock()
	body := rec.body[0]
	rec.mu.Unlock()
	require.Contains(t, body, "DKIM-Signature:")
	txt := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	verifications, err := dkim.VerifyWithOptions(bytes.NewReader([]byte(body)), &dkim.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) {
			require.Equal(t, "s1._domainkey.example.org", domain)
			return []string{txt}, nil
		},
	})
	require.NoError(t, err)
	require.Len(t, verifications, 1)
	require.NoError(t, verifications[0].Err)
	require.Equal(t, "example.org", verifications[0].Domain)
}

// countingMTA counts sessions and the most at once.
type countingMTA struct {
	mu                 sync.Mutex
	cur, max, sessions int
	delay              time.Duration
}

type countingSession struct{ m *countingMTA }

func (m *countingMTA) NewSession(*gosmtp.Conn) (gosmtp.Session, error) {
	m.mu.Lock()
	m.sessions++
	m.mu.Unlock()
	return &countingSession{m}, nil
}
func (s *countingSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *countingSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (s *countingSession) Reset()                                 {}
func (s *countingSession) Logout() error                          { return nil }
func (s *countingSession) Data(r io.Reader) error {
	_, _ = io.ReadAll(r)
	s.m.mu.Lock()
	s.m.cur++
	s.m.max = max(s.m.max, s.m.cur)
	s.m.mu.Unlock()
	time.Sleep(s.m.delay)
	s.m.mu.Lock()
	s.m.cur--
	s.m.mu.Unlock()
	return nil
}

// At most queue.limits.per-host connections to one host at once, and an
// idle connection is reused for the next transaction.
func TestPerHostLimitAndConnectionReuse(t *testing.T) {
	t.Parallel()
	m := &countingMTA{delay: 50 * time.Millisecond}
	s := gosmtp.NewServer(m)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	d := deliverer(t, "[queue.limits]\nper-host = 2\n", "system")
	route := relayTo(t, ln.Addr().String(), "none")
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := d.Deliver(context.Background(), delivery(route, "remote.test", fmt.Sprintf("u%d@remote.test", i)))
			require.Equal(t, 250, res[0].Code)
		}()
	}
	wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	require.LessOrEqual(t, m.max, 2, "per-host limit")
	require.LessOrEqual(t, m.sessions, 2, "twelve transactions over at most two reused connections")
}

// A pooled connection the server closed while it sat idle costs nothing: the
// next transaction, finding it dead at MAIL FROM, goes on a new connection.
func TestDroppedIdleConnectionIsReplaced(t *testing.T) {
	t.Parallel()
	m := &countingMTA{}
	s := gosmtp.NewServer(m)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	d := deliverer(t, "", "system")
	route := relayTo(t, ln.Addr().String(), "none")
	res := d.Deliver(context.Background(), delivery(route, "remote.test", "a@remote.test"))
	require.Equal(t, 250, res[0].Code)
	// The server drops every connection; the client's is in the pool.
	require.NoError(t, s.Close())
	s2 := gosmtp.NewServer(m)
	ln2, err := net.Listen("tcp", ln.Addr().String())
	require.NoError(t, err)
	go func() { _ = s2.Serve(ln2) }()
	t.Cleanup(func() { _ = s2.Close() })
	res = d.Deliver(context.Background(), delivery(route, "remote.test", "b@remote.test"))
	require.Equal(t, 250, res[0].Code, "delivered on a new connection: %+v", res[0])
	m.mu.Lock()
	defer m.mu.Unlock()
	require.Equal(t, 2, m.sessions)
}
