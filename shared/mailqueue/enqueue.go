package mailqueue

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/jetmail/jetmail/shared/engine"
)

// RcptIn is a recipient as accepted by RCPT TO.
type RcptIn struct {
	Address string   `json:"address"`
	ORCPT   string   `json:"orcpt,omitempty"`
	Notify  []Notify `json:"notify,omitempty"`
}

// groupWindow is how long the other recipients of a domain wait for the
// transaction of the first before their own trigger fires.
const groupWindow = 2 * time.Second

// Enqueue stores body and queues one entry per recipient. When it returns
// nil the message is durable and the SMTP 250 may be sent. env's
// MessageID, ReceivedAt and Size are set here.
func (q *Queue) Enqueue(ctx context.Context, env Envelope, rcpts []RcptIn, body []byte) (string, error) {
	return q.EnqueueFrom(ctx, env, rcpts, bytes.NewReader(body))
}

// EnqueueFrom is Enqueue reading the body from r, holding no more than
// Params.InlineBodyMax of it in memory: a larger body, or that of a message
// with several recipients, streams to the body store in chunks. An error
// from r (a size limit, a line too long) comes back wrapped, and nothing is
// queued.
func (q *Queue) EnqueueFrom(ctx context.Context, env Envelope, rcpts []RcptIn, r io.Reader) (string, error) {
	if len(rcpts) == 0 {
		return "", fmt.Errorf("enqueue: no recipients")
	}
	now := q.p.Clock.Now().UTC()
	env.MessageID, env.ReceivedAt, env.Recipients = nuid.Next(), now, len(rcpts)
	if env.Ret == "" {
		env.Ret = "HDRS"
	}
	// Up to one byte more than travels in an entry, in a buffer that grows
	// with what comes: a small message costs no 64 KiB allocation.
	limit := max(q.p.InlineBodyMax, 0)
	head, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return "", fmt.Errorf("read message: %w", err)
	}
	whole := len(head) <= limit // the body ended within the limit
	var body []byte             // the body, when it travels in its entry
	// The Message-ID for the trace, from the header: in head, unless
	// InlineBodyMax is smaller than the header, when the first bytes of
	// the rest are kept on their way to the store.
	var sniff *sniffer
	if !whole && !headerEnds(head) && len(head) < maxHeaderSniff {
		sniff = &sniffer{buf: append([]byte(nil), head...), max: maxHeaderSniff}
		r = io.TeeReader(r, sniff)
	}
	if len(rcpts) == 1 && whole && len(head) > 0 {
		body, env.Size = head, int64(len(head))
	} else {
		cr := &countingReader{r: io.MultiReader(bytes.NewReader(head), r)}
		if _, err := q.bodies.Put(ctx, jetstream.ObjectMeta{Name: env.MessageID}, cr); err != nil {
			if cr.err != nil {
				return "", fmt.Errorf("read message: %w", cr.err)
			}
			return "", fmt.Errorf("store message body: %w", err)
		}
		env.Size = cr.n
	}
	forget := func() {
		if body == nil {
			if derr := q.bodies.Delete(ctx, env.MessageID); derr != nil {
				q.log.Warn("enqueue failed and its body could not be removed; the sweeper will", "message", env.MessageID, "err", derr)
			}
		}
	}
	inserts := make([]engine.Insert[Recipient], len(rcpts))
	// Only the first recipient of each domain is triggered at once; its
	// transaction takes the others along, and their own trigger, a little
	// later, is a fallback that finds them gone.
	first := map[string]bool{}
	for i, rc := range rcpts {
		r := &Recipient{Envelope: env, Index: i, Address: rc.Address, ORCPT: rc.ORCPT, Notify: rc.Notify, Due: now, Body: body}
		id, sched, err := q.strategy.Schedule(Vars(r, now))
		if err != nil {
			forget()
			return "", fmt.Errorf("schedule <%s>: %w", rc.Address, err)
		}
		applySchedule(r, id, sched, now)
		inserts[i] = engine.Insert[Recipient]{Key: r.Key(), Value: r}
		group := r.Queue + "/" + r.Domain()
		if first[group] {
			inserts[i].TriggerAt = now.Add(groupWindow)
		}
		first[group] = true
	}
	if _, err := q.eng.Create(ctx, inserts...); err != nil {
		forget()
		return "", fmt.Errorf("queue message: %w", err)
	}
	// No delayed-DSN schedule yet: a message delivered at its first attempt,
	// most of them, never needs one (see deferred in runner.go).
	q.metrics.enqueued.WithLabelValues(string(env.Source)).Inc()
	if sniff != nil {
		head = sniff.buf
	}
	queue := inserts[0].Value.Queue
	for _, in := range inserts[1:] {
		if in.Value.Queue != queue {
			queue = "" // recipients in several virtual queues
			break
		}
	}
	q.tracedReceived(ctx, env, rcpts, queue, headerMessageID(head))
	return env.MessageID, nil
}

