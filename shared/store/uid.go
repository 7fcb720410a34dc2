package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// UID is an email's IMAP UID in one mailbox (RFC 9051 2.3.1.1): UIDs
// increase in the order emails arrive in the mailbox, and are worth
// comparing only under one UIDValidity.
type UID struct {
	Validity uint32 `json:"validity"`
	UID      uint32 `json:"uid"`
}

// uidCounter is a mailbox's next UID, kept at uidKey: a key of its own,
// not the mailbox's document, so that a delivery does not log a mailbox
// change.
type uidCounter struct {
	Validity uint32 `json:"validity"`
	Next     uint32 `json:"next"`
}

func uidKey(account, mailbox string) string { return account + ".uidnext." + mailbox }

// allocUID gives the next UID of the mailbox. The counter is moved by
// compare-and-set, so two nodes never give one UID twice; a UID given to
// an email whose write then failed is skipped (IMAP allows gaps, and
// RecalculateUIDs closes them). A mailbox's first UID sets its
// UIDValidity to the time, in seconds.
func (s *Store) allocUID(ctx context.Context, account, mailbox string) (UID, error) {
	var got UID
	err := s.updateUIDCounter(ctx, account, mailbox, func(c *uidCounter, found bool) {
		if !found {
			*c = uidCounter{Validity: uint32(s.p.Clock.Now().Unix()), Next: 1}
		}
		got = UID{Validity: c.Validity, UID: max(c.Next, 1)}
		c.Next = got.UID + 1
	})
	return got, err
}

// updateUIDCounter applies change to the mailbox's counter (found false:
// there is none yet) and writes it by compare-and-set, again on conflict.
func (s *Store) updateUIDCounter(ctx context.Context, account, mailbox string, change func(c *uidCounter, found bool)) error {
	mu := s.uidAllocs.of(account + "." + mailbox)
	mu.Lock()
	defer mu.Unlock()
	k := uidKey(account, mailbox)
	for range casRetries {
		var c uidCounter
		rev, err := s.getJSON(ctx, s.docs, k, &c)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("UID counter of mailbox %s: %w", mailbox, err)
		}
		change(&c, rev != 0)
		b, _ := json.Marshal(c)
		if rev == 0 {
			_, err = s.docs.Create(ctx, k, b)
		} else {
			_, err = s.docs.Update(ctx, k, b, rev)
		}
		if errors.Is(casErr(err), ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("UID counter of mailbox %s: %w", mailbox, kvErr(err))
		}
		return nil
	}
	return fmt.Errorf("UID counter of mailbox %s: %w", mailbox, ErrConflict)
}

// giveUIDs gives e a UID in each mailbox it is in that it has none of (a
// new email, or one added to a mailbox), and drops those of mailboxes it
// has left.
func (s *Store) giveUIDs(ctx context.Context, account string, e *Email) error {
	for mb := range e.UIDs {
		if !e.MailboxIDs[mb] {
			delete(e.UIDs, mb)
		}
	}
	for mb := range e.MailboxIDs {
		if _, ok := e.UIDs[mb]; ok {
			continue
		}
		u, err := s.allocUID(ctx, account, mb)
		if err != nil {
			return err
		}
		if e.UIDs == nil {
			e.UIDs = map[string]UID{}
		}
		e.UIDs[mb] = u
	}
	return nil
}

// UIDRecount is what RecalculateUIDs did to one mailbox.
type UIDRecount struct {
	Mailbox  string
	Validity uint32
	// Emails are how many emails the mailbox holds; they now have UIDs 1
	// to Emails, in the order they were received.
	Emails int
	// Changed are the emails whose UID changed.
	Changed int
}

