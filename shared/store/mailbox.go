package store

import (
	"context"
	"errors"
	"fmt"
)

// Mailbox is a folder of emails.
type Mailbox struct {
	Name string `json:"name"`
	// Role is the standard mailbox's role (RFC 8621: inbox, junk, sent,
	// trash, archive), "" for a user's own.
	Role     string `json:"role,omitempty"`
	ParentID string `json:"parentId,omitempty"`
}

// StandardMailboxes are every account's, by id (the role) and name.
var StandardMailboxes = []Mailbox{
	{Name: "Inbox", Role: "inbox"}, {Name: "Junk", Role: "junk"}, {Name: "Sent", Role: "sent"},
	{Name: "Trash", Role: "trash"}, {Name: "Archive", Role: "archive"},
}

// createMailboxes gives a new account the standard mailboxes, with their
// role as their id. One that exists (a retried creation) stays.
func (s *Store) createMailboxes(ctx context.Context, account string) error {
	for _, m := range StandardMailboxes {
		d := &Document{Account: account, Type: MailboxType, ID: m.Role}
		if err := d.Encode(m); err != nil {
			return err
		}
		if err := s.CreateDocument(ctx, d); err != nil && !errors.Is(err, ErrExists) {
			return fmt.Errorf("create mailbox %s: %w", m.Name, err)
		}
	}
	return nil
}

// Mailboxes lists the account's mailboxes by id.
func (s *Store) Mailboxes(ctx context.Context, account string) (map[string]Mailbox, error) {
	out := map[string]Mailbox{}
	var derr error
	err := s.Documents(ctx, account, MailboxType, func(d *Document) bool {
		var m Mailbox
		if derr = d.Decode(&m); derr != nil {
			return false
		}
		out[d.ID] = m
		return true
	})
	if err == nil {
		err = derr
	}
	return out, err
}
