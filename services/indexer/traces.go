package indexer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/search"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/trace"
)

// traceBatch bounds the stream messages folded into the trace index at
// once.
const traceBatch = 1000

// pruneEvery is how often a holder removes the traces gone from the
// stream from its trace index.
const pruneEvery = time.Hour

// traceIndexOptions open every partition's trace index: like the
// full-text index, it is derived data, read again from the stream after
// a crash from its checkpoint (see indexOptions).
var traceIndexOptions = trace.Options{UnsafeBatch: true, PersistNap: time.Second}

// traceRetention is queue.trace.retention.
func (s *Service) traceRetention() time.Duration {
	if r := s.d.Config.Queue.TraceRetention; r > 0 {
		return r
	}
	return config.DefaultTraceRetention
}

// followTraces keeps pt's trace index up with the partition's subjects of
// the traces stream (jetmail.traces.<n>.>), from the index's checkpoint,
// until the partition is released. Its answers say partial until it has
// caught up once.
func (s *Service) followTraces(ctx context.Context, pt *partition) {
	for attempt := 1; ctx.Err() == nil; attempt++ {
		err := s.followTracesOnce(ctx, pt)
		if ctx.Err() != nil {
			return
		}
		level := pt.log.Warn
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			level = pt.log.Debug // no message was queued yet
		}
		level("reading the partition's message traces failed, retrying", "attempt", attempt, "err", err)
		if !clock.Sleep(ctx, min(time.Duration(attempt)*time.Second, 30*time.Second)) {
			return
		}
	}
}

