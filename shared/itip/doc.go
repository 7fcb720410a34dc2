// Package itip is calendar scheduling between accounts: iTIP (RFC 5546)
// messages carried as iMIP mail (RFC 6047). It decides what an event's
// change sends (Plan), makes the mail (Compose), finds the calendar part
// of a mail that arrives (Extract) and applies it to the account's
// calendar (Apply, Receiver). It holds no state of its own: the calendar
// service keeps Plan's Sent per event and runs the sending as
// CalendarItipMessage tasks, and local delivery calls a Receiver.
//
// # Outgoing
//
// When an event changes, Plan compares it with what was last sent (Sent):
//
//	organizer                                 sends
//	new, or changed beyond its attendees      REQUEST to every attendee
//	attendees added                           REQUEST to those
//	attendees removed                         CANCEL to those
//	only RDATEs added                         ADD to the attendees
//	STATUS:CANCELLED, or destroyed            CANCEL to every attendee
//
//	attendee
//	its PARTSTAT set other than NEEDS-ACTION  REPLY to the organizer
//
// "Changed beyond its attendees" is a digest of the event less ATTENDEE,
// RDATE, DTSTAMP and the owner's alarms: a REPLY applied to the
// organizer's event changes a PARTSTAT and sends nothing, so two local
// accounts never echo each other. Every message's DTSTAMP is the change's
// time, so planning one change twice gives the same messages, and Compose
// gives them the same Message-ID.
//
// # Incoming
//
// Apply follows RFC 5546's ordering: a REQUEST replaces the attendee's
// copy only with a higher SEQUENCE, or the same and a later DTSTAMP (the
// attendee's answer and alarms stay); a CANCEL or ADD with a lower
// SEQUENCE is dropped; a REPLY is applied only at the event's SEQUENCE or
// later, and only if it is later (DTSTAMP) than the attendee's last
// applied one, whose DTSTAMP the organizer's event keeps in the
// attendee's X-JETMAIL-DTSTAMP parameter (never sent). Only the organizer
// may send a REQUEST, CANCEL or ADD, only the attendee a REPLY or
// COUNTER: the mail's From or envelope sender must be theirs.
//
// An invitation makes its copy with an id made from the UID (CopyID): an
// invitation delivered twice makes one event. Malformed iCalendar, or a
// copy that cannot be written (over quota), is logged and counted, and
// the mail is delivered as plain mail; only a store that cannot answer
// makes delivery try again later. Applying a message twice changes
// nothing the second time, so a delivery repeated after a crash is
// harmless.
package itip
