package acme_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/acme"
	jsmtp "github.com/jetmail/jetmail/services/smtp"
	"github.com/jetmail/jetmail/shared/certs"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
)

const acmeZone = `$ORIGIN example.org.
$TTL 3600
@       SOA ns1.example.org. hostmaster.example.org. 1 3600 900 604800 300
@       NS  ns1.example.org.
ns1     A   127.0.0.1
@       A   127.0.0.1
mx      A   127.0.0.1
`

type acmeSMTPNode struct {
	svc   *acme.Service
	certs *certs.Store
	smtp  string // the SMTP listener's address
}

// startRenewal runs Knot (example.org, mx.example.org: 127.0.0.1), pebble
// validating HTTP-01 on httpPort, and a node with the SMTP intake and the
// acme service whose HTTP listener is on challengePort.
func startRenewal(t *testing.T, httpPort func(node int) int, changes ...func(c *config.Config, knot string)) *acmeSMTPNode {
	t.Helper()
	knot := jetmailtest.Knot(t, tsigKey, map[string]string{"example.org": acmeZone})
	nodeHTTP := jetmailtest.FreePort(t)
	_, port, _ := net.SplitHostPort(nodeHTTP)
	p, _ := strconv.Atoi(port)
	peb := jetmailtest.StartPebbleTLS(t, knot, httpPort(p), p, 48*time.Hour) // TLS-ALPN-01 on the node's listener
	cfg := jetmailtest.Config(t, "1", func(c *config.Config) {
		c.HTTP.Listen = nodeHTTP
		c.SMTP.Hostname = "mx.example.org"
		c.SMTP.Listen = []string{"127.0.0.1:0"}
		c.ACME = config.ACME{Directory: peb.Directory, CAFile: peb.CAFile, Contact: []string{"mailto:postmaster@example.org"}, RenewBefore: 30 * 24 * time.Hour}
		c.Task.Periodic = map[string]config.Periodic{}
		for _, ch := range changes {
			ch(c, knot)
		}
	})
	sc, cc, q := store.NewComponent(store.Params{}), certs.NewComponent(), mailqueue.New(mailqueue.Params{})
	svc := acme.New(cfg, sc, cc, acme.Params{})
	in := jsmtp.New(cfg, q).WithStore(sc).WithCerts(cc)
	jetmailtest.Node(t, jetmailtest.Conn(t, jetmailtest.Server(t)), cfg, sc, cc, q, in, svc)
	require.NoError(t, sc.Store().CreateDomain(context.Background(), store.Domain{Name: "example.org"}))
	_, perrs, err := svc.Manager().UpdateSettings(context.Background(), json.RawMessage(`{"maxAttempts": 1}`))
	require.NoError(t, err)
	require.Empty(t, perrs)
	return &acmeSMTPNode{svc: svc, certs: cc.Store(), smtp: in.Addrs()[0]}
}

// renew runs an AcmeRenewal and returns its failure reason ("" when it
// succeeded).
func (n *acmeSMTPNode) renew(t *testing.T) string {
	t.Helper()
	return (&acmeNode{svc: n.svc}).run(t, &task.AcmeRenewalTask{DomainID: "example.org"})
}

// starttls is the certificate the SMTP listener shows after STARTTLS to a
// client asking for mx.example.org.
func (n *acmeSMTPNode) starttls(t *testing.T) *x509.Certificate {
	t.Helper()
	c, err := smtp.DialStartTLS(n.smtp, &tls.Config{ServerName: "mx.example.org", InsecureSkipVerify: true}) // pebble's root is its own
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Noop()) // the handshake happens at the first exchange
	state, ok := c.TLSConnectionState()
	require.True(t, ok)
	return state.PeerCertificates[0]
}

// First issuance by HTTP-01 from pebble: the certificate covers the
// domain and the mail host, STARTTLS serves it, and the next renewal is
// scheduled; a renewal gives a new certificate that STARTTLS serves
// within seconds, with no restart.
func TestAcmeIssuanceAndRenewal(t *testing.T) {
	t.Parallel()
	n := startRenewal(t, func(node int) int { return node })
	require.Empty(t, n.renew(t))
	ctx := context.Background()
	first, err := n.certs.Cert(ctx, "example.org")
	require.NoError(t, err)
	require.Equal(t, []string{"example.org", "mx.example.org"}, first.Names)
	require.Eventually(t, func() bool { return n.starttls(t).SerialNumber.Text(16) == first.Serial }, 10*time.Second, 50*time.Millisecond,
		"STARTTLS serves the certificate obtained")
	leaf := n.starttls(t)
	require.ElementsMatch(t, []string{"example.org", "mx.example.org"}, leaf.DNSNames)

	renewal, err := n.certs.Renewal(ctx, "example.org")
	require.NoError(t, err)
	next, err := n.svc.Manager().Get(ctx, renewal)
	require.NoError(t, err, "the next renewal is scheduled")
	require.Equal(t, task.Pending, next.Status.Type)

	require.Empty(t, n.renew(t))
	second, err := n.certs.Cert(ctx, "example.org")
	require.NoError(t, err)
	require.NotEqual(t, first.Serial, second.Serial)
	require.Eventually(t, func() bool { return n.starttls(t).SerialNumber.Text(16) == second.Serial }, 10*time.Second, 50*time.Millisecond,
		"STARTTLS serves the renewed certificate without a restart")
	again, err := n.certs.Renewal(ctx, "example.org")
	require.NoError(t, err)
	require.NotEqual(t, renewal, again)
	_, err = n.svc.Manager().Get(ctx, renewal)
	require.Error(t, err, "the renewal scheduled before is replaced, not doubled")
}

