package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Type is a document type.
type Type string

// The document types: the reference's four (email, calendar, contacts,
// file) and the mailboxes emails are in.
const (
	EmailType    Type = "email"
	MailboxType  Type = "mailbox"
	CalendarType Type = "calendar"
	ContactsType Type = "contacts"
	FileType     Type = "file"
)

// Types lists the document types.
var Types = []Type{EmailType, MailboxType, CalendarType, ContactsType, FileType}

func (t Type) valid() bool {
	for _, k := range Types {
		if t == k {
			return true
		}
	}
	return false
}

// Document is one item of an account: its type's fields in Data, the bytes
// it is charged for, and the blob holding its content, if any.
type Document struct {
	Account string `json:"account"`
	Type    Type   `json:"type"`
	// ID is unique among the account's documents of the type.
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// Size is what the document counts against the account's quota.
	Size int64 `json:"size"`
	// BlobID names its content in the blob store (PutBlob), if any.
	BlobID string `json:"blobId,omitempty"`
	// Data is the type's fields (Email, Mailbox, ...), as JSON.
	Data json.RawMessage `json:"data"`
	// ArchivedUntil is set on an archived (destroyed) document: it is
	// kept until then.
	ArchivedUntil time.Time `json:"archivedUntil,omitzero"`

	modseq uint64
	// into and outOf are the mailboxes an email update put it in and took
	// it out of, for its change (UpdateEmail sets them).
	into, outOf []string
}

// Modseq is the document's modification sequence: it grows with every
// change of the document (the KV revision).
func (d *Document) Modseq() uint64 { return d.modseq }

// Decode reads Data into v.
func (d *Document) Decode(v any) error {
	if err := json.Unmarshal(d.Data, v); err != nil {
		return fmt.Errorf("%s %s/%s: %w", d.Type, d.Account, d.ID, err)
	}
	return nil
}

// Encode sets Data to v.
func (d *Document) Encode(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", d.Type, d.ID, err)
	}
	d.Data = b
	return nil
}

func docKey(account string, t Type, id string) string {
	return account + "." + string(t) + "." + id
}

// blobRefKey records that one of the account's documents refers to a
// blob: an account may download only the blobs it refers to, though the
// store keeps each content once for all.
func blobRefKey(account, blobID string) string { return account + ".blob." + blobID }

func archivedKey(account string, t Type, id string) string {
	return account + ".archived." + string(t) + "." + id
}

func (s *Store) checkDoc(d *Document) error {
	if err := s.full(); err != nil {
		return err
	}
	if !validID(d.Account) {
		return fmt.Errorf("%w: account id %q", ErrInvalid, d.Account)
	}
	if !d.Type.valid() {
		return fmt.Errorf("%w: document type %q", ErrInvalid, d.Type)
	}
	if !validID(d.ID) {
		return fmt.Errorf("%w: document id %q (1 to 64 of a-z, A-Z, 0-9, - and _)", ErrInvalid, d.ID)
	}
	if d.Size < 0 {
		return fmt.Errorf("%w: size %d", ErrInvalid, d.Size)
	}
	return nil
}

// CreateDocument stores a new document (an id is made when d.ID is
// empty), charging its size to the account's quota, and logs the change.
func (s *Store) CreateDocument(ctx context.Context, d *Document) error {
	if d.ID == "" {
		d.ID = NewID()
	}
	if err := s.checkDoc(d); err != nil {
		return err
	}
	a, err := s.Account(ctx, d.Account)
	if err != nil {
		return err
	}
	if a.State != Active {
		return fmt.Errorf("account %s is %s: %w", a.Name, a.State, ErrNotFound)
	}
	if err := s.Charge(ctx, d.Account, d.Size); err != nil {
		return err
	}
	now := s.p.Clock.Now().UTC()
	d.Created, d.Updated, d.ArchivedUntil = now, now, time.Time{}
	b, _ := json.Marshal(d)
	rev, err := s.docs.Create(ctx, docKey(d.Account, d.Type, d.ID), b)
	if err != nil {
		_ = s.Charge(context.WithoutCancel(ctx), d.Account, -d.Size)
		return fmt.Errorf("create %s %s: %w", d.Type, d.ID, kvErr(err))
	}
	d.modseq = rev
	if d.BlobID != "" {
		if _, err := s.docs.Put(ctx, blobRefKey(d.Account, d.BlobID), []byte(string(d.Type)+"."+d.ID)); err != nil {
			return fmt.Errorf("record the blob of %s %s: %w", d.Type, d.ID, kvErr(err))
		}
	}
	return s.logChange(ctx, d, Created)
}

