package indexer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/search"
	"github.com/jetmail/jetmail/shared/trace"
)

// Permissions of the trace API.
const (
	PermTraceGet   = adminapi.PermTraceGet
	PermTraceQuery = adminapi.PermTraceQuery
)

// maxTraceIDs bounds the ids of one x:Trace/get: each is a read of the
// stream.
const maxTraceIDs = 100

type traceAPI struct{ s *Service }

func registerTraceAPI(srv *jmap.Server, s *Service) {
	a := traceAPI{s}
	srv.Handle(adminapi.MethodTraceQuery, PermTraceQuery, a.query)
	srv.Handle(adminapi.MethodTraceGet, PermTraceGet, a.get)
}

// query searches the trace index of every partition (package search):
// ids the most recently received first. Position and total count within
// the traces found, which are at most trace.MaxLimit.
func (a traceAPI) query(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	args, err := jmap.DecodeQuery[adminapi.TraceFilter](raw)
	if err != nil {
		return nil, err
	}
	if len(args.Sort) > 0 {
		return nil, jmap.Errorf("unsupportedSort", "traces are listed the most recently received first; sort is not supported")
	}
	limit := args.LimitOr(trace.DefaultLimit)
	if args.Position+limit > trace.MaxLimit {
		return nil, jmap.Errorf("invalidArguments", "position plus limit is at most %d; narrow the filter (after, before) instead", trace.MaxLimit)
	}
	q := args.Filter.Query()
	q.Limit = args.Position + limit
	res, err := a.s.client.SearchTraces(ctx, a.s.d.Config.Cluster.Partitions, q)
	switch {
	case errors.Is(err, search.ErrTracesUnavailable):
		return nil, jmap.Errorf("serverUnavailable", "%v: trace search needs the indexer service (jetmail serve indexer) on a node of role fts-indexing", err)
	case errors.Is(err, search.ErrInvalidTraceQuery):
		return nil, jmap.Errorf("invalidArguments", "filter: %v", err)
	case err != nil:
		return nil, fmt.Errorf("search traces: %w", err)
	}
	ids := make([]string, 0, len(res.Traces))
	for _, t := range res.Traces {
		ids = append(ids, t.TraceID)
	}
	page := ids[min(args.Position, len(ids)):]
	resp := jmap.NewQueryResponse(page, args.Position, len(ids))
	resp.Partial = res.Partial
	return resp, nil
}

// get reads each trace whole from the stream: its events, and the
// summary they make.
func (a traceAPI) get(ctx context.Context, _ *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.GetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	if args.IDs == nil {
		return nil, jmap.Errorf("invalidArguments", "ids is required: use x:Trace/query to find traces")
	}
	if len(*args.IDs) > maxTraceIDs {
		return nil, jmap.Errorf("requestTooLarge", "at most %d ids per x:Trace/get", maxTraceIDs)
	}
	res := jmap.NewGetResponse[adminapi.Trace]()
	for _, id := range *args.IDs {
		if !trace.ValidID(id) {
			res.NotFound = append(res.NotFound, id)
			continue
		}
		events, err := trace.Read(ctx, a.s.d.JS(), a.s.d.Config.Cluster.Partitions, id)
		if err != nil {
			return nil, fmt.Errorf("get trace %s: %w", id, err)
		}
		if len(events) == 0 {
			res.NotFound = append(res.NotFound, id)
			continue
		}
		t := trace.Trace{ID: id, Events: events}
		res.List = append(res.List, adminapi.Trace{ID: id, Summary: trace.Summarize(t), Events: events})
	}
	return res, nil
}
