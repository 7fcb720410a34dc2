package indexer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetmail/jetmail/shared/fts"
	"github.com/jetmail/jetmail/shared/search"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/trace"
)

// partition is the index of one partition this node holds.
type partition struct {
	n   int
	dir string
	log *slog.Logger
	m   *metrics

	// mu guards ix and tx: searches and batches take it shared, the
	// rebuild's reset and the release exclusively.
	mu sync.RWMutex
	ix *fts.Index
	tx *trace.Index // the message traces of the partition (package trace)

	built       atomic.Bool // the build is done: answers are whole
	tracesBuilt atomic.Bool // the trace follower has caught up once
	subs        []*nats.Subscription
	cancel      context.CancelFunc
	done        sync.WaitGroup // the build and the trace follower
}

// openIndex opens an index in dir with open, starting afresh when what
// is there cannot be used (another format version, a damaged index).
func openIndex[I any](dir string, log *slog.Logger, open func(dir string) (I, error)) (I, error) {
	ix, err := open(dir)
	if err == nil {
		return ix, nil
	}
	log.Warn("index unusable, rebuilding it", "dir", dir, "err", err)
	if err := os.RemoveAll(dir); err != nil {
		return ix, fmt.Errorf("remove index %s: %w", dir, err)
	}
	return open(dir)
}

func openFTS(dir string) (*fts.Index, error) { return fts.Open(dir, indexOptions) }

func openTraces(dir string) (*trace.Index, error) { return trace.Open(dir, traceIndexOptions) }

// gain opens partition n's indexes, subscribes to its subjects and
// starts its build and its trace follower.
func (s *Service) gain(n int) error {
	dir := filepath.Join(s.p.Dir, "p"+strconv.Itoa(n))
	log := s.log.With("partition", n)
	if err := os.MkdirAll(filepath.Join(s.p.Dir, "traces"), 0o750); err != nil {
		return fmt.Errorf("index dir %s: %w", s.p.Dir, err)
	}
	ix, err := openIndex(dir, log, openFTS)
	if err != nil {
		return err
	}
	tx, err := openIndex(filepath.Join(s.p.Dir, "traces", "p"+strconv.Itoa(n)), log, openTraces)
	if err != nil {
		_ = ix.Close()
		return err
	}
	pt := &partition{n: n, dir: dir, log: log, m: s.m, ix: ix, tx: tx}
	for subject, h := range map[string]nats.MsgHandler{
		search.SearchSubject(n):      func(m *nats.Msg) { go s.answerSearch(pt, m) },
		search.ApplySubject(n):       func(m *nats.Msg) { s.answerApply(pt, m) },
		search.TraceSearchSubject(n): func(m *nats.Msg) { go s.answerTraceSearch(pt, m) },
		search.TraceIndexSubject(n):  func(m *nats.Msg) { go s.answerTraceIndex(pt, m) },
		search.RebuildSubject(n):     func(m *nats.Msg) { go s.answerRebuild(n, m) },
	} {
		sub, err := s.d.Conn.Subscribe(subject, h)
		if err != nil {
			pt.release()
			return fmt.Errorf("subscribe %s: %w", subject, err)
		}
		pt.subs = append(pt.subs, sub)
	}
	ctx, cancel := context.WithCancel(s.ctx) // ends at shutdown too, before the indexes close
	pt.cancel = cancel
	s.mu.Lock()
	s.held[n] = pt
	s.mu.Unlock()
	s.m.held.Inc()
	log.Info("holding partition: building its index")
	for _, run := range []func(context.Context, *partition){s.build, s.followTraces} {
		s.bg.Add(1)
		pt.done.Add(1)
		go func() {
			defer s.bg.Done()
			defer pt.done.Done()
			run(ctx, pt)
		}()
	}
	return nil
}

// lose stops holding partition n.
func (s *Service) lose(n int) {
	s.mu.Lock()
	pt := s.held[n]
	delete(s.held, n)
	s.mu.Unlock()
	if pt == nil {
		return
	}
	pt.release()
	s.m.held.Dec()
	s.m.checkpoint.DeleteLabelValues(strconv.Itoa(n))
	pt.log.Info("no longer holding partition")
}

// releaseAll stops holding every partition (at shutdown).
func (s *Service) releaseAll() {
	s.mu.Lock()
	ns := make([]int, 0, len(s.held))
	for n := range s.held {
		ns = append(ns, n)
	}
	s.mu.Unlock()
	for _, n := range ns {
		s.lose(n)
	}
}

