package acme_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/acme"
	"github.com/jetmail/jetmail/shared/certs"
	"github.com/jetmail/jetmail/shared/config"
	sdelivery "github.com/jetmail/jetmail/shared/delivery"
	"github.com/jetmail/jetmail/shared/dkimkey"
	"github.com/jetmail/jetmail/shared/dnsmanage"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

const zone = `$ORIGIN example.org.
$TTL 3600
@       SOA ns1.example.org. hostmaster.example.org. 1 3600 900 604800 300
@       NS  ns1.example.org.
ns1     A   127.0.0.1
@       TXT "google-site-verification=keep-me"
@       MX  20 old-mx.example.org.
`

var tsigKey = jetmailtest.KnotKey{Name: "jetmail.", Algorithm: "hmac-sha256", Secret: base64.StdEncoding.EncodeToString([]byte("a test tsig secret, 32 bytes ok!"))}

type acmeNode struct {
	cfg  *config.Config
	conn *nats.Conn
	svc  *acme.Service
	st   *store.Store
	knot string
	cert *x509.Certificate
	dkim string // the DKIM record's text
}

// startACME runs Knot with example.org and a node with the acme service,
// whose configuration changes may adjust.
func startACME(t *testing.T, changes ...func(*config.Config)) *acmeNode {
	t.Helper()
	knot := jetmailtest.Knot(t, tsigKey, map[string]string{"example.org": zone})
	dir := t.TempDir()
	_, dkimKey, _ := ed25519.GenerateKey(rand.Reader)
	der, err := x509.MarshalPKCS8PrivateKey(dkimKey)
	require.NoError(t, err)
	keyPath := filepath.Join(dir, "dkim.pem")
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	cert, certPath := selfSigned(t, dir, "mx.example.org")

	cfg := jetmailtest.Config(t, "1", func(c *config.Config) {
		c.SMTP.Hostname = "mx.example.org"
		c.SMTP.Listen = []string{"0.0.0.0:25", "0.0.0.0:587"}
		c.SMTP.TLSCert = certPath
		c.DKIM = map[string]config.DKIMKey{"example.org": {Selector: "s1", PrivateKey: keyPath}}
		c.DNS.CAAIssuers = []string{"letsencrypt.org"}
		c.DNS.TTL = 5 * time.Minute
		c.DNS.Servers = map[string]config.DNSServer{"knot": {Address: knot, Protocol: "tcp", Domains: []string{"example.org"},
			TSIGName: tsigKey.Name, TSIGAlgorithm: tsigKey.Algorithm, TSIGSecret: tsigKey.Secret, Timeout: 5 * time.Second}}
		c.Task.Periodic = map[string]config.Periodic{}
	})
	for _, c := range changes {
		c(cfg)
	}
	sc, cc := store.NewComponent(store.Params{}), certs.NewComponent()
	svc := acme.New(cfg, sc, cc, acme.Params{})
	srv := jetmailtest.Server(t)
	jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, sc, cc, svc)
	require.NoError(t, sc.Store().CreateDomain(context.Background(), store.Domain{Name: "example.org"}))
	return &acmeNode{cfg: cfg, conn: jetmailtest.Conn(t, srv), svc: svc, st: sc.Store(), knot: knot, cert: cert,
		dkim: "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(dkimKey.Public().(ed25519.PublicKey))}
}

// selfSigned writes a self-signed certificate for host (cert.pem) and its
// key (key.pem) into dir.
func selfSigned(t *testing.T, dir, host string) (*x509.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	path := filepath.Join(dir, "cert.pem")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert, path
}

// run creates a DnsManagement task and waits for it to finish: nil when
// it succeeded, its last failure otherwise (its first, with retries
// waiting a minute).
func (n *acmeNode) run(t *testing.T, p task.Payload) string {
	t.Helper()
	ctx := context.Background()
	m := n.svc.Manager()
	tk, err := m.Create(ctx, p, nil)
	require.NoError(t, err)
	var reason string
	require.Eventually(t, func() bool {
		got, err := m.Get(ctx, tk.ID)
		if err != nil {
			require.ErrorIs(t, err, taskmanager.ErrNotFound)
			return true // done: completed tasks leave
		}
		if got.Status.Type != task.Pending {
			reason = got.Status.FailureReason
			return true
		}
		return false
	}, 20*time.Second, 20*time.Millisecond)
	return reason
}

func all() map[string]bool {
	out := map[string]bool{}
	for _, t := range dnsmanage.Types {
		out[t] = true
	}
	return out
}

