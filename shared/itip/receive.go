package itip

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/jetmail/jetmail/shared/store"
)

// ReceiverParams configure a Receiver.
type ReceiverParams struct {
	// Store holds the accounts' calendars. Required.
	Store *store.Store
	// Logger logs what is not applied and why. Default slog.Default().
	Logger *slog.Logger
	// Metrics registers jetmail_imip_received_total. Default none.
	Metrics prometheus.Registerer
}

// Receiver applies the iTIP messages that local delivery brings.
type Receiver struct {
	p        ReceiverParams
	received *prometheus.CounterVec
}

// NewReceiver returns a Receiver.
func NewReceiver(p ReceiverParams) *Receiver {
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	return &Receiver{p: p, received: promauto.With(p.Metrics).NewCounterVec(prometheus.CounterOpts{
		Name: "jetmail_imip_received_total",
		Help: "iMIP messages that local delivery brought, by method and outcome: applied, unchanged (already applied, or older than the calendar's copy), ignored, refused (the sender may not send it), malformed or failed (not applied, over quota say; delivered as plain mail).",
	}, []string{"method", "outcome"})}
}

// Receive applies the iTIP message a mail to the account carries, if it
// has one, before the mail is stored: a REQUEST, CANCEL or ADD from the
// organizer to the attendee's copy of the event, a REPLY or COUNTER from
// an attendee to the organizer's event. sender is the envelope sender.
//
// Malformed iCalendar is logged and counted, and the mail is delivered
// all the same: Receive returns an error only when the store cannot be
// read or written, and the delivery should be tried again later.
func (r *Receiver) Receive(ctx context.Context, a *store.Account, sender string, body []byte) error {
	c, err := Extract(body)
	if errors.Is(err, errNoCalendar) {
		return nil
	}
	method := "unknown"
	log := r.p.Logger.With("account", a.Name)
	if err == nil {
		method = c.Method
		var m *Message
		if m, err = Parse(c.Text); err == nil {
			method = string(m.Method)
			from := c.From
			if s := strings.ToLower(sender); s != "" && !contains(from, s) {
				from = append(from, s)
			}
			return r.apply(ctx, a, m, from, log.With("method", method, "uid", m.UID))
		}
	}
	log.Warn("iMIP message not applied: malformed iCalendar; delivered as plain mail", "err", err)
	r.count(method, "malformed")
	return nil
}

// apply applies m to the account's copy of its event, by compare-and-set.
func (r *Receiver) apply(ctx context.Context, a *store.Account, m *Message, from []string, log *slog.Logger) error {
	st := r.p.Store
	for range 3 {
		d, err := r.find(ctx, a.ID, m.UID)
		if err != nil {
			return fmt.Errorf("find the calendar event %s of %s: %w", m.UID, a.Name, err)
		}
		var outcome Outcome
		change := func(d *store.Document) error {
			cur := ""
			if d.Data != nil {
				var ev store.CalendarEvent
				if err := d.Decode(&ev); err != nil {
					return err
				}
				cur = ev.ICal
			}
			text, o, err := Apply(cur, m, a.Addresses, from)
			if outcome = o; err != nil || o != Applied {
				return errNothing{err}
			}
			return store.SetCalendarText(d, text)
		}
		if d == nil {
			d = &store.Document{Account: a.ID, Type: store.CalendarType, ID: CopyID(m.UID)}
			if err = change(d); err == nil {
				err = st.CreateDocument(ctx, d)
				if errors.Is(err, store.ErrExists) {
					continue // made meanwhile: apply to it
				}
			}
		} else {
			_, err = st.UpdateDocument(ctx, a.ID, store.CalendarType, d.ID, change)
			if errors.Is(err, store.ErrNotFound) {
				continue // destroyed meanwhile: look again
			}
		}
		var nothing errNothing
		switch {
		case errors.As(err, &nothing) && nothing.err != nil:
			log.Warn("iMIP message not applied; delivered as plain mail", "err", nothing.err)
			r.count(string(m.Method), "malformed")
			return nil
		case errors.As(err, &nothing):
		case err == nil:
		case errors.Is(err, store.ErrOverQuota), errors.Is(err, store.ErrInvalid):
			log.Warn("iMIP message not applied; delivered as plain mail", "err", err)
			r.count(string(m.Method), "failed")
			return nil
		default:
			return fmt.Errorf("apply the iMIP %s of %s for %s: %w", m.Method, m.UID, a.Name, err)
		}
		if outcome != Applied {
			log.Info("iMIP message not applied", "outcome", outcome)
		} else {
			log.Info("iMIP message applied", "event", d.ID)
		}
		r.count(string(m.Method), string(outcome))
		return nil
	}
	return fmt.Errorf("apply the iMIP %s of %s for %s: %w", m.Method, m.UID, a.Name, store.ErrConflict)
}

// errNothing stops a document write: the message changes nothing (err
// nil), or cannot be applied (err).
type errNothing struct{ err error }

func (e errNothing) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return "nothing to change"
}

func (r *Receiver) count(method, outcome string) {
	r.received.WithLabelValues(method, outcome).Inc()
}

// find returns the account's event of the UID: the copy an iTIP message
// made (CopyID), else the first event with the UID; nil when none.
func (r *Receiver) find(ctx context.Context, account, uid string) (*store.Document, error) {
	st := r.p.Store
	d, err := st.Document(ctx, account, store.CalendarType, CopyID(uid))
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return d, err
	}
	var found *store.Document
	var derr error
	err = st.Documents(ctx, account, store.CalendarType, func(d *store.Document) bool {
		var ev store.CalendarEvent
		if derr = d.Decode(&ev); derr != nil {
			return false
		}
		if ev.UID == uid {
			found = d
			return false
		}
		return true
	})
	if err == nil {
		err = derr
	}
	return found, err
}

// CopyID is the id of the event an iTIP message makes in an account's
// calendar: made from the UID, so that the same invitation delivered
// twice makes one event.
func CopyID(uid string) string {
	sum := sha256.Sum256([]byte(uid))
	return "itip-" + hex.EncodeToString(sum[:20])
}
