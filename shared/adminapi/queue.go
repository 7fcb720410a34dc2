package adminapi

import (
	"time"

	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/mailqueue"
)

// The responses and arguments of the x:Queue and x:VirtualQueue methods.
// x:Queue/get and x:VirtualQueue/get take jmap.GetArgs (x:Queue/get needs
// ids); x:VirtualQueue/set takes jmap.SetArgs with VirtualQueuePatch
// updates.
type (
	QueueGetResponse        = jmap.GetResponse[QueueEntry]
	QueueQueryArgs          = jmap.QueryArgs[QueueFilter]
	QueueQueryResponse      = jmap.QueryResponse
	QueueSetResponse        = jmap.SetResponse[jmap.None, QueueEntryUpdated]
	VirtualQueueGetResponse = jmap.GetResponse[VirtualQueue]
	VirtualQueueSetResponse = jmap.SetResponse[jmap.None, jmap.None]
)

// QueueEntry is one recipient of a queued message, as x:Queue/get returns
// it. Its id is the entry key, <message id>.<n>.
type QueueEntry struct {
	ID        string `json:"id"`
	MessageID string `json:"messageId"`
	Rcpt      string `json:"rcpt"`
	// Sender is the MAIL FROM address; empty for the null sender <>.
	Sender string `json:"sender"`
	// EnvID is the DSN envelope id of MAIL FROM (RFC 3461), if given.
	EnvID string `json:"envId,omitempty"`
	// Queue and Schedule are the virtual queue and scheduling strategy the
	// entry is under.
	Queue    string `json:"queue"`
	Schedule string `json:"schedule"`
	// Due is when the next attempt runs.
	Due      time.Time `json:"due"`
	Attempts int       `json:"attempts"`
	// MaxAttempts (with a max-attempts schedule) or Expires (with an
	// expire one) bound the attempts.
	MaxAttempts int       `json:"maxAttempts,omitempty"`
	Expires     time.Time `json:"expires,omitzero"`
	Held        bool      `json:"held"`
	ReceivedAt  time.Time `json:"receivedAt"`
	// Size is the message size in bytes.
	Size   int64            `json:"size"`
	Source mailqueue.Source `json:"source"`
	// LastStatus is the last SMTP reply code ("451 4.7.1"), LastError its
	// text or a connection error, LastAttempt when it was, RemoteMTA who
	// answered.
	LastStatus  string    `json:"lastStatus,omitempty"`
	LastError   string    `json:"lastError,omitempty"`
	LastAttempt time.Time `json:"lastAttempt,omitzero"`
	RemoteMTA   string    `json:"remoteMta,omitempty"`
}

// QueueEntryFrom is the API form of r.
func QueueEntryFrom(r *mailqueue.Recipient) QueueEntry {
	return QueueEntry{
		ID: r.Key(), MessageID: r.MessageID, Rcpt: r.Address, Sender: r.Sender, EnvID: r.EnvID,
		Queue: r.Queue, Schedule: r.Schedule, Due: r.Due, Attempts: r.Attempts, MaxAttempts: r.MaxAttempts,
		Expires: r.Expires, Held: r.Held, ReceivedAt: r.ReceivedAt, Size: r.Size, Source: r.Source,
		LastStatus: r.LastStatus, LastError: r.LastError, LastAttempt: r.LastAttempt, RemoteMTA: r.RemoteMTA,
	}
}

// QueueEntryUpdated is what x:Queue/set tells of an updated entry.
type QueueEntryUpdated struct {
	Due  time.Time `json:"due"`
	Held bool      `json:"held"`
}

// QueueStatus is the status a queue filter keeps.
type QueueStatus string

// The statuses of queue entries.
const (
	// QueueStatusQueued entries wait for their first attempt.
	QueueStatusQueued QueueStatus = "queued"
	// QueueStatusRetrying entries were attempted at least once.
	QueueStatusRetrying QueueStatus = "retrying"
	// QueueStatusHeld entries wait until released.
	QueueStatusHeld QueueStatus = "held"
)

// QueueFilter is the filter of x:Queue/query (and of bulk operations in the
// CLI). Every field narrows the result; the zero filter keeps every entry.
type QueueFilter struct {
	// Queue is a virtual queue name.
	Queue string `json:"queue,omitempty"`
	// Domain is the recipient's domain.
	Domain string `json:"domain,omitempty"`
	// Sender is the sender address, or @domain for a sender domain.
	Sender string      `json:"sender,omitempty"`
	Status QueueStatus `json:"status,omitempty"`
	// DueAfter and DueBefore bound the next attempt time.
	DueAfter  *time.Time `json:"dueAfter,omitempty"`
	DueBefore *time.Time `json:"dueBefore,omitempty"`
}

// UnmarshalJSON reads a filter strictly: an unknown property is an
// unsupportedFilter error, a bad value an invalidArguments one naming it.
func (f *QueueFilter) UnmarshalJSON(b []byte) error {
	var w struct {
		Queue     string  `json:"queue"`
		Domain    string  `json:"domain"`
		Sender    string  `json:"sender"`
		Status    string  `json:"status"`
		DueAfter  *string `json:"dueAfter"`
		DueBefore *string `json:"dueBefore"`
	}
	if err := decodeFilter(b, &w, "queue, domain, sender, status, dueAfter, dueBefore"); err != nil {
		return err
	}
	switch st := QueueStatus(w.Status); st {
	case "", QueueStatusQueued, QueueStatusRetrying, QueueStatusHeld:
	default:
		return jmap.Errorf("invalidArguments", "filter/status: %q is not one of queued, retrying, held", w.Status)
	}
	out := QueueFilter{Queue: w.Queue, Domain: w.Domain, Sender: w.Sender, Status: QueueStatus(w.Status)}
	var err error
	if out.DueAfter, err = parseDate("filter/dueAfter", w.DueAfter); err != nil {
		return err
	}
	if out.DueBefore, err = parseDate("filter/dueBefore", w.DueBefore); err != nil {
		return err
	}
	*f = out
	return nil
}