// query asks knot for name's records of type t, as zone-file text without
// the name, class and TTL.
func (n *acmeNode) query(t *testing.T, name string, typ uint16) []string {
	t.Helper()
	s := &dnsmanage.Server{Addr: n.knot}
	rrs, err := s.Current(context.Background(), name, typ)
	require.NoError(t, err)
	var out []string
	for _, rr := range rrs {
		f := strings.Fields(rr.String())
		out = append(out, strings.Join(f[4:], " "))
	}
	return out
}

// Every record type is published, each checked by asking Knot; the
// records jetmail does not own stay, the ones it owns but does not want
// go; running it again changes nothing.
func TestDNSManagementPublishesEveryRecordType(t *testing.T) {
	t.Parallel()
	n := startACME(t)
	require.Empty(t, n.run(t, &task.DnsManagementTask{DomainID: "example.org", UpdateRecords: all()}))

	spki := sha256.Sum256(n.cert.RawSubjectPublicKeyInfo)
	policy := sha256.Sum256([]byte(dnsmanage.MTASTSPolicy("mx.example.org")))
	for _, c := range []struct {
		name string
		typ  uint16
		want []string
	}{
		{"example.org", dns.TypeMX, []string{"10 mx.example.org."}},
		{"example.org", dns.TypeTXT, []string{`"google-site-verification=keep-me"`, `"mailconf=https://autoconfig.example.org/mail/config-v1.1.xml"`, `"v=spf1 mx -all"`}},
		{"s1._domainkey.example.org", dns.TypeTXT, []string{`"` + n.dkim + `"`}},
		{"_dmarc.example.org", dns.TypeTXT, []string{`"v=DMARC1; p=reject; rua=mailto:postmaster@example.org"`}},
		{"_smtp._tls.example.org", dns.TypeTXT, []string{`"v=TLSRPTv1; rua=mailto:postmaster@example.org"`}},
		{"_mta-sts.example.org", dns.TypeTXT, []string{`"v=STSv1; id=` + hex.EncodeToString(policy[:8]) + `"`}},
		{"mta-sts.example.org", dns.TypeCNAME, []string{"mx.example.org."}},
		{"_25._tcp.mx.example.org", dns.TypeTLSA, []string{"3 1 1 " + hex.EncodeToString(spki[:])}},
		{"_submission._tcp.example.org", dns.TypeSRV, []string{"0 1 587 mx.example.org."}},
		{"_submissions._tcp.example.org", dns.TypeSRV, []string{"0 1 0 ."}}, // not offered: no listener on 465
		{"example.org", dns.TypeCAA, []string{`0 issue "letsencrypt.org"`}},
		{"autoconfig.example.org", dns.TypeCNAME, []string{"mx.example.org."}},
		{"_autodiscover._tcp.example.org", dns.TypeSRV, []string{"0 1 443 mx.example.org."}},
	} {
		got := n.query(t, c.name, c.typ)
		require.ElementsMatch(t, c.want, got, "%s %s", c.name, dns.TypeToString[c.typ])
	}
	// Beside a TXT record jetmail does not own, its own take that TTL,
	// so the other's stays; elsewhere they have dns.ttl.
	apex, err := (&dnsmanage.Server{Addr: n.knot}).Current(context.Background(), "example.org", dns.TypeTXT)
	require.NoError(t, err)
	for _, rr := range apex {
		require.Equal(t, uint32(3600), rr.Header().Ttl, rr.String())
	}
	mx, err := (&dnsmanage.Server{Addr: n.knot}).Current(context.Background(), "example.org", dns.TypeMX)
	require.NoError(t, err)
	require.Equal(t, uint32(300), mx[0].Header().Ttl)
	soa := n.query(t, "example.org", dns.TypeSOA)

	// Nothing to change: nothing sent (the zone's serial stays).
	require.Empty(t, n.run(t, &task.DnsManagementTask{DomainID: "example.org", UpdateRecords: all()}))
	require.Equal(t, soa, n.query(t, "example.org", dns.TypeSOA))
}

