package calendar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/itip"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// BucketItip holds, per scheduled event (<account>.<document>), what its
// account last sent of it (itip.Sent).
const BucketItip = "jetmail-calendar-itip"

// ItipConsumer is the durable consumer of the change log that the
// imip-processing feed reads calendar changes with.
const ItipConsumer = "imip-processing-feed"

// maxTaskPayloads bounds the iCalendar bytes one CalendarItipMessage task
// carries (each recipient's payload counted): an event with many
// attendees is sent by several tasks.
const maxTaskPayloads = 256 << 10

// planItip makes the CalendarItipMessage tasks an event's change calls
// for (itip.Plan), then records what was sent. at is the change's time:
// each message's DTSTAMP.
func (s *Service) planItip(ctx context.Context, account, docID string, at time.Time) error {
	text := ""
	d, err := s.st.Document(ctx, account, store.CalendarType, docID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		var ev store.CalendarEvent
		if err := d.Decode(&ev); err != nil {
			return err
		}
		text = ev.ICal
	}
	a, err := s.st.Account(ctx, account)
	if errors.Is(err, store.ErrNotFound) {
		return nil // the account is gone, and its events with it
	}
	if err != nil {
		return err
	}
	k := entryKey(account, docID)
	for range casRetries {
		prev, rev, err := s.sent(ctx, k)
		if err != nil {
			return err
		}
		out, next, err := itip.Plan(prev, text, a.Addresses, at)
		if errors.Is(err, itip.ErrMalformed) {
			s.log.Warn("an event cannot be scheduled; no iTIP message sent", "account", a.Name, "event", docID, "err", err)
			return nil
		}
		if err != nil {
			return err
		}
		if len(out) == 0 && reflect.DeepEqual(prev, next) {
			return nil
		}
		var created []*task.Task
		if news := itipTasks(account, docID, out); len(news) > 0 {
			if created, err = s.mgr.CreateMany(ctx, news); err != nil {
				return fmt.Errorf("create the iTIP tasks of %s: %w", k, err)
			}
		}
		if err := s.putSent(ctx, k, next, rev); errors.Is(err, jetstream.ErrKeyExists) || isWrongLast(err) {
			for _, t := range created { // another writer was first: plan again from what it recorded
				_ = s.mgr.Destroy(ctx, t.ID)
			}
			continue
		} else if err != nil {
			return err
		}
		for _, o := range out {
			s.log.Info("iTIP message planned", "account", a.Name, "event", docID, "method", o.Method, "from", o.From, "to", strings.Join(o.To, ","))
		}
		return nil
	}
	return fmt.Errorf("iTIP record of %s: written by others %d times over", k, casRetries)
}

// itipTasks are the tasks that send the messages, each carrying at most
// maxTaskPayloads bytes of payloads (one recipient at least).
func itipTasks(account, docID string, out []itip.Outgoing) []taskmanager.NewTask {
	var news []taskmanager.NewTask
	var cur *task.CalendarItipMessageTask
	size := 0
	for _, o := range out {
		for _, to := range o.To {
			if cur == nil || (size+len(o.Payload) > maxTaskPayloads && len(cur.Messages) > 0) {
				cur = &task.CalendarItipMessageTask{AccountID: account, DocumentID: docID}
				news = append(news, taskmanager.NewTask{Payload: cur})
				size = 0
			}
			cur.Messages = append(cur.Messages, task.ItipMessage{Recipient: to, Payload: o.Payload})
			size += len(o.Payload)
		}
	}
	return news
}

// itipMessage runs CalendarItipMessage: each payload goes, as one iMIP
// mail to its recipients, through the outbound queue, from the organizer
// (or, for a REPLY, the attendee). A mail's Message-ID is made from its
// account, event, payload and recipients, so one sent again after a crash
// is a duplicate that local delivery drops.
func (s *Service) itipMessage(ctx context.Context, t *task.Task) error {
	p := t.Payload.(*task.CalendarItipMessageTask)
	type group struct {
		payload string
		to      []string
	}
	var groups []*group
	byPayload := map[string]*group{}
	for _, m := range p.Messages {
		g, ok := byPayload[m.Payload]
		if !ok {
			g = &group{payload: m.Payload}
			byPayload[m.Payload] = g
			groups = append(groups, g)
		}
		g.to = append(g.to, m.Recipient)
	}
	host := mailqueue.Hostname(s.cfg)
	for _, g := range groups {
		m, err := itip.Parse(g.payload)
		if err != nil {
			s.log.Error("an iTIP task's payload cannot be read; not sent", "task", t.ID, "account", p.AccountID, "event", p.DocumentID, "err", err)
			continue
		}
		from := m.Organizer
		if m.Method == itip.Reply || m.Method == itip.Counter {
			if len(m.Attendees) != 1 {
				s.log.Error("an iTIP reply without exactly one attendee; not sent", "task", t.ID, "event", p.DocumentID)
				continue
			}
			from = m.Attendees[0].Address
		}
		o := itip.Outgoing{Method: m.Method, From: from, To: g.to, Payload: g.payload}
		id := p.AccountID + "\n" + p.DocumentID + "\n" + strings.Join(g.to, ",") + "\n" + g.payload
		body, err := itip.Compose(o, host, id, s.clock.Now())
		if err != nil {
			s.log.Error("an iTIP message cannot be composed; not sent", "task", t.ID, "event", p.DocumentID, "err", err)
			continue
		}
		rcpts := make([]mailqueue.RcptIn, len(g.to))
		for i, to := range g.to {
			rcpts[i] = mailqueue.RcptIn{Address: to}
		}
		if _, err := s.p.Queue.Enqueue(ctx, mailqueue.Envelope{Sender: from, Source: mailqueue.SourceAutogenerated}, rcpts, body); err != nil {
			return fmt.Errorf("queue the iTIP %s of %s: %w", m.Method, p.DocumentID, err)
		}
		s.log.Info("iTIP message sent", "account_id", p.AccountID, "event", p.DocumentID, "method", m.Method, "from", from, "to", strings.Join(g.to, ","))
	}
	return nil
}

func (s *Service) sent(ctx context.Context, k string) (*itip.Sent, uint64, error) {
	var sent itip.Sent
	rev, err := getRecord(ctx, s.itip, k, &sent)
	switch {
	case err != nil:
		return nil, 0, fmt.Errorf("the iTIP record of %s: %w", k, err)
	case rev == 0:
		return nil, 0, nil
	}
	return &sent, rev, nil
}

func (s *Service) putSent(ctx context.Context, k string, next *itip.Sent, rev uint64) error {
	var b []byte
	if next != nil {
		b, _ = json.Marshal(next)
	}
	return putRecord(ctx, s.itip, k, b, rev)
}
