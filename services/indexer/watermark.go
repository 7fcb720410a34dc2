package indexer

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jetmail/jetmail/shared/fts"
	"github.com/jetmail/jetmail/shared/search"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// watermark follows the feed's batches of tasks to the point where every
// change of the log up to a sequence has been indexed: the checkpoint the
// partition indexes may then store, so that a node that restarts replays
// the changes since then, not since it gained the partition (which, after
// store.changelog.retention, would be a full rebuild).
type watermark struct {
	mu      sync.Mutex
	batches []fedBatch
}

// fedBatch is one batch of the feed: the changes up to seq, and the tasks
// made of them not yet seen done.
type fedBatch struct {
	seq uint64
	ids []string
}

func (w *watermark) fed(seq uint64, ids []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.batches = append(w.batches, fedBatch{seq: seq, ids: ids})
}

// advance pops the batches whose tasks are all done, in order, and
// returns the last one's sequence (0 when none is done). done reports
// whether a task is done; it is asked about the oldest tasks only, each
// once it is done, and outside the lock, so that the feed goes on adding
// batches meanwhile (only advance takes from the head).
func (w *watermark) advance(done func(id string) (bool, error)) (uint64, error) {
	var seq uint64
	for {
		w.mu.Lock()
		if len(w.batches) == 0 {
			w.mu.Unlock()
			return seq, nil
		}
		head := w.batches[0]
		w.mu.Unlock()
		checked := 0
		for _, id := range head.ids {
			ok, err := done(id)
			if err != nil || !ok {
				w.mu.Lock()
				w.batches[0].ids = head.ids[checked:]
				w.mu.Unlock()
				return seq, err
			}
			checked++
		}
		seq = head.seq
		w.mu.Lock()
		w.batches = w.batches[1:]
		w.mu.Unlock()
	}
}

// advanceLoop runs with the feed: every CheckpointInterval it works out
// the watermark and gives each partition's holder the checkpoint after
// it.
func (s *Service) advanceLoop(ctx context.Context, wm *watermark) {
	t := time.NewTicker(s.p.CheckpointInterval)
	defer t.Stop()
	var sent uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		seq, err := wm.advance(func(id string) (bool, error) { return s.taskDone(ctx, id) })
		if err != nil && ctx.Err() == nil {
			s.log.Warn("read the feed's tasks for the index checkpoint", "err", err)
		}
		if seq <= sent {
			continue
		}
		sent = seq
		for n := range s.d.Config.Cluster.Partitions {
			var err error
			if pt := s.local(n); pt != nil {
				err = pt.advance(ctx, seq+1)
			} else {
				err = s.client.Advance(ctx, n, seq+1)
			}
			if err != nil && !errors.Is(err, search.ErrUnavailable) && ctx.Err() == nil {
				s.log.Warn("advance the index checkpoint", "partition", n, "err", err)
			}
		}
	}
}

// taskDone reports whether an index task has ended: done (and deleted),
// or failed for good, which replaying the change again would too.
func (s *Service) taskDone(ctx context.Context, id string) (bool, error) {
	t, err := s.mgr.Get(ctx, id)
	switch {
	case errors.Is(err, taskmanager.ErrNotFound):
		return true, nil
	case err != nil:
		return false, err
	}
	return t.Status.Type == task.Failed, nil
}

// advance stores next as the index's checkpoint, once the index is built
// (before, the build's replay is what makes it whole) and when it is
// later than the one stored.
func (pt *partition) advance(ctx context.Context, next uint64) error {
	if !pt.built.Load() {
		return nil
	}
	if cur, ok := pt.checkpoint(); ok && cur >= next {
		return nil
	}
	pt.mu.RLock()
	defer pt.mu.RUnlock()
	if pt.ix == nil {
		return errReleased
	}
	if err := pt.ix.Apply(ctx, []fts.Op{checkpointOp(next)}); err != nil {
		return err
	}
	pt.checkpointSet(next)
	return nil
}