// RecalculateUIDs gives the emails of each of the account's mailboxes
// the UIDs 1, 2, ... in the order they were received (then by id), under
// a new UIDValidity when any UID changes, so that an IMAP client that
// cached the old ones starts again. Deliveries may go on meanwhile: the
// counter moves to the new UIDValidity, past the emails counted, before
// any email is renumbered, so a new email gets a UID above them; an email
// stored between the count and that move (it holds a UID of the old
// validity) is given a new one after them.
func (s *Store) RecalculateUIDs(ctx context.Context, account string) ([]UIDRecount, error) {
	if err := s.full(); err != nil {
		return nil, err
	}
	mbs, err := s.Mailboxes(ctx, account)
	if err != nil {
		return nil, err
	}
	type entry struct {
		id  string
		doc *Document
		e   Email
	}
	byMailbox := map[string][]entry{}
	err = s.Documents(ctx, account, EmailType, func(d *Document) bool {
		var e Email
		if d.Decode(&e) != nil {
			return true
		}
		for mb := range e.MailboxIDs {
			byMailbox[mb] = append(byMailbox[mb], entry{d.ID, d, e})
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("recalculate UIDs of %s: %w", account, err)
	}
	ids := make([]string, 0, len(mbs))
	for id := range mbs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []UIDRecount
	for _, mb := range ids {
		es := byMailbox[mb]
		slices.SortFunc(es, func(a, b entry) int {
			return cmp.Or(a.e.ReceivedAt.Compare(b.e.ReceivedAt), cmp.Compare(a.id, b.id))
		})
		// Already dense and in order, under one validity: nothing to do.
		var c uidCounter
		_, cerr := s.getJSON(ctx, s.docs, uidKey(account, mb), &c)
		if cerr != nil && !errors.Is(cerr, ErrNotFound) {
			return out, fmt.Errorf("recalculate UIDs of mailbox %s: %w", mb, cerr)
		}
		dense := c.Next == uint32(len(es))+1 || len(es) == 0 && c.Next <= 1
		for i, x := range es {
			if u, ok := x.e.UIDs[mb]; !ok || u != (UID{c.Validity, uint32(i + 1)}) {
				dense = false
				break
			}
		}
		if dense {
			out = append(out, UIDRecount{Mailbox: mb, Validity: c.Validity, Emails: len(es)})
			continue
		}
		validity := max(uint32(s.p.Clock.Now().Unix()), c.Validity+1)
		if err := s.updateUIDCounter(ctx, account, mb, func(c *uidCounter, _ bool) {
			*c = uidCounter{Validity: validity, Next: uint32(len(es)) + 1}
		}); err != nil {
			return out, err
		}
		r := UIDRecount{Mailbox: mb, Validity: validity, Emails: len(es)}
		counted := map[string]bool{}
		for i, x := range es {
			counted[x.id] = true
			want := UID{validity, uint32(i + 1)}
			changed, err := s.setUID(ctx, account, x.id, mb, func(UID) (UID, error) { return want, nil })
			if err != nil {
				return out, err
			}
			if changed {
				r.Changed++
			}
		}
		// Emails that came in before the counter moved, and so hold a UID of
		// the old validity, get one above those counted.
		err := s.Documents(ctx, account, EmailType, func(d *Document) bool {
			var e Email
			if d.Decode(&e) != nil || counted[d.ID] || !e.MailboxIDs[mb] || e.UIDs[mb].Validity == validity {
				return true
			}
			es = append(es, entry{id: d.ID})
			return true
		})
		if err != nil {
			return out, fmt.Errorf("recalculate UIDs of mailbox %s: %w", mb, err)
		}
		for _, x := range es[len(counted):] {
			changed, err := s.setUID(ctx, account, x.id, mb, func(old UID) (UID, error) {
				if old.Validity == validity {
					return old, nil
				}
				return s.allocUID(ctx, account, mb)
			})
			if err != nil {
				return out, err
			}
			if changed {
				r.Changed++
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// setUID sets an email's UID in a mailbox to what to gives, if it is
// still in the mailbox (an email gone or moved out meanwhile is left). It
// reports whether the UID changed.
func (s *Store) setUID(ctx context.Context, account, id, mailbox string, to func(UID) (UID, error)) (bool, error) {
	changed := false
	errSame := errors.New("same")
	_, err := s.UpdateDocument(ctx, account, EmailType, id, func(d *Document) error {
		changed = false
		var e Email
		if err := d.Decode(&e); err != nil {
			return err
		}
		if !e.MailboxIDs[mailbox] {
			return errSame
		}
		old := e.UIDs[mailbox]
		u, err := to(old)
		if err != nil {
			return err
		}
		if u == old {
			return errSame
		}
		if e.UIDs == nil {
			e.UIDs = map[string]UID{}
		}
		e.UIDs[mailbox] = u
		changed = true
		return d.Encode(e)
	})
	switch {
	case errors.Is(err, errSame), errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("set the UID of email %s in %s: %w", id, mailbox, err)
	}
	return changed, nil
}
