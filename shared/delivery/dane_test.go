package delivery

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/aggreport"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
)

// DANE against real TLS peers, with a zone Knot signs and Unbound
// validates: an MX whose certificate matches its TLSA record gets the
// mail; one whose does not gets none (4.7.5, no fallback to the clear);
// and the same records unvalidated (asked of Knot directly) are ignored.
func TestDANE(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	port := jetmailtest.SharedPort(t)
	goodTLS, badTLS := jetmailtest.SelfSigned(t, "mx.good.dane.test"), jetmailtest.SelfSigned(t, "mx.bad.dane.test")
	good := serveMX(t, "127.0.0.1:"+port, goodTLS)
	bad := serveMX(t, "127.0.0.2:"+port, badTLS)

	// DANE-EE SPKI SHA-256 of the good server's key; the bad server's
	// record names the good key too, so its own certificate matches none.
	leaf, err := x509.ParseCertificate(goodTLS.Certificates[0].Certificate[0])
	require.NoError(t, err)
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	tlsa := "TLSA 3 1 1 " + hex.EncodeToString(spki[:])
	zone := jetmailtest.Zone("dane.test",
		"good MX 10 mx.good.dane.test.", "mx.good A 127.0.0.1", "_25._tcp.mx.good "+tlsa,
		"bad MX 10 mx.bad.dane.test.", "mx.bad A 127.0.0.2", "_25._tcp.mx.bad "+tlsa,
		`_smtp._tls.good TXT "v=TLSRPTv1; rua=mailto:tls@reports.test"`, `_smtp._tls.bad TXT "v=TLSRPTv1; rua=mailto:tls@reports.test"`)
	knot := jetmailtest.KnotSigned(t, jetmailtest.KnotKey{Name: "k.", Algorithm: "hmac-sha256", Secret: base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))},
		map[string]string{"dane.test": zone})
	// The zone's key-signing key anchors the resolver.
	var anchor string
	require.Eventually(t, func() bool {
		m := new(dns.Msg)
		m.SetQuestion("dane.test.", dns.TypeDNSKEY)
		r, err := dns.Exchange(m, knot)
		if err != nil {
			return false
		}
		for _, rr := range r.Answer {
			if k, ok := rr.(*dns.DNSKEY); ok && k.Flags == 257 {
				anchor = strings.Join(strings.Fields(k.String()), " ") // unbound takes no tabs
			}
		}
		return anchor != ""
	}, 10*time.Second, 50*time.Millisecond, "knot signs the zone")
	unbound := jetmailtest.Unbound(t, knot, "dane.test", anchor)

	js, err := jetstream.New(jetmailtest.Conn(t, jetmailtest.Server(t)))
	require.NoError(t, err)
	events, err := aggreport.Open(ctx, js, 1, jetmailtest.Logger())
	require.NoError(t, err)
	deliverer := func(resolver string) *Deliverer {
		cfg, err := config.Parse(fmt.Appendf(nil, "[queue]\nresolver = %q\nmx-port = %s\n", resolver, port))
		require.NoError(t, err)
		d, err := New(Params{Config: cfg, Logger: jetmailtest.Logger(), Hostname: "mx.example.org", Reports: events})
		require.NoError(t, err)
		t.Cleanup(d.Close)
		return d
	}
	mx := config.Route{Type: config.RouteMX}
	d := deliverer(unbound)
	res := d.Deliver(ctx, delivery(mx, "good.dane.test", "a@good.dane.test"))
	require.Equal(t, 250, res[0].Code, "%+v", res[0])
	require.Len(t, good.got, 1)

	res = d.Deliver(ctx, delivery(mx, "bad.dane.test", "b@bad.dane.test"))
	require.Equal(t, 454, res[0].Code, "%+v", res[0])
	require.Equal(t, mailqueue.Temporary, res[0].Class())
	require.Contains(t, res[0].Text, "DANE: mx.bad.dane.test has TLSA records")
	require.Contains(t, res[0].Text, "matches none of the TLSA records")
	require.Empty(t, bad.got)

	// The TLS report's view: policy tlsa with the records.
	var aggs []*aggreport.Aggregate
	require.Eventually(t, func() bool {
		aggs, err = aggreport.Collect(ctx, js, aggreport.KindTLS, aggreport.WindowAt(time.Now(), time.Hour))
		return err == nil && len(aggs) == 2
	}, 10*time.Second, 100*time.Millisecond)
	record := "3 1 1 " + hex.EncodeToString(spki[:])
	require.Equal(t, []aggreport.TLSPolicyResult{{PolicyType: "tlsa", PolicyStrings: []string{record}, Failed: 1,
		Failures: []aggreport.TLSFailure{{ResultType: "validation-failure", ReceivingMX: "mx.bad.dane.test", ReceivingIP: "127.0.0.2",
			FailureReason: "the certificate matches none of the TLSA records", Count: 1}}}}, aggs[0].Policies, "bad.dane.test")
	require.Equal(t, []aggreport.TLSPolicyResult{{PolicyType: "tlsa", PolicyStrings: []string{record}, Successful: 1}}, aggs[1].Policies, "good.dane.test")

	// Knot itself does not validate (no AD): the records are not trusted,
	// and the mail goes by opportunistic TLS.
	res = deliverer(knot).Deliver(ctx, delivery(mx, "bad.dane.test", "c@bad.dane.test"))
	require.Equal(t, 250, res[0].Code, "%+v", res[0])
	require.Len(t, bad.got, 1)
}
