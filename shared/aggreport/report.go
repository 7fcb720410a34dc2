package aggreport

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"mime"
	"strings"
	"time"
)

// Reporter is who sends the reports.
type Reporter struct {
	// OrgName is the reporting organization (RFC 7489 org_name, RFC 8460
	// organization-name).
	OrgName string
	// Email is the reports' sender and contact address.
	Email string
}

// DMARCFeedback is an aggregate report as RFC 7489 Appendix C has it.
type DMARCFeedback struct {
	XMLName  xml.Name        `xml:"feedback"`
	Version  string          `xml:"version"`
	Metadata DMARCMetadata   `xml:"report_metadata"`
	Policy   PolicyPublished `xml:"policy_published"`
	Records  []DMARCRecord   `xml:"record"`
}

// DMARCMetadata is report_metadata.
type DMARCMetadata struct {
	OrgName   string `xml:"org_name"`
	Email     string `xml:"email"`
	ReportID  string `xml:"report_id"`
	DateRange struct {
		Begin int64 `xml:"begin"`
		End   int64 `xml:"end"`
	} `xml:"date_range"`
}

// DMARCRecord is one record.
type DMARCRecord struct {
	Row struct {
		SourceIP        string `xml:"source_ip"`
		Count           int    `xml:"count"`
		PolicyEvaluated struct {
			Disposition string           `xml:"disposition"`
			DKIM        string           `xml:"dkim"`
			SPF         string           `xml:"spf"`
			Reason      []OverrideReason `xml:"reason,omitempty"`
		} `xml:"policy_evaluated"`
	} `xml:"row"`
	Identifiers struct {
		EnvelopeTo   string `xml:"envelope_to,omitempty"`
		EnvelopeFrom string `xml:"envelope_from"`
		HeaderFrom   string `xml:"header_from"`
	} `xml:"identifiers"`
	AuthResults struct {
		DKIM []AuthDKIM `xml:"dkim"`
		SPF  []AuthSPF  `xml:"spf"`
	} `xml:"auth_results"`
}

// OverrideReason is a policy_evaluated reason.
type OverrideReason struct {
	Type    string `xml:"type"`
	Comment string `xml:"comment,omitempty"`
}

// DMARC is the report of a DMARC aggregate, as XML.
func (a *Aggregate) DMARC(r Reporter) ([]byte, error) {
	f := DMARCFeedback{Version: "1.0", Policy: a.Policy}
	f.Metadata = DMARCMetadata{OrgName: r.OrgName, Email: r.Email, ReportID: a.ID()}
	f.Metadata.DateRange.Begin, f.Metadata.DateRange.End = a.Start.Unix(), a.End.Unix()-1
	for _, row := range a.Rows {
		var rec DMARCRecord
		rec.Row.SourceIP, rec.Row.Count = row.SourceIP, row.Count
		rec.Row.PolicyEvaluated.Disposition, rec.Row.PolicyEvaluated.DKIM, rec.Row.PolicyEvaluated.SPF = row.Disposition, row.DKIM, row.SPF
		if row.Override != "" {
			rec.Row.PolicyEvaluated.Reason = []OverrideReason{{Type: row.Override, Comment: "accepted and marked in Authentication-Results"}}
		}
		rec.Identifiers.EnvelopeTo, rec.Identifiers.EnvelopeFrom, rec.Identifiers.HeaderFrom = row.EnvelopeTo, row.EnvelopeFrom, row.HeaderFrom
		rec.AuthResults.DKIM = row.DKIMResults
		rec.AuthResults.SPF = []AuthSPF{row.SPFResult}
		f.Records = append(f.Records, rec)
	}
	b, err := xml.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode DMARC report %s: %w", a.ID(), err)
	}
	return append([]byte(xml.Header), b...), nil
}

// TLSReport is an aggregate report as RFC 8460 §4.4 has it.
type TLSReport struct {
	OrganizationName string      `json:"organization-name"`
	DateRange        TLSRange    `json:"date-range"`
	ContactInfo      string      `json:"contact-info"`
	ReportID         string      `json:"report-id"`
	Policies         []TLSPolicy `json:"policies"`
}

// TLSRange is date-range.
type TLSRange struct {
	Start string `json:"start-datetime"`
	End   string `json:"end-datetime"`
}

// TLSPolicy is one entry of policies.
type TLSPolicy struct {
	Policy struct {
		Type   string   `json:"policy-type"`
		String []string `json:"policy-string,omitempty"`
		Domain string   `json:"policy-domain"`
		MXHost string   `json:"mx-host,omitempty"`
	} `json:"policy"`
	Summary struct {
		Successful int `json:"total-successful-session-count"`
		Failed     int `json:"total-failure-session-count"`
	} `json:"summary"`
	FailureDetails []TLSFailureDetail `json:"failure-details,omitempty"`
}

