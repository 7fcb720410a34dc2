package work

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/roles"
)

// Job is one work item handed to a Handler.
type Job struct {
	// Subject is the subject the item was published to.
	Subject string
	// Role, Partition, Shard and Epoch are set for role work (RunWorker).
	Role      roles.Role
	Key       string
	Data      []byte
	Header    nats.Header
	Partition int
	// Shard is the index (from 0) of the shard this node took the item for.
	Shard int
	// Epoch is the layout epoch the item was consumed under.
	Epoch uint64
	// Attempt counts deliveries of this item, from 1.
	Attempt uint64
	// Published is when the item entered the stream.
	Published time.Time
	// Stream is the stream the item is in.
	Stream string
}

// Handler does the work of one item. See the package doc for what its
// result does.
type Handler func(ctx context.Context, job *Job) error

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the item is dropped (Term).
func Permanent(err error) error { return permanentError{err} }

type retryError struct {
	err   error
	delay time.Duration
}

func (e retryError) Error() string { return e.err.Error() }
func (e retryError) Unwrap() error { return e.err }

// RetryIn hands the item back to be delivered again after delay, as an
// expected wait rather than a failure (the record it needs is on its way).
func RetryIn(delay time.Duration, err error) error { return retryError{err, delay} }

// WorkerParams configures a Worker.
type WorkerParams struct {
	JS      jetstream.JetStream
	Buckets *cluster.Buckets
	View    *cluster.View
	// Membership publishes that this node consumes the role.
	Membership *cluster.Membership
	NodeID     string
	Role       roles.Role
	// Concurrency is the number of items this node works at once for the
	// role, across all its shards. Default 16.
	Concurrency int
	Handler     Handler
	Params      Params
	Metrics     *Metrics
	Logger      *slog.Logger
}

// Worker consumes a role's work on this node for the shards the node
// belongs to, following role map and layout changes as they happen.
type Worker struct {
	p    WorkerParams
	log  *slog.Logger
	pool *Pool

	cancel context.CancelFunc
	done   chan struct{}
}

// NewWorker returns a Worker; Start runs it.
func NewWorker(p WorkerParams) *Worker {
	if p.Concurrency <= 0 {
		p.Concurrency = 16
	}
	p.Params = p.Params.withDefaults()
	log := p.Logger.With("role", string(p.Role))
	return &Worker{p: p, log: log, pool: NewPool(PoolParams{
		Slots: p.Concurrency, Handler: p.Handler, Label: string(p.Role), Metrics: p.Metrics, Logger: log, PollWait: p.Params.PollWait,
	})}
}

// Start announces the worker in membership and starts consuming.
func (w *Worker) Start(ctx context.Context) error {
	if err := w.p.Membership.AddWorker(ctx, w.p.Role, w.p.Concurrency); err != nil {
		return fmt.Errorf("start %s worker: %w", w.p.Role, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan struct{})
	go w.run(runCtx)
	return nil
}

// Shutdown stops fetching and waits for in-flight items to finish; when ctx
// ends first, their handlers are cancelled and the items will be redelivered.
func (w *Worker) Shutdown(ctx context.Context) error {
	if w.cancel == nil {
		return nil
	}
	w.cancel()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		w.pool.Cancel()
		<-w.done
		return fmt.Errorf("%s worker: in-flight items cancelled: %w", w.p.Role, ctx.Err())
	}
}

type shardKey struct {
	index int
	epoch uint64
}

type shardRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (w *Worker) run(ctx context.Context) {
	defer close(w.done)
	running := map[shardKey]shardRun{}
	stop := func(keep func(shardKey) bool) {
		for k, r := range running {
			if keep(k) {
				continue
			}
			r.cancel()
			<-r.done
			delete(running, k)
			w.log.Info("stopped consuming shard", "shard", k.index+1, "epoch", k.epoch)
		}
	}
	defer func() {
		stop(func(shardKey) bool { return false })
		w.pool.Wait()
		w.flush()
	}()
	var drainedRev uint64
	for {
		m, layout, changed := w.p.View.Role(w.p.Role)
		switch {
		case m.Revision == 0:
			// No role map yet: nothing to do until one is seeded.
		case !layout.Fits(m):
			stop(func(shardKey) bool { return false })
			if drainedRev != m.Revision {
				w.pool.Wait()
				w.flush()
				actx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := cluster.AckDrain(actx, w.p.Buckets, w.p.Role, w.p.NodeID, m.Revision)
				cancel()
				if err != nil {
					w.log.Warn("drain acknowledgement failed, retrying", "err", err)
					if !clock.Sleep(ctx, time.Second) {
						return
					}
					continue
				}
				drainedRev = m.Revision
				w.log.Info("drained for re-sharding", "revision", m.Revision, "shards", len(m.Shards))
			}
		default:
			want := map[shardKey]bool{}
			for _, i := range m.Shards.Of(w.p.NodeID) {
				want[shardKey{i, layout.Epoch}] = true
			}
			stop(func(k shardKey) bool { return want[k] })
			for k := range want {
				if _, ok := running[k]; ok {
					continue
				}
				sctx, cancel := context.WithCancel(ctx)
				r := shardRun{cancel: cancel, done: make(chan struct{})}
				running[k] = r
				go func() { defer close(r.done); w.consume(sctx, k) }()
				w.log.Info("consuming shard", "shard", k.index+1, "of", len(m.Shards), "epoch", k.epoch, "nodes", m.Shards[k.index].String())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// flush makes sure the acks sent so far have reached the server.
func (w *Worker) flush() {
	if err := w.p.JS.Conn().FlushTimeout(5 * time.Second); err != nil {
		w.log.Warn("flush acks", "err", err)
	}
}

// consume fetches shard k's items while ctx lasts, as many at a time as
// there are free slots.
func (w *Worker) consume(ctx context.Context, k shardKey) {
	stream := StreamName(w.p.Role)
	name := ConsumerName(w.p.Role, k.index, k.epoch)
	var cons jetstream.Consumer
	for cons == nil {
		c, err := w.p.JS.Consumer(ctx, stream, name)
		if err == nil {
			cons = c
			break
		}
		if ctx.Err() != nil {
			return
		}
		if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			w.log.Warn("look up consumer", "consumer", name, "err", err)
		}
		if !clock.Sleep(ctx, 250*time.Millisecond) {
			return
		}
	}
	prefix := len(SubjectPrefix(w.p.Role)) + len("p.")
	w.pool.Consume(ctx, cons, name, func(j *Job) {
		j.Role, j.Shard, j.Epoch = w.p.Role, k.index, k.epoch
		part, _, _ := strings.Cut(j.Subject[prefix:], ".")
		j.Partition, _ = strconv.Atoi(part)
	})
}
