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
	return pl
}

// Wait blocks until no handler runs.
func (pl *Pool) Wait() { pl.inFlight.Wait() }

// Cancel cancels the context of running handlers.
func (pl *Pool) Cancel() { pl.cancelHandler() }

// Consume fetches from cons while ctx lasts and runs the handler for each
// message; decorate may fill in the Job's consumer-specific fields. It
// returns when ctx ends and its fetches have finished; handlers may still
// run (see Wait).
func (pl *Pool) Consume(ctx context.Context, cons jetstream.Consumer, name string, decorate func(*Job)) {
	ackWait := cons.CachedInfo().Config.AckWait
	const maxBatch = 256
	for ctx.Err() == nil {
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
			if ctx.Err() == nil {
				pl.p.Logger.Warn("fetch", "consumer", name, "err", err)
				sleepCtx(ctx, 500*time.Millisecond)
			}
			continue
		}
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
			sleepCtx(ctx, 500*time.Millisecond)
		}
	}
}

// acquire takes at least one free slot (waiting for it) and up to max.
func (pl *Pool) acquire(ctx context.Context, max int) int {
	select {
	case <-ctx.Done():
		return 0
	case <-pl.slots:
	}
	n := 1
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
	label := pl.p.Label
	job := &Job{Subject: msg.Subject(), Key: msg.Headers().Get(HeaderKey), Data: msg.Data(), Header: msg.Headers()}
	if meta, err := msg.Metadata(); err == nil {
		job.Attempt = meta.NumDelivered
		job.Published = meta.Timestamp
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

	if pl.p.Metrics != nil {
		pl.p.Metrics.inFlight.WithLabelValues(label).Inc()
		defer pl.p.Metrics.inFlight.WithLabelValues(label).Dec()
	}
	start := time.Now()
	err := pl.call(job)
	hbMu.Lock()
	stopped = true
	hb.Stop()
	hbMu.Unlock()

	result := "ok"
	var perm permanentError
	var retry retryError
	switch {
	case err == nil:
		if aerr := msg.Ack(); aerr != nil {
			pl.p.Logger.Warn("ack", "key", job.Key, "err", aerr)
		}
	case errors.As(err, &perm):
		result = "failed"
		pl.p.Logger.Error("work item failed permanently, dropped", "key", job.Key, "attempt", job.Attempt, "err", err)
		_ = msg.Term()
	case errors.As(err, &retry):
		result = "retry"
		pl.p.Logger.Debug("work item handed back", "key", job.Key, "attempt", job.Attempt, "retry_in", retry.delay, "err", err)
		_ = msg.NakWithDelay(retry.delay)
	default:
		result = "retry"
		delay := time.Duration(job.Attempt) * time.Second
		delay = min(delay, 30*time.Second)
		pl.p.Logger.Warn("work item failed, will retry", "key", job.Key, "attempt", job.Attempt, "retry_in", delay, "err", err)
		_ = msg.NakWithDelay(delay)
	}
	if pl.p.Metrics != nil {
		pl.p.Metrics.jobs.WithLabelValues(label, result).Inc()
		pl.p.Metrics.duration.WithLabelValues(label).Observe(time.Since(start).Seconds())
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
