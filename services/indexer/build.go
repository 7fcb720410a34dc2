package indexer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/fts"
	"github.com/jetmail/jetmail/shared/store"
)

// buildBatch is how many documents a build indexes per commit.
const buildBatch = 500

// build makes pt's index whole (see the package documentation), retrying
// until it succeeds or the partition is released.
func (s *Service) build(ctx context.Context, pt *partition) {
	var from uint64
	for attempt := 1; ; attempt++ {
		start := time.Now()
		docs, replayed, full, next, err := s.buildOnce(ctx, pt)
		if err == nil {
			pt.built.Store(true)
			s.m.replayed.Add(float64(replayed))
			s.m.builds.WithLabelValues(map[bool]string{true: "rebuild", false: "replay"}[full]).Inc()
			pt.log.Info("partition index built", "rebuilt", full, "documents", docs, "changes_replayed", replayed, "took", time.Since(start).Round(time.Millisecond))
			from = next
			break
		}
		if !s.retryWait(ctx, pt, attempt, "building partition index failed, retrying", err) {
			return
		}
	}
	s.settle(ctx, pt, from)
}

// settle replays the change log once more from from, the sequence the
// build began at, once every node that held the partition before has let
// it go. Until then a task may still have indexed a change at the former
// holder (a node that has not yet seen the membership change reconciles
// within a hold interval): an entry this index would never get.
func (s *Service) settle(ctx context.Context, pt *partition, from uint64) {
	if !clock.Sleep(ctx, settleIntervals*s.p.HoldInterval) {
		return
	}
	for attempt := 1; ; attempt++ {
		n, err := s.replay(ctx, pt, from)
		if err == nil {
			s.m.replayed.Add(float64(n))
			pt.log.Debug("partition index settled", "changes_replayed", n)
			return
		}
		if !s.retryWait(ctx, pt, attempt, "replaying partition changes after the hand-over failed, retrying", err) {
			return
		}
	}
}

// settleIntervals is how many hold intervals after a build the holder
// replays again (see settle).
const settleIntervals = 3

// retryWait logs a failed attempt and waits before the next one; false
// when ctx ended.
func (s *Service) retryWait(ctx context.Context, pt *partition, attempt int, msg string, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	pt.log.Warn(msg, "attempt", attempt, "err", err)
	return clock.Sleep(ctx, min(time.Duration(attempt)*time.Second, 30*time.Second))
}

// buildOnce replays the change log from the index's checkpoint, or
// rebuilds the index from the documents when the log no longer holds it;
// next is the change-log sequence its replay began at.
func (s *Service) buildOnce(ctx context.Context, pt *partition) (docs, replayed int, full bool, next uint64, err error) {
	first, last, err := s.st.LogBounds(ctx)
	if err != nil {
		return 0, 0, false, 0, err
	}
	next, ok := pt.checkpoint()
	if !ok || next < first {
		full = true
		if docs, err = s.rebuild(ctx, pt, last+1); err != nil {
			return docs, 0, true, 0, err
		}
		next = last + 1
	}
	replayed, err = s.replay(ctx, pt, next)
	return docs, replayed, full, next, err
}

// checkpoint is the next change-log sequence the index has not seen.
func (pt *partition) checkpoint() (uint64, bool) {
	pt.mu.RLock()
	defer pt.mu.RUnlock()
	if pt.ix == nil {
		return 0, false
	}
	b, err := pt.ix.Checkpoint()
	if err != nil || len(b) == 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	return n, err == nil
}

func checkpointOp(next uint64) fts.Op {
	return fts.Op{Checkpoint: []byte(strconv.FormatUint(next, 10))}
}