// release unsubscribes, ends the build and the trace follower, and
// closes the indexes.
func (pt *partition) release() {
	for _, sub := range pt.subs {
		_ = sub.Unsubscribe()
	}
	if pt.cancel != nil {
		pt.cancel()
		pt.done.Wait()
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.ix != nil {
		if err := pt.ix.Close(); err != nil {
			pt.log.Warn("close index", "err", err)
		}
		pt.ix = nil
	}
	if pt.tx != nil {
		if err := pt.tx.Close(); err != nil {
			pt.log.Warn("close trace index", "err", err)
		}
		pt.tx = nil
	}
}

// errReleased is returned by a partition no longer held.
var errReleased = errors.New("partition no longer held here")

// apply indexes one batch.
func (pt *partition) apply(ctx context.Context, ops []fts.Op) error {
	pt.mu.RLock()
	defer pt.mu.RUnlock()
	if pt.ix == nil {
		return errReleased
	}
	if err := pt.ix.Apply(ctx, ops); err != nil {
		return err
	}
	for _, op := range ops {
		if len(op.Checkpoint) == 0 {
			continue // an entry, not the checkpoint
		}
		if n, err := strconv.ParseUint(string(op.Checkpoint), 10, 64); err == nil {
			pt.checkpointSet(n)
		}
	}
	return nil
}

// checkpointSet shows the index's checkpoint in the metrics.
func (pt *partition) checkpointSet(next uint64) {
	pt.m.checkpoint.WithLabelValues(strconv.Itoa(pt.n)).Set(float64(next))
}

// search runs one search.
func (pt *partition) search(ctx context.Context, q fts.Query) (search.Response, error) {
	pt.mu.RLock()
	defer pt.mu.RUnlock()
	if pt.ix == nil {
		return search.Response{}, errReleased
	}
	r, err := pt.ix.Search(ctx, q)
	if r.IDs == nil {
		r.IDs = []string{}
	}
	return search.Response{IDs: r.IDs, Total: r.Total, Partial: !pt.built.Load()}, err
}

func respond(m *nats.Msg, v any) {
	b, _ := json.Marshal(v)
	_ = m.Respond(b)
}

func (s *Service) answerSearch(pt *partition, m *nats.Msg) {
	var req search.Request
	if err := json.Unmarshal(m.Data, &req); err != nil {
		respond(m, search.Response{Error: "bad request: " + err.Error(), Invalid: true})
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), search.Timeout)
	defer cancel()
	start := time.Now()
	r, err := pt.search(ctx, req.Query)
	s.m.searchSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		r = search.Response{Error: err.Error(), Invalid: errors.Is(err, fts.ErrInvalid)}
	}
	respond(m, r)
}

func (s *Service) answerApply(pt *partition, m *nats.Msg) {
	var req search.Apply
	if err := json.Unmarshal(m.Data, &req); err != nil {
		respond(m, search.Applied{Error: "bad request: " + err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), search.Timeout)
	defer cancel()
	if req.Advance > 0 {
		if err := pt.advance(ctx, req.Advance); err != nil {
			respond(m, search.Applied{Error: err.Error()})
			return
		}
		respond(m, search.Applied{})
		return
	}
	if err := pt.apply(ctx, req.Ops); err != nil {
		respond(m, search.Applied{Error: err.Error()})
		return
	}
	s.m.indexed.Add(float64(len(req.Ops)))
	respond(m, search.Applied{})
}

// answerRebuild empties partition n's index (or trace index) and builds
// it again: the partition is let go, its directory removed, and gained
// again, so the rebuild is the one a node that gains it does.
func (s *Service) answerRebuild(n int, m *nats.Msg) {
	var req search.Rebuild
	if err := json.Unmarshal(m.Data, &req); err != nil {
		respond(m, search.Applied{Error: "bad request: " + err.Error()})
		return
	}
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	if s.ctx.Err() != nil || s.local(n) == nil { // shutting down, or moved
		respond(m, search.Applied{Error: errReleased.Error()})
		return
	}
	s.lose(n)
	dir := filepath.Join(s.p.Dir, "p"+strconv.Itoa(n))
	if req.Traces {
		dir = filepath.Join(s.p.Dir, "traces", "p"+strconv.Itoa(n))
	}
	err := os.RemoveAll(dir)
	if gerr := s.gain(n); err == nil {
		err = gerr
	}
	if err != nil {
		s.log.Error("rebuild partition", "partition", n, "traces", req.Traces, "err", err)
		respond(m, search.Applied{Error: err.Error()})
		return
	}
	s.log.Info("partition index emptied, rebuilding", "partition", n, "traces", req.Traces)
	respond(m, search.Applied{})
}

// local returns the partition if this node holds it.
func (s *Service) local(n int) *partition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held[n]
}

// indexedTypes are the document types the index holds.
var indexedTypes = []store.Type{store.EmailType, store.CalendarType, store.ContactsType, store.FileType}

// indexOptions open every partition index. A batch returns once it is
// searchable, before it is on disk: the index is derived data, and after a
// crash the node replays the change log from the index's checkpoint, which
// is never later than what the disk holds (scorch persists snapshots in
// order), so a batch lost with the process is applied again. Waiting for
// the disk on every batch would make each a segment of its own to merge;
// the persister instead writes every second what the batches of that
// second made, merged in memory.
var indexOptions = fts.Options{UnsafeBatch: true, PersistNap: time.Second}
