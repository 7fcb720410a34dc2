package delivery

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MTA-STS (RFC 8461): a domain that publishes _mta-sts.<domain> TXT
// "v=STSv1; id=..." serves its policy at
// https://mta-sts.<domain>/.well-known/mta-sts.txt (fetched with a
// verified certificate). In mode enforce, mail goes only to its MX
// patterns, over TLS with a certificate valid for the MX name, or waits;
// in mode testing it goes as ever, and failures go to the TLS report. A
// policy is cached for its max_age and refetched when the TXT id
// changes; while cached, a TXT or fetch that fails keeps the cached one
// (RFC 8461 §5.1).

// stsPolicy is a parsed policy.
type stsPolicy struct {
	id     string
	mode   string // enforce, testing, none
	mx     []string
	maxAge time.Duration
	lines  []string // the policy's text, for TLS-RPT policy-string
	until  time.Time
	// checked is when the TXT id was last looked at.
	checked time.Time
}

// stsRecheck is how often a cached policy's TXT id is looked at again.
const stsRecheck = 5 * time.Minute

// stsMaxBody bounds a policy's size (RFC 8461 §3.3 suggests 64 KiB).
const stsMaxBody = 64 << 10

type stsCache struct {
	mu    sync.Mutex
	byDom map[string]*stsPolicy
}

// matches is whether host fits one of the policy's MX patterns
// ("mail.example.com", "*.example.net": one label).
func (p *stsPolicy) matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.mx {
		pat = strings.ToLower(pat)
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			if i := strings.IndexByte(host, '.'); i > 0 && host[i+1:] == rest {
				return true
			}
		} else if host == pat {
			return true
		}
	}
	return false
}

// policy is the policy as the TLS report names it for a session with
// host.
func (p *stsPolicy) policy(host string) reportPolicy {
	rp := reportPolicy{Type: "sts", Strings: p.lines}
	for _, pat := range p.mx {
		if (&stsPolicy{mx: []string{pat}}).matches(host) {
			rp.MXHost = pat
		}
	}
	return rp
}

// parseSTS reads a policy body (RFC 8461 §3.2).
func parseSTS(body string) (*stsPolicy, error) {
	p := &stsPolicy{}
	var version string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		p.lines = append(p.lines, line)
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "version":
			version = v
		case "mode":
			p.mode = v
		case "mx":
			p.mx = append(p.mx, v)
		case "max_age":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("max_age %q is not a number of seconds", v)
			}
			p.maxAge = time.Duration(min(n, 31557600)) * time.Second
		}
	}
	switch {
	case version != "STSv1":
		return nil, fmt.Errorf("version %q is not STSv1", version)
	case p.mode != "enforce" && p.mode != "testing" && p.mode != "none":
		return nil, fmt.Errorf("mode %q is not enforce, testing or none", p.mode)
	case p.mode != "none" && len(p.mx) == 0:
		return nil, errors.New("no mx")
	case p.maxAge == 0:
		return nil, errors.New("no max_age")
	}
	return p, nil
}

// stsID is the id of the domain's _mta-sts TXT record; "" when it has
// none. A lookup that fails is an error.
func (d *Deliverer) stsID(ctx context.Context, domain string) (string, error) {
	txts, err := d.p.Resolver.LookupTXT(ctx, "_mta-sts."+domain)
	var dnsErr *net.DNSError
	if err != nil {
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return "", nil
		}
		return "", err
	}
	tags, _ := txtRecord(txts, "v=STSv1")
	return tags["id"], nil // "": no policy
}

// fetchSTS gets and parses the domain's policy.
func (d *Deliverer) fetchSTS(ctx context.Context, domain string) (*stsPolicy, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://mta-sts."+domain+"/.well-known/mta-sts.txt", nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.policyClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("policy fetch answered %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		return nil, fmt.Errorf("policy fetch answered Content-Type %q, not text/plain", ct)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, stsMaxBody))
	if err != nil {
		return nil, err
	}
	return parseSTS(string(b))
}

// stsFor is the domain's MTA-STS policy in force, nil when it has none
// (or queue.tls.mta-sts is off, or the route is not MX).
func (d *Deliverer) stsFor(ctx context.Context, domain string) *stsPolicy {
	if !d.cfg.Queue.MTASTS {
		return nil
	}
	now := time.Now()
	d.sts.mu.Lock()
	cur := d.sts.byDom[domain]
	d.sts.mu.Unlock()
	if cur != nil && now.Before(cur.until) && now.Sub(cur.checked) < stsRecheck {
		return cur
	}
	valid := func() *stsPolicy {
		if cur != nil && now.Before(cur.until) {
			return cur
		}
		return nil
	}
	id, err := d.stsID(ctx, domain)
	if err != nil || id == "" {
		return valid()
	}
	if cur != nil && cur.id == id && now.Before(cur.until) {
		d.sts.mu.Lock()
		cur.checked = now
		d.sts.mu.Unlock()
		return cur
	}
	p, err := d.fetchSTS(ctx, domain)
	if err != nil {
		d.p.Logger.Warn("MTA-STS policy fetch failed", "domain", domain, "err", err)
		return valid()
	}
	p.id, p.until, p.checked = id, now.Add(p.maxAge), now
	d.sts.mu.Lock()
	if d.sts.byDom == nil {
		d.sts.byDom = map[string]*stsPolicy{}
	}
	d.sts.byDom[domain] = p
	d.sts.mu.Unlock()
	if p.mode == "none" {
		return nil
	}
	return p
}

// roots are the CAs verified TLS trusts: the system's and
// queue.tls.ca-file's.
func roots(caFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("queue.tls.ca-file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("queue.tls.ca-file: no PEM certificate in %s", caFile)
		}
	}
	return pool, nil
}

// tlsResultType names a failed verified handshake as RFC 8460 §4.3 does.
func tlsResultType(err error) string {
	var host x509.HostnameError
	var inv x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	var ver *tls.CertificateVerificationError
	switch {
	case errors.As(err, &host):
		return "certificate-host-mismatch"
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		return "certificate-expired"
	case errors.As(err, &unknown):
		return "certificate-not-trusted"
	case errors.As(err, &ver):
		return "validation-failure"
	case strings.Contains(err.Error(), "STARTTLS") && strings.Contains(err.Error(), "support"):
		return "starttls-not-supported"
	}
	return "validation-failure"
}
