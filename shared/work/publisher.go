package work

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/shard"
)

// HeaderKey carries an item's shard key.
const HeaderKey = "Jetmail-Key"

// Item is a unit of work for a role.
type Item struct {
	// Key chooses the partition (an account id, a task id).
	Key string
	// Data is the payload the handler gets.
	Data []byte
	// Header is extra headers; may be nil.
	Header nats.Header
	// MsgID, when set, de-duplicates publishes within the stream's
	// duplicate window (Nats-Msg-Id).
	MsgID string
	// Partition, when set, places the item in that partition (modulo the
	// partition count) instead of hashing Key: a task that targets one
	// shard uses it.
	Partition *int
}

// Partitions is how many partitions each role's work is spread over.
func (p *Publisher) Partitions() int { return p.partitions }

// PartitionOf is the partition item goes to.
func (p *Publisher) PartitionOf(it Item) int {
	if it.Partition != nil {
		return *it.Partition % p.partitions
	}
	return shard.Partition(it.Key, p.partitions)
}

// Publisher submits work items to roles' streams.
type Publisher struct {
	js         jetstream.JetStream
	partitions int
}

// NewPublisher returns a Publisher; partitions must be the cluster's.
func NewPublisher(js jetstream.JetStream, partitions int) *Publisher {
	if partitions == 0 {
		partitions = shard.DefaultPartitions
	}
	return &Publisher{js: js, partitions: partitions}
}

// Msg builds the message for item of role r.
func (p *Publisher) Msg(r roles.Role, it Item) *nats.Msg {
	m := nats.NewMsg(Subject(r, p.PartitionOf(it)))
	for k, v := range it.Header {
		m.Header[k] = v
	}
	m.Header.Set(HeaderKey, it.Key)
	if it.MsgID != "" {
		m.Header.Set(jetstream.MsgIDHeader, it.MsgID)
	}
	m.Data = it.Data
	return m
}

// Submit publishes item for role r and waits for JetStream to store it.
func (p *Publisher) Submit(ctx context.Context, r roles.Role, it Item) error {
	if _, err := p.js.PublishMsg(ctx, p.Msg(r, it)); err != nil {
		return fmt.Errorf("submit %s work %q: %w", r, it.Key, err)
	}
	return nil
}

// SubmitAsync publishes item without waiting; the returned future reports
// when JetStream has stored it. Use for bulk submission.
func (p *Publisher) SubmitAsync(r roles.Role, it Item) (jetstream.PubAckFuture, error) {
	f, err := p.js.PublishMsgAsync(p.Msg(r, it))
	if err != nil {
		return nil, fmt.Errorf("submit %s work %q: %w", r, it.Key, err)
	}
	return f, nil
}

// Await waits for an asynchronous publish to be stored, or ctx to end,
// and returns the server's acknowledgement.
func Await(ctx context.Context, f jetstream.PubAckFuture) (*jetstream.PubAck, error) {
	select {
	case ack := <-f.Ok():
		return ack, nil
	case err := <-f.Err():
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
