// Package search is the wire between the nodes that ask full-text
// questions (the store's Email/query, `jetmail mail search`) and the
// indexer node that holds an account's partition (services/indexer).
//
// # Subjects
//
//	jetmail.fts.search.<partition>       Request -> Response: one page of a search
//	jetmail.fts.apply.<partition>        Apply -> Applied: index a batch of changes
//	jetmail.fts.tracesearch.<partition>  TraceRequest -> TraceResponse: the
//	                                     partition's traces that match
//	jetmail.fts.traceindex.<partition>   TraceIndex -> Applied: read traces
//	                                     whole from the stream and index them
//	jetmail.fts.rebuild.<partition>      Rebuild -> Applied: empty the
//	                                     partition's index (or trace index)
//	                                     and build it again, as on gaining it
//
// A message trace's partition is its trace id's (package trace), not an
// account's, so a trace search asks every partition at once and merges
// the answers (Client.SearchTraces).
//
// Only the node holding a partition's index subscribes to its subjects,
// with plain (not queue) subscriptions: while a partition moves, the old
// and new holders may both listen for a moment, and then both get every
// change, so neither misses one. No subscriber means no live indexer node
// holds the partition, and the caller gets ErrUnavailable at once (NATS
// no-responders), never an empty result.
package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetmail/jetmail/shared/fts"
)

// Subject prefixes.
const (
	SearchPrefix = "jetmail.fts.search."
	ApplyPrefix  = "jetmail.fts.apply."
)

// SearchSubject is where partition p's searches go.
func SearchSubject(p int) string { return SearchPrefix + strconv.Itoa(p) }

// ApplySubject is where partition p's index changes go.
func ApplySubject(p int) string { return ApplyPrefix + strconv.Itoa(p) }

// ErrUnavailable means no live node holds the partition's index (JMAP's
// serverUnavailable).
var ErrUnavailable = errors.New("no live indexer node holds the account's partition")

// Timeout bounds one request. Default for Client.Timeout.
const Timeout = 10 * time.Second

// MaxApplyBytes bounds one Apply request's encoding, under the NATS
// server's default max_payload (1 MB); Client.Apply splits larger batches.
const MaxApplyBytes = 800 << 10

// Request is one search.
type Request struct {
	Query fts.Query `json:"query"`
}

// Response answers a Request.
type Response struct {
	IDs   []string `json:"ids"`
	Total uint64   `json:"total"`
	// Partial is set while the holder is still building the partition's
	// index (it gained it moments ago): the answer may miss documents.
	Partial bool `json:"partial,omitempty"`
	// Error is set when the search failed; Invalid when the query itself
	// is at fault (fts.ErrInvalid).
	Error   string `json:"error,omitempty"`
	Invalid bool   `json:"invalid,omitempty"`
}

// Apply is one batch of index changes; or, with Advance set, a new
// checkpoint for the index (the next change-log sequence to replay from),
// which the holder takes once its index is built and when it is later
// than its own.
type Apply struct {
	Ops     []fts.Op `json:"ops,omitempty"`
	Advance uint64   `json:"advance,omitempty"`
}

// Applied answers an Apply.
type Applied struct {
	Error string `json:"error,omitempty"`
}

// Client asks the holders.
type Client struct {
	// Conn is the NATS connection. Required.
	Conn *nats.Conn
	// Timeout bounds each request. Default Timeout.
	Timeout time.Duration
}

func (c Client) request(ctx context.Context, subject string, in, out any) error {
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	t := c.Timeout
	if t == 0 {
		t = Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	msg, err := c.Conn.RequestWithContext(ctx, subject, data)
	if errors.Is(err, nats.ErrNoResponders) {
		return ErrUnavailable
	}
	if err != nil {
		return fmt.Errorf("%s: %w", subject, err)
	}
	if err := json.Unmarshal(msg.Data, out); err != nil {
		return fmt.Errorf("%s: bad answer: %w", subject, err)
	}
	return nil
}

// Search asks the holder of partition p.
func (c Client) Search(ctx context.Context, p int, q fts.Query) (Response, error) {
	var r Response
	if err := c.request(ctx, SearchSubject(p), Request{Query: q}, &r); err != nil {
		return r, err
	}
	if r.Error != "" {
		if r.Invalid {
			return r, fmt.Errorf("%w: %s", fts.ErrInvalid, r.Error)
		}
		return r, errors.New(r.Error)
	}
	return r, nil
}

// RebuildPrefix starts the subjects of Rebuild requests.
const RebuildPrefix = "jetmail.fts.rebuild."

// RebuildSubject is where partition p's rebuilds are asked for.
func RebuildSubject(p int) string { return RebuildPrefix + strconv.Itoa(p) }

// Rebuild asks the holder of a partition to empty its full-text index
// (or, with Traces, its trace index) and build it again from the store
// (the traces stream), as a node that gains the partition does.
type Rebuild struct {
	Traces bool `json:"traces,omitempty"`
}

// Rebuild asks the holder of partition p for a rebuild (see Rebuild); it
// returns once the rebuild has begun, its answers partial until done.
func (c Client) Rebuild(ctx context.Context, p int, traces bool) error {
	return c.applied(ctx, p, RebuildSubject(p), Rebuild{Traces: traces})
}

// Advance gives the holder of partition p a new checkpoint (see Apply).
func (c Client) Advance(ctx context.Context, p int, next uint64) error {
	return c.applied(ctx, p, ApplySubject(p), Apply{Advance: next})
}

// applied sends in to the holder of partition p on subject, and returns
// the error its Applied answer says.
func (c Client) applied(ctx context.Context, p int, subject string, in any) error {
	var r Applied
	if err := c.request(ctx, subject, in, &r); err != nil {
		return err
	}
	if r.Error != "" {
		return fmt.Errorf("partition %d: %s", p, r.Error)
	}
	return nil
}

// Apply gives ops to the holder of partition p, in as many requests as
// MaxApplyBytes needs, and returns once it has indexed them.
func (c Client) Apply(ctx context.Context, p int, ops []fts.Op) error {
	enc := make([][]byte, len(ops))
	for i := range ops {
		b, err := json.Marshal(ops[i])
		if err != nil {
			return err
		}
		enc[i] = b
	}
	for len(enc) > 0 {
		body := append(make([]byte, 0, MaxApplyBytes), `{"ops":[`...)
		n := 0
		for n < len(enc) && (n == 0 || len(body)+len(enc[n]) < MaxApplyBytes) {
			if n > 0 {
				body = append(body, ',')
			}
			body = append(body, enc[n]...)
			n++
		}
		body = append(body, "]}"...)
		if err := c.applied(ctx, p, ApplySubject(p), json.RawMessage(body)); err != nil {
			return err
		}
		enc = enc[n:]
	}
	return nil
}
