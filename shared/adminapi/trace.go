package adminapi

import (
	"time"

	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/trace"
)

// The methods of message traces: the operator's "where is my mail".
// x:Trace/query finds traces by sender, recipient, Message-ID and time
// received, the most recently received first; x:Trace/get reads each
// trace's history from the traces stream.
const (
	MethodTraceGet   = "x:Trace/get"
	MethodTraceQuery = "x:Trace/query"
)

// The responses and arguments of the trace methods.
type (
	TraceGetResponse   = jmap.GetResponse[Trace]
	TraceQueryArgs     = jmap.QueryArgs[TraceFilter]
	TraceQueryResponse = jmap.QueryResponse
)

// Trace is the life of one message the queue accepted, as x:Trace/get
// returns it: its id is the queue's message id.
type Trace struct {
	ID string `json:"id"`
	trace.Summary
	// Events are the trace's events still in the stream
	// (queue.trace.retention), in the order they happened.
	Events []trace.Event `json:"events"`
}

// TraceFilter is the filter of x:Trace/query. Every field narrows the
// result; the zero filter keeps every trace.
type TraceFilter struct {
	// Sender is an address (any case), a domain ("@example.org" or
	// "example.org"), or "<>" for the null sender of bounces.
	Sender string `json:"sender,omitempty"`
	// Rcpt is an address or a domain, as Sender: a trace matches when one
	// of its recipients does.
	Rcpt string `json:"rcpt,omitempty"`
	// MessageID is the Message-ID header, with or without angle brackets.
	MessageID string `json:"messageId,omitempty"`
	// After (inclusive) and Before (exclusive) bound the time received.
	After  *time.Time `json:"after,omitempty"`
	Before *time.Time `json:"before,omitempty"`
}

// UnmarshalJSON reads a filter strictly: an unknown property is an
// unsupportedFilter error, a bad value an invalidArguments one naming it.
func (f *TraceFilter) UnmarshalJSON(b []byte) error {
	var w struct {
		Sender    string  `json:"sender"`
		Rcpt      string  `json:"rcpt"`
		MessageID string  `json:"messageId"`
		After     *string `json:"after"`
		Before    *string `json:"before"`
	}
	if err := decodeFilter(b, &w, "sender, rcpt, messageId, after, before"); err != nil {
		return err
	}
	out := TraceFilter{Sender: w.Sender, Rcpt: w.Rcpt, MessageID: w.MessageID}
	var err error
	if out.After, err = parseDate("filter/after", w.After); err != nil {
		return err
	}
	if out.Before, err = parseDate("filter/before", w.Before); err != nil {
		return err
	}
	*f = out
	return nil
}

// Query is the filter as a trace index query (without its limit).
func (f *TraceFilter) Query() trace.Query {
	var q trace.Query
	if f == nil {
		return q
	}
	q.Sender, q.Rcpt, q.MessageID = f.Sender, f.Rcpt, f.MessageID
	if f.After != nil {
		q.After = *f.After
	}
	if f.Before != nil {
		q.Before = *f.Before
	}
	return q
}