// A challenge the CA cannot validate fails the task with pebble's reason,
// and no certificate is stored.
func TestAcmeFailingChallenge(t *testing.T) {
	t.Parallel()
	closed := jetmailtest.FreePort(t) // nothing listens there
	_, port, _ := net.SplitHostPort(closed)
	p, _ := strconv.Atoi(port)
	n := startRenewal(t, func(int) int { return p })
	reason := n.renew(t)
	t.Logf("failed: %s", reason)
	require.Contains(t, reason, "http-01 validation failed")
	require.Contains(t, reason, "connect")
	_, err := n.certs.Cert(context.Background(), "example.org")
	require.ErrorIs(t, err, certs.ErrNotFound)
}

// DNS-01: the challenge's TXT record goes to the zone by RFC 2136 (Knot,
// which pebble asks), and is removed after; HTTP is not used (pebble's
// HTTP port is closed).
func TestAcmeDNS01(t *testing.T) {
	t.Parallel()
	closed := jetmailtest.FreePort(t)
	_, port, _ := net.SplitHostPort(closed)
	p, _ := strconv.Atoi(port)
	var knotAddr, httpsAddr string
	static, certPath := selfSigned(t, t.TempDir(), "localhost")
	keyPath := strings.TrimSuffix(certPath, "cert.pem") + "key.pem"
	n := startRenewal(t, func(int) int { return p }, func(c *config.Config, knot string) {
		knotAddr, httpsAddr = knot, c.HTTP.Listen
		c.HTTP.TLSCert, c.HTTP.TLSKey = certPath, keyPath
		c.ACME.Challenge = "dns-01"
		c.DNS.Servers = map[string]config.DNSServer{"knot": {Address: knot, Protocol: "tcp", Domains: []string{"example.org"},
			TSIGName: tsigKey.Name, TSIGAlgorithm: tsigKey.Algorithm, TSIGSecret: tsigKey.Secret, Timeout: 5 * time.Second}}
	})
	https := func(name string) *x509.Certificate {
		conn, err := tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
		require.NoError(t, err)
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0]
	}
	require.Equal(t, static.SerialNumber, https("mx.example.org").SerialNumber, "http.tls.cert until ACME has one")
	require.Empty(t, n.renew(t))
	c, err := n.certs.Cert(context.Background(), "example.org")
	require.NoError(t, err)
	require.Equal(t, []string{"example.org", "mx.example.org"}, c.Names)
	// The HTTPS listener serves it too, in place of http.tls.cert, to a
	// client that asks for no name as well.
	require.Eventually(t, func() bool { return https("mx.example.org").SerialNumber.Text(16) == c.Serial }, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, c.Serial, https("").SerialNumber.Text(16))
	for _, name := range []string{"_acme-challenge.example.org", "_acme-challenge.mx.example.org"} {
		left := (&acmeNode{knot: knotAddr}).query(t, name, dns.TypeTXT)
		require.Empty(t, left, "the challenge record of %s is removed", name)
	}
}

// TLS-ALPN-01: the HTTPS listener shows the challenge's certificate to
// pebble asking for acme-tls/1 on it, and the certificate obtained is then
// served to everyone else.
func TestAcmeTLSALPN01(t *testing.T) {
	t.Parallel()
	closed := jetmailtest.FreePort(t)
	_, port, _ := net.SplitHostPort(closed)
	p, _ := strconv.Atoi(port)
	var httpsAddr string
	_, certPath := selfSigned(t, t.TempDir(), "localhost")
	keyPath := strings.TrimSuffix(certPath, "cert.pem") + "key.pem"
	n := startRenewal(t, func(int) int { return p }, func(c *config.Config, _ string) {
		httpsAddr = c.HTTP.Listen
		c.HTTP.TLSCert, c.HTTP.TLSKey = certPath, keyPath
		c.ACME.Challenge = "tls-alpn-01"
	})
	require.Empty(t, n.renew(t))
	c, err := n.certs.Cert(context.Background(), "example.org")
	require.NoError(t, err)
	require.Equal(t, []string{"example.org", "mx.example.org"}, c.Names)
	require.Eventually(t, func() bool {
		conn, err := tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: "mx.example.org", InsecureSkipVerify: true})
		if err != nil {
			return false
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Text(16) == c.Serial
	}, 10*time.Second, 50*time.Millisecond)
	// The challenge is gone: acme-tls/1 gets no certificate now.
	_, err = tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: "mx.example.org", InsecureSkipVerify: true, NextProtos: []string{"acme-tls/1"}})
	require.Error(t, err)
}

// An ACME directory that is down fails the task with the reason.
func TestAcmeDirectoryDown(t *testing.T) {
	t.Parallel()
	n := startACME(t, func(c *config.Config) {
		c.ACME = config.ACME{Directory: "https://" + jetmailtest.FreePort(t) + "/dir", RenewBefore: 30 * 24 * time.Hour, Challenge: "http-01"}
	})
	_, perrs, err := n.svc.Manager().UpdateSettings(context.Background(), json.RawMessage(`{"maxAttempts": 1}`))
	require.NoError(t, err)
	require.Empty(t, perrs)
	reason := n.run(t, &task.AcmeRenewalTask{DomainID: "example.org"})
	require.Contains(t, reason, "ACME directory https://127.0.0.1:")
	require.Contains(t, reason, "connection refused")
}
