package indexer

import (
	"context"
	"fmt"

	"github.com/jetmail/jetmail/shared/fts"
	"github.com/jetmail/jetmail/shared/mailparse"
	"github.com/jetmail/jetmail/shared/store"
)

// maxBodyText is how much of a message's text is indexed: enough for any
// letter, and an index entry that fits one NATS message.
const maxBodyText = 256 << 10

// unindexableError says a document cannot be indexed as it is (bad data,
// not a passing failure): the task fails with it, a build leaves the
// document out.
type unindexableError struct{ err error }

func (e unindexableError) Error() string { return "cannot index: " + e.err.Error() }
func (e unindexableError) Unwrap() error { return e.err }

// ftsDoc is d's index entry.
func (s *Service) ftsDoc(ctx context.Context, d *store.Document) (*fts.Doc, error) {
	doc := &fts.Doc{Account: d.Account, Type: string(d.Type), ID: d.ID}
	switch d.Type {
	case store.EmailType:
		return doc, s.emailDoc(ctx, d, doc)
	case store.CalendarType:
		var e store.CalendarEvent
		if err := d.Decode(&e); err != nil {
			return nil, unindexableError{err}
		}
		doc.Summary, doc.Description, doc.Location, doc.Date = e.Summary, e.Description, e.Location, e.Start
		return doc, nil
	case store.ContactsType:
		var c store.ContactCard
		if err := d.Decode(&c); err != nil {
			return nil, unindexableError{err}
		}
		doc.Names = c.Names
		if c.Organization != "" {
			doc.Names = append(doc.Names, c.Organization)
		}
		return doc, nil
	case store.FileType:
		var f store.FileNode
		if err := d.Decode(&f); err != nil {
			return nil, unindexableError{err}
		}
		doc.Names, doc.Date = []string{f.Name}, d.Updated
		return doc, nil
	default:
		return nil, unindexableError{fmt.Errorf("documents of type %s are not indexed yet", d.Type)}
	}
}

// emailDoc fills doc from an email: its envelope from the document, its
// text from the message, parsed.
func (s *Service) emailDoc(ctx context.Context, d *store.Document, doc *fts.Doc) error {
	var e store.Email
	if err := d.Decode(&e); err != nil {
		return unindexableError{err}
	}
	doc.Subject = e.Subject
	doc.From, doc.To, doc.Cc = addresses(e.From), addresses(e.To), addresses(e.Cc)
	doc.Date = e.ReceivedAt
	for id, in := range e.MailboxIDs {
		if in {
			doc.Mailboxes = append(doc.Mailboxes, id)
		}
	}
	for k, on := range e.Keywords {
		if on {
			doc.Keywords = append(doc.Keywords, k)
		}
	}
	for _, a := range e.Attachment {
		if a.Name != "" {
			doc.AttachmentNames = append(doc.AttachmentNames, a.Name)
		}
	}
	if d.BlobID == "" {
		return nil
	}
	r, err := s.st.Blob(ctx, d.BlobID)
	if err != nil {
		return fmt.Errorf("read message %s: %w", d.BlobID, err)
	}
	defer r.Close()
	m, err := mailparse.Parse(r, mailparse.Options{MaxText: maxBodyText})
	if err != nil {
		return fmt.Errorf("read message %s: %w", d.BlobID, err)
	}
	doc.Body = m.Text
	// Stemmed for its language when the message says it; the subject and
	// the text share it.
	doc.Language = m.Language
	return nil
}

// addresses writes each address as "Name <addr>", as fts reads them.
func addresses(as []mailparse.Address) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		if a.Name != "" {
			out = append(out, a.Name+" <"+a.Email+">")
		} else {
			out = append(out, a.Email)
		}
	}
	return out
}
