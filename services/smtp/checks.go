package smtp

import (
	"bytes"
	"context"
	"io"
	"strings"

	"github.com/jetmail/jetmail/shared/address"
	"github.com/jetmail/jetmail/shared/aggreport"
	"github.com/jetmail/jetmail/shared/mailauth"
)

// checked says whether the session's mail is checked (smtp.checks): mail
// from other servers, not from an authenticated user or a relay network.
func (ss *session) checked() bool {
	return ss.s.checker != nil && ss.user == "" && !ss.s.trusted(ss.ip)
}

// buffer reads the message into memory, up to smtp.max-message-size: a
// message beyond that is returned whole as a reader, for the queue to
// refuse, and buf is nil.
func (ss *session) buffer(r io.Reader) (buf []byte, rest io.Reader, err error) {
	buf, err = io.ReadAll(io.LimitReader(r, ss.s.cfg.SMTP.MaxMessageSize+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(buf)) > ss.s.cfg.SMTP.MaxMessageSize {
		return nil, io.MultiReader(bytes.NewReader(buf), r), nil
	}
	return buf, bytes.NewReader(buf), nil
}

// check runs the SPF, DKIM and DMARC checks of msg and returns its
// Authentication-Results field.
func (ss *session) check(msg []byte) (mailauth.Result, string) {
	res := ss.s.checker.Check(context.Background(), ss.ip, ss.conn.Hostname(), ss.env.Sender, msg)
	return res, res.Header(ss.s.host)
}

// recordDMARC adds an accepted message's DMARC evaluation to the events
// of its From domain's aggregate report, when the domain asks for one.
func (ss *session) recordDMARC(res mailauth.Result) {
	d := res.DMARC
	if ss.s.reports == nil || d.Record == nil || (d.Result != mailauth.Pass && d.Result != mailauth.Fail) {
		return
	}
	var rua []string
	for _, u := range d.Record.ReportURIAggregate {
		if strings.HasPrefix(strings.ToLower(u), "mailto:") {
			rua = append(rua, u)
		}
	}
	if len(rua) == 0 {
		return
	}
	result := func(ok bool) string {
		if ok {
			return mailauth.Pass
		}
		return mailauth.Fail
	}
	pct := 100
	if d.Record.Percent != nil {
		pct = *d.Record.Percent
	}
	sp := string(d.Record.SubdomainPolicy)
	if sp == "" {
		sp = string(d.Record.Policy)
	}
	adkim, aspf := string(d.Record.DKIMAlignment), string(d.Record.SPFAlignment)
	if adkim == "" {
		adkim = "r"
	}
	if aspf == "" {
		aspf = "r"
	}
	e := aggreport.DMARCEvent{At: ss.s.clock.Now().UTC(), SourceIP: ss.ip.String(), HeaderFrom: d.HeaderFrom, EnvelopeFrom: res.SPF.Domain,
		PolicyDomain: d.PolicyDomain, RUA: rua, Disposition: "none", DKIM: result(d.DKIMAligned), SPF: result(d.SPFAligned),
		Policy:    aggreport.PolicyPublished{Domain: d.PolicyDomain, ADKIM: adkim, ASPF: aspf, P: string(d.Record.Policy), SP: sp, PCT: pct},
		SPFResult: aggreport.AuthSPF{Domain: res.SPF.Domain, Scope: res.SPF.Scope, Result: res.SPF.Result}}
	if d.Disposition != "none" {
		e.Override = "local_policy" // not enforced: the receiver decides
	}
	if len(ss.rcpts) > 0 {
		e.EnvelopeTo = strings.ToLower(address.DomainOf(ss.rcpts[0].Address))
	}
	for _, k := range res.DKIM {
		if k.Domain != "" {
			e.DKIMResults = append(e.DKIMResults, aggreport.AuthDKIM{Domain: k.Domain, Selector: k.Selector, Result: k.Result})
		}
	}
	ss.s.reports.Record(aggreport.KindDMARC, d.PolicyDomain, e)
}
