package trace

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
)

// Search limits.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Query selects traces. Every field set must match (AND); none set
// matches every trace.
type Query struct {
	// Sender is an address, matched case-insensitively; or a domain,
	// "@example.org" or "example.org", matching every sender at it; or
	// "<>", the null sender (bounces and other DSNs).
	Sender string `json:"sender,omitempty"`
	// Rcpt is an address or a domain, as Sender: a trace matches when
	// any of its recipients does.
	Rcpt string `json:"rcpt,omitempty"`
	// MessageID is the Message-ID header, exactly, with or without its
	// angle brackets.
	MessageID string `json:"messageId,omitempty"`
	// After (inclusive) and Before (exclusive) bound the time the message
	// was received; zero: unbounded.
	After  time.Time `json:"after,omitzero"`
	Before time.Time `json:"before,omitzero"`
	// Limit is how many traces are returned at most: default
	// DefaultLimit, at most MaxLimit.
	Limit int `json:"limit,omitempty"`
}

// Search returns the traces matching q, the most recently received first.
func (ix *Index) Search(ctx context.Context, q Query) ([]Summary, error) {
	switch {
	case q.Limit < 0:
		return nil, fmt.Errorf("trace index: search: limit %d is negative", q.Limit)
	case q.Limit == 0:
		q.Limit = DefaultLimit
	case q.Limit > MaxLimit:
		q.Limit = MaxLimit
	}
	var must []query.Query
	if q.Sender != "" {
		must = append(must, addressQuery(fSender, fSenderDomain, q.Sender))
	}
	if q.Rcpt != "" {
		must = append(must, addressQuery(fRcpt, fRcptDomain, q.Rcpt))
	}
	if q.MessageID != "" {
		must = append(must, term(fMessageID, messageIDTerm(q.MessageID)))
	}
	if !q.After.IsZero() || !q.Before.IsZero() {
		incl, excl := true, false
		r := query.NewDateRangeInclusiveQuery(q.After, q.Before, &incl, &excl)
		r.SetField(fReceived)
		must = append(must, r)
	}
	var bq query.Query = query.NewMatchAllQuery()
	if len(must) > 0 {
		bq = query.NewConjunctionQuery(must)
	}
	req := bleve.NewSearchRequestOptions(bq, q.Limit, 0, false)
	req.Score = "none"
	req.Fields = []string{fSummary}
	req.SortByCustom(search.SortOrder{
		&search.SortField{Field: fReceived, Type: search.SortFieldAsDate, Desc: true, Missing: search.SortFieldMissingLast},
		&search.SortDocID{Desc: true},
	})
	res, err := ix.bi.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("trace index: search: %w", err)
	}
	out := make([]Summary, 0, len(res.Hits))
	for _, h := range res.Hits {
		raw, _ := h.Fields[fSummary].(string)
		var s Summary
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			return nil, fmt.Errorf("trace index: search: summary of trace %s: %w", h.ID, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// addressQuery matches an address (with an @ after its local part) in
// field, a domain ("@example.org" or "example.org") in domainField, and
// "<>" as the null sender.
func addressQuery(field, domainField, v string) query.Query {
	v = strings.TrimSpace(v)
	if v == nullSender {
		return term(field, nullSender)
	}
	if len(v) > 2 && v[0] == '<' && v[len(v)-1] == '>' {
		v = v[1 : len(v)-1]
	}
	if d, ok := strings.CutPrefix(v, "@"); ok || !strings.Contains(v, "@") {
		if !ok {
			d = v
		}
		return term(domainField, domainTerm(d))
	}
	return term(field, addressTerm(v))
}

func term(field, v string) query.Query {
	t := query.NewTermQuery(v)
	t.SetField(field)
	return t
}
