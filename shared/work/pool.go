package work

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetmail/jetmail/shared/clock"
)

// PoolParams configures a Pool.
type PoolParams struct {
	// Slots is how many handlers run at once on this node. Required.
	Slots   int
	Handler Handler
	// Label names the pool in metrics and logs (a role, a virtual queue).
	Label    string
	Metrics  *Metrics
	Logger   *slog.Logger
	PollWait time.Duration
}

// Pool runs a handler on this node with a fixed number of slots, for the
// JetStream consumers it is given. It asks the server only for as many
// messages as it has free slots, so that nothing waits in a local buffer
// with its lease running, and it renews each message's lease (InProgress,
// every AckWait/4) while the handler runs.
type Pool struct {
	p     PoolParams
	slots chan struct{}
	// handlerCtx is cancelled only by Cancel, when a shutdown's patience
	// runs out.
	handlerCtx    context.Context
	cancelHandler context.CancelFunc
	inFlight      sync.WaitGroup
	// The pool's metrics, looked up once for its label; nil without
	// Metrics.
	mInFlight            prometheus.Gauge
	mDuration            prometheus.Observer
	mOK, mRetry, mFailed prometheus.Counter
}

// NewPool returns a pool with all its slots free.
func NewPool(p PoolParams) *Pool {
	if p.PollWait == 0 {
		p.PollWait = time.Second
	}
	pl := &Pool{p: p, slots: make(chan struct{}, p.Slots)}
	for range p.Slots {
		pl.slots <- struct{}{}
	}
	pl.handlerCtx, pl.cancelHandler = context.WithCancel(context.Background())
	if m := p.Metrics; m != nil {
		pl.mInFlight, pl.mDuration = m.inFlight.WithLabelValues(p.Label), m.duration.WithLabelValues(p.Label)
		pl.mOK, pl.mRetry, pl.mFailed = m.jobs.WithLabelValues(p.Label, "ok"), m.jobs.WithLabelValues(p.Label, "retry"), m.jobs.WithLabelValues(p.Label, "failed")
	}
	return pl
}

// Wait blocks until no handler runs.
func (pl *Pool) Wait() { pl.inFlight.Wait() }

// Cancel cancels the context of running handlers.
func (pl *Pool) Cancel() { pl.cancelHandler() }

// Fetching: how many fetches a pool keeps open on one consumer, and how
// large one may be.
const (
	// maxFetches is how many fetches of one consumer may be open at once:
	// the next is asked for while the items of the last are still being
	// worked, so that the server always has a request to deliver to (and,
	// items still unacknowledged, finds its next item in the stream at
	// once rather than searching every subject of the stream for it).
	maxFetches = 2
	// maxBatch caps one fetch.
	maxBatch = 256
)

// Consume fetches from cons while ctx lasts and runs the handler for each
// message; decorate may fill in the Job's consumer-specific fields. It
// returns when ctx ends and its fetches have finished; handlers may still
// run (see Wait).
func (pl *Pool) Consume(ctx context.Context, cons jetstream.Consumer, name string, decorate func(*Job)) {
	ackWait := cons.CachedInfo().Config.AckWait
	open := make(chan struct{}, maxFetches)
	var fetches sync.WaitGroup
	defer fetches.Wait()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case open <- struct{}{}:
		}
		n := pl.acquire(ctx, maxBatch)
		if n == 0 {
			return
		}
		// The fetch runs its course (PollWait) even when ctx ends: a pull
		// request abandoned early stays on the server until it expires, and
		// what the server sends to it meanwhile would sit unacknowledged for
		// a whole AckWait. Items that arrive after ctx ends are handed back.
		batch, err := cons.Fetch(n, jetstream.FetchMaxWait(pl.p.PollWait))
		if err != nil {
			pl.release(n)
			<-open
			if ctx.Err() == nil {
				pl.p.Logger.Warn("fetch", "consumer", name, "err", err)
				clock.Sleep(ctx, 500*time.Millisecond)
			}
			continue
		}
		fetches.Add(1)
		go func() {
			defer fetches.Done()
			defer func() { <-open }()
			pl.deliver(ctx, batch, n, name, ackWait, decorate)
		}()
	}
}

