package smtp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
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

// spoolMemory is how much of a message is held in memory for the
// checks; past it the message goes to a temporary file, so that a large
// message costs disk, not memory.
const spoolMemory = 1 << 20

// spool holds a message read once, to be read again: for the checks,
// then for the queue.
type spool struct {
	mem  []byte
	file *os.File
	// rest is what is left of a message over smtp.max-message-size,
	// which is not checked: the queue reads all of it and refuses it.
	rest io.Reader
}

// complete says whether the whole message is held (it is within
// smtp.max-message-size).
func (sp *spool) complete() bool { return sp.rest == nil }

// reader reads the held message from its start.
func (sp *spool) reader() (io.ReadSeeker, error) {
	if sp.file == nil {
		return bytes.NewReader(sp.mem), nil
	}
	if _, err := sp.file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return sp.file, nil
}

// body is the message for the queue.
func (sp *spool) body() (io.Reader, error) {
	r, err := sp.reader()
	if err != nil || sp.rest == nil {
		return r, err
	}
	return io.MultiReader(r, sp.rest), nil
}

// close removes the temporary file, if any.
func (sp *spool) close() {
	if sp.file != nil {
		_ = sp.file.Close()
	}
}

// spoolMessage reads the message into a spool: up to spoolMemory in
// memory, the rest in a temporary file (unlinked at once: it goes when
// closed, whatever happens), and no more than smtp.max-message-size.
func (ss *session) spoolMessage(r io.Reader) (*spool, error) {
	limit := ss.s.cfg.SMTP.MaxMessageSize
	head, err := io.ReadAll(io.LimitReader(r, min(spoolMemory, limit+1)))
	if err != nil {
		return nil, err
	}
	if int64(len(head)) < spoolMemory || int64(len(head)) > limit {
		sp := &spool{mem: head}
		if int64(len(head)) > limit {
			sp.rest = r
		}
		return sp, nil
	}
	f, err := os.CreateTemp("", "jetmail-smtp-*")
	if err != nil {
		return nil, fmt.Errorf("spool the message: %w", err)
	}
	_ = os.Remove(f.Name())
	sp := &spool{file: f}
	if _, err := f.Write(head); err != nil {
		sp.close()
		return nil, fmt.Errorf("spool the message: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(r, limit+1-int64(len(head))))
	if err != nil {
		sp.close()
		return nil, err
	}
	if int64(len(head))+n > limit {
		sp.rest = r
	}
	return sp, nil
}

// check runs the SPF, DKIM and DMARC checks of the spooled message and
// returns its Authentication-Results field.
func (ss *session) check(sp *spool) (mailauth.Result, string, error) {
	msg, err := sp.reader()
	if err != nil {
		return mailauth.Result{}, "", err
	}
	res := ss.s.checker.Check(context.Background(), ss.ip, ss.conn.Hostname(), ss.env.Sender, msg)
	return res, res.Header(ss.s.host), nil
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