// scheduleNotify sets the message's delayed-DSN schedule to the earliest
// notify time of its entries, or removes it when there is none. It fires
// for NotifyConsumer, whatever virtual queue its entries are in.
func (q *Queue) scheduleNotify(ctx context.Context, messageID string, entries []*Recipient) error {
	var first *Recipient
	for _, r := range entries {
		if !r.NextNotify.IsZero() && (first == nil || r.NextNotify.Before(first.NextNotify)) {
			first = r
		}
	}
	if first == nil {
		s, err := q.js.Stream(ctx, Stream)
		if err != nil {
			return err
		}
		return s.Purge(ctx, jetstream.WithPurgeSubject(notifySubject(messageID)))
	}
	msg := nats.NewMsg(notifySubject(messageID))
	msg.Header.Set(HeaderNotify, messageID)
	msg.Header.Set(jetstream.ScheduleHeader, "@at "+first.NextNotify.UTC().Format(time.RFC3339Nano))
	msg.Header.Set(jetstream.ScheduleTargetHeader, notifyDueSubject(messageID))
	_, err := q.d.JS().PublishMsg(ctx, msg)
	return err
}

// Get reads a queue entry.
func (q *Queue) Get(ctx context.Context, key string) (*Recipient, error) {
	it, err := q.eng.Get(ctx, key)
	if err != nil {
		return nil, entryErr(err)
	}
	return it.Value, nil
}

// Body reads a queued message's body, from the body store or, for a small
// one-recipient message, from its entry.
func (q *Queue) Body(ctx context.Context, messageID string) ([]byte, error) {
	if r, err := q.Get(ctx, EntryKey(messageID, 0)); err == nil {
		return q.bodyOf(ctx, r)
	}
	return q.bodyOf(ctx, &Recipient{Envelope: Envelope{MessageID: messageID}})
}

// countingReader counts what it reads and keeps the error its source
// gave, to tell it from the store's.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// bodyOf reads the body of r's message: from r itself when it travels
// there, else from the body store (ErrNotFound when it is gone).
func (q *Queue) bodyOf(ctx context.Context, r *Recipient) ([]byte, error) {
	if r.Body != nil {
		return r.Body, nil
	}
	res, err := q.bodies.Get(ctx, r.MessageID)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("message %s: %w", r.MessageID, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	defer res.Close()
	info, err := res.Info()
	if err != nil {
		return nil, err
	}
	// Read into a buffer of the body's size, not with GetBytes: its buffer
	// grows by doubling, so a 68 MB body (a 50 MB attachment) took 128 MB
	// to hold and 256 MB of allocations to read.
	b := make([]byte, info.Size)
	if _, err := io.ReadFull(res, b); err != nil {
		return nil, fmt.Errorf("read the body of message %s: %w", r.MessageID, err)
	}
	// Read on to the end, where the object store checks the digest.
	if rest, err := io.ReadAll(io.LimitReader(res, 1)); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("read the body of message %s: %w", r.MessageID, cmp.Or(err, errors.New("longer than its size")))
	}
	return b, nil
}
