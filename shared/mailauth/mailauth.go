// Package mailauth checks the mail a node receives from other servers:
// SPF (RFC 7208, blitiri.com.ar/go/spf) for the MAIL FROM domain (the
// HELO name for the null sender), every DKIM signature (RFC 6376,
// go-msgauth), and DMARC (RFC 7489) for the From header's domain: the
// policy published at the domain or its organizational domain, and
// whether SPF or DKIM passed for a domain aligned with it (relaxed:
// the same organizational domain, by the public suffix list; strict:
// the same name). The results become an Authentication-Results header
// (RFC 8601) and, for the DMARC aggregate reports, an Evaluation.
//
// Lookups go through the resolver given (queue.resolver's), within the
// time given: a lookup that fails or times out gives temperror, and the
// message is still accepted; what to do with the results is the
// receiver's.
package mailauth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/jetmail/jetmail/shared/address"
)

// Checker checks received messages.
type Checker struct {
	// Resolver looks up the TXT (and for SPF, A, AAAA, MX, PTR) records.
	// Default net.DefaultResolver.
	Resolver *net.Resolver
	// Timeout bounds all the lookups of one message. Default 10s.
	Timeout time.Duration
	// MaxSignatures bounds the DKIM signatures verified. Default 5.
	MaxSignatures int
}

// Result values, as RFC 8601 and RFC 7489 name them.
const (
	Pass      = "pass"
	Fail      = "fail"
	SoftFail  = "softfail"
	Neutral   = "neutral"
	None      = "none"
	TempError = "temperror"
	PermError = "permerror"
)

// SPF is the SPF check's outcome.
type SPF struct {
	// Domain is the one checked: the MAIL FROM domain, or the HELO name.
	Domain string
	// Scope is "mfrom" or "helo".
	Scope  string
	Result string
	Reason string
}

// DKIM is one signature's outcome.
type DKIM struct {
	Domain   string
	Selector string
	Result   string
	Reason   string
}

// DMARC is the DMARC evaluation.
type DMARC struct {
	// HeaderFrom is the From header's domain ("" when there is none).
	HeaderFrom string
	// Result is pass or fail with a policy, none without, temperror or
	// permerror.
	Result string
	// PolicyDomain is where the record was found (the From domain or its
	// organizational domain); Record is it (nil without one).
	PolicyDomain string
	Record       *dmarc.Record
	// SPFAligned and DKIMAligned say whether a pass was for an aligned
	// domain.
	SPFAligned, DKIMAligned bool
	// Disposition is the policy that applies: none, quarantine or reject
	// (sp for a subdomain).
	Disposition string
}

// Result is what one message's checks found.
type Result struct {
	SPF   SPF
	DKIM  []DKIM
	DMARC DMARC
	// MailFrom is the envelope sender's domain.
	MailFrom string
}

// Check checks msg (the whole message as received, read from its start
// as often as needed: it may be a file), sent from ip, which said helo,
// with envelope sender mailFrom ("" for <>).
func (c *Checker) Check(ctx context.Context, ip net.IP, helo, mailFrom string, msg io.ReadSeeker) Result {
	res := c.resolver()
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lookupTXT := func(name string) ([]string, error) { return res.LookupTXT(ctx, name) }

	var r Result
	r.MailFrom = strings.ToLower(address.DomainOf(mailFrom))
	r.SPF = c.spf(ctx, res, ip, helo, mailFrom)

	maxSigs := c.MaxSignatures
	if maxSigs <= 0 {
		maxSigs = 5
	}
	sels := selectors(rewind(msg))
	vs, err := dkim.VerifyWithOptions(rewind(msg), &dkim.VerifyOptions{LookupTXT: lookupTXT, MaxVerifications: maxSigs})
	for i, v := range vs {
		d := DKIM{Domain: strings.ToLower(v.Domain), Result: Pass}
		if i < len(sels) {
			d.Selector = sels[i]
		}
		switch {
		case v.Err == nil:
		case dkim.IsTempFail(v.Err):
			d.Result, d.Reason = TempError, v.Err.Error()
		case dkim.IsPermFail(v.Err):
			d.Result, d.Reason = PermError, v.Err.Error()
		default:
			d.Result, d.Reason = Fail, v.Err.Error()
		}
		r.DKIM = append(r.DKIM, d)
	}
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) && len(vs) == 0 {
		r.DKIM = append(r.DKIM, DKIM{Result: PermError, Reason: err.Error()})
	}
	r.DMARC = evaluate(r, headerFrom(rewind(msg)), lookupTXT)
	return r
}

// rewind is msg from its start (a failed seek reads as empty: the
// check finds nothing there).
func rewind(msg io.ReadSeeker) io.Reader {
	if _, err := msg.Seek(0, io.SeekStart); err != nil {
		return strings.NewReader("")
	}
	return msg
}

func (c *Checker) resolver() *net.Resolver {
	if c.Resolver != nil {
		return c.Resolver
	}
	return net.DefaultResolver
}

