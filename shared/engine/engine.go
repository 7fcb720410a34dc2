package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetmail/jetmail/shared/clock"
)

// Errors callers branch on.
var (
	// ErrNotFound means no item has the key.
	ErrNotFound = errors.New("item not found")
	// ErrConflict means the item changed between its read and its write.
	ErrConflict = errors.New("item changed meanwhile; try again")
	// ErrExists means Create found the key taken.
	ErrExists = errors.New("item exists already")
)

// DomainErr names the engine's errors in a domain's words: ErrNotFound
// becomes notFound and ErrConflict conflict, so that callers of the domain
// layer branch on its own errors. Other errors pass through.
func DomainErr(err, notFound, conflict error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return notFound
	case errors.Is(err, ErrConflict):
		return conflict
	}
	return err
}

// Trigger headers: which item a trigger runs, and which of its triggers it
// is.
const (
	HeaderItem  = "Jetmail-Item"
	HeaderGen   = "Jetmail-Gen"
	HeaderToken = "Jetmail-Token"
	// HeaderInline marks the trigger of an inline item: it carries the
	// item's record as its data.
	HeaderInline = "Jetmail-Inline"
)

// Route says where an item's triggers go.
type Route struct {
	// Stream is the stream holding Subject and Sched.
	Stream string
	// Subject is where the item's trigger goes when it is due: the item's
	// own subject, where no other item's trigger goes, so that the rescuer
	// can tell whether the item has a trigger waiting.
	Subject string
	// Sched is the item's own schedule subject, in Stream.
	Sched string
	// Header holds extra trigger headers (a shard key); may be nil.
	Header nats.Header
	// Consumer is the durable consumer that gets Subject. Empty leaves the
	// item out of a rescue pass (its consumers are being rebuilt).
	Consumer string
}

// Params configures an Engine. Zero fields take the defaults noted.
type Params[T any] struct {
	// Bucket is the KV bucket of the records. Required.
	Bucket string
	// Description describes the bucket to `nats kv ls`.
	Description string
	// Replicas of the bucket. Default 1.
	Replicas int
	// JetStreams are the node's JetStream contexts, one per connection; the
	// engine spreads its traffic over them. Required.
	JetStreams []jetstream.JetStream
	// Route says where an item's triggers go. Required.
	Route func(key string, v *T) Route
	// Due says when an item runs next; false means it is parked (held,
	// failed) and has no trigger. Required.
	Due func(v *T) (time.Time, bool)
	// Busy reports an item a handler holds at now (a transaction's claim):
	// the rescuer leaves it alone. Default never.
	Busy func(v *T, now time.Time) bool
	// Encode and Decode give a value's stored form. Default JSON.
	Encode func(v *T) ([]byte, error)
	Decode func(data []byte) (*T, error)
	// Clock tells the time and keeps the engine's timers. Default the system
	// clock.
	Clock clock.Clock
	// Logger; default slog.Default().
	Logger *slog.Logger
	// MarkerTTL is how long the marker of a removed item stays, so that a
	// late retry or watcher sees the removal. Default 10m.
	MarkerTTL time.Duration
	// YoungTrigger is how old a trigger may be and still come before its
	// record shows on the replica that answers a read. Default 5s.
	YoungTrigger time.Duration
	// RescueAfter is how long past due an item must be, with no trigger
	// waiting, before the rescuer triggers it again. Default 1m.
	RescueAfter time.Duration
	// FireEarly makes a schedule fire this long before its item is due,
	// and the run then wait, holding its slot, until the due time: the
	// server's schedules fire a few hundred milliseconds late under a
	// burst, and that delay is then not the item's lateness. Default 0:
	// schedules fire at the due time.
	FireEarly time.Duration
	// RescueChecks bounds the trigger lookups of one rescue pass, so that
	// a pass over a large backlog stays short; the next pass goes on from
	// where it stopped. Default 10,000.
	RescueChecks int
	// Stale and Rescued count dropped stale triggers and rescued items; may
	// be nil.
	Stale, Rescued prometheus.Counter
	// Inline, when set, lets a new item live in its trigger alone until it
	// changes (see the package doc): it gives the subject of that trigger,
	// the item's own, in Route's Stream and received by Route's Consumer;
	// an item due later has its schedule there on Route's Sched. Default
	// off: every item has a record.
	Inline func(key string, v *T) string
	// InlinePlaces says where inline triggers and schedules of key may be:
	// a stream and a subject filter each; key "*" asks for the filters of
	// every inline item. Required with Inline.
	InlinePlaces func(key string) []Place
}

// Item is one item with the engine's bookkeeping.
type Item[T any] struct {
	Key   string
	Value *T
	// Gen and Token name the item's current trigger: Gen grows with each
	// trigger, Token tells apart two writers of the same Gen.
	Gen   uint64
	Token string
	// Rev is the KV revision the item was read at; 0 for an inline item.
	Rev uint64
	// inline is where an inline item's trigger is; nil for an item with a
	// record.
	inline *Place
}