// TLSFailureDetail is one entry of failure-details.
type TLSFailureDetail struct {
	ResultType    string `json:"result-type"`
	ReceivingMX   string `json:"receiving-mx-hostname,omitempty"`
	ReceivingIP   string `json:"receiving-ip,omitempty"`
	Count         int    `json:"failed-session-count"`
	FailureReason string `json:"failure-reason-code,omitempty"`
}

// TLS is the report of a TLS aggregate, as JSON.
func (a *Aggregate) TLS(r Reporter) ([]byte, error) {
	rep := TLSReport{OrganizationName: r.OrgName, ContactInfo: r.Email, ReportID: a.ID(),
		DateRange: TLSRange{a.Start.UTC().Format(time.RFC3339), a.End.UTC().Format(time.RFC3339)}}
	for _, p := range a.Policies {
		var tp TLSPolicy
		tp.Policy.Type, tp.Policy.String, tp.Policy.Domain, tp.Policy.MXHost = p.PolicyType, p.PolicyStrings, a.Domain, p.MXHost
		tp.Summary.Successful, tp.Summary.Failed = p.Successful, p.Failed
		for _, f := range p.Failures {
			tp.FailureDetails = append(tp.FailureDetails, TLSFailureDetail{ResultType: f.ResultType, ReceivingMX: f.ReceivingMX,
				ReceivingIP: f.ReceivingIP, Count: f.Count, FailureReason: f.FailureReason})
		}
		rep.Policies = append(rep.Policies, tp)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode TLS report %s: %w", a.ID(), err)
	}
	return b, nil
}

// Gzip compresses b.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// Message is the mail that carries a's report to rcpt, from r.Email on
// behalf of receiver (the host that made it): the report gzip-compressed
// and base64-encoded, with the names and fields each RFC asks for.
func (a *Aggregate) Message(r Reporter, receiver, rcpt string, now time.Time) ([]byte, error) {
	var body []byte
	var err error
	begin, end := a.Start.Unix(), a.End.Unix()-1
	var b strings.Builder
	boundary := "report-" + strings.ReplaceAll(a.ID(), ".", "-")
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n",
		r.Email, rcpt, now.UTC().Format(time.RFC1123Z), a.ID(), receiver)
	switch a.Kind {
	case KindDMARC:
		if body, err = a.DMARC(r); err != nil {
			return nil, err
		}
		name := fmt.Sprintf("%s!%s!%d!%d.xml.gz", receiver, a.Domain, begin, end)
		fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", fmt.Sprintf("Report Domain: %s Submitter: %s Report-ID: <%s>", a.Domain, receiver, a.ID())))
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%q\r\n\r\n", boundary)
		fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDMARC aggregate report for %s, %s to %s.\r\n\r\n",
			boundary, a.Domain, a.Start.UTC().Format(time.RFC3339), a.End.UTC().Format(time.RFC3339))
		fmt.Fprintf(&b, "--%s\r\nContent-Type: application/gzip; name=%q\r\nContent-Disposition: attachment; filename=%q\r\nContent-Transfer-Encoding: base64\r\n\r\n", boundary, name, name)
	case KindTLS:
		if body, err = a.TLS(r); err != nil {
			return nil, err
		}
		name := fmt.Sprintf("%s!%s!%d!%d!%s.json.gz", receiver, a.Domain, begin, end, a.ID())
		fmt.Fprintf(&b, "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\r\nTLS-Report-Domain: %s\r\nTLS-Report-Submitter: %s\r\n",
			a.Domain, receiver, a.ID(), a.Domain, receiver)
		fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=%q\r\n\r\n", boundary)
		fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nTLS report for %s, %s to %s.\r\n\r\n",
			boundary, a.Domain, a.Start.UTC().Format(time.RFC3339), a.End.UTC().Format(time.RFC3339))
		fmt.Fprintf(&b, "--%s\r\nContent-Type: application/tlsrpt+gzip; name=%q\r\nContent-Disposition: attachment; filename=%q\r\nContent-Transfer-Encoding: base64\r\n\r\n", boundary, name, name)
	default:
		return nil, fmt.Errorf("no report of kind %q", a.Kind)
	}
	enc := base64.StdEncoding.EncodeToString(Gzip(body))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--" + boundary + "--\r\n")
	return []byte(b.String()), nil
}