func (c *Checker) spf(ctx context.Context, res *net.Resolver, ip net.IP, helo, mailFrom string) SPF {
	s := SPF{Domain: strings.ToLower(address.DomainOf(mailFrom)), Scope: "mfrom"}
	sender := mailFrom
	if mailFrom == "" || s.Domain == "" {
		// The null sender: the HELO identity (RFC 7208 §2.4).
		s.Domain, s.Scope, sender = strings.ToLower(helo), "helo", "postmaster@"+helo
	}
	result, err := spf.CheckHostWithSender(ip, helo, sender, spf.WithContext(ctx), spf.WithResolver(res))
	s.Result = string(result)
	if err != nil {
		s.Reason = err.Error()
	}
	return s
}

// selectors are the s= tags of the message's DKIM-Signature fields, in
// order (the verifier reports them in the same order).
func selectors(msg io.Reader) []string {
	h, err := textproto.NewReader(bufio.NewReader(msg)).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return nil
	}
	var out []string
	for _, sig := range h.Values("Dkim-Signature") {
		sel := ""
		for _, tag := range strings.Split(sig, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(tag), "=")
			if ok && strings.TrimSpace(k) == "s" {
				sel = strings.Join(strings.Fields(v), "")
			}
		}
		out = append(out, sel)
	}
	return out
}

// headerFrom is the domain of the message's single From address.
func headerFrom(msg io.Reader) string {
	m, err := mail.ReadMessage(msg)
	if err != nil {
		return ""
	}
	addrs, err := m.Header.AddressList("From")
	if err != nil || len(addrs) != 1 {
		return ""
	}
	return strings.ToLower(address.DomainOf(addrs[0].Address))
}

// orgDomain is a domain's organizational domain (RFC 7489 §3.2).
func orgDomain(d string) string {
	if o, err := publicsuffix.EffectiveTLDPlusOne(d); err == nil {
		return o
	}
	return d
}

func aligned(a, b string, mode dmarc.AlignmentMode) bool {
	if a == "" || b == "" {
		return false
	}
	if mode == dmarc.AlignmentStrict {
		return a == b
	}
	return orgDomain(a) == orgDomain(b)
}

// evaluate applies DMARC (RFC 7489 §6.6) to the checks of r.
func evaluate(r Result, from string, lookupTXT func(string) ([]string, error)) DMARC {
	d := DMARC{HeaderFrom: from, Result: None, Disposition: "none"}
	if from == "" {
		return d
	}
	opts := &dmarc.LookupOptions{LookupTXT: lookupTXT}
	rec, err := dmarc.LookupWithOptions(from, opts)
	d.PolicyDomain = from
	if errors.Is(err, dmarc.ErrNoPolicy) && orgDomain(from) != from {
		d.PolicyDomain = orgDomain(from)
		rec, err = dmarc.LookupWithOptions(d.PolicyDomain, opts)
	}
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		d.PolicyDomain = ""
		return d
	case dmarc.IsTempFail(err):
		d.Result = TempError
		return d
	case err != nil:
		d.Result = PermError
		return d
	}
	d.Record = rec
	d.SPFAligned = r.SPF.Result == Pass && r.SPF.Scope == "mfrom" && aligned(r.SPF.Domain, from, rec.SPFAlignment)
	for _, k := range r.DKIM {
		if k.Result == Pass && aligned(k.Domain, from, rec.DKIMAlignment) {
			d.DKIMAligned = true
		}
	}
	if d.SPFAligned || d.DKIMAligned {
		d.Result = Pass
		return d
	}
	d.Result = Fail
	d.Disposition = string(rec.Policy)
	if from != d.PolicyDomain && rec.SubdomainPolicy != "" {
		d.Disposition = string(rec.SubdomainPolicy)
	}
	return d
}

// Header is the Authentication-Results field (RFC 8601) for r, stamped
// by authservID (the host name), ending in CRLF.
func (r Result) Header(authservID string) string {
	results := []authres.Result{&authres.SPFResult{Value: authres.ResultValue(r.SPF.Result), Reason: r.SPF.Reason,
		From: map[bool]string{true: r.SPF.Domain}[r.SPF.Scope == "mfrom"], Helo: map[bool]string{true: r.SPF.Domain}[r.SPF.Scope == "helo"]}}
	if len(r.DKIM) == 0 {
		results = append(results, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, k := range r.DKIM {
		results = append(results, &authres.DKIMResult{Value: authres.ResultValue(k.Result), Reason: k.Reason, Domain: k.Domain})
	}
	results = append(results, &authres.DMARCResult{Value: authres.ResultValue(r.DMARC.Result), From: r.DMARC.HeaderFrom})
	return fmt.Sprintf("Authentication-Results: %s\r\n", fold(authres.Format(authservID, results)))
}

// fold breaks the field's value after each "; " so that no line is too
// long.
func fold(v string) string {
	return strings.ReplaceAll(strings.ReplaceAll(v, " ;", ";"), "; ", ";\r\n\t")
}
