package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jetmail/jetmail/shared/mailparse"
)

// Email is an email document's fields (Document.Data of EmailType); the
// raw message is its blob.
type Email struct {
	// MailboxIDs are the mailboxes it is in, by id.
	MailboxIDs map[string]bool `json:"mailboxIds"`
	// Keywords are its flags ("$seen", "$flagged", ...).
	Keywords map[string]bool `json:"keywords,omitempty"`
	// ThreadID groups it with its replies and what it replies to.
	ThreadID   string                 `json:"threadId"`
	MessageID  string                 `json:"messageId,omitempty"`
	InReplyTo  []string               `json:"inReplyTo,omitempty"`
	References []string               `json:"references,omitempty"`
	Subject    string                 `json:"subject,omitempty"`
	From       []mailparse.Address    `json:"from,omitempty"`
	Sender     []mailparse.Address    `json:"sender,omitempty"`
	ReplyTo    []mailparse.Address    `json:"replyTo,omitempty"`
	To         []mailparse.Address    `json:"to,omitempty"`
	Cc         []mailparse.Address    `json:"cc,omitempty"`
	Bcc        []mailparse.Address    `json:"bcc,omitempty"`
	SentAt     time.Time              `json:"sentAt,omitzero"`
	ReceivedAt time.Time              `json:"receivedAt"`
	Preview    string                 `json:"preview,omitempty"`
	Attachment []mailparse.Attachment `json:"attachments,omitempty"`
	// Problems are what could not be read of the message (it is stored
	// whole all the same).
	Problems []string `json:"problems,omitempty"`
	// UIDs are its IMAP UIDs, one in each mailbox it is in, given when it
	// arrives there (AccountMaintenance recalculateImapUid renumbers them).
	UIDs map[string]UID `json:"imapUids,omitempty"`
}

// NewEmail says where and how a message is stored.
type NewEmail struct {
	// ID is the email's id; a delivery gives one made from its queue entry,
	// so that delivering it again stores it once. Default a new id.
	ID string
	// MailboxIDs default to the Inbox.
	MailboxIDs map[string]bool
	Keywords   map[string]bool
	// ReceivedAt defaults to now.
	ReceivedAt time.Time
}

// ErrDuplicate is returned when an email of that id is stored already: a
// delivery that happened before.
var ErrDuplicate = errors.New("stored already")

// threadKey is where the thread of a Message-ID is kept: by its hash, so
// that any id (up to 998 bytes) makes a short key.
func threadKey(account, messageID string) string {
	sum := sha256.Sum256([]byte(messageID))
	return account + ".thread." + hex.EncodeToString(sum[:16])
}

// StoreEmail parses raw and stores it in the account: the message as a
// content-addressed blob, an email document in its mailboxes with its
// thread, charged to the quota (ErrOverQuota when it does not fit). An id
// stored already gives ErrDuplicate and changes nothing.
func (s *Store) StoreEmail(ctx context.Context, account string, raw []byte, n NewEmail) (*Document, error) {
	if n.ID == "" {
		n.ID = NewID()
	}
	defer s.storing.lock(account + "." + n.ID)()
	if d, err := s.Document(ctx, account, EmailType, n.ID); err == nil {
		return d, fmt.Errorf("email %s: %w", n.ID, ErrDuplicate)
	}
	m, err := mailparse.Parse(bytes.NewReader(raw), mailparse.Options{})
	if err != nil {
		return nil, fmt.Errorf("parse the message: %w", err)
	}
	if n.MailboxIDs == nil {
		n.MailboxIDs = map[string]bool{"inbox": true}
	}
	if n.ReceivedAt.IsZero() {
		n.ReceivedAt = s.p.Clock.Now().UTC()
	}
	blob, err := s.putBlobBytes(ctx, raw)
	if err != nil {
		return nil, err
	}
	thread, err := s.thread(ctx, account, m)
	if err != nil {
		return nil, err
	}
	e := Email{
		MailboxIDs: n.MailboxIDs, Keywords: n.Keywords, ThreadID: thread,
		MessageID: m.MessageID, InReplyTo: m.InReplyTo, References: m.References, Subject: m.Subject,
		From: m.From, Sender: m.Sender, ReplyTo: m.ReplyTo, To: m.To, Cc: m.Cc, Bcc: m.Bcc,
		SentAt: m.Date, ReceivedAt: n.ReceivedAt, Preview: m.Preview, Attachment: m.Attachments, Problems: m.Problems,
	}
	if err := s.giveUIDs(ctx, account, &e); err != nil {
		return nil, err
	}
	d := &Document{Account: account, Type: EmailType, ID: n.ID, Size: int64(len(raw)), BlobID: blob.ID}
	if err := d.Encode(e); err != nil {
		return nil, err
	}
	if err := s.CreateDocument(ctx, d); err != nil {
		if errors.Is(err, ErrExists) {
			return d, fmt.Errorf("email %s: %w", n.ID, ErrDuplicate)
		}
		return nil, err
	}
	return d, nil
}

