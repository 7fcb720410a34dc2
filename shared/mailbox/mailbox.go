// Package mailbox is the local mailbox store: messages for local
// recipients, one JetStream subject per account
// (jetmail.mailbox.<account>), in the stream jetmail-mailboxes.
package mailbox

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamName is the mailbox stream.
const StreamName = "jetmail-mailboxes"

// Store appends messages to accounts' mailboxes.
type Store struct {
	js jetstream.JetStream
}

// Open creates the stream if needed.
func Open(ctx context.Context, js jetstream.JetStream, replicas int) (*Store, error) {
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: StreamName, Description: "jetmail local mailboxes: jetmail.mailbox.<account>, one message each",
		Subjects: []string{"jetmail.mailbox.>"}, Storage: jetstream.FileStorage, Replicas: replicas,
		MaxMsgSize: 64 << 20,
	}); err != nil {
		return nil, fmt.Errorf("create stream %s: %w", StreamName, err)
	}
	return &Store{js: js}, nil
}

// Subject is the mailbox subject of an address: the lower-cased address,
// hex-encoded so that any address is one subject token.
func Subject(address string) string {
	return "jetmail.mailbox." + hex.EncodeToString([]byte(strings.ToLower(address)))
}

// Append stores msg in the mailbox of address.
func (s *Store) Append(ctx context.Context, address string, msg []byte) error {
	m := nats.NewMsg(Subject(address))
	m.Header.Set("Jetmail-Rcpt", address)
	m.Data = msg
	if _, err := s.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("append to mailbox of %s: %w", address, err)
	}
	return nil
}
