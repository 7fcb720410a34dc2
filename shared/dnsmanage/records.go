// Package dnsmanage is DNS management for a mail domain: the records it
// needs (MX, SPF, DKIM, DMARC, TLSA, SRV, MTA-STS, TLS-RPT, CAA,
// autoconfig, autodiscover), computed from the configuration, and their
// publication in the domain's zone by RFC 2136 dynamic update, signed
// with TSIG, as a diff against what the server holds.
//
// # What a record type owns
//
// Each record type owns some records at some names: the MX records of
// the domain, its TXT records that start "v=spf1", the TXT records at
// _dmarc that start "v=DMARC1", and so on (see Records). An update
// removes the owned records that are not wanted and adds the wanted ones
// that are missing, in one UPDATE message, so the zone changes whole or
// not at all; the records it does not own (a TXT record of another
// service at the apex) are left alone.
package dnsmanage

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Domain is what the records of a domain are computed from.
type Domain struct {
	// Name is the domain ("example.org"), which is also its zone.
	Name string
	// Hostname is the mail host (smtp.hostname): the MX and the target of
	// the SRV, autoconfig and autodiscover records.
	Hostname string
	// TTL of the records.
	TTL time.Duration
	// DKIM are the domain's selectors and their TXT records' text
	// (package dkimkey).
	DKIM []DKIM
	// Ports are the ports the SMTP listeners take: 587 and 465 are
	// published as submission and submissions (RFC 6186, RFC 8314).
	Ports []int
	// Cert is the SMTP listener's certificate, for TLSA (DANE, RFC 7672).
	Cert *x509.Certificate
	// CAAIssuers are the CAs the CAA record authorizes.
	CAAIssuers []string
}

// DKIM is one DKIM selector of a domain.
type DKIM struct {
	Selector, Record string
}

// Set is what a record type owns at one name and type: the records
// Owned says are its, and the ones it wants there.
type Set struct {
	Name  string
	Type  uint16
	Want  []dns.RR
	Owned func(dns.RR) bool
}

// Types are the record types Records knows, by the names of the
// DnsManagement task's updateRecords.
var Types = []string{"dkim", "tlsa", "spf", "mx", "dmarc", "srv", "mtaSts", "tlsRpt", "caa", "autoconfig", "autoconfigLegacy", "autodiscover"}

