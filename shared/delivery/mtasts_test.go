package delivery

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/aggreport"
	"github.com/jetmail/jetmail/shared/certs"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
)

// testCA issues certificates for names.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jetmail test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *testCA) issue(t *testing.T, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func stsZone(domain, ip string) string {
	return jetmailtest.Zone(domain, "@ MX 10 mx."+domain+".", "mx A "+ip, `_mta-sts TXT "v=STSv1; id=20261203"`,
		`_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tls@reports.test"`)
}

// MTA-STS against real TLS peers: a policy in enforce mode delivers to an
// MX whose certificate is valid for its name, and holds mail (4.7.5) for
// one whose certificate is not; in testing mode the mail goes on. Each
// session's outcome goes to the TLS report with the policy.
func TestMTASTS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ca := newCA(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, ca.pem, 0o600))

	// MXes on one port: a good certificate on 127.0.0.1, an untrusted one
	// on 127.0.0.2.
	port := jetmailtest.SharedPort(t)
	good := serveMX(t, "127.0.0.1:"+port, &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "mx.good.test")}})
	bad := serveMX(t, "127.0.0.2:"+port, jetmailtest.SelfSigned(t, "mx.bad.test", "mx.testing.test"))

	knot := jetmailtest.Knot(t, jetmailtest.KnotKey{Name: "k.", Algorithm: "hmac-sha256", Secret: base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))},
		map[string]string{"good.test": stsZone("good.test", "127.0.0.1"), "bad.test": stsZone("bad.test", "127.0.0.2"), "testing.test": stsZone("testing.test", "127.0.0.2")})

	// The policies, over HTTPS with a certificate from the same CA.
	policies := map[string]string{
		"mta-sts.bad.test":     "version: STSv1\nmode: enforce\nmx: *.bad.test\nmax_age: 86400\n",
		"mta-sts.testing.test": "version: STSv1\nmode: testing\nmx: mx.testing.test\nmax_age: 86400\n",
	}
	// good.test's is the policy jetmail serves for a mail host.
	served := certs.MTASTSHandler("mx.good.test")
	web := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Host, "mta-sts.good.test") {
			served.ServeHTTP(w, r)
			return
		}
		p, ok := policies[strings.Split(r.Host, ":")[0]]
		if !ok || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(p))
	}))
	web.TLS = &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "mta-sts.good.test", "mta-sts.bad.test", "mta-sts.testing.test")}}
	web.StartTLS()
	t.Cleanup(web.Close)

	srv := jetmailtest.Server(t)
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	events, err := aggreport.Open(ctx, js, 1, jetmailtest.Logger())
	require.NoError(t, err)

	cfg, err := config.Parse(fmt.Appendf(nil, "[queue]\nresolver = %q\nmx-port = %s\n[queue.tls]\nca-file = %q\n", knot, port, caFile))
	require.NoError(t, err)
	pool, err := roots(caFile)
	require.NoError(t, err)
	// The policy host's name is kept for TLS; the connection goes to the
	// test's HTTPS server.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, web.Listener.Addr().String())
		}}}
	d, err := New(Params{Config: cfg, Logger: jetmailtest.Logger(), Hostname: "mx.example.org", Reports: events, PolicyClient: client})
	require.NoError(t, err)
	t.Cleanup(d.Close)
	mx := config.Route{Type: config.RouteMX}

	res := d.Deliver(ctx, delivery(mx, "good.test", "a@good.test"))
	require.Equal(t, 250, res[0].Code, "%+v", res[0])
	require.Equal(t, []string{"127.0.0.1:" + port + ":a@good.test"}, good.got)

	res = d.Deliver(ctx, delivery(mx, "bad.test", "b@bad.test"))
	require.Equal(t, 454, res[0].Code, "%+v", res[0])
	require.Equal(t, mailqueue.Temporary, res[0].Class())
	require.Contains(t, res[0].Text, "MTA-STS policy of bad.test (enforce) needs TLS with a valid certificate for mx.bad.test")
	require.Empty(t, bad.got, "nothing in the clear to an MX the policy does not trust")

	res = d.Deliver(ctx, delivery(mx, "testing.test", "c@testing.test"))
	require.Equal(t, 250, res[0].Code, "testing mode delivers: %+v", res[0])
	require.Equal(t, []string{"127.0.0.2:" + port + ":c@testing.test"}, bad.got)

	// The TLS report's view of it.
	w := aggreport.WindowAt(time.Now(), time.Hour)
	var aggs []*aggreport.Aggregate
	require.Eventually(t, func() bool {
		aggs, err = aggreport.Collect(ctx, js, aggreport.KindTLS, w)
		return err == nil && len(aggs) == 3
	}, 10*time.Second, 100*time.Millisecond)
	got := map[string]aggreport.TLSPolicyResult{}
	for _, a := range aggs {
		require.Len(t, a.Policies, 1, a.Domain)
		got[a.Domain] = a.Policies[0]
	}
	require.Equal(t, aggreport.TLSPolicyResult{PolicyType: "sts", PolicyStrings: []string{"version: STSv1", "mode: enforce", "mx: mx.good.test", "max_age: 604800"},
		MXHost: "mx.good.test", Successful: 1}, got["good.test"])
	require.Equal(t, 1, got["bad.test"].Failed)
	require.Equal(t, "*.bad.test", got["bad.test"].MXHost)
	require.Len(t, got["bad.test"].Failures, 1)
	require.Equal(t, "certificate-not-trusted", got["bad.test"].Failures[0].ResultType)
	require.Equal(t, "127.0.0.2", got["bad.test"].Failures[0].ReceivingIP)
	require.Equal(t, "mx.bad.test", got["bad.test"].Failures[0].ReceivingMX)
	require.Equal(t, 1, got["testing.test"].Failed)
}
