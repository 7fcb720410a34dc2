package adminapi

import (
	"time"

	"github.com/jetmail/jetmail/shared/jmap"
)

// The methods of an account's other documents: calendar events (iCalendar),
// contact cards (vCard) and files (uploaded blobs). The account itself
// calls them, or an API user with sysCalendarGet/Set, sysContactsGet/Set,
// sysFilesGet/Set.
const (
	MethodCalendarEventGet = "CalendarEvent/get"
	MethodCalendarEventSet = "CalendarEvent/set"
	MethodContactCardGet   = "ContactCard/get"
	MethodContactCardSet   = "ContactCard/set"
	MethodFileNodeGet      = "FileNode/get"
	MethodFileNodeSet      = "FileNode/set"
)

// The responses of the document methods; each /get takes jmap.GetArgs
// (ids null for all, up to 1000) and each /set jmap.SetArgs.
type (
	CalendarEventGetResponse = jmap.GetResponse[CalendarEvent]
	CalendarEventSetResponse = jmap.SetResponse[DocumentCreated, jmap.None]
	ContactCardGetResponse   = jmap.GetResponse[ContactCard]
	ContactCardSetResponse   = jmap.SetResponse[DocumentCreated, jmap.None]
	FileNodeGetResponse      = jmap.GetResponse[FileNode]
	FileNodeSetResponse      = jmap.SetResponse[DocumentCreated, jmap.None]
)

// DocumentCreated is what a document /set tells of a created document.
type DocumentCreated struct {
	ID string `json:"id"`
}

// CalendarEvent is an event as CalendarEvent/get returns it: the
// iCalendar text it was given, and what the server read of it.
type CalendarEvent struct {
	ID          string    `json:"id"`
	ICal        string    `json:"ical"`
	UID         string    `json:"uid,omitempty"`
	Summary     string    `json:"summary,omitempty"`
	Description string    `json:"description,omitempty"`
	Location    string    `json:"location,omitempty"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end,omitzero"`
	RRule       string    `json:"rrule,omitempty"`
	// Alarms are "<ACTION> <trigger>" of each VALARM, such as
	// "DISPLAY -PT15M".
	Alarms  []string  `json:"alarms,omitempty"`
	Updated time.Time `json:"updated"`
}

// CalendarEventCreate is a CalendarEvent/set create or update: the
// iCalendar text (a VCALENDAR with a VEVENT), which replaces the old one.
type CalendarEventCreate struct {
	ICal string `json:"ical"`
}

// ContactCard is a contact as ContactCard/get returns it.
type ContactCard struct {
	ID           string    `json:"id"`
	VCard        string    `json:"vcard"`
	UID          string    `json:"uid,omitempty"`
	FullName     string    `json:"fullName,omitempty"`
	Emails       []string  `json:"emails,omitempty"`
	Organization string    `json:"organization,omitempty"`
	Updated      time.Time `json:"updated"`
}

// ContactCardCreate is a ContactCard/set create or update: the vCard
// text, which replaces the old one.
type ContactCardCreate struct {
	VCard string `json:"vcard"`
}

// FileNode is a file as FileNode/get returns it; its content is
// downloaded by blobId.
type FileNode struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Type    string    `json:"type"`
	Size    int64     `json:"size"`
	BlobID  string    `json:"blobId"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// FileNodeCreate is a FileNode/set create: a name, a media type (default
// application/octet-stream) and a blob the account uploaded. An update
// gives any of them.
type FileNodeCreate struct {
	Name   string `json:"name"`
	Type   string `json:"type,omitempty"`
	BlobID string `json:"blobId"`
}