// Document reads a document.
func (s *Store) Document(ctx context.Context, account string, t Type, id string) (*Document, error) {
	if err := s.full(); err != nil {
		return nil, err
	}
	if !validID(account) || !validID(id) || !t.valid() {
		return nil, fmt.Errorf("%s %s/%s: %w", t, account, id, ErrNotFound)
	}
	var d Document
	rev, err := s.getJSON(ctx, s.docs, docKey(account, t, id), &d)
	if err != nil {
		return nil, fmt.Errorf("%s %s/%s: %w", t, account, id, err)
	}
	d.modseq = rev
	return &d, nil
}

// UpdateDocument applies change to the document and writes it if the
// document has not changed since it was read, retrying on conflict. A
// change of Size is charged (or released) first. The account, type and id
// stay.
func (s *Store) UpdateDocument(ctx context.Context, account string, t Type, id string, change func(*Document) error) (*Document, error) {
	for range casRetries {
		d, err := s.Document(ctx, account, t, id)
		if err != nil {
			return nil, err
		}
		old := *d
		if err := change(d); err != nil {
			return nil, err
		}
		d.Account, d.Type, d.ID, d.Created = old.Account, old.Type, old.ID, old.Created
		if d.Size < 0 {
			return nil, fmt.Errorf("%w: size %d", ErrInvalid, d.Size)
		}
		if err := s.Charge(ctx, account, d.Size-old.Size); err != nil {
			return nil, err
		}
		d.Updated = s.p.Clock.Now().UTC()
		b, _ := json.Marshal(d)
		rev, err := s.docs.Update(ctx, docKey(account, t, id), b, old.modseq)
		if err != nil {
			_ = s.Charge(context.WithoutCancel(ctx), account, old.Size-d.Size)
			if errors.Is(casErr(err), ErrConflict) {
				continue
			}
			return nil, fmt.Errorf("update %s %s: %w", t, id, casErr(err))
		}
		d.modseq = rev
		if d.BlobID != "" && d.BlobID != old.BlobID {
			if _, err := s.docs.Put(ctx, blobRefKey(account, d.BlobID), []byte(string(t)+"."+id)); err != nil {
				return nil, fmt.Errorf("record the blob of %s %s: %w", t, id, kvErr(err))
			}
		}
		return d, s.logChange(ctx, d, Updated)
	}
	return nil, fmt.Errorf("update %s %s: %w", t, id, ErrConflict)
}

