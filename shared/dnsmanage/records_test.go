package dnsmanage_test

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/dnsmanage"
)

// A record type that lacks its input, or that cannot go in the zone,
// says so; a long DKIM key is split into TXT strings of 255 octets.
func TestRecords(t *testing.T) {
	t.Parallel()
	d := dnsmanage.Domain{Name: "example.org", Hostname: "mx.example.net", TTL: time.Hour}
	for typ, want := range map[string]string{
		"dkim": "dkim: the domain has no DKIM key: set dkim.example.org",
		"tlsa": "tlsa: the SMTP listener has no certificate",
		"caa":  "caa: no CA to authorize",
		"nope": `unknown record type "nope"`,
	} {
		_, err := dnsmanage.Records(d, []string{typ})
		require.ErrorContains(t, err, want, typ)
	}
	d.Cert = &x509.Certificate{RawSubjectPublicKeyInfo: []byte("spki")}
	_, err := dnsmanage.Records(d, []string{"tlsa"})
	require.ErrorContains(t, err, "tlsa: the mail host mx.example.net. is not in the zone example.org.")
	_, err = dnsmanage.Records(dnsmanage.Domain{Name: "example.org"}, []string{"mx"})
	require.ErrorContains(t, err, "set smtp.hostname")

	long := "v=DKIM1; k=rsa; p=" + strings.Repeat("A", 400)
	d.DKIM = []dnsmanage.DKIM{{Selector: "s1", Record: long}}
	sets, err := dnsmanage.Records(d, []string{"dkim"})
	require.NoError(t, err)
	txt := sets[0].Want[0].(*dns.TXT)
	require.Len(t, txt.Txt, 2)
	require.Len(t, txt.Txt[0], 255)
	require.Equal(t, long, strings.Join(txt.Txt, ""))
	require.Equal(t, "s1._domainkey.example.org.", sets[0].Name)
}
