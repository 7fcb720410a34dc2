package trace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// RecorderOptions tune a Recorder. The zero value is the default.
type RecorderOptions struct {
	// Node is set as the Node of events that have none. Default none.
	Node string
	// Logger logs dropped events, at most once per LogInterval. Default:
	// discard.
	Logger *slog.Logger
	// Metrics registers jetmail_trace_events_dropped_total. Default: the
	// counter is kept (Dropped) but not exported.
	Metrics prometheus.Registerer
	// Linger is how long an event waits in memory for more of its trace
	// before it is published: a message's received, attempt and delivered
	// events, recorded milliseconds apart on one node, then take one
	// write of the stream instead of three. Default 100ms.
	Linger time.Duration
	// MaxPending is how many events may be lingering, and how many
	// published ones may await the stream's acknowledgement; past either,
	// new events are dropped. Default 4096.
	MaxPending int
	// AckTimeout is how long a publish may await its acknowledgement
	// before its events count as dropped. Default 30s.
	AckTimeout time.Duration
	// LogInterval is the least time between two logs of dropped events.
	// Default 10s.
	LogInterval time.Duration
}

// Defaults of RecorderOptions.
const (
	DefaultLinger      = 100 * time.Millisecond
	DefaultMaxPending  = 4096
	DefaultAckTimeout  = 30 * time.Second
	DefaultLogInterval = 10 * time.Second
)

// MaxReply is the longest Reply an event keeps, in bytes; a longer one
// is cut there, with "..." at the end.
const MaxReply = 64 << 10

// Recorder publishes events to the traces stream without waiting: it
// never blocks its caller and never fails it (see the package
// documentation). It is safe for concurrent use. A nil *Recorder records
// nothing.
type Recorder struct {
	js         jetstream.JetStream
	partitions int
	o          RecorderOptions
	maxPayload int
	dropped    prometheus.Counter
	drops      atomic.Int64
	unlogged   atomic.Int64
	lastLog    atomic.Int64 // unix nanoseconds

	mu      sync.Mutex
	pending []Event     // lingering events, in the order recorded
	timer   *time.Timer // armed while events linger

	publish sync.Mutex // one batch at a time, so that a trace's events keep their order
	spare   []Event    // the last batch's buffer, for the next (under publish)
}

var errFull = errors.New("too many events linger or await the stream's acknowledgement")

// NewRecorder returns a Recorder publishing on js's connection, trace
// subjects spread over partitions partitions (cluster.partitions). It
// keeps its own window of unacknowledged publishes, apart from js's. The
// stream must exist (EnsureStream); events published before it does are
// dropped.
func NewRecorder(js jetstream.JetStream, partitions int, o RecorderOptions) (*Recorder, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Linger <= 0 {
		o.Linger = DefaultLinger
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = DefaultAckTimeout
	}
	if o.LogInterval <= 0 {
		o.LogInterval = DefaultLogInterval
	}
	r := &Recorder{partitions: partitions, o: o, maxPayload: 1 << 20}
	if mp := int(js.Conn().MaxPayload()); mp > 0 {
		r.maxPayload = mp
	}
	var err error
	// A context of its own: its window bounds trace events alone, and a
	// full window drops them instead of stalling the queue's publishes.
	r.js, err = jetstream.New(js.Conn(),
		jetstream.WithPublishAsyncMaxPending(o.MaxPending+1),
		jetstream.WithPublishAsyncTimeout(o.AckTimeout),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			var events []json.RawMessage
			_ = json.Unmarshal(m.Data, &events)
			for range max(len(events), 1) {
				r.drop(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:], "", err)
			}
		}))
	if err != nil {
		return nil, fmt.Errorf("trace recorder: %w", err)
	}
	r.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "jetmail_trace_events_dropped_total",
		Help: "Trace events this node did not record: the stream refused or did not acknowledge them, or too many waited. Deliveries are not affected.",
	})
	if o.Metrics != nil {
		if err := o.Metrics.Register(r.dropped); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("trace recorder: register metric: %w", err)
			}
			r.dropped = are.ExistingCollector.(prometheus.Counter)
		}
	}
	return r, nil
}

// Record queues e for publishing, after Linger, with the other events of
// its trace recorded meanwhile; it never waits for the stream, and a
// failure is counted and logged, never returned. It sets e.At to now
// when zero and e.Node to the recorder's node when empty. It does nothing
// on a nil Recorder. ctx is not waited on.
func (r *Recorder) Record(_ context.Context, e Event) {
	if r == nil {
		return
	}
	if !ValidID(e.TraceID) {
		r.drop(e.TraceID, e.Kind, fmt.Errorf("trace id %q cannot be a subject token", e.TraceID))
		return
	}
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	if e.Node == "" {
		e.Node = r.o.Node
	}
	if len(e.Reply) > MaxReply {
		e.Reply = e.Reply[:MaxReply-3] + "..."
	}
	r.mu.Lock()
	if len(r.pending) >= r.o.MaxPending {
		r.mu.Unlock()
		r.drop(e.TraceID, e.Kind, errFull)
		return
	}
	// One append to a buffer that is reused: nothing allocated in the
	// steady state.
	r.pending = append(r.pending, e)
	if r.timer == nil {
		r.timer = time.AfterFunc(r.o.Linger, r.publishPending)
	}
	r.mu.Unlock()
}