func (s *Service) followTracesOnce(ctx context.Context, pt *partition) error {
	stream, err := s.d.JS().Stream(ctx, trace.Stream)
	if err != nil {
		return err
	}
	prefix := trace.SubjectPrefix + strconv.Itoa(pt.n) + "."
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{prefix + ">"}}
	next, err := pt.traceCheckpoint()
	if err != nil {
		return err
	}
	if next > 0 {
		// Below the stream's first sequence (past retention) it starts at
		// the first.
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, next
	}
	cons, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return err
	}
	// One long-lived consumer, read as it goes: an ordered consumer's
	// Fetch makes a new consumer each call, which on a clustered stream is
	// a proposal of the meta group each time.
	it, err := cons.Messages(jetstream.PullMaxMessages(traceBatch))
	if err != nil {
		return err
	}
	defer it.Stop()
	msgs := make(chan jetstream.Msg, traceBatch)
	errc := make(chan error, 1)
	go func() {
		for {
			m, err := it.Next()
			if err != nil {
				errc <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	start := time.Now()
	folded := 0
	caughtUp := func() {
		if !pt.tracesBuilt.Swap(true) {
			pt.log.Info("partition's message traces read", "messages", folded, "took", time.Since(start).Round(time.Millisecond))
		}
	}
	// Caught up once the partition's last message now is folded.
	var target uint64
	switch lm, err := stream.GetLastMsgForSubject(ctx, prefix+">"); {
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case err != nil:
		return err
	default:
		target = lm.Sequence
	}
	if target < next || target == 0 {
		caughtUp()
	}
	prune := time.NewTicker(pruneEvery)
	defer prune.Stop()
	s.pruneTraces(ctx, pt)
	for {
		var first jetstream.Msg
		select {
		case first = <-msgs:
		case err := <-errc:
			return err
		case <-prune.C:
			s.pruneTraces(ctx, pt)
			continue
		case <-ctx.Done():
			return ctx.Err()
		}
		// The messages that arrive within BatchWait of the first, in one
		// commit.
		batch := gather(ctx, first, msgs, traceBatch, s.p.BatchWait)
		traces := make([]trace.Trace, 0, len(batch))
		var last, pending uint64
		for _, m := range batch {
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			last, pending = md.Sequence.Stream, md.NumPending
			id, ok := strings.CutPrefix(m.Subject(), prefix)
			events, derr := trace.Decode(m.Data())
			if !ok || derr != nil {
				continue // not a trace this version can read
			}
			traces = append(traces, trace.Trace{ID: id, Events: events})
		}
		if last == 0 {
			continue
		}
		if err := pt.traces(func(tx *trace.Index) error {
			return tx.Fold(ctx, traces, []byte(strconv.FormatUint(last+1, 10)))
		}); err != nil {
			return err
		}
		folded += len(batch)
		s.m.tracesFolded.Add(float64(len(batch)))
		if last >= target || pending == 0 {
			caughtUp()
		}
	}
}

// pruneTraces removes from pt's trace index the traces whose latest event
// is past queue.trace.retention, which the stream no longer has.
func (s *Service) pruneTraces(ctx context.Context, pt *partition) {
	var n int
	err := pt.traces(func(tx *trace.Index) error {
		var err error
		n, err = tx.Prune(ctx, time.Now().Add(-s.traceRetention()))
		return err
	})
	switch {
	case err != nil && ctx.Err() == nil:
		pt.log.Warn("prune the trace index", "err", err)
	case n > 0:
		pt.log.Info("traces past queue.trace.retention removed from the trace index", "traces", n)
	}
}

// traceCheckpoint is the next traces-stream sequence pt's trace index has
// not folded, 0 when it has none.
func (pt *partition) traceCheckpoint() (uint64, error) {
	var next uint64
	err := pt.traces(func(tx *trace.Index) error {
		b, err := tx.Checkpoint()
		if err != nil || len(b) == 0 {
			return err
		}
		next, err = strconv.ParseUint(string(b), 10, 64)
		return err
	})
	return next, err
}

// traces runs f on pt's trace index, or says it is released.
func (pt *partition) traces(f func(tx *trace.Index) error) error {
	pt.mu.RLock()
	defer pt.mu.RUnlock()
	if pt.tx == nil {
		return errReleased
	}
	return f(pt.tx)
}

// indexTrace runs IndexTrace: the trace is read whole from the stream and
// folded into its partition's trace index, or removed from it when the
// stream no longer has it. The follower does this for every trace as its
// events come; the task is the way to do it again for one trace.
func (s *Service) indexTrace(ctx context.Context, t *task.Task) error {
	p, ok := t.Payload.(*task.IndexTraceTask)
	if !ok {
		return fmt.Errorf("indexer: unexpected task %s", t.Variant())
	}
	n := trace.Partition(p.TraceID, s.d.Config.Cluster.Partitions)
	ids := []string{p.TraceID}
	return s.atHolder(ctx, n,
		func(pt *partition) error { return s.indexTraces(ctx, pt, ids) },
		func() error { return s.client.IndexTraces(ctx, n, ids) })
}

// indexTraces reads traces ids whole and folds them into pt's trace index.
func (s *Service) indexTraces(ctx context.Context, pt *partition, ids []string) error {
	var gone []string
	var traces []trace.Trace
	for _, id := range ids {
		events, err := trace.Read(ctx, s.d.JS(), s.d.Config.Cluster.Partitions, id)
		if err != nil {
			return err
		}
		if len(events) == 0 {
			gone = append(gone, id)
			continue
		}
		traces = append(traces, trace.Trace{ID: id, Events: events})
	}
	return pt.traces(func(tx *trace.Index) error {
		if err := tx.Fold(ctx, traces, nil); err != nil {
			return err
		}
		return tx.Delete(ctx, gone)
	})
}

func (s *Service) answerTraceSearch(pt *partition, m *nats.Msg) {
	var req search.TraceRequest
	if err := json.Unmarshal(m.Data, &req); err != nil {
		respond(m, search.TraceResponse{Error: "bad request: " + err.Error(), Invalid: true})
		return
	}
	if req.Query.Limit < 0 {
		respond(m, search.TraceResponse{Error: "limit is negative", Invalid: true})
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), search.Timeout)
	defer cancel()
	var found []trace.Summary
	err := pt.traces(func(tx *trace.Index) error {
		var err error
		found, err = tx.Search(ctx, req.Query)
		return err
	})
	if err != nil {
		respond(m, search.TraceResponse{Error: err.Error()})
		return
	}
	if found == nil {
		found = []trace.Summary{}
	}
	respond(m, search.TraceResponse{Traces: found, Partial: !pt.tracesBuilt.Load()})
}

func (s *Service) answerTraceIndex(pt *partition, m *nats.Msg) {
	var req search.TraceIndex
	if err := json.Unmarshal(m.Data, &req); err != nil {
		respond(m, search.Applied{Error: "bad request: " + err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), search.Timeout)
	defer cancel()
	if err := s.indexTraces(ctx, pt, req.IDs); err != nil {
		respond(m, search.Applied{Error: err.Error()})
		return
	}
	respond(m, search.Applied{})
}
