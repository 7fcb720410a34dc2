package mailqueue

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/textproto"
	"time"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/dsn"
	"github.com/jetmail/jetmail/shared/lifecycle"
	"github.com/jetmail/jetmail/shared/trace"
)

// openTrace creates the traces stream and, unless Params.Trace gave one,
// the node's Recorder. Events go out on the node's last connection, apart
// from the queue's own writes.
func (q *Queue) openTrace(ctx context.Context, undo *lifecycle.Undo) error {
	cfg := q.d.Config
	retention := cfg.Queue.TraceRetention
	if retention <= 0 {
		retention = config.DefaultTraceRetention
	}
	if err := trace.EnsureStream(ctx, q.js, retention, cfg.NATS.Replicas); err != nil {
		return err
	}
	if q.p.Trace != nil {
		q.trace = q.p.Trace
		return nil
	}
	js := q.d.JetStreams[len(q.d.JetStreams)-1]
	rec, err := trace.NewRecorder(js, cfg.Cluster.Partitions, trace.RecorderOptions{Node: q.d.NodeID, Logger: q.log, Metrics: q.d.Metrics})
	if err != nil {
		return err
	}
	q.trace = rec
	undo.Add(func(ctx context.Context) error {
		if err := rec.Flush(ctx); err != nil {
			q.log.Warn("trace events unrecorded at shutdown", "err", err)
		}
		return nil
	})
	return nil
}

// Trace is the queue's trace recorder, for the deliverer to record its
// attempts with (nil before Start).
func (q *Queue) Trace() *trace.Recorder { return q.trace }

// event is an event of kind about recipient r.
func event(kind trace.Kind, r *Recipient, at time.Time) trace.Event {
	return trace.Event{TraceID: r.MessageID, Kind: kind, At: at, Sender: r.Sender, Recipient: r.Address,
		Size: r.Size, Queue: r.Queue, Attempt: r.Attempts}
}

// outcome is the event of a recipient's attempt that ended with res.
func outcome(kind trace.Kind, r *Recipient, res Result, at time.Time) trace.Event {
	e := event(kind, r, at)
	e.RemoteHost, e.Reply, e.Status = res.RemoteMTA, res.Diagnostic(), res.EnhancedStatus()
	return e
}

// traced records an event.
func (q *Queue) traced(ctx context.Context, e trace.Event) { q.trace.Record(ctx, e) }

// tracedReceived records a message's received event.
func (q *Queue) tracedReceived(ctx context.Context, env Envelope, rcpts []RcptIn, queue, messageID string) {
	addrs := make([]string, len(rcpts))
	for i, r := range rcpts {
		addrs[i] = r.Address
	}
	e := trace.Event{TraceID: env.MessageID, Kind: trace.KindReceived, At: env.ReceivedAt, Sender: env.Sender,
		Recipients: addrs, MessageID: messageID, Size: env.Size, Queue: queue, Reply: "source " + string(env.Source)}
	if env.ReceivedFromIP != "" {
		e.RemoteHost = fmt.Sprintf("%s [%s]", env.Helo, env.ReceivedFromIP)
	}
	q.traced(ctx, e)
}

// tracedDSN records, on the message's trace, the DSN queued about it.
func (q *Queue) tracedDSN(ctx context.Context, r *Recipient, blocks []dsn.Recipient, dsnID string) {
	about := make([]string, len(blocks))
	for i, b := range blocks {
		about[i] = b.FinalRecipient
	}
	q.traced(ctx, trace.Event{TraceID: r.MessageID, Kind: trace.KindDSNSent, At: q.p.Clock.Now().UTC(), Sender: r.Sender,
		Recipients: about, Queue: r.Queue, Reply: fmt.Sprintf("%s DSN to <%s> queued as %s", blocks[0].Action, r.Sender, dsnID)})
}

// maxHeaderSniff is how much of a message is read for its Message-ID.
const maxHeaderSniff = 64 << 10

// headerMessageID is the Message-ID field of the message header that
// starts head, "" when there is none in it.
func headerMessageID(head []byte) string {
	// A header cut short still gives the fields read before the cut.
	h, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(head))).ReadMIMEHeader()
	return h.Get("Message-Id")
}

// headerEnds reports whether b holds the blank line that ends a header.
func headerEnds(b []byte) bool {
	return bytes.Contains(b, []byte("\r\n\r\n")) || bytes.Contains(b, []byte("\n\n"))
}

// sniffer keeps the first max bytes written to it.
type sniffer struct {
	buf []byte
	max int
}

func (s *sniffer) Write(p []byte) (int, error) {
	if room := s.max - len(s.buf); room > 0 {
		s.buf = append(s.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
