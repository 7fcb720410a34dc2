package dnsmanage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Server is a primary DNS server that takes dynamic updates.
type Server struct {
	// Addr is host:port.
	Addr string
	// Net is "tcp" or "udp". Default "tcp".
	Net string
	// TSIGName, TSIGAlgorithm ("hmac-sha256", "hmac-sha512",
	// "hmac-sha1") and TSIGSecret (base64) sign the updates; no name, no
	// signature.
	TSIGName, TSIGAlgorithm, TSIGSecret string
	// Timeout bounds one exchange. Default 10s.
	Timeout time.Duration
}

// Changes are what an update added and removed, as zone-file lines.
type Changes struct {
	Added, Removed []string
}

// ErrRefused wraps a server's refusal of an update.
var ErrRefused = errors.New("the DNS server refused the update")

func (s *Server) client() *dns.Client {
	c := &dns.Client{Net: s.Net, Timeout: s.Timeout}
	if c.Net == "" {
		c.Net = "tcp"
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if s.TSIGName != "" {
		c.TsigSecret = map[string]string{dns.Fqdn(s.TSIGName): s.TSIGSecret}
	}
	return c
}

// algorithms are the TSIG algorithms by their configuration names.
var algorithms = map[string]string{"hmac-sha256": dns.HmacSHA256, "hmac-sha512": dns.HmacSHA512, "hmac-sha1": dns.HmacSHA1}

// Current asks the server for the records at name of type t.
func (s *Server) Current(ctx context.Context, name string, t uint16) ([]dns.RR, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), t)
	m.RecursionDesired = false
	r, _, err := s.client().ExchangeContext(ctx, m, s.Addr)
	if err != nil {
		return nil, fmt.Errorf("ask %s for %s %s: %w", s.Addr, name, dns.TypeToString[t], err)
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("ask %s for %s %s: %s", s.Addr, name, dns.TypeToString[t], dns.RcodeToString[r.Rcode])
	}
	var out []dns.RR
	for _, rr := range r.Answer {
		if rr.Header().Rrtype == t && strings.EqualFold(rr.Header().Name, dns.Fqdn(name)) {
			out = append(out, rr)
		}
	}
	return out, nil
}

// Apply makes the zone hold the sets: the owned records not wanted are
// removed, the wanted ones missing added, in one signed UPDATE. Nothing
// to change sends nothing.
func (s *Server) Apply(ctx context.Context, zone string, sets []Set) (Changes, error) {
	var ch Changes
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(zone))
	var add, remove []dns.RR
	for _, set := range sets {
		have, err := s.Current(ctx, set.Name, set.Type)
		if err != nil {
			return ch, err
		}
		for _, rr := range have {
			if set.Owned(rr) && !contains(set.Want, rr) {
				remove = append(remove, rr)
			}
		}
		// Records of one name and type share a TTL: beside records it
		// does not own (another TXT at the apex), a record takes theirs,
		// so that theirs does not change.
		var ttl *uint32
		for _, rr := range have {
			if !set.Owned(rr) {
				ttl = &rr.Header().Ttl
			}
		}
		for _, rr := range set.Want {
			if !contains(have, rr) {
				if ttl != nil {
					rr = dns.Copy(rr)
					rr.Header().Ttl = *ttl
				}
				add = append(add, rr)
			}
		}
	}
	if len(add) == 0 && len(remove) == 0 {
		return ch, nil
	}
	m.Remove(remove)
	m.Insert(add)
	if s.TSIGName != "" {
		alg, ok := algorithms[s.TSIGAlgorithm]
		if !ok {
			alg = dns.HmacSHA256
		}
		m.SetTsig(dns.Fqdn(s.TSIGName), alg, 300, time.Now().Unix())
	}
	r, _, err := s.client().ExchangeContext(ctx, m, s.Addr)
	if err != nil {
		if errors.Is(err, dns.ErrAuth) || errors.Is(err, dns.ErrSig) || errors.Is(err, dns.ErrSecret) || errors.Is(err, dns.ErrKeyAlg) {
			// A server answers unsigned to an update it cannot verify.
			answer := "an answer not signed with the key"
			if r != nil {
				answer = dns.RcodeToString[r.Rcode] + ", not signed with the key"
			}
			return ch, fmt.Errorf("%w: %s answered %s (%v): it does not accept TSIG key %s with this secret: is tsig.secret right?", ErrRefused, s.Addr, answer, err, s.TSIGName)
		}
		return ch, fmt.Errorf("update %s at %s: %w", zone, s.Addr, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		why := dns.RcodeToString[r.Rcode]
		if t := r.IsTsig(); t != nil && t.Error != 0 {
			why += " (TSIG " + dns.RcodeToString[int(t.Error)] + ")"
		}
		return ch, fmt.Errorf("%w: %s answered %s for zone %s", ErrRefused, s.Addr, why, zone)
	}
	for _, rr := range remove {
		ch.Removed = append(ch.Removed, rr.String())
	}
	for _, rr := range add {
		ch.Added = append(ch.Added, rr.String())
	}
	return ch, nil
}

func contains(rrs []dns.RR, rr dns.RR) bool {
	for _, x := range rrs {
		if dns.IsDuplicate(x, rr) {
			return true
		}
	}
	return false
}
