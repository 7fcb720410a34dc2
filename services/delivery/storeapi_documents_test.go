package delivery_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jmap"
)

const ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:ev1@shop.test\r\nDTSTAMP:20260101T000000Z\r\n" +
	"DTSTART:20260310T090000Z\r\nDTEND:20260310T100000Z\r\nSUMMARY:Stock count\r\nLOCATION:Back room\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"

const vcf = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Bo Baker\r\nEMAIL:bo@shop.test\r\nEND:VCARD\r\n"

// CalendarEvent, ContactCard and FileNode objects are made, read, changed
// and destroyed by their account; what does not parse, or a blob that is
// not the account's, is refused naming the property.
func TestDocumentsAPI(t *testing.T) {
	t.Parallel()
	a := startStoreAPI(t)
	ann, annSelf := a.account("ann", 0)
	bo, boSelf := a.account("bo", 0)
	mine := a.upload(annSelf, ann, "application/pdf", "%PDF-1.4 a price list")
	bos := a.upload(boSelf, bo, "", "bo's secret plans")

	for _, tc := range []struct {
		name     string
		set, get string
		good     any
		bad      map[string]struct {
			props any
			prop  string
			says  string // in the error's description, when set
		}
	}{
		{"calendar", adminapi.MethodCalendarEventSet, adminapi.MethodCalendarEventGet, map[string]any{"ical": ics}, map[string]struct {
			props any
			prop  string
			says  string // in the error's description, when set
		}{
			"not iCalendar": {map[string]any{"ical": "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\n"}, "ical", "not iCalendar"},
			"no DTSTART":    {map[string]any{"ical": "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"}, "ical", "no DTSTART"},
			"no VEVENT":     {map[string]any{"ical": "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"}, "ical", "no VEVENT"},
			"empty":         {map[string]any{"ical": " "}, "ical", "empty"},
			"bad line":      {map[string]any{"ical": "BEGIN:VCALENDAR\r\n0;0=\r\nEND:VCALENDAR\r\n"}, "ical", "malformed content line"},
			"ends first": {map[string]any{"ical": "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20260101T100000Z\r\nDTEND:20260101T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"},
				"ical", "ends before it starts"},
			"bad RRULE": {map[string]any{"ical": "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20260101T100000Z\r\nRRULE:FREQ=SOMETIMES\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"},
				"ical", `RRULE "FREQ=SOMETIMES"`},
			"bad DTSTART": {map[string]any{"ical": "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:tomorrow\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"},
				"ical", `DTSTART "tomorrow"`},
			"wrong type":    {map[string]any{"ical": 7}, "ical", ""},
			"unknown":       {map[string]any{"ical": ics, "summary": "mine"}, "summary", ""},
			"not an object": {"BEGIN:VCALENDAR", "", ""},
		}},
		{"contacts", adminapi.MethodContactCardSet, adminapi.MethodContactCardGet, map[string]any{"vcard": vcf}, map[string]struct {
			props any
			prop  string
			says  string // in the error's description, when set
		}{
			"not vCard":  {map[string]any{"vcard": "hello"}, "vcard", ""},
			"no VERSION": {map[string]any{"vcard": "BEGIN:VCARD\r\nFN:x\r\nEND:VCARD\r\n"}, "vcard", ""},
		}},
		{"files", adminapi.MethodFileNodeSet, adminapi.MethodFileNodeGet, map[string]any{"name": "prices.pdf", "type": "application/pdf", "blobId": mine}, map[string]struct {
			props any
			prop  string
			says  string // in the error's description, when set
		}{
			"another account's blob": {map[string]any{"name": "x", "blobId": bos}, "blobId", ""},
			"no such blob":           {map[string]any{"name": "x", "blobId": "sha256-00"}, "blobId", ""},
			"no blob":                {map[string]any{"name": "x"}, "blobId", ""},
			"a path":                 {map[string]any{"name": "a/b", "blobId": mine}, "name", ""},
			"bad type":               {map[string]any{"name": "x", "type": "pdf", "blobId": mine}, "type", ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			creates := map[string]any{"good": tc.good}
			for k, v := range tc.bad {
				creates[k] = v.props
			}
			r := call[jmap.SetResponse[adminapi.DocumentCreated, jmap.None]](t, annSelf, tc.set, map[string]any{"create": creates})
			id := r.Created["good"].ID
			require.NotEmpty(t, id, "%v", r.NotCreated["good"])
			require.NotEqual(t, r.OldState, r.NewState)
			for k, v := range tc.bad {
				e := r.NotCreated[k]
				require.NotNil(t, e, k)
				require.Equal(t, "invalidProperties", e.Type, k)
				if v.prop != "" {
					require.Equal(t, []string{v.prop}, e.Properties, "%s: %s", k, e.Description)
				}
				if v.says != "" {
					require.Contains(t, e.Description, v.says, k)
				}
			}
			g := call[jmap.GetResponse[json.RawMessage]](t, annSelf, tc.get, map[string]any{"ids": []string{id, "nosuch"}})
			require.Len(t, g.List, 1)
			require.Equal(t, []string{"nosuch"}, g.NotFound)
			all := call[jmap.GetResponse[json.RawMessage]](t, a.admin, tc.get, map[string]any{"accountId": ann})
			require.Len(t, all.List, 1)
			require.Equal(t, "forbidden", methodErr(t, boSelf, tc.get, map[string]any{"accountId": ann}))
			require.Equal(t, "forbidden", methodErr(t, a.reader, tc.get, map[string]any{"accountId": ann}))

			bad := tc.bad[sortedFirst(tc.bad)].props
			u := call[jmap.SetResponse[adminapi.DocumentCreated, jmap.None]](t, annSelf, tc.set, map[string]any{"update": map[string]any{id: bad}})
			require.Equal(t, "invalidProperties", u.NotUpdated[id].Type)
			d := call[jmap.SetResponse[adminapi.DocumentCreated, jmap.None]](t, annSelf, tc.set, map[string]any{"destroy": []string{id, "nosuch"}})
			require.Equal(t, []string{id}, d.Destroyed)
			require.Equal(t, "notFound", d.NotDestroyed["nosuch"].Type)
		})
	}
	t.Run("read back", func(t *testing.T) {
		t.Parallel()
		ann, annSelf := a.account("cy", 0) // an account of its own: the others count documents
		mine := a.upload(annSelf, ann, "", "%PDF-1.4 a price list")
		c := call[adminapi.CalendarEventSetResponse](t, annSelf, adminapi.MethodCalendarEventSet, map[string]any{"create": map[string]any{"e": map[string]any{"ical": ics}}})
		id := c.Created["e"].ID
		g := call[adminapi.CalendarEventGetResponse](t, annSelf, adminapi.MethodCalendarEventGet, map[string]any{"ids": []string{id}})
		ev := g.List[0]
		require.Equal(t, "Stock count", ev.Summary)
		require.Equal(t, "Back room", ev.Location)
		require.Equal(t, time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC), ev.Start)
		require.Equal(t, ics, ev.ICal)
		moved := strings.Replace(ics, "SUMMARY:Stock count", "SUMMARY:Stock count (moved)", 1)
		u := call[adminapi.CalendarEventSetResponse](t, annSelf, adminapi.MethodCalendarEventSet, map[string]any{"update": map[string]any{id: map[string]any{"ical": moved}}})
		require.Contains(t, u.Updated, id)
		g = call[adminapi.CalendarEventGetResponse](t, annSelf, adminapi.MethodCalendarEventGet, map[string]any{"ids": []string{id}})
		require.Equal(t, "Stock count (moved)", g.List[0].Summary)

		cc := call[adminapi.ContactCardSetResponse](t, annSelf, adminapi.MethodContactCardSet, map[string]any{"create": map[string]any{"c": map[string]any{"vcard": vcf}}})
		cg := call[adminapi.ContactCardGetResponse](t, annSelf, adminapi.MethodContactCardGet, map[string]any{"ids": []string{cc.Created["c"].ID}})
		require.Equal(t, "Bo Baker", cg.List[0].FullName)
		require.Equal(t, []string{"bo@shop.test"}, cg.List[0].Emails)

		f := call[adminapi.FileNodeSetResponse](t, annSelf, adminapi.MethodFileNodeSet, map[string]any{"create": map[string]any{"f": map[string]any{"name": "prices.pdf", "blobId": mine}}})
		fid := f.Created["f"].ID
		fu := call[adminapi.FileNodeSetResponse](t, annSelf, adminapi.MethodFileNodeSet, map[string]any{"update": map[string]any{fid: map[string]any{"name": "prices-2026.pdf"}}})
		require.Contains(t, fu.Updated, fid, "%v", fu.NotUpdated)
		fg := call[adminapi.FileNodeGetResponse](t, annSelf, adminapi.MethodFileNodeGet, map[string]any{"ids": []string{fid}})
		require.Equal(t, adminapi.FileNode{ID: fid, Name: "prices-2026.pdf", Type: "application/octet-stream", Size: int64(len("%PDF-1.4 a price list")), BlobID: mine,
			Created: fg.List[0].Created, Updated: fg.List[0].Updated}, fg.List[0])
	})
}

func sortedFirst[V any](m map[string]V) string {
	first := ""
	for k := range m {
		if first == "" || k < first {
			first = k
		}
	}
	return first
}