// deliver starts a handler for each item of a fetch of n, and frees the
// slots of the items the fetch did not bring.
func (pl *Pool) deliver(ctx context.Context, batch jetstream.MessageBatch, n int, name string, ackWait time.Duration, decorate func(*Job)) {
	got := 0
	for msg := range batch.Messages() {
		got++
		if ctx.Err() != nil {
			// Stopping: hand the item back at once rather than sit on it.
			_ = msg.Nak()
			pl.release(1)
			continue
		}
		pl.inFlight.Add(1)
		go pl.handle(msg, ackWait, decorate)
	}
	pl.release(n - got)
	if err := batch.Error(); err != nil && ctx.Err() == nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		pl.p.Logger.Warn("fetch ended", "consumer", name, "err", err)
		clock.Sleep(ctx, 500*time.Millisecond)
	}
}

// acquire takes at least one free slot (waiting for it) and up to max. It
// returns 0, holding none, when ctx ends. It does not wait for more slots
// to gather: measured, waiting even a millisecond for them cost throughput
// and lateness.
func (pl *Pool) acquire(ctx context.Context, max int) int {
	select {
	case <-ctx.Done():
		return 0
	case <-pl.slots:
	}
	return 1 + pl.take(max-1)
}

// take takes up to max slots that are free now.
func (pl *Pool) take(max int) int {
	n := 0
	for n < max {
		select {
		case <-pl.slots:
			n++
		default:
			return n
		}
	}
	return n
}

func (pl *Pool) release(n int) {
	for range n {
		pl.slots <- struct{}{}
	}
}

func (pl *Pool) handle(msg jetstream.Msg, ackWait time.Duration, decorate func(*Job)) {
	defer pl.inFlight.Done()
	defer pl.release(1)
	job := &Job{Subject: msg.Subject(), Key: msg.Headers().Get(HeaderKey), Data: msg.Data(), Header: msg.Headers()}
	if meta, err := msg.Metadata(); err == nil {
		job.Attempt = meta.NumDelivered
		job.Published = meta.Timestamp
		job.Stream = meta.Stream
	}
	if decorate != nil {
		decorate(job)
	}

	// Lease heartbeat: keep the item ours while the handler runs. The timer
	// is armed under its lock so that its callback never sees it unset.
	var hb *time.Timer
	var hbMu sync.Mutex
	stopped := false
	if ackWait <= 0 {
		ackWait = 30 * time.Second // the server's default
	}
	beat := max(ackWait/4, 100*time.Millisecond)
	hbMu.Lock()
	hb = time.AfterFunc(beat, func() {
		hbMu.Lock()
		defer hbMu.Unlock()
		if stopped {
			return
		}
		_ = msg.InProgress()
		hb.Reset(beat)
	})
	hbMu.Unlock()

	if pl.mInFlight != nil {
		pl.mInFlight.Inc()
		defer pl.mInFlight.Dec()
	}
	start := time.Now()
	err := pl.call(job)
	hbMu.Lock()
	stopped = true
	hb.Stop()
	hbMu.Unlock()

	result := pl.mOK
	var perm permanentError
	var retry retryError
	switch {
	case err == nil:
		if aerr := msg.Ack(); aerr != nil {
			pl.p.Logger.Warn("ack", "key", job.Key, "err", aerr)
		}
	case errors.As(err, &perm):
		result = pl.mFailed
		pl.p.Logger.Error("work item failed permanently, dropped", "key", job.Key, "attempt", job.Attempt, "err", err)
		_ = msg.Term()
	case errors.As(err, &retry):
		result = pl.mRetry
		pl.p.Logger.Debug("work item handed back", "key", job.Key, "attempt", job.Attempt, "retry_in", retry.delay, "err", err)
		_ = msg.NakWithDelay(retry.delay)
	default:
		result = pl.mRetry
		delay := time.Duration(job.Attempt) * time.Second
		delay = min(delay, 30*time.Second)
		pl.p.Logger.Warn("work item failed, will retry", "key", job.Key, "attempt", job.Attempt, "retry_in", delay, "err", err)
		_ = msg.NakWithDelay(delay)
	}
	if result != nil {
		result.Inc()
		pl.mDuration.Observe(time.Since(start).Seconds())
	}
}

// call runs the handler, turning a panic into an error.
func (pl *Pool) call(job *Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v\n%s", r, debug.Stack())
		}
	}()
	return pl.p.Handler(pl.handlerCtx, job)
}
