package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
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

// systemMailboxError is ErrSystemMailbox: what a standard mailbox may not
// have done to it, and the property that would change.
type systemMailboxError struct{ name, property, verb string }

func (e *systemMailboxError) Error() string {
	return e.name + " is a system mailbox: it cannot be " + e.verb
}

func (e *systemMailboxError) Is(target error) bool { return target == ErrSystemMailbox }

// MaxMailboxName bounds a mailbox name, in bytes: 255.
const MaxMailboxName = 255

func checkMailboxName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return invalidf("name", "a mailbox needs a name")
	case len(name) > MaxMailboxName:
		return invalidf("name", "%d bytes; at most %d", len(name), MaxMailboxName)
	case !utf8.ValidString(name):
		return invalidf("name", "not UTF-8")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return invalidf("name", "holds a control character")
	}
	return nil
}

// checkMailboxTree checks m's place among boxes (the account's others, by
// id): its parent exists and is not m itself or below it, and no sibling
// has its name (in any case).
func checkMailboxTree(boxes map[string]Mailbox, id string, m Mailbox) error {
	if m.ParentID != "" {
		for p, hops := m.ParentID, 0; p != ""; hops++ {
			if p == id {
				return invalidf("parentId", "mailbox %s would be inside itself", id)
			}
			parent, ok := boxes[p]
			if !ok {
				return invalidf("parentId", "no mailbox %s", p)
			}
			if hops > len(boxes) {
				break // a loop already stored: not this change's to mend
			}
			p = parent.ParentID
		}
	}
	for other, b := range boxes {
		if other != id && b.ParentID == m.ParentID && strings.EqualFold(b.Name, m.Name) {
			return invalidf("name", "mailbox %s has that name at the same place", other)
		}
	}
	return nil
}

// CreateMailbox creates a user's mailbox (no role: the standard ones are
// the store's) and returns its id.
func (s *Store) CreateMailbox(ctx context.Context, account string, m Mailbox) (string, error) {
	if m.Role != "" {
		return "", invalidf("role", "the standard mailboxes are the only ones with a role")
	}
	if err := checkMailboxName(m.Name); err != nil {
		return "", err
	}
	boxes, err := s.Mailboxes(ctx, account)
	if err != nil {
		return "", err
	}
	d := &Document{Account: account, Type: MailboxType, ID: NewID()}
	if err := checkMailboxTree(boxes, d.ID, m); err != nil {
		return "", err
	}
	if err := d.Encode(m); err != nil {
		return "", err
	}
	if err := s.CreateDocument(ctx, d); err != nil {
		return "", err
	}
	return d.ID, nil
}

// UpdateMailbox applies change to a mailbox: its name and parent may
// change, its role may not. A standard mailbox keeps its name and place
// (ErrSystemMailbox).
func (s *Store) UpdateMailbox(ctx context.Context, account, id string, change func(*Mailbox) error) (*Mailbox, error) {
	boxes, err := s.Mailboxes(ctx, account)
	if err != nil {
		return nil, err
	}
	var out Mailbox
	_, err = s.UpdateDocument(ctx, account, MailboxType, id, func(d *Document) error {
		var old Mailbox
		if err := d.Decode(&old); err != nil {
			return err
		}
		m := old
		if err := change(&m); err != nil {
			return err
		}
		if m.Role != old.Role {
			return invalidf("role", "a mailbox's role is the store's")
		}
		if old.Role != "" && m.Name != old.Name {
			return &systemMailboxError{old.Name, "name", "renamed"}
		}
		if old.Role != "" && m.ParentID != old.ParentID {
			return &systemMailboxError{old.Name, "parentId", "moved"}
		}
		if err := checkMailboxName(m.Name); err != nil {
			return err
		}
		if err := checkMailboxTree(boxes, id, m); err != nil {
			return err
		}
		out = m
		return d.Encode(m)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DestroyMailbox destroys a user's mailbox. One with child mailboxes is
// refused (ErrInUse), and one that holds emails (ErrMailboxHasEmail)
// unless removeEmails: its emails then leave it, and those in no other
// mailbox are destroyed (RFC 8621 onDestroyRemoveEmails). The standard
// mailboxes stay (ErrSystemMailbox).
func (s *Store) DestroyMailbox(ctx context.Context, account, id string, removeEmails bool) error {
	boxes, err := s.Mailboxes(ctx, account)
	if err != nil {
		return err
	}
	m, ok := boxes[id]
	if !ok {
		return fmt.Errorf("mailbox %s/%s: %w", account, id, ErrNotFound)
	}
	if m.Role != "" {
		return &systemMailboxError{m.Name, "", "destroyed"}
	}
	for other, b := range boxes {
		if b.ParentID == id {
			return fmt.Errorf("mailbox %s: %w: mailbox %s (%s) is inside it", m.Name, ErrInUse, other, b.Name)
		}
	}
	var in []string
	var only []bool
	var derr error
	err = s.Documents(ctx, account, EmailType, func(d *Document) bool {
		var e Email
		if derr = d.Decode(&e); derr != nil {
			return false
		}
		if e.MailboxIDs[id] {
			in, only = append(in, d.ID), append(only, len(e.MailboxIDs) == 1)
		}
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return err
	}
	if len(in) > 0 && !removeEmails {
		return fmt.Errorf("mailbox %s: %w (%d)", m.Name, ErrMailboxHasEmail, len(in))
	}
	for i, eid := range in {
		if only[i] {
			err = s.DestroyDocument(ctx, account, EmailType, eid)
		} else {
			_, err = s.UpdateEmail(ctx, account, eid, func(e *Email) error { delete(e.MailboxIDs, id); return nil })
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("remove email %s from mailbox %s: %w", eid, m.Name, err)
		}
	}
	return s.DestroyDocument(ctx, account, MailboxType, id)
}

// PurgeMailbox takes out of the account's mailbox (Trash, Junk) the emails
// last changed (such as moved there) before before: one in that mailbox
// only is destroyed (into the archive, its bytes released), one also in
// others leaves this one. It returns how many emails it purged.
func (s *Store) PurgeMailbox(ctx context.Context, account, mailbox string, before time.Time) (int, error) {
	if err := s.full(); err != nil {
		return 0, err
	}
	var destroy, leave []string
	err := s.Documents(ctx, account, EmailType, func(d *Document) bool {
		var e Email
		if d.Decode(&e) != nil || !e.MailboxIDs[mailbox] || !d.Updated.Before(before) {
			return true
		}
		if len(e.MailboxIDs) == 1 {
			destroy = append(destroy, d.ID)
		} else {
			leave = append(leave, d.ID)
		}
		return true
	})
	if err != nil {
		return 0, fmt.Errorf("purge mailbox %s of %s: %w", mailbox, account, err)
	}
	for _, id := range destroy {
		if err := s.DestroyDocument(ctx, account, EmailType, id); err != nil {
			return 0, fmt.Errorf("purge mailbox %s of %s: %w", mailbox, account, err)
		}
	}
	for _, id := range leave {
		if _, err := s.UpdateEmail(ctx, account, id, func(e *Email) error { delete(e.MailboxIDs, mailbox); return nil }); err != nil {
			return 0, fmt.Errorf("purge mailbox %s of %s: %w", mailbox, account, err)
		}
	}
	return len(destroy) + len(leave), nil
}