// publishPending publishes the lingering events, one message per trace.
func (r *Recorder) publishPending() {
	r.publish.Lock()
	defer r.publish.Unlock()
	r.mu.Lock()
	batch := r.pending
	r.pending, r.spare = r.spare[:0], nil
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	r.mu.Unlock()
	defer func() { clear(batch); r.spare = batch[:0] }()
	if len(batch) == 0 {
		return
	}
	// By trace, each trace's events in the order recorded, the traces in
	// the order of their first event.
	byTrace := make(map[string][]Event, len(batch))
	var order []string
	for _, e := range batch {
		if _, ok := byTrace[e.TraceID]; !ok {
			order = append(order, e.TraceID)
		}
		byTrace[e.TraceID] = append(byTrace[e.TraceID], e)
	}
	for _, id := range order {
		events := byTrace[id]
		// Recorded by several goroutines (the intake records received
		// after the message is queued, when its delivery may have begun).
		slices.SortStableFunc(events, func(a, b Event) int { return a.At.Compare(b.At) })
		if r.js.PublishAsyncPending() >= r.o.MaxPending {
			for _, e := range events {
				r.drop(id, e.Kind, errFull)
			}
			continue
		}
		subject := Subject(id, r.partitions)
		for _, data := range r.encode(id, events) {
			// The window is checked above; a race past it waits a
			// millisecond at most, then drops.
			if _, err := r.js.PublishMsgAsync(&nats.Msg{Subject: subject, Data: data}, jetstream.WithStallWait(time.Millisecond)); err != nil {
				r.drop(id, "", err)
			}
		}
	}
}

// encode marshals events as one message, a JSON array, or as several
// when that is too large to publish: an event too large itself is split
// into events that each list some of its recipients.
func (r *Recorder) encode(id string, events []Event) [][]byte {
	limit := r.maxPayload - 1024 // room for the subject and headers
	data, err := json.Marshal(events)
	if err != nil {
		r.drop(id, events[0].Kind, err)
		return nil
	}
	if len(data) <= limit {
		return [][]byte{data}
	}
	var out [][]byte
	for _, e := range events {
		for _, part := range r.split(e, limit) {
			out = append(out, append(append([]byte{'['}, part...), ']'))
		}
	}
	return out
}

// split marshals e, into several events when it is larger than limit and
// lists recipients.
func (r *Recorder) split(e Event, limit int) [][]byte {
	data, err := json.Marshal(e)
	if err != nil {
		r.drop(e.TraceID, e.Kind, err)
		return nil
	}
	limit -= 2 // the brackets of the array
	if len(data) <= limit || len(e.Recipients) < 2 {
		return [][]byte{data}
	}
	all := e.Recipients
	e.Recipients = nil
	base, _ := json.Marshal(e)
	budget := limit - len(base) - len(`,"recipients":[]`)
	var out [][]byte
	for start := 0; start < len(all); {
		end, size := start, 0
		for end < len(all) {
			b, _ := json.Marshal(all[end])
			if end > start && size+len(b)+1 > budget {
				break
			}
			size += len(b) + 1
			end++
		}
		e.Recipients = all[start:end]
		part, err := json.Marshal(e)
		if err != nil {
			r.drop(e.TraceID, e.Kind, err)
			return out
		}
		out = append(out, part)
		start = end
	}
	return out
}

// drop counts an event not recorded and logs it, at most once per
// LogInterval, with how many were dropped since the last log.
func (r *Recorder) drop(id string, kind Kind, err error) {
	r.dropped.Inc()
	r.drops.Add(1)
	r.unlogged.Add(1)
	now := time.Now().UnixNano()
	last := r.lastLog.Load()
	if now-last < int64(r.o.LogInterval) || !r.lastLog.CompareAndSwap(last, now) {
		return
	}
	n := r.unlogged.Swap(0)
	r.o.Logger.Warn("trace events dropped (deliveries are not affected)", "trace", id, "kind", kind, "err", err, "dropped_since_last_log", n)
}

// Dropped is how many events this recorder did not record.
func (r *Recorder) Dropped() int64 {
	if r == nil {
		return 0
	}
	return r.drops.Load()
}

// Flush publishes the lingering events and waits until every event
// recorded so far is acknowledged or dropped, or ctx ends. A nil
// Recorder has nothing to flush.
func (r *Recorder) Flush(ctx context.Context) error {
	if r == nil {
		return nil
	}
	r.publishPending()
	select {
	case <-r.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("flush trace events: %d await acknowledgement: %w", r.js.PublishAsyncPending(), ctx.Err())
	}
}