// Inline reports whether the item lives in its trigger alone.
func (it *Item[T]) Inline() bool { return it.inline != nil }

// Place is a stream and a subject in it.
type Place struct {
	Stream, Subject string
}

// Engine keeps one kind of item.
type Engine[T any] struct {
	p       Params[T]
	log     *slog.Logger
	kvs     []jetstream.KeyValue
	next    atomic.Uint64
	streams sync.Map // name -> jetstream.Stream
	// rescueFrom is the bucket revision the next rescue pass starts at: 0,
	// or where the last pass stopped at its RescueChecks.
	rescueFrom atomic.Uint64
}

// New checks p and returns an Engine; Open creates its bucket.
func New[T any](p Params[T]) (*Engine[T], error) {
	if p.Bucket == "" || len(p.JetStreams) == 0 || p.Route == nil || p.Due == nil {
		return nil, errors.New("engine: Bucket, JetStreams, Route and Due are required")
	}
	if p.Inline != nil && p.InlinePlaces == nil {
		return nil, errors.New("engine: Inline needs InlinePlaces")
	}
	if p.Replicas == 0 {
		p.Replicas = 1
	}
	if p.Busy == nil {
		p.Busy = func(*T, time.Time) bool { return false }
	}
	if p.Encode == nil {
		p.Encode = func(v *T) ([]byte, error) { return json.Marshal(v) }
	}
	if p.Decode == nil {
		p.Decode = func(data []byte) (*T, error) {
			v := new(T)
			return v, json.Unmarshal(data, v)
		}
	}
	if p.Clock == nil {
		p.Clock = clock.Real
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	if p.MarkerTTL == 0 {
		p.MarkerTTL = 10 * time.Minute
	}
	if p.YoungTrigger == 0 {
		p.YoungTrigger = 5 * time.Second
	}
	if p.RescueAfter == 0 {
		p.RescueAfter = time.Minute
	}
	if p.RescueChecks == 0 {
		p.RescueChecks = 10_000
	}
	return &Engine[T]{p: p, log: p.Logger.With("bucket", p.Bucket)}, nil
}

// Open creates or updates the bucket and opens it on every connection.
func (e *Engine[T]) Open(ctx context.Context) error {
	if _, err := e.p.JetStreams[0].CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: e.p.Bucket, Description: e.p.Description, History: 1, Storage: jetstream.FileStorage,
		Replicas: e.p.Replicas, LimitMarkerTTL: e.p.MarkerTTL,
	}); err != nil {
		return fmt.Errorf("create KV bucket %s: %w", e.p.Bucket, err)
	}
	for _, js := range e.p.JetStreams {
		kv, err := js.KeyValue(ctx, e.p.Bucket)
		if err != nil {
			return fmt.Errorf("open KV bucket %s: %w", e.p.Bucket, err)
		}
		e.kvs = append(e.kvs, kv)
	}
	return nil
}

// Clock is the engine's clock.
func (e *Engine[T]) Clock() clock.Clock { return e.p.Clock }

// kv returns a handle to the bucket, on the node's connections in turn.
func (e *Engine[T]) kv() jetstream.KeyValue { return e.kvs[e.next.Add(1)%uint64(len(e.kvs))] }

func (e *Engine[T]) js() jetstream.JetStream {
	return e.p.JetStreams[e.next.Add(1)%uint64(len(e.p.JetStreams))]
}

func (e *Engine[T]) stream(ctx context.Context, name string) (jetstream.Stream, error) {
	if s, ok := e.streams.Load(name); ok {
		return s.(jetstream.Stream), nil
	}
	s, err := e.p.JetStreams[0].Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", name, err)
	}
	e.streams.Store(name, s)
	return s, nil
}

// envelope is a record's stored form.
type envelope struct {
	Gen   uint64          `json:"gen"`
	Token string          `json:"token"`
	Value json.RawMessage `json:"value"`
}

func (e *Engine[T]) encode(it *Item[T]) ([]byte, error) {
	v, err := e.p.Encode(it.Value)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", it.Key, err)
	}
	return json.Marshal(envelope{Gen: it.Gen, Token: it.Token, Value: v})
}

func (e *Engine[T]) decode(key string, rev uint64, data []byte) (*Item[T], error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	v, err := e.p.Decode(env.Value)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	return &Item[T]{Key: key, Value: v, Gen: env.Gen, Token: env.Token, Rev: rev}, nil
}

// isConflict reports a write refused because the key's revision moved.
func isConflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// sleep waits d on the engine's clock, or until ctx ends.
func (e *Engine[T]) sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-e.p.Clock.After(d):
		return true
	}
}
