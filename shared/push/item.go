package push

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/work"
)

// Role is the role that sends pushes.
const Role = roles.PushNotifications

// DataTypes are the JMAP data type names of the store's document types:
// the names a StateChange and a subscription's types use.
var DataTypes = map[store.Type]string{
	store.EmailType: "Email", store.MailboxType: "Mailbox", store.CalendarType: "CalendarEvent",
	store.ContactsType: "ContactCard", store.FileType: "FileNode",
}

// typeNames are DataTypes' values, sorted.
var typeNames = slices.Sorted(maps.Values(DataTypes))

// Item is one unit of push-notifications work: the states an account's
// data reached (a batch of changes, coalesced), or one calendar alert.
type Item struct {
	Account string `json:"account"`
	// States are data type -> state (the change log sequence of its
	// latest change).
	States map[string]uint64 `json:"states,omitempty"`
	// Alert, with AlertKey naming it (the alarm task's id), is a calendar
	// alert to push.
	Alert    *CalendarAlert `json:"alert,omitempty"`
	AlertKey string         `json:"alertKey,omitempty"`
}

// SubmitAlert hands a calendar alert to the push-notifications nodes that
// own the account's partition. key names the alert (the same key is
// pushed once).
func SubmitAlert(ctx context.Context, pub *work.Publisher, key string, a CalendarAlert) error {
	a.Type = "CalendarAlert"
	b, _ := json.Marshal(Item{Account: a.AccountID, Alert: &a, AlertKey: key})
	if err := pub.Submit(ctx, Role, work.Item{Key: a.AccountID, Data: b, MsgID: "push-alert/" + key}); err != nil {
		return fmt.Errorf("push the alert of %s: %w", a.CalendarEventID, err)
	}
	return nil
}
