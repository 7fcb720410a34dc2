package delivery

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jetmail/jetmail/shared/aggreport"
)

// tlsrptTTL is how long a domain's TLS-RPT record (or its absence) is
// remembered.
const tlsrptTTL = time.Hour

// tlsReporting remembers which domains ask for TLS reports (RFC 8460
// §3: a TXT record "v=TLSRPTv1; rua=..." at _smtp._tls.<domain>).
type tlsReporting struct {
	mu    sync.Mutex
	byDom map[string]tlsrptEntry
}

type tlsrptEntry struct {
	rua     []string
	expires time.Time
}

// rua is the domain's mailto: report addresses, none when it asks for no
// report (or the lookup failed: no report is better than a wrong one).
func (t *tlsReporting) rua(ctx context.Context, res *net.Resolver, domain string) []string {
	now := time.Now()
	t.mu.Lock()
	e, ok := t.byDom[domain]
	t.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.rua
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	txts, err := res.LookupTXT(ctx, "_smtp._tls."+domain)
	var dnsErr *net.DNSError
	if err != nil && !(errors.As(err, &dnsErr) && dnsErr.IsNotFound) {
		return nil // try again next time
	}
	e = tlsrptEntry{rua: parseTLSRPT(txts), expires: now.Add(tlsrptTTL)}
	t.mu.Lock()
	if t.byDom == nil {
		t.byDom = map[string]tlsrptEntry{}
	}
	t.byDom[domain] = e
	t.mu.Unlock()
	return e.rua
}

// txtRecord is the tags of the one TXT record of txts that starts with
// version ("v=STSv1"), as MTA-STS and TLS-RPT publish theirs; none, or
// several, is no record (RFC 8461 §3.1, RFC 8460 §3).
func txtRecord(txts []string, version string) (map[string]string, bool) {
	var tags map[string]string
	for _, txt := range txts {
		if !strings.HasPrefix(txt, version) {
			continue
		}
		if tags != nil {
			return nil, false
		}
		tags = map[string]string{}
		for _, kv := range strings.Split(txt, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok {
				tags[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	return tags, tags != nil
}

// parseTLSRPT reads the mailto: addresses of the one TLSRPTv1 record.
func parseTLSRPT(txts []string) []string {
	tags, ok := txtRecord(txts, "v=TLSRPTv1")
	if !ok {
		return nil
	}
	var found []string
	for _, u := range strings.Split(tags["rua"], ",") {
		if u = strings.TrimSpace(u); strings.HasPrefix(strings.ToLower(u), "mailto:") {
			found = append(found, u)
		}
	}
	return found
}

// recordTLS adds one new session's TLS outcome to the domain's TLS
// report, when the domain asks for one: ip is the address connected to,
// err the STARTTLS failure (nil when TLS was negotiated).
// reportPolicy is the policy a session was held to, as the TLS report
// names it (RFC 8460 §4.4).
type reportPolicy struct {
	Type    string // sts, tlsa, no-policy-found
	Strings []string
	MXHost  string
}

// noPolicy is a session held to no policy.
var noPolicy = reportPolicy{Type: "no-policy-found"}

func (d *Deliverer) recordTLS(ctx context.Context, domain string, h host, ip string, pol reportPolicy, err error) {
	if d.p.Reports == nil {
		return
	}
	rua := d.tlsrpt.rua(ctx, d.p.Resolver, domain)
	if len(rua) == 0 {
		return
	}
	e := aggreport.TLSEvent{At: time.Now().UTC(), PolicyDomain: domain, PolicyType: pol.Type, PolicyStrings: pol.Strings, MXHost: pol.MXHost,
		RUA: rua, Success: err == nil}
	if err != nil {
		e.ReceivingMX, e.ReceivingIP = h.name, ip
		e.ResultType, e.FailureReason = tlsResultType(err), err.Error()
		if errors.Is(err, errDANE) {
			e.ResultType = "validation-failure"
		}
		if e.ResultType == "starttls-not-supported" {
			e.FailureReason = ""
		}
		if net.ParseIP(h.name) != nil {
			e.ReceivingMX = ""
		}
	}
	d.p.Reports.Record(aggreport.KindTLS, domain, e)
}
