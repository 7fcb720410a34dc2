package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"
)

// DANE for SMTP (RFC 7672): an MX host with TLSA records at
// _25._tcp.<host> that the resolver validated (the AD bit of
// queue.resolver's answer: run a validating resolver there, as Postfix
// asks) gets mail only over TLS whose certificate matches one of them:
// DANE-EE (usage 3) against the server's own certificate, name and
// expiry unchecked; DANE-TA (usage 2) against a certificate of its chain,
// which must then verify up to it for the MX name. PKIX usages (0, 1) are
// unusable for SMTP; a host whose records are all unusable is treated as
// without them. An unvalidated answer is ignored: DANE applies only where
// DNSSEC says so.

// tlsaSet is the usable, validated TLSA records of one MX host.
type tlsaSet struct {
	records []*dns.TLSA
}

// policy is the set as the TLS report names it.
func (s *tlsaSet) policy() reportPolicy {
	p := reportPolicy{Type: "tlsa"}
	for _, r := range s.records {
		p.Strings = append(p.Strings, fmt.Sprintf("%d %d %d %s", r.Usage, r.Selector, r.MatchingType, r.Certificate))
	}
	return p
}

// resolverAddr is the DNS server of queue.resolver, or the system's
// first.
func resolverAddr(setting string) string {
	if setting != "" && setting != "system" {
		return setting
	}
	if cc, err := dns.ClientConfigFromFile("/etc/resolv.conf"); err == nil && len(cc.Servers) > 0 {
		return net.JoinHostPort(cc.Servers[0], cc.Port)
	}
	return "127.0.0.1:53"
}

// tlsaFor looks up host's TLSA records for port 25: nil without
// validated, usable ones. A failed lookup is an error (mail waits: the
// records might exist).
func (d *Deliverer) tlsaFor(ctx context.Context, host string) (*tlsaSet, error) {
	if !d.cfg.Queue.DANE {
		return nil, nil
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn("_25._tcp."+host), dns.TypeTLSA)
	m.SetEdns0(4096, true)
	m.AuthenticatedData = true
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	addr := resolverAddr(d.cfg.Queue.Resolver)
	r, _, err := (&dns.Client{}).ExchangeContext(ctx, m, addr)
	if err == nil && r.Truncated {
		r, _, err = (&dns.Client{Net: "tcp"}).ExchangeContext(ctx, m, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("TLSA lookup of %s: %w", host, err)
	}
	switch r.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		if !r.AuthenticatedData {
			return nil, nil // an insecure failure: no DANE
		}
		return nil, fmt.Errorf("TLSA lookup of %s: %s", host, dns.RcodeToString[r.Rcode])
	}
	if !r.AuthenticatedData {
		return nil, nil
	}
	s := &tlsaSet{}
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TLSA); ok && (t.Usage == 2 || t.Usage == 3) && t.Selector <= 1 && t.MatchingType <= 2 {
			s.records = append(s.records, t)
		}
	}
	if len(s.records) == 0 {
		return nil, nil
	}
	return s, nil
}

// matches is whether cert matches record r's selector and matching type.
func matches(r *dns.TLSA, cert *x509.Certificate) bool {
	data := cert.Raw
	if r.Selector == 1 {
		data = cert.RawSubjectPublicKeyInfo
	}
	var sum []byte
	switch r.MatchingType {
	case 0:
		sum = data
	case 1:
		h := sha256.Sum256(data)
		sum = h[:]
	case 2:
		h := sha512.Sum512(data)
		sum = h[:]
	}
	want, err := hex.DecodeString(r.Certificate)
	return err == nil && bytes.Equal(sum, want)
}

// errDANE is a certificate that matches no TLSA record.
var errDANE = errors.New("the certificate matches none of the TLSA records")

// verify is the TLS check of a DANE host named name.
func (s *tlsaSet) verify(name string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errDANE
		}
		leaf := cs.PeerCertificates[0]
		for _, r := range s.records {
			switch r.Usage {
			case 3:
				if matches(r, leaf) {
					return nil
				}
			case 2:
				for _, ta := range cs.PeerCertificates[1:] {
					if !matches(r, ta) {
						continue
					}
					roots, inter := x509.NewCertPool(), x509.NewCertPool()
					roots.AddCert(ta)
					for _, c := range cs.PeerCertificates[1:] {
						inter.AddCert(c)
					}
					if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter}); err == nil {
						return nil
					}
				}
			}
		}
		return errDANE
	}
}