// rebuild empties the index and indexes every document of the
// partition's accounts; next is the change-log sequence read before it
// began, stored as the checkpoint with the last batch.
func (s *Service) rebuild(ctx context.Context, pt *partition, next uint64) (int, error) {
	if err := pt.reset(); err != nil {
		return 0, err
	}
	accounts, err := s.st.PartitionAccounts(ctx, pt.n)
	if err != nil {
		return 0, err
	}
	var ops []fts.Op
	n := 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		err := pt.apply(ctx, ops)
		for _, op := range ops {
			if op.Put != nil {
				n++
			}
		}
		s.m.indexed.Add(float64(len(ops)))
		ops = ops[:0]
		return err
	}
	for _, a := range accounts {
		for _, t := range indexedTypes {
			var derr error
			err := s.st.Documents(ctx, a.ID, t, func(d *store.Document) bool {
				doc, err := s.ftsDoc(ctx, d)
				if err != nil {
					pt.log.Warn("document left out of the index", "account", d.Account, "type", d.Type, "id", d.ID, "err", err)
					return true
				}
				ops = append(ops, fts.Op{Put: doc})
				if len(ops) >= buildBatch {
					derr = flush()
				}
				return derr == nil
			})
			if err == nil {
				err = derr
			}
			if err != nil {
				return n, fmt.Errorf("index %s of account %s: %w", t, a.ID, err)
			}
		}
	}
	ops = append(ops, checkpointOp(next))
	err = flush()
	return n, err
}

// reset empties the index on disk (an empty one is left as it is:
// opening an index builds its analyzers, which takes a while).
func (pt *partition) reset() error {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.ix == nil {
		return errReleased
	}
	if n, err := pt.ix.Count(); err == nil && n == 0 {
		return nil
	}
	if err := pt.ix.Close(); err != nil {
		pt.log.Warn("close index before rebuild", "err", err)
	}
	pt.ix = nil
	if err := os.RemoveAll(pt.dir); err != nil {
		return fmt.Errorf("empty index %s: %w", pt.dir, err)
	}
	ix, err := fts.Open(pt.dir, indexOptions)
	if err != nil {
		return err
	}
	pt.ix = ix
	return nil
}

// replay brings the index up to the change log's end from sequence from:
// each changed document is read as it is now and put, or deleted when
// gone. It returns how many changes it read.
func (s *Service) replay(ctx context.Context, pt *partition, from uint64) (int, error) {
	pending := map[fts.Key]bool{}
	n := 0
	flush := func(next uint64) error {
		ops := make([]fts.Op, 0, len(pending)+1)
		for k := range pending {
			op, err := s.syncOp(ctx, k)
			var bad unindexableError
			if errors.As(err, &bad) {
				pt.log.Warn("document left out of the index", "account", k.Account, "type", k.Type, "id", k.ID, "err", err)
				op, err = fts.Op{Delete: &k}, nil
			}
			if err != nil {
				return err
			}
			ops = append(ops, op)
		}
		clear(pending)
		ops = append(ops, checkpointOp(next))
		return pt.apply(ctx, ops)
	}
	last, err := s.st.PartitionChanges(ctx, pt.n, from, func(c store.Change) error {
		n++
		if !indexed(c.Type) {
			return nil
		}
		pending[fts.Key{Account: c.Account, Type: string(c.Type), ID: c.ID}] = true
		if len(pending) >= buildBatch {
			return flush(c.Seq + 1)
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, flush(max(last+1, from))
}

func indexed(t store.Type) bool { return slices.Contains(indexedTypes, t) }

// syncOp is the op that makes the index say what the store says of k
// now: a put of the document, or its delete when it is gone or cannot be
// indexed.
func (s *Service) syncOp(ctx context.Context, k fts.Key) (fts.Op, error) {
	d, err := s.st.Document(ctx, k.Account, store.Type(k.Type), k.ID)
	if errors.Is(err, store.ErrNotFound) {
		return fts.Op{Delete: &k}, nil
	}
	if err != nil {
		return fts.Op{}, err
	}
	doc, err := s.ftsDoc(ctx, d)
	if err != nil {
		return fts.Op{}, err
	}
	return fts.Op{Put: doc}, nil
}