// thread finds the thread of a message: the thread of the first of its
// ids (References, In-Reply-To, Message-ID) the account has seen, else a
// new one; every id then points to it, so that a reply stored before its
// parent still joins the parent's thread when the parent comes.
func (s *Store) thread(ctx context.Context, account string, m *mailparse.Message) (string, error) {
	keys := mailparse.ThreadKeys(m)
	thread := ""
	for _, k := range keys {
		if e, err := s.docs.Get(ctx, threadKey(account, k)); err == nil {
			thread = string(e.Value())
			break
		} else if !errors.Is(kvErr(err), ErrNotFound) {
			return "", fmt.Errorf("look up the thread of %s: %w", k, err)
		}
	}
	if thread == "" {
		thread = NewID()
	}
	for _, k := range keys {
		if _, err := s.docs.Create(ctx, threadKey(account, k), []byte(thread)); err != nil && !errors.Is(kvErr(err), ErrExists) {
			return "", fmt.Errorf("record the thread of %s: %w", k, err)
		}
	}
	return thread, nil
}

// CheckKeyword reports whether kw may be an email's keyword (RFC 8621
// 4.1.1: 1 to 255 of the printable ASCII characters but ( ) { ] % * " \),
// and returns it in lower case, as keywords are compared.
func CheckKeyword(kw string) (string, error) {
	if kw == "" || len(kw) > 255 {
		return "", fmt.Errorf("keyword %q: 1 to 255 characters", kw)
	}
	for _, c := range kw {
		if c < 0x21 || c > 0x7e || strings.ContainsRune(`(){]%*"\`, c) {
			return "", fmt.Errorf("keyword %q: %q may not be in a keyword", kw, c)
		}
	}
	return strings.ToLower(kw), nil
}

// checkEmailPlace checks that an email is in one mailbox at least, each
// of the account's, and that its keywords are keywords (made lower case).
func (s *Store) checkEmailPlace(ctx context.Context, account string, e *Email) error {
	if len(e.MailboxIDs) == 0 {
		return invalidf("mailboxIds", "an email must be in one mailbox at least")
	}
	for id, in := range e.MailboxIDs {
		if !in {
			return invalidf("mailboxIds/"+id, "only true: leave a mailbox out to take the email out of it")
		}
		if _, err := s.Document(ctx, account, MailboxType, id); errors.Is(err, ErrNotFound) {
			return invalidf("mailboxIds", "no mailbox %s", id)
		} else if err != nil {
			return err
		}
	}
	kws := make(map[string]bool, len(e.Keywords))
	for kw, set := range e.Keywords {
		if !set {
			return invalidf("keywords/"+kw, "only true: leave a keyword out to clear it")
		}
		k, err := CheckKeyword(kw)
		if err != nil {
			return invalidf("keywords", "%v", err)
		}
		kws[k] = true
	}
	e.Keywords = kws
	return nil
}

// UpdateEmail applies change to an email's mailboxes and keywords (the
// rest of an email is its message's and stays): it must stay in one
// mailbox at least, each of the account's. A mailbox it comes into gives
// it a UID.
func (s *Store) UpdateEmail(ctx context.Context, account, id string, change func(*Email) error) (*Document, error) {
	return s.UpdateDocument(ctx, account, EmailType, id, func(d *Document) error {
		var old Email
		if err := d.Decode(&old); err != nil {
			return err
		}
		e, was := old, old.MailboxIDs
		e.MailboxIDs, e.Keywords = maps.Clone(old.MailboxIDs), maps.Clone(old.Keywords)
		if e.MailboxIDs == nil {
			e.MailboxIDs = map[string]bool{}
		}
		if e.Keywords == nil {
			e.Keywords = map[string]bool{}
		}
		if err := change(&e); err != nil {
			return err
		}
		if err := s.checkEmailPlace(ctx, account, &e); err != nil {
			return err
		}
		old.MailboxIDs, old.Keywords, old.UIDs = e.MailboxIDs, e.Keywords, maps.Clone(old.UIDs)
		if len(old.Keywords) == 0 {
			old.Keywords = nil
		}
		if err := s.giveUIDs(ctx, account, &old); err != nil {
			return err
		}
		d.into, d.outOf = nil, nil
		for mb := range e.MailboxIDs {
			if !was[mb] {
				d.into = append(d.into, mb)
			}
		}
		for mb := range was {
			if !e.MailboxIDs[mb] {
				d.outOf = append(d.outOf, mb)
			}
		}
		slices.Sort(d.into)
		slices.Sort(d.outOf)
		return d.Encode(old)
	})
}

// MergeThreads folds the threads of the account's emails with the given
// Message-IDs (without angle brackets) into one: the thread of the first
// id the account knows. Every email of the other threads moves to it (an
// update each, logged, so clients and the index see it), and their ids
// point to it from then on, so later replies join it. It returns the
// thread merged into ("" when no id is known) and how many emails moved.
func (s *Store) MergeThreads(ctx context.Context, account string, messageIDs []string) (string, int, error) {
	if err := s.full(); err != nil {
		return "", 0, err
	}
	target := ""
	others := map[string]bool{}
	for _, id := range messageIDs {
		e, err := s.docs.Get(ctx, threadKey(account, strings.Trim(strings.TrimSpace(id), "<>")))
		if errors.Is(kvErr(err), ErrNotFound) {
			continue
		}
		if err != nil {
			return "", 0, fmt.Errorf("merge threads: look up %s: %w", id, err)
		}
		switch t := string(e.Value()); {
		case target == "":
			target = t
		case t != target:
			others[t] = true
		}
	}
	if len(others) == 0 {
		return target, 0, nil
	}
	// The thread keys first, so that a message stored meanwhile joins the
	// merged thread.
	err := s.scan(ctx, s.docs, account+".thread.*", func(key string, rev uint64, v []byte) error {
		if !others[string(v)] {
			return nil
		}
		if _, err := s.docs.Update(ctx, key, []byte(target), rev); err != nil && !errors.Is(casErr(err), ErrConflict) {
			return fmt.Errorf("point %s to thread %s: %w", key, target, kvErr(err))
		}
		return nil
	})
	if err != nil {
		return "", 0, fmt.Errorf("merge threads: %w", err)
	}
	var ids []string
	if err := s.Documents(ctx, account, EmailType, func(d *Document) bool {
		var e Email
		if d.Decode(&e) == nil && others[e.ThreadID] {
			ids = append(ids, d.ID)
		}
		return true
	}); err != nil {
		return "", 0, fmt.Errorf("merge threads: %w", err)
	}
	for _, id := range ids {
		if _, err := s.UpdateDocument(ctx, account, EmailType, id, func(d *Document) error {
			var e Email
			if err := d.Decode(&e); err != nil {
				return err
			}
			e.ThreadID = target
			return d.Encode(e)
		}); err != nil {
			return "", 0, fmt.Errorf("merge threads: move email %s: %w", id, err)
		}
	}
	s.log.Info("threads merged", "account", account, "thread", target, "threads_merged", len(others), "emails", len(ids))
	return target, len(ids), nil
}
