package search

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/jetmail/jetmail/shared/trace"
)

// Subject prefixes of the trace index.
const (
	TraceSearchPrefix = "jetmail.fts.tracesearch."
	TraceIndexPrefix  = "jetmail.fts.traceindex."
)

// TraceSearchSubject is where partition p's trace searches go.
func TraceSearchSubject(p int) string { return TraceSearchPrefix + strconv.Itoa(p) }

// TraceIndexSubject is where partition p's IndexTrace work goes.
func TraceIndexSubject(p int) string { return TraceIndexPrefix + strconv.Itoa(p) }

// ErrTracesUnavailable means no partition's trace index answered.
var ErrTracesUnavailable = errors.New("no live indexer node holds any partition of the message traces")

// TraceRequest is one partition's part of a trace search.
type TraceRequest struct {
	Query trace.Query `json:"query"`
}

// TraceResponse answers a TraceRequest.
type TraceResponse struct {
	Traces []trace.Summary `json:"traces"`
	// Partial is set while the holder is still reading the partition's
	// traces from the stream (it gained the partition moments ago).
	Partial bool `json:"partial,omitempty"`
	// Error is set when the search failed; Invalid when the query itself
	// is at fault.
	Error   string `json:"error,omitempty"`
	Invalid bool   `json:"invalid,omitempty"`
}

// TraceIndex asks the holder of a partition to read traces whole from the
// stream and index them (task IndexTrace).
type TraceIndex struct {
	IDs []string `json:"ids"`
}

// TraceResult is the merged answer of every partition.
type TraceResult struct {
	// Traces match the query, the most recently received first, at most
	// its limit.
	Traces []trace.Summary
	// Partial is set when a partition's answer may miss traces: its
	// holder is still reading them, or none holds it (Unavailable).
	Partial bool
	// Unavailable lists the partitions that no live node holds.
	Unavailable []int
}

// ErrInvalidTraceQuery marks a trace query the index refuses.
var ErrInvalidTraceQuery = errors.New("invalid trace query")

// SearchTraces asks the holders of all partitions (cluster.partitions) at
// once and merges their answers. Partitions no node holds make the answer
// Partial; none answering at all is ErrTracesUnavailable, never an empty
// result.
func (c Client) SearchTraces(ctx context.Context, partitions int, q trace.Query) (TraceResult, error) {
	if partitions < 1 {
		return TraceResult{}, fmt.Errorf("search traces: %d partitions", partitions)
	}
	limit := q.Limit
	switch {
	case limit == 0:
		limit = trace.DefaultLimit
	case limit > trace.MaxLimit:
		limit = trace.MaxLimit
	}
	answers := make([]TraceResponse, partitions)
	errs := make([]error, partitions)
	var wg sync.WaitGroup
	for p := range partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[p] = c.request(ctx, TraceSearchSubject(p), TraceRequest{Query: q}, &answers[p])
		}()
	}
	wg.Wait()
	var res TraceResult
	for p, err := range errs {
		a := answers[p]
		switch {
		case errors.Is(err, ErrUnavailable):
			res.Unavailable = append(res.Unavailable, p)
			continue
		case err != nil:
			return TraceResult{}, fmt.Errorf("search traces: %w", err)
		case a.Invalid:
			return TraceResult{}, fmt.Errorf("%w: %s", ErrInvalidTraceQuery, a.Error)
		case a.Error != "":
			return TraceResult{}, fmt.Errorf("search traces: partition %d: %s", p, a.Error)
		}
		res.Partial = res.Partial || a.Partial
		res.Traces = append(res.Traces, a.Traces...)
	}
	if len(res.Unavailable) == partitions {
		return TraceResult{}, ErrTracesUnavailable
	}
	res.Partial = res.Partial || len(res.Unavailable) > 0
	slices.SortFunc(res.Traces, func(a, b trace.Summary) int {
		if c := b.Received.Compare(a.Received); c != 0 {
			return c
		}
		return cmp.Compare(b.TraceID, a.TraceID)
	})
	if len(res.Traces) > limit {
		res.Traces = res.Traces[:limit]
	}
	return res, nil
}

// IndexTraces asks the holder of partition p to read traces ids whole
// from the stream and index them, and returns once it has.
func (c Client) IndexTraces(ctx context.Context, p int, ids []string) error {
	return c.applied(ctx, p, TraceIndexSubject(p), TraceIndex{IDs: ids})
}
