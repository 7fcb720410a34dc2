package store

import (
	"context"
	"encoding/json"

	"github.com/jetmail/jetmail/shared/adminapi"
)

// calendarSpec serves CalendarEvent/get and /set: an event is its
// iCalendar text, checked and read on every write; an update gives a new
// text.
var calendarSpec = docSpec[adminapi.CalendarEvent]{
	typ: CalendarType, getPerm: PermCalendarGet, setPerm: PermCalendarSet,
	out: func(d *Document) (adminapi.CalendarEvent, error) {
		var e CalendarEvent
		if err := d.Decode(&e); err != nil {
			return adminapi.CalendarEvent{}, err
		}
		return adminapi.CalendarEvent{ID: d.ID, ICal: e.ICal, UID: e.UID, Summary: e.Summary, Description: e.Description,
			Location: e.Location, Start: e.Start, End: e.End, RRule: e.RRule, Alarms: e.Alarms, Updated: d.Updated}, nil
	},
	fill: func(_ context.Context, _ string, d *Document, props json.RawMessage) error {
		var c adminapi.CalendarEventCreate
		if se := decodeProps(props, &c); se != nil {
			return se
		}
		if err := SetCalendarText(d, c.ICal); err != nil {
			return invalidProps("ical", "%v", err)
		}
		return nil
	},
}
