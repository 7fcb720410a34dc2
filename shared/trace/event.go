package trace

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/shard"
)

// Stream is the name of the stream that holds the traces.
const Stream = "jetmail-traces"

// SubjectPrefix starts every trace subject: jetmail.traces.<partition>.<trace id>.
const SubjectPrefix = "jetmail.traces."

// Kind is what an event records.
type Kind string

// Event kinds: the package documentation says when each is recorded.
const (
	KindReceived    Kind = "received"
	KindAttempt     Kind = "attempt"
	KindDelivered   Kind = "delivered"
	KindDeferred    Kind = "deferred"
	KindBounced     Kind = "bounced"
	KindExpired     Kind = "expired"
	KindDSNSent     Kind = "dsn-sent"
	KindHeld        Kind = "held"
	KindReleased    Kind = "released"
	KindRescheduled Kind = "rescheduled"
	KindCancelled   Kind = "cancelled"
)

// Kinds lists every kind, in the order of a recipient's life.
var Kinds = []Kind{KindReceived, KindAttempt, KindDelivered, KindDeferred, KindBounced, KindExpired,
	KindDSNSent, KindHeld, KindReleased, KindRescheduled, KindCancelled}

// Final reports whether a recipient leaves the queue with an event of
// kind k.
func (k Kind) Final() bool {
	return k == KindDelivered || k == KindBounced || k == KindExpired || k == KindCancelled
}

// Event is one thing that happened to a message or one of its recipients,
// as stored on the stream (JSON). Empty fields are left out.
type Event struct {
	// TraceID is the queue's message id: one trace per accepted message.
	TraceID string `json:"traceId"`
	Kind    Kind   `json:"kind"`
	// At is when it happened; Record sets it to now when zero.
	At time.Time `json:"at"`
	// Sender is the envelope sender (MAIL FROM); "" is the null sender <>.
	Sender string `json:"sender"`
	// Recipient is the recipient the event is about; empty for received
	// and for dsn-sent.
	Recipient string `json:"recipient,omitempty"`
	// Recipients are the message's recipients on received, and those a
	// DSN reports on for dsn-sent.
	Recipients []string `json:"recipients,omitempty"`
	// MessageID is the RFC 5322 Message-ID header, as written (angle
	// brackets included), when known.
	MessageID string `json:"messageId,omitempty"`
	// Size is the message's size in bytes.
	Size int64 `json:"size,omitempty"`
	// Queue is the virtual queue the recipient is in.
	Queue string `json:"queue,omitempty"`
	// Attempt numbers the recipient's delivery attempts, from 1: on
	// attempt, the one made; on the events after one, the last made.
	Attempt int `json:"attempt,omitempty"`
	// RemoteHost is the host that answered (or was tried, for an attempt
	// without a reply).
	RemoteHost string `json:"remoteHost,omitempty"`
	// Reply is the SMTP reply ("550 5.1.1 no such user") or the
	// diagnostic when there was none (a connection error, an expiry).
	Reply string `json:"reply,omitempty"`
	// Status is the enhanced status code (RFC 3463), "5.1.1".
	Status string `json:"status,omitempty"`
	// Due is when the next attempt runs, on deferred, released and
	// rescheduled.
	Due time.Time `json:"due,omitzero"`
	// Node is the id of the node that recorded the event; Record sets it.
	Node string `json:"node,omitempty"`
}

// Subject is where the events of trace id are stored among partitions
// partitions: jetmail.traces.<partition>.<id>.
func Subject(id string, partitions int) string {
	return SubjectPrefix + strconv.Itoa(Partition(id, partitions)) + "." + id
}

// Partition is trace id's partition: shard.Partition, as every role's.
// partitions below 1 count as shard.DefaultPartitions.
func Partition(id string, partitions int) int {
	if partitions < 1 {
		partitions = shard.DefaultPartitions
	}
	return shard.Partition(id, partitions)
}

// ValidID reports whether id can be a trace id, a subject token: not empty, no dot,
// wildcard or white space.
func ValidID(id string) bool {
	return id != "" && !strings.ContainsAny(id, ".*> \t\r\n")
}

// StreamConfig is the traces stream: events kept for retention, the
// oldest discarded, with replicas replicas.
func StreamConfig(retention time.Duration, replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        Stream,
		Description: "jetmail message traces: jetmail.traces.<partition>.<trace id>, one event per step of a message's life, kept for queue.trace.retention",
		Subjects:    []string{SubjectPrefix + ">"},
		Retention:   jetstream.LimitsPolicy, Discard: jetstream.DiscardOld, MaxAge: retention,
		Storage: jetstream.FileStorage, Replicas: max(replicas, 1),
		// Direct gets let a reader fetch an event by subject from any replica.
		AllowDirect: true,
	}
}

// EnsureStream creates the traces stream, or updates it to the given
// retention and replicas.
func EnsureStream(ctx context.Context, js jetstream.JetStream, retention time.Duration, replicas int) error {
	if retention <= 0 {
		return fmt.Errorf("create stream %s: retention must be positive, got %s", Stream, retention)
	}
	if _, err := js.CreateOrUpdateStream(ctx, StreamConfig(retention, replicas)); err != nil {
		return fmt.Errorf("create stream %s: %w", Stream, err)
	}
	return nil
}
