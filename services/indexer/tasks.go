package indexer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/fts"
	"github.com/jetmail/jetmail/shared/search"
	"github.com/jetmail/jetmail/shared/task"
)

// maxBatch bounds the entries of one commit.
const maxBatch = 512

// indexDocument runs IndexDocument and UnindexDocument: both make the
// index say what the store says of the document now.
func (s *Service) indexDocument(ctx context.Context, t *task.Task) error {
	var k fts.Key
	switch p := t.Payload.(type) {
	case *task.IndexDocumentTask:
		k = fts.Key{Account: p.AccountID, Type: p.DocumentType, ID: p.DocumentID}
	case *task.UnindexDocumentTask:
		k = fts.Key{Account: p.AccountID, Type: p.DocumentType, ID: p.DocumentID}
	default:
		return fmt.Errorf("indexer: unexpected task %s", t.Variant())
	}
	op, err := s.syncOp(ctx, k)
	if err != nil {
		return err
	}
	return s.batch(ctx, s.st.Partition(k.Account), op)
}

// pendingOp is an entry waiting for its commit.
type pendingOp struct {
	op   fts.Op
	done chan error
}

// batcher commits a partition's entries: a batch holds the entries that
// arrive within BatchWait of its first (or maxBatch of them), so that the
// index gets few, larger segments: each segment costs its share of the
// index's merges, whatever its size.
type batcher struct {
	n  int
	in chan pendingOp
}

// batch hands op to partition n's batcher and waits for its commit.
func (s *Service) batch(ctx context.Context, n int, op fts.Op) error {
	s.mu.Lock()
	b := s.batchers[n]
	if b == nil {
		b = &batcher{n: n, in: make(chan pendingOp, maxBatch)}
		s.batchers[n] = b
		s.bg.Add(1)
		go func() { defer s.bg.Done(); s.runBatcher(b) }()
	}
	s.mu.Unlock()
	p := pendingOp{op: op, done: make(chan error, 1)}
	select {
	case b.in <- p:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) runBatcher(b *batcher) {
	bg := s.ctx
	for {
		var first pendingOp
		select {
		case first = <-b.in:
		case <-bg.Done():
			return
		}
		batch := gather(bg, first, b.in, maxBatch, s.p.BatchWait)
		ops := make([]fts.Op, len(batch))
		for i, p := range batch {
			ops[i] = p.op
		}
		start := time.Now()
		err := s.commit(bg, b.n, ops)
		s.m.batchSeconds.Observe(time.Since(start).Seconds())
		s.m.batchSize.Observe(float64(len(ops)))
		if err != nil && len(batch) > 1 && bg.Err() == nil {
			// One bad entry fails the whole commit: commit them one by
			// one, so that only its own task fails.
			for _, p := range batch {
				p.done <- s.commit(bg, b.n, []fts.Op{p.op})
			}
			continue
		}
		for _, p := range batch {
			p.done <- err
		}
	}
}

// gather is first and what else comes on in within wait of it, up to
// limit in all (or until ctx ends): one batch.
func gather[T any](ctx context.Context, first T, in <-chan T, limit int, wait time.Duration) []T {
	batch := []T{first}
	linger := time.NewTimer(wait)
	defer linger.Stop()
	for len(batch) < limit {
		select {
		case v := <-in:
			batch = append(batch, v)
		case <-linger.C:
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}

// commit indexes ops in partition n.
func (s *Service) commit(ctx context.Context, n int, ops []fts.Op) error {
	return s.atHolder(ctx, n,
		func(pt *partition) error {
			err := pt.apply(ctx, ops)
			if err == nil {
				s.m.indexed.Add(float64(len(ops))) // the holder counts a remote apply
			}
			return err
		},
		func() error { return s.client.Apply(ctx, n, ops) })
}

// atHolder does work on partition n: local when this node holds it, else
// remote (at its holder, over NATS), waiting a little for a holder to
// appear (a partition changes hands within a heartbeat or two).
func (s *Service) atHolder(ctx context.Context, n int, local func(*partition) error, remote func() error) error {
	for attempt := 0; ; attempt++ {
		var err error
		if pt := s.local(n); pt != nil {
			err = local(pt)
		} else {
			err = remote()
		}
		if err == nil || attempt >= 5 || !(errors.Is(err, search.ErrUnavailable) || errors.Is(err, errReleased)) {
			return err
		}
		if !clock.Sleep(ctx, s.p.HoldInterval) {
			return ctx.Err()
		}
	}
}
