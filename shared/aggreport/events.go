package aggreport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream holds the report events.
const Stream = "jetmail-report-events"

// SubjectPrefix starts every event's subject.
const SubjectPrefix = "jetmail.reports."

// MaxAge is how long events are kept: past the longest window, with room
// for a cluster that was down when a window closed.
const MaxAge = 8 * 24 * time.Hour

// Kind is a kind of report.
type Kind string

// The kinds.
const (
	KindDMARC Kind = "dmarc"
	KindTLS   Kind = "tls"
)

// Subject is where kind's events about domain go.
func Subject(kind Kind, domain string) string {
	return SubjectPrefix + string(kind) + "." + strings.ToLower(strings.TrimSuffix(domain, "."))
}

// DMARCEvent is one received message's DMARC evaluation.
type DMARCEvent struct {
	At       time.Time `json:"at"`
	SourceIP string    `json:"sourceIp"`
	// HeaderFrom, EnvelopeFrom and EnvelopeTo are the domains of the
	// From header, MAIL FROM and the first recipient.
	HeaderFrom   string `json:"headerFrom"`
	EnvelopeFrom string `json:"envelopeFrom,omitempty"`
	EnvelopeTo   string `json:"envelopeTo,omitempty"`
	// Policy is the record that applied, at PolicyDomain; RUA where the
	// report goes.
	PolicyDomain string          `json:"policyDomain"`
	Policy       PolicyPublished `json:"policy"`
	RUA          []string        `json:"rua"`
	// Disposition is what was applied (none: jetmail accepts the
	// message and marks it in Authentication-Results); Override says why
	// when the policy asked for more ("local_policy"). DKIM and SPF are
	// the aligned results (pass, fail).
	Disposition string     `json:"disposition"`
	Override    string     `json:"override,omitempty"`
	DKIM        string     `json:"dkim"`
	SPF         string     `json:"spf"`
	DKIMResults []AuthDKIM `json:"dkimResults,omitempty"`
	SPFResult   AuthSPF    `json:"spfResult"`
}

// PolicyPublished is a DMARC record's settings.
type PolicyPublished struct {
	Domain string `xml:"domain" json:"domain"`
	ADKIM  string `xml:"adkim" json:"adkim"`
	ASPF   string `xml:"aspf" json:"aspf"`
	P      string `xml:"p" json:"p"`
	SP     string `xml:"sp" json:"sp"`
	PCT    int    `xml:"pct" json:"pct"`
}

// AuthDKIM is one DKIM signature's result.
type AuthDKIM struct {
	Domain   string `xml:"domain" json:"domain"`
	Selector string `xml:"selector,omitempty" json:"selector,omitempty"`
	Result   string `xml:"result" json:"result"`
}

// AuthSPF is the SPF result.
type AuthSPF struct {
	Domain string `xml:"domain" json:"domain"`
	Scope  string `xml:"scope" json:"scope"`
	Result string `xml:"result" json:"result"`
}

// TLSEvent is one outbound session's TLS outcome for a policy domain.
type TLSEvent struct {
	At           time.Time `json:"at"`
	PolicyDomain string    `json:"policyDomain"`
	// PolicyType is "sts", "tlsa" or "no-policy-found"; PolicyStrings
	// the policy's text lines (RFC 8460 §4.4), MXHost the policy's MX
	// pattern.
	PolicyType    string   `json:"policyType"`
	PolicyStrings []string `json:"policyStrings,omitempty"`
	MXHost        string   `json:"mxHost,omitempty"`
	RUA           []string `json:"rua"`
	// Success is whether TLS was negotiated (and the policy held).
	Success bool `json:"success"`
	// ResultType (RFC 8460 §4.3: starttls-not-supported,
	// certificate-expired, validation-failure, ...), ReceivingMX and
	// ReceivingIP describe a failure.
	ResultType    string `json:"resultType,omitempty"`
	ReceivingMX   string `json:"receivingMx,omitempty"`
	ReceivingIP   string `json:"receivingIp,omitempty"`
	FailureReason string `json:"failureReason,omitempty"`
}

// Events publishes report events.
type Events struct {
	js  jetstream.JetStream
	log *slog.Logger
}

// Open creates or updates the stream and returns its publisher.
func Open(ctx context.Context, js jetstream.JetStream, replicas int, log *slog.Logger) (*Events, error) {
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: Stream, Description: "jetmail DMARC and TLS report events: jetmail.reports.<kind>.<domain>",
		Subjects: []string{SubjectPrefix + ">"}, MaxAge: MaxAge, Storage: jetstream.FileStorage, Replicas: max(replicas, 1),
	}); err != nil {
		return nil, fmt.Errorf("create stream %s: %w", Stream, err)
	}
	return &Events{js: js, log: log}, nil
}

// Record publishes an event of kind about domain without waiting; a
// failure is logged.
func (e *Events) Record(kind Kind, domain string, event any) {
	b, err := json.Marshal(event)
	if err != nil {
		e.log.Warn("report event not recorded", "kind", kind, "domain", domain, "err", err)
		return
	}
	msg := nats.NewMsg(Subject(kind, domain))
	msg.Data = b
	f, err := e.js.PublishMsgAsync(msg)
	if err != nil {
		e.log.Warn("report event not recorded", "kind", kind, "domain", domain, "err", err)
		return
	}
	go func() {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			e.log.Warn("report event not recorded", "kind", kind, "domain", domain, "err", err)
		case <-time.After(30 * time.Second):
			e.log.Warn("report event not recorded", "kind", kind, "domain", domain, "err", errors.New("no acknowledgement in 30s"))
		}
	}()
}

// Bucket is the KV bucket of the reports waiting to be sent
// (report.<id>: an Aggregate), the ones sent (sent.<id>) and each kind's
// next window to close (cursor.<kind>). Its entries live MaxAge + 1d.
const Bucket = "jetmail-reports"
