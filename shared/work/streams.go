package work

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/shard"
)

// StreamName is the name of role r's work stream.
func StreamName(r roles.Role) string { return "jetmail-work-" + r.Token() }

// Subject is the subject of role r's partition p.
func Subject(r roles.Role, p int) string {
	return "jetmail.work." + r.Token() + ".p." + strconv.Itoa(p)
}

// SubjectPrefix is the start of every subject of role r's stream.
func SubjectPrefix(r roles.Role) string { return "jetmail.work." + r.Token() + "." }

// ConsumerName is the durable consumer of shard i (from 0) of role r at epoch.
func ConsumerName(r roles.Role, i int, epoch uint64) string {
	return r.Token() + "-shard" + strconv.Itoa(i+1) + "-e" + strconv.FormatUint(epoch, 10)
}

// EnsureStream creates or updates role r's work stream. Message schedules
// are allowed so that delayed work (package taskmanager) can target it.
func EnsureStream(ctx context.Context, js jetstream.JetStream, r roles.Role, partitions, replicas int) (jetstream.Stream, error) {
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              StreamName(r),
		Description:       fmt.Sprintf("work of role %s, spread over %d partitions (%sp.<n>)", r, partitions, SubjectPrefix(r)),
		Subjects:          []string{SubjectPrefix(r) + ">"},
		Retention:         jetstream.WorkQueuePolicy,
		Storage:           jetstream.FileStorage,
		Replicas:          replicas,
		AllowMsgSchedules: true,
		// Listings read the waiting items in batches (engine.Scan).
		AllowDirect: true,
	})
	if err != nil {
		return nil, fmt.Errorf("create stream %s: %w", StreamName(r), err)
	}
	if err := EnsureAnchor(ctx, js, s, AnchorSubject(r)); err != nil {
		return nil, err
	}
	return s, nil
}

// AnchorSubject is the subject of role r's anchor: a message no consumer
// reads, kept in the stream for good (see EnsureAnchor).
func AnchorSubject(r roles.Role) string { return SubjectPrefix(r) + "anchor" }

// EnsureAnchor puts one message on subject, in stream s, if there is none.
// No consumer's filter may match it: the WorkQueue stream then keeps it,
// and the stream's first message is never the next one a consumer looks
// for. When it is (every delivered item acknowledged and removed), the
// server searches the subjects of the whole stream for the consumer's next
// item, and inline items give the stream one subject each: tens of
// thousands of subjects searched per fetch with a backlog, the largest
// single cost of a busy stream before the anchor (profiled). Role streams
// and the mail queue's stream each keep one.
func EnsureAnchor(ctx context.Context, js jetstream.JetStream, s jetstream.Stream, subject string) error {
	name := s.CachedInfo().Config.Name
	_, err := s.GetLastMsgForSubject(ctx, subject)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("read the anchor of stream %s: %w", name, err)
	}
	// Expecting no message there: two nodes starting at once write one.
	_, err = js.Publish(ctx, subject, nil, jetstream.WithExpectLastSequencePerSubject(0))
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write the anchor of stream %s: %w", name, err)
	}
	return nil
}

// consumerConfig is the configuration of shard i of shards at epoch, with
// at most maxAckPending items in flight (see Limits).
func consumerConfig(r roles.Role, i, shards, partitions int, epoch uint64, maxAckPending int, p Params) jetstream.ConsumerConfig {
	owned := shard.Assign(partitions, shards)[i]
	subjects := make([]string, 0, 2*len(owned))
	parts := make([]string, len(owned))
	for k, part := range owned {
		// An item may also have a subject of its own below its partition's
		// (an inline task, package engine).
		subjects = append(subjects, Subject(r, part), Subject(r, part)+".>")
		parts[k] = fmt.Sprint(part)
	}
	if shards == 1 {
		// One filter for all: the server matches many filters against many
		// subjects at a cost that shows in throughput.
		subjects = []string{SubjectPrefix(r) + "p.>"}
	}
	return jetstream.ConsumerConfig{
		Durable:        ConsumerName(r, i, epoch),
		Description:    fmt.Sprintf("role %s shard %d of %d, partitions %s", r, i+1, shards, strings.Join(parts, ",")),
		FilterSubjects: subjects,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        p.AckWait,
		MaxDeliver:     -1,
		MaxAckPending:  maxAckPending,
		MaxWaiting:     1024,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		Replicas:       p.Replicas,
	}
}