// QueueSetArgs are the arguments of x:Queue/set: updates are QueuePatch
// values; destroy cancels entries, bouncing them to their sender when
// OnDestroyBounce is set. Entries cannot be created here.
type QueueSetArgs struct {
	jmap.SetArgs
	OnDestroyBounce bool `json:"onDestroyBounce,omitempty"`
}

// QueuePatch is an x:Queue/set update. Due reschedules the next attempt,
// or with RetryNow brings it to now; Held holds or releases the entry.
type QueuePatch struct {
	Due      *time.Time
	RetryNow bool
	Held     *bool
}

// PatchObject is p on the wire: {"due": T}, {"due": null} or
// {"held": true|false}.
func (p QueuePatch) PatchObject() jmap.PatchObject {
	out := jmap.PatchObject{}
	// Times and booleans: Set cannot fail.
	switch {
	case p.RetryNow:
		out["due"] = []byte("null")
	case p.Due != nil:
		_ = out.Set("due", p.Due.UTC())
	}
	if p.Held != nil {
		_ = out.Set("held", *p.Held)
	}
	return out
}

// QueueExportArgs are the arguments of x:Queue/export: the entries whose
// messages to export.
type QueueExportArgs struct {
	IDs []string `json:"ids"`
}

// QueueExportResponse is the response of x:Queue/export: each message of
// the entries once, with those of its recipients that were asked for.
type QueueExportResponse struct {
	Messages []QueueMessage `json:"messages"`
}

// QueueMessage is a queued message as x:Queue/export writes it and
// x:Queue/import reads it (the CLI keeps one per line in an export file).
type QueueMessage struct {
	Envelope mailqueue.Envelope `json:"envelope"`
	// Recipients are written with the API's names (address, orcpt,
	// notify); files written before with "Address", "ORCPT" and "Notify"
	// still import, as JSON names match regardless of case.
	Recipients []mailqueue.RcptIn `json:"recipients"`
	// Body is the message, base64 (standard encoding). It is a string, not
	// []byte, so that a bad one is reported for its message by
	// x:Queue/import rather than failing the whole call.
	Body string `json:"body"`
}

// QueueImportArgs are the arguments of x:Queue/import.
type QueueImportArgs struct {
	Messages []QueueMessage `json:"messages"`
}

// QueueImportResponse is the response of x:Queue/import: the new message
// ids, and why each message not imported was not, by its index in the
// arguments.
type QueueImportResponse struct {
	Imported    []string       `json:"imported"`
	NotImported map[int]string `json:"notImported"`
}

// VirtualQueue is a virtual queue as x:VirtualQueue/get returns it; its id
// is its name (queue.virtual.<name>).
type VirtualQueue struct {
	ID             string `json:"id"`
	ThreadsPerNode int    `json:"threadsPerNode"`
	// Paused is set while no node delivers from the queue.
	Paused bool `json:"paused"`
	// Queued counts the recipients waiting in the queue for delivery, due
	// now or later; held ones are not counted (see mailqueue.Queue.Depth).
	Queued int `json:"queued"`
}

// VirtualQueuePatch is the one update x:VirtualQueue/set accepts.
type VirtualQueuePatch struct {
	Paused *bool `json:"paused"`
}

// QueueShapeArgs are the arguments of x:Queue/shape: which entries to
// count (nil: all), and how many domains to keep, most entries first
// (0: 50; at most 1000).
type QueueShapeArgs struct {
	Filter *QueueFilter `json:"filter,omitempty"`
	Top    int          `json:"top,omitempty"`
}

// QueueShapeResponse is the response of x:Queue/shape: the queue's
// figures per virtual queue, and a qshape-like count of its entries per
// recipient domain by age (time since the message was received).
type QueueShapeResponse struct {
	// Queues has every configured virtual queue, by name.
	Queues []QueueFigures `json:"queues"`
	// Buckets are the upper bounds of the age buckets ("5m", ...); each
	// domain's counts has one more, for older entries.
	Buckets []string `json:"buckets"`
	// Domains are the recipient domains, most entries first.
	Domains []DomainShape `json:"domains"`
	// Total counts the entries that matched.
	Total int `json:"total"`
}

// QueueFigures are a virtual queue's entries by status, as x:Queue/shape
// counts them.
type QueueFigures struct {
	ID       string `json:"id"`
	Queued   int    `json:"queued"`
	Retrying int    `json:"retrying"`
	Held     int    `json:"held"`
	// InFlight are being delivered now, cluster-wide.
	InFlight int  `json:"inFlight"`
	Paused   bool `json:"paused"`
	// Oldest is when its oldest entry was received; absent when empty.
	Oldest time.Time `json:"oldest,omitzero"`
}

// DomainShape counts the entries for one recipient domain by age bucket.
type DomainShape struct {
	Domain string `json:"domain"`
	Total  int    `json:"total"`
	Counts []int  `json:"counts"`
}
