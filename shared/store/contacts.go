package store

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-vcard"
)

// MaxContactText bounds a contact card's vCard text, in bytes: 1 MiB
// (a photo inline makes a card large).
const MaxContactText = 1 << 20

// ContactCard is a contact card document's fields (Document.Data of
// ContactsType): the vCard text it was given, and what an index or a
// listing reads of it.
type ContactCard struct {
	// VCard is the vCard (RFC 6350, or 3.0) as given.
	VCard string `json:"vcard"`
	UID   string `json:"uid,omitempty"`
	// FullName is the preferred FN.
	FullName string `json:"fullName,omitempty"`
	// Emails are its EMAIL values, as given.
	Emails []string `json:"emails,omitempty"`
	// Organization is the ORG value's first part, if any.
	Organization string `json:"organization,omitempty"`
	// Names are what the contact is found by: every FN, the N parts
	// (given and family names) and the email addresses.
	Names []string `json:"names,omitempty"`
}

// ParseContactCard reads a vCard text. The error says what is wrong with
// it.
func ParseContactCard(text string) (*ContactCard, error) {
	if strings.TrimSpace(text) == "" {
		return nil, errors.New("empty: give a BEGIN:VCARD ... END:VCARD")
	}
	if len(text) > MaxContactText {
		return nil, fmt.Errorf("%d bytes; at most %d", len(text), MaxContactText)
	}
	card, err := vcard.NewDecoder(strings.NewReader(text)).Decode()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("not a vCard: no BEGIN:VCARD")
	}
	if err != nil {
		return nil, fmt.Errorf("not a vCard: %w", err)
	}
	if card.Value(vcard.FieldVersion) == "" {
		return nil, errors.New("the vCard has no VERSION")
	}
	out := &ContactCard{VCard: text, UID: card.Value(vcard.FieldUID), FullName: card.PreferredValue(vcard.FieldFormattedName)}
	seen := map[string]bool{}
	add := func(s string) {
		s = strings.TrimSpace(s)
		if s != "" && !seen[strings.ToLower(s)] {
			seen[strings.ToLower(s)] = true
			out.Names = append(out.Names, s)
		}
	}
	for _, fn := range card.Values(vcard.FieldFormattedName) {
		add(fn)
	}
	if n := card.Name(); n != nil {
		add(strings.Join(strings.Fields(n.GivenName+" "+n.AdditionalName+" "+n.FamilyName), " "))
	}
	if out.FullName == "" && len(out.Names) == 0 {
		return nil, errors.New("the vCard has no FN (formatted name) nor N")
	}
	for _, e := range card.Values(vcard.FieldEmail) {
		if e = strings.TrimSpace(e); e != "" {
			out.Emails = append(out.Emails, e)
			add(e)
		}
	}
	if org := card.Value(vcard.FieldOrganization); org != "" {
		out.Organization, _, _ = strings.Cut(org, ";")
	}
	return out, nil
}