// Records computes the sets of the record types asked; an error names the
// type and what it lacks.
func Records(d Domain, types []string) ([]Set, error) {
	if d.Hostname == "" {
		return nil, fmt.Errorf("the mail host is unknown: set smtp.hostname")
	}
	zone, host := dns.Fqdn(strings.ToLower(d.Name)), dns.Fqdn(strings.ToLower(d.Hostname))
	ttl := uint32(d.TTL / time.Second)
	hdr := func(name string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	txt := func(name, prefix, text string) Set {
		return Set{Name: name, Type: dns.TypeTXT, Want: []dns.RR{&dns.TXT{Hdr: hdr(name, dns.TypeTXT), Txt: split(text)}},
			Owned: func(rr dns.RR) bool { return strings.HasPrefix(strings.Join(rr.(*dns.TXT).Txt, ""), prefix) }}
	}
	cname := func(name string) Set {
		return Set{Name: name, Type: dns.TypeCNAME, Want: []dns.RR{&dns.CNAME{Hdr: hdr(name, dns.TypeCNAME), Target: host}}, Owned: all}
	}
	srv := func(name string, port uint16, serve bool) Set {
		target := host
		if !serve {
			target, port = ".", 0 // RFC 6186: the service is not offered
		}
		return Set{Name: name, Type: dns.TypeSRV, Want: []dns.RR{&dns.SRV{Hdr: hdr(name, dns.TypeSRV), Priority: 0, Weight: 1, Port: port, Target: target}}, Owned: all}
	}
	reports := "mailto:postmaster@" + strings.TrimSuffix(zone, ".")
	var out []Set
	for _, t := range types {
		switch t {
		case "mx":
			out = append(out, Set{Name: zone, Type: dns.TypeMX, Want: []dns.RR{&dns.MX{Hdr: hdr(zone, dns.TypeMX), Preference: 10, Mx: host}}, Owned: all})
		case "spf":
			out = append(out, txt(zone, "v=spf1", "v=spf1 mx -all"))
		case "dmarc":
			out = append(out, txt("_dmarc."+zone, "v=DMARC1", "v=DMARC1; p=reject; rua="+reports))
		case "tlsRpt":
			out = append(out, txt("_smtp._tls."+zone, "v=TLSRPTv1", "v=TLSRPTv1; rua="+reports))
		case "dkim":
			if len(d.DKIM) == 0 {
				return nil, fmt.Errorf("dkim: the domain has no DKIM key: set dkim.%s", strings.TrimSuffix(zone, "."))
			}
			for _, k := range d.DKIM {
				out = append(out, txt(k.Selector+"._domainkey."+zone, "v=DKIM1", k.Record))
			}
		case "mtaSts":
			policy := MTASTSPolicy(d.Hostname)
			sum := sha256.Sum256([]byte(policy))
			out = append(out, txt("_mta-sts."+zone, "v=STSv1", "v=STSv1; id="+hex.EncodeToString(sum[:8])), cname("mta-sts."+zone))
		case "tlsa":
			if d.Cert == nil {
				return nil, fmt.Errorf("tlsa: the SMTP listener has no certificate: set smtp.tls.cert")
			}
			if !dns.IsSubDomain(zone, host) {
				return nil, fmt.Errorf("tlsa: the mail host %s is not in the zone %s, where the record would go", host, zone)
			}
			sum := sha256.Sum256(d.Cert.RawSubjectPublicKeyInfo)
			name := "_25._tcp." + host
			out = append(out, Set{Name: name, Type: dns.TypeTLSA, Owned: all, Want: []dns.RR{&dns.TLSA{Hdr: hdr(name, dns.TypeTLSA),
				Usage: 3, Selector: 1, MatchingType: 1, Certificate: hex.EncodeToString(sum[:])}}}) // DANE-EE, SPKI, SHA-256
		case "srv":
			out = append(out, srv("_submission._tcp."+zone, 587, slices.Contains(d.Ports, 587)),
				srv("_submissions._tcp."+zone, 465, slices.Contains(d.Ports, 465)))
		case "caa":
			if len(d.CAAIssuers) == 0 {
				return nil, fmt.Errorf("caa: no CA to authorize: set dns.caa-issuers")
			}
			s := Set{Name: zone, Type: dns.TypeCAA, Owned: func(rr dns.RR) bool { return rr.(*dns.CAA).Tag == "issue" }}
			for _, ca := range d.CAAIssuers {
				s.Want = append(s.Want, &dns.CAA{Hdr: hdr(zone, dns.TypeCAA), Tag: "issue", Value: ca})
			}
			out = append(out, s)
		case "autoconfig":
			out = append(out, txt(zone, "mailconf=", "mailconf=https://autoconfig."+strings.TrimSuffix(zone, ".")+"/mail/config-v1.1.xml"))
		case "autoconfigLegacy":
			out = append(out, cname("autoconfig."+zone))
		case "autodiscover":
			out = append(out, Set{Name: "_autodiscover._tcp." + zone, Type: dns.TypeSRV, Owned: all,
				Want: []dns.RR{&dns.SRV{Hdr: hdr("_autodiscover._tcp."+zone, dns.TypeSRV), Port: 443, Weight: 1, Target: host}}})
		default:
			return nil, fmt.Errorf("unknown record type %q (types: %s)", t, strings.Join(Types, ", "))
		}
	}
	return out, nil
}

// TXTSet is a set that owns every TXT record at name and wants one with
// text (none when text is empty): a record of its own, such as an ACME
// DNS-01 challenge.
func TXTSet(name string, ttl uint32, text string) Set {
	s := Set{Name: dns.Fqdn(name), Type: dns.TypeTXT, Owned: all}
	if text != "" {
		s.Want = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: s.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl}, Txt: split(text)}}
	}
	return s
}

// MTASTSPolicy is the MTA-STS policy (RFC 8461 §3.2) that the _mta-sts
// record's id follows: enforce, the mail host as the only MX.
func MTASTSPolicy(hostname string) string {
	return "version: STSv1\r\nmode: enforce\r\nmx: " + strings.TrimSuffix(hostname, ".") + "\r\nmax_age: 604800\r\n"
}

func all(dns.RR) bool { return true }

// split cuts a TXT record's text into strings of at most 255 octets.
func split(s string) []string {
	var out []string
	for len(s) > 255 {
		out, s = append(out, s[:255]), s[255:]
	}
	return append(out, s)
}