// Bad input fails the task with a precise reason: a domain with no DNS
// server, a wrong TSIG secret, a record type that lacks its input.
func TestDNSManagementRefusals(t *testing.T) {
	t.Parallel()
	wrong := base64.StdEncoding.EncodeToString([]byte("not the secret knot was given!!!"))
	n := startACME(t, func(c *config.Config) {
		s := c.DNS.Servers["knot"]
		s.TSIGSecret = wrong
		c.DNS.Servers["knot"] = s
		c.DNS.CAAIssuers = nil
	})
	ctx := context.Background()
	_, perrs, err := n.svc.Manager().UpdateSettings(ctx, json.RawMessage(`{"maxAttempts": 1}`))
	require.NoError(t, err)
	require.Empty(t, perrs)
	require.NoError(t, n.st.CreateDomain(ctx, store.Domain{Name: "other.org"}))

	reason := n.run(t, &task.DnsManagementTask{DomainID: "other.org", UpdateRecords: map[string]bool{"mx": true}})
	require.Contains(t, reason, "no DNS server is configured for other.org")
	reason = n.run(t, &task.DnsManagementTask{DomainID: "example.org", UpdateRecords: map[string]bool{"mx": true}})
	require.Contains(t, reason, "the DNS server refused the update")
	require.Contains(t, reason, "NOTAUTH")
	t.Logf("a wrong TSIG secret: %s", reason)
	require.NotContains(t, reason, wrong, "no secret in the reason")
	reason = n.run(t, &task.DnsManagementTask{DomainID: "example.org", UpdateRecords: map[string]bool{"caa": true}})
	require.Contains(t, reason, "caa: no CA to authorize: set dns.caa-issuers")
	require.Equal(t, []string{"20 old-mx.example.org."}, n.query(t, "example.org", dns.TypeMX), "nothing half-applied")
}

// A DKIM rotation end to end: a new key is published, signs once its
// record is visible and the TTL passed, and the old selector is removed
// after the grace; mail signed after the switch verifies with the new
// selector against Knot (go-msgauth's verifier).
func TestDKIMRotation(t *testing.T) {
	t.Parallel()
	n := startACME(t, func(c *config.Config) {
		c.DNS.TTL = time.Second
		k := c.DKIM["example.org"]
		k.Algorithm, k.Grace = "rsa", 2*time.Second
		c.DKIM["example.org"] = k
	})
	require.Empty(t, n.run(t, &task.DnsManagementTask{DomainID: "example.org", UpdateRecords: map[string]bool{"dkim": true}}))
	require.Equal(t, []string{`"` + n.dkim + `"`}, n.query(t, "s1._domainkey.example.org", dns.TypeTXT))

	ctx := context.Background()
	js, err := jetstream.New(n.conn)
	require.NoError(t, err)
	ring, err := dkimkey.OpenRing(ctx, js, 1)
	require.NoError(t, err)
	var wg sync.WaitGroup
	bg, stop := context.WithCancel(ctx)
	defer func() { stop(); wg.Wait() }()
	require.NoError(t, ring.Follow(ctx, bg, &wg))

	require.Empty(t, n.run(t, &task.DkimManagementTask{DomainID: "example.org"}))
	var st *dkimkey.State
	require.Eventually(t, func() bool {
		st, _, err = ring.State(ctx, "example.org")
		return err == nil && st.Active != nil && st.Next == nil && len(st.Retired) == 0
	}, 30*time.Second, 100*time.Millisecond, "the rotation runs through: switched, the old key removed")
	require.NotEqual(t, "s1", st.Active.Selector)
	require.True(t, strings.HasPrefix(st.Active.Record, "v=DKIM1; k=rsa; p="))
	require.Empty(t, n.query(t, "s1._domainkey.example.org", dns.TypeTXT), "the retired selector is unpublished")
	require.NotEmpty(t, n.query(t, st.Active.Selector+"._domainkey.example.org", dns.TypeTXT))

	// Signed as every delivery node signs, verified against Knot.
	require.Eventually(t, func() bool { sel, _, ok := ring.Active("example.org"); return ok && sel == st.Active.Selector }, 5*time.Second, 20*time.Millisecond)
	d, err := sdelivery.New(sdelivery.Params{Config: n.cfg, DKIM: ring, Logger: jetmailtest.Logger()})
	require.NoError(t, err)
	msg := "From: alice@example.org\r\nTo: bob@remote.test\r\nSubject: rotated\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\nMessage-ID: <r@example.org>\r\n\r\nhello\r\n"
	signed, err := d.Sign("alice@example.org", []byte(msg))
	require.NoError(t, err)
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(signed), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		var out []string
		for _, s := range n.query(t, name, dns.TypeTXT) {
			out = append(out, strings.Trim(strings.ReplaceAll(s, `" "`, ""), `"`))
		}
		return out, nil
	}})
	require.NoError(t, err)
	require.Len(t, vs, 1)
	require.NoError(t, vs[0].Err)
	require.Equal(t, "example.org", vs[0].Domain)
	require.Contains(t, string(signed), "s="+st.Active.Selector+";")
}