// DestroyDocument archives the document for ArchiveRetention, removes it,
// releases its bytes and logs the change. Destroying a document that is
// gone is not an error.
func (s *Store) DestroyDocument(ctx context.Context, account string, t Type, id string) error {
	d, err := s.Document(ctx, account, t, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	arch := *d
	arch.ArchivedUntil = s.p.Clock.Now().UTC().Add(s.p.ArchiveRetention)
	b, _ := json.Marshal(arch)
	if _, err := s.docs.Put(ctx, archivedKey(account, t, id), b); err != nil {
		return fmt.Errorf("archive %s %s: %w", t, id, kvErr(err))
	}
	if err := s.docs.Delete(ctx, docKey(account, t, id), jetstream.LastRevision(d.modseq)); err != nil {
		if errors.Is(casErr(err), ErrConflict) {
			return fmt.Errorf("destroy %s %s: %w", t, id, ErrConflict)
		}
		return fmt.Errorf("destroy %s %s: %w", t, id, kvErr(err))
	}
	if err := s.Charge(ctx, account, -d.Size); err != nil {
		return err
	}
	return s.logChange(ctx, d, Destroyed)
}

// Archived reads an archived document.
func (s *Store) Archived(ctx context.Context, account string, t Type, id string) (*Document, error) {
	if err := s.full(); err != nil {
		return nil, err
	}
	var d Document
	if _, err := s.getJSON(ctx, s.docs, archivedKey(account, t, id), &d); err != nil {
		return nil, fmt.Errorf("archived %s %s/%s: %w", t, account, id, err)
	}
	return &d, nil
}

// Documents calls fn for each of the account's documents of type t,
// streaming, until fn returns false.
func (s *Store) Documents(ctx context.Context, account string, t Type, fn func(*Document) bool) error {
	if err := s.full(); err != nil {
		return err
	}
	if !validID(account) || !t.valid() {
		return fmt.Errorf("%s of %q: %w", t, account, ErrNotFound)
	}
	stop := errors.New("stop")
	err := s.scan(ctx, s.docs, docKey(account, t, "*"), func(_ string, rev uint64, v []byte) error {
		var d Document
		if err := json.Unmarshal(v, &d); err != nil {
			return err
		}
		d.modseq = rev
		if !fn(&d) {
			return stop
		}
		return nil
	})
	if errors.Is(err, stop) {
		return nil
	}
	return err
}

// Refers reports whether one of the account's documents (or archived
// ones) refers to the blob, or the account uploaded it (Upload).
func (s *Store) Refers(ctx context.Context, account, blobID string) (bool, error) {
	if err := s.full(); err != nil {
		return false, err
	}
	if !validID(account) || !strings.HasPrefix(blobID, "sha256-") {
		return false, nil
	}
	for _, k := range []string{blobRefKey(account, blobID), uploadKey(account, blobID)} {
		_, err := s.docs.Get(ctx, k)
		if err == nil {
			return true, nil
		}
		if !errors.Is(kvErr(err), ErrNotFound) {
			return false, err
		}
	}
	return false, nil
}

// PurgeArchive removes the archived documents whose ArchivedUntil has
// passed (store.archive.retention after their destroy), and says how many
// it removed. One archived again meanwhile (restored and destroyed anew)
// has a later ArchivedUntil and a new revision, and stays. The blobs they
// referred to are the blob purge's (mark and sweep) to remove.
func (s *Store) PurgeArchive(ctx context.Context) (int, error) {
	if err := s.full(); err != nil {
		return 0, err
	}
	now := s.p.Clock.Now()
	type expired struct {
		key string
		rev uint64
	}
	var gone []expired
	err := s.scan(ctx, s.docs, "*.archived.>", func(key string, rev uint64, v []byte) error {
		var d Document
		if err := json.Unmarshal(v, &d); err != nil {
			s.log.Warn("unreadable archived document, left as it is", "key", key, "err", err)
			return nil
		}
		if !d.ArchivedUntil.IsZero() && d.ArchivedUntil.Before(now) {
			gone = append(gone, expired{key, rev})
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("purge the archive: %w", err)
	}
	n := 0
	for _, g := range gone {
		err := s.docs.Purge(ctx, g.key, jetstream.LastRevision(g.rev))
		switch {
		case errors.Is(casErr(err), ErrConflict):
			continue // archived again meanwhile
		case err != nil:
			return n, fmt.Errorf("purge the archive: %s: %w", g.key, kvErr(err))
		}
		n++
	}
	return n, nil
}

// RestoreArchived brings back the account's archived document of type t
// whose blob is blobID (the most recently archived, when several): it is
// created again with its id, blob and properties (charged to the quota,
// logged, so indexed again), and leaves the archive. It is ErrNotFound
// when the archive holds no such document, and ErrExpired once its
// ArchivedUntil has passed (the archive purge may already have removed
// it).
func (s *Store) RestoreArchived(ctx context.Context, account string, t Type, blobID string) (*Document, error) {
	if err := s.full(); err != nil {
		return nil, err
	}
	var found *Document
	var foundKey string
	var foundRev uint64
	err := s.scan(ctx, s.docs, account+".archived."+string(t)+".*", func(key string, rev uint64, v []byte) error {
		var d Document
		if err := json.Unmarshal(v, &d); err != nil || d.BlobID != blobID {
			return nil
		}
		if found == nil || d.ArchivedUntil.After(found.ArchivedUntil) {
			found, foundKey, foundRev = &d, key, rev
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("restore %s of %s: %w", t, account, err)
	}
	if found == nil {
		return nil, fmt.Errorf("restore %s with blob %s of account %s: %w: nothing archived", t, blobID, account, ErrNotFound)
	}
	if !found.ArchivedUntil.After(s.p.Clock.Now()) {
		return nil, fmt.Errorf("restore %s %s of account %s: %w: archived until %s", t, found.ID, account, ErrExpired, found.ArchivedUntil.Format(time.RFC3339))
	}
	d := *found
	d.ArchivedUntil = time.Time{}
	if err := s.CreateDocument(ctx, &d); err != nil {
		return nil, fmt.Errorf("restore %s %s of account %s: %w", t, d.ID, account, err)
	}
	if err := s.docs.Purge(ctx, foundKey, jetstream.LastRevision(foundRev)); err != nil && !errors.Is(casErr(err), ErrConflict) {
		s.log.Warn("restored document left in the archive too", "key", foundKey, "err", err)
	}
	return &d, nil
}

// DropBlobReferences removes the account's record of the blobs it may
// download (those its documents referred to, and its uploads), so that a
// destroyed account keeps no blob but through its archived documents:
// the blob purge then removes the rest. A document restored later records
// its blob again. It returns how many records went.
func (s *Store) DropBlobReferences(ctx context.Context, account string) (int, error) {
	if err := s.full(); err != nil {
		return 0, err
	}
	if !validID(account) {
		return 0, fmt.Errorf("account %q: %w", account, ErrNotFound)
	}
	var keys []string
	for _, filter := range []string{blobRefKey(account, "*"), uploadKey(account, "*")} {
		if err := s.scan(ctx, s.docs, filter, func(key string, _ uint64, _ []byte) error {
			keys = append(keys, key)
			return nil
		}); err != nil {
			return 0, fmt.Errorf("blob references of %s: %w", account, err)
		}
	}
	for _, k := range keys {
		if err := s.docs.Purge(ctx, k); err != nil && !errors.Is(kvErr(err), ErrNotFound) {
			return 0, fmt.Errorf("drop %s: %w", k, kvErr(err))
		}
	}
	return len(keys), nil
}
