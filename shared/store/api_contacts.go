package store

import (
	"context"
	"encoding/json"

	"github.com/jetmail/jetmail/shared/adminapi"
)

// contactSpec serves ContactCard/get and /set: a card is its vCard text,
// checked and read on every write; an update gives a new text.
var contactSpec = docSpec[adminapi.ContactCard]{
	typ: ContactsType, getPerm: PermContactsGet, setPerm: PermContactsSet,
	out: func(d *Document) (adminapi.ContactCard, error) {
		var c ContactCard
		if err := d.Decode(&c); err != nil {
			return adminapi.ContactCard{}, err
		}
		return adminapi.ContactCard{ID: d.ID, VCard: c.VCard, UID: c.UID, FullName: c.FullName, Emails: c.Emails,
			Organization: c.Organization, Updated: d.Updated}, nil
	},
	fill: func(_ context.Context, _ string, d *Document, props json.RawMessage) error {
		var c adminapi.ContactCardCreate
		if se := decodeProps(props, &c); se != nil {
			return se
		}
		card, err := ParseContactCard(c.VCard)
		if err != nil {
			return invalidProps("vcard", "%v", err)
		}
		d.Size = int64(len(c.VCard))
		return d.Encode(card)
	},
}
