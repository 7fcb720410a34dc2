package aggreport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Window is a report window, [Start, End).
type Window struct{ Start, End time.Time }

// WindowAt is the window of length size that holds t.
func WindowAt(t time.Time, size time.Duration) Window {
	start := t.UTC().Truncate(size)
	return Window{start, start.Add(size)}
}

// DMARCRow is one group of messages that share every reported field.
type DMARCRow struct {
	SourceIP     string     `json:"sourceIp"`
	Count        int        `json:"count"`
	Disposition  string     `json:"disposition"`
	Override     string     `json:"override,omitempty"`
	DKIM         string     `json:"dkim"`
	SPF          string     `json:"spf"`
	HeaderFrom   string     `json:"headerFrom"`
	EnvelopeFrom string     `json:"envelopeFrom,omitempty"`
	EnvelopeTo   string     `json:"envelopeTo,omitempty"`
	DKIMResults  []AuthDKIM `json:"dkimResults,omitempty"`
	SPFResult    AuthSPF    `json:"spfResult"`
}

func (r DMARCRow) key() string {
	b, _ := json.Marshal(DMARCRow{SourceIP: r.SourceIP, Disposition: r.Disposition, Override: r.Override, DKIM: r.DKIM, SPF: r.SPF, HeaderFrom: r.HeaderFrom,
		EnvelopeFrom: r.EnvelopeFrom, EnvelopeTo: r.EnvelopeTo, DKIMResults: r.DKIMResults, SPFResult: r.SPFResult})
	return string(b)
}

// TLSPolicyResult is one policy's sessions in a window.
type TLSPolicyResult struct {
	PolicyType    string       `json:"policyType"`
	PolicyStrings []string     `json:"policyStrings,omitempty"`
	MXHost        string       `json:"mxHost,omitempty"`
	Successful    int          `json:"successful"`
	Failed        int          `json:"failed"`
	Failures      []TLSFailure `json:"failures,omitempty"`
}

// TLSFailure is one group of failed sessions.
type TLSFailure struct {
	ResultType    string `json:"resultType"`
	ReceivingMX   string `json:"receivingMx,omitempty"`
	ReceivingIP   string `json:"receivingIp,omitempty"`
	FailureReason string `json:"failureReason,omitempty"`
	Count         int    `json:"count"`
}

// Aggregate is one reporting domain's data for a window: what a report
// is made of.
type Aggregate struct {
	Kind   Kind      `json:"kind"`
	Domain string    `json:"domain"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	RUA    []string  `json:"rua"`
	// Policy and Rows are DMARC's; the last record seen in the window is
	// the one reported.
	Policy PolicyPublished `json:"policy,omitzero"`
	Rows   []DMARCRow      `json:"rows,omitempty"`
	// Policies are TLS's.
	Policies []TLSPolicyResult `json:"policies,omitempty"`
}

// ID is the report's id: its kind, window start and domain.
func (a *Aggregate) ID() string {
	return fmt.Sprintf("%s-%d-%s", a.Kind, a.Start.Unix(), a.Domain)
}

// Collect reads the events of kind in window w from the stream and
// returns the aggregates, one per reporting domain, sorted by domain.
func Collect(ctx context.Context, js jetstream.JetStream, kind Kind, w Window) ([]*Aggregate, error) {
	s, err := js.Stream(ctx, Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", Stream, err)
	}
	// No event since the window began (the windows of a quiet cluster, or
	// a backlog after downtime): no fetch to wait out.
	if s.CachedInfo().State.LastTime.Before(w.Start) {
		return nil, nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{SubjectPrefix + string(kind) + ".>"}, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &w.Start,
	})
	if err != nil {
		return nil, fmt.Errorf("read %s events: %w", kind, err)
	}
	byDomain := map[string]*Aggregate{}
	rows := map[string]map[string]*DMARCRow{}
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, fmt.Errorf("read %s events: %w", kind, err)
		}
		n, done := 0, false
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				continue
			}
			if !meta.Timestamp.Before(w.End) {
				done = true
				break
			}
			domain := strings.TrimPrefix(m.Subject(), SubjectPrefix+string(kind)+".")
			a := byDomain[domain]
			if a == nil {
				a = &Aggregate{Kind: kind, Domain: domain, Start: w.Start, End: w.End}
				byDomain[domain] = a
				rows[domain] = map[string]*DMARCRow{}
			}
			switch kind {
			case KindDMARC:
				var e DMARCEvent
				if json.Unmarshal(m.Data(), &e) == nil {
					addDMARC(a, rows[domain], e)
				}
			case KindTLS:
				var e TLSEvent
				if json.Unmarshal(m.Data(), &e) == nil {
					addTLS(a, e)
				}
			}
			if meta.NumPending == 0 {
				done = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("read %s events: %w", kind, err)
		}
		if done || n == 0 {
			break
		}
	}
	out := make([]*Aggregate, 0, len(byDomain))
	for d, a := range byDomain {
		for _, r := range rows[d] {
			a.Rows = append(a.Rows, *r)
		}
		sort.Slice(a.Rows, func(i, j int) bool { return a.Rows[i].key() < a.Rows[j].key() })
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Domain < out[j].Domain })
	return out, nil
}

func addDMARC(a *Aggregate, rows map[string]*DMARCRow, e DMARCEvent) {
	a.Policy, a.RUA = e.Policy, e.RUA
	r := DMARCRow{SourceIP: e.SourceIP, Disposition: e.Disposition, Override: e.Override, DKIM: e.DKIM, SPF: e.SPF, HeaderFrom: e.HeaderFrom,
		EnvelopeFrom: e.EnvelopeFrom, EnvelopeTo: e.EnvelopeTo, DKIMResults: e.DKIMResults, SPFResult: e.SPFResult}
	k := r.key()
	if cur, ok := rows[k]; ok {
		cur.Count++
		return
	}
	r.Count = 1
	rows[k] = &r
}

func addTLS(a *Aggregate, e TLSEvent) {
	a.RUA = e.RUA
	var p *TLSPolicyResult
	for i := range a.Policies {
		q := &a.Policies[i]
		if q.PolicyType == e.PolicyType && q.MXHost == e.MXHost && strings.Join(q.PolicyStrings, "\n") == strings.Join(e.PolicyStrings, "\n") {
			p = q
		}
	}
	if p == nil {
		a.Policies = append(a.Policies, TLSPolicyResult{PolicyType: e.PolicyType, PolicyStrings: e.PolicyStrings, MXHost: e.MXHost})
		p = &a.Policies[len(a.Policies)-1]
	}
	if e.Success {
		p.Successful++
		return
	}
	p.Failed++
	for i := range p.Failures {
		f := &p.Failures[i]
		if f.ResultType == e.ResultType && f.ReceivingMX == e.ReceivingMX && f.ReceivingIP == e.ReceivingIP && f.FailureReason == e.FailureReason {
			f.Count++
			return
		}
	}
	p.Failures = append(p.Failures, TLSFailure{ResultType: e.ResultType, ReceivingMX: e.ReceivingMX, ReceivingIP: e.ReceivingIP, FailureReason: e.FailureReason, Count: 1})
}
