package dupid

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/kvttl"
)

// Bucket is the KV bucket of the list.
const Bucket = "jetmail-delivery-dedup"

// Params configure a List.
type Params struct {
	// JS is where the bucket is.
	JS jetstream.JetStream
	// Replicas is the bucket's replica count (nats.replicas). Default 1.
	Replicas int
	// Retention is store.duplicates.retention: how long a Message-ID is
	// remembered. Required.
	Retention time.Duration
	// Clock tells the time. Default the system clock.
	Clock clock.Clock
	// Metrics registers jetmail_delivery_duplicates_total and
	// jetmail_delivery_duplicate_check_failures_total. Default none.
	Metrics prometheus.Registerer
}

// List is the duplicate-ID list.
type List struct {
	b          *kvttl.Bucket
	retention  time.Duration
	clock      clock.Clock
	duplicates prometheus.Counter
	failures   prometheus.Counter
}

// Open creates the bucket if need be and returns the list on it.
func Open(ctx context.Context, p Params) (*List, error) {
	if p.Retention <= 0 {
		return nil, errors.New("dupid: no retention")
	}
	if p.Clock == nil {
		p.Clock = clock.Real
	}
	b, err := kvttl.Open(ctx, p.JS, Bucket, "jetmail duplicate-ID list of local delivery: Message-IDs stored per account (store.duplicates.retention)", p.Replicas)
	if err != nil {
		return nil, err
	}
	l := &List{b: b, retention: p.Retention, clock: p.Clock}
	if p.Metrics != nil {
		l.duplicates = promauto.With(p.Metrics).NewCounter(prometheus.CounterOpts{Name: "jetmail_delivery_duplicates_total",
			Help: "Local deliveries not stored: the account had a message with the same Message-ID within store.duplicates.retention."})
		l.failures = promauto.With(p.Metrics).NewCounter(prometheus.CounterOpts{Name: "jetmail_delivery_duplicate_check_failures_total",
			Help: "Local deliveries whose duplicate-ID check failed (the list could not be read or written); they were stored unchecked."})
	}
	return l, nil
}

// Retention is how long a Message-ID is remembered.
func (l *List) Retention() time.Duration { return l.retention }

// DuplicateError is Claim's answer for a duplicate: the account was
// delivered the Message-ID by another delivery, Delivery, at At.
type DuplicateError struct {
	MessageID string
	Delivery  string
	At        time.Time
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("Message-ID %s was delivered at %s (as %s)", e.MessageID, e.At.UTC().Format(time.RFC3339), e.Delivery)
}

// ErrDuplicate is what every DuplicateError is (errors.Is).
var ErrDuplicate = errors.New("duplicate")

// Is makes errors.Is(err, ErrDuplicate) hold.
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }

// Claim is a delivery's hold on a Message-ID.
type Claim struct {
	l   *List
	key string
	rev uint64
}

// entry is a claim's value.
type entry struct {
	Delivery string `json:"delivery"`
	At       int64  `json:"at"`
}

// maxConflicts bounds a Claim's retries.
const maxConflicts = 10

// Claim claims messageID (MessageID of the body) for delivery to account
// by delivery, an id that is the same each time this delivery is tried.
// It returns a *DuplicateError if another delivery has it within the
// retention. An empty messageID claims nothing: a nil Claim, no error.
func (l *List) Claim(ctx context.Context, account, messageID, delivery string) (*Claim, error) {
	if messageID == "" {
		return nil, nil
	}
	c, err := l.claim(ctx, account, messageID, delivery)
	switch {
	case errors.Is(err, ErrDuplicate):
		if l.duplicates != nil {
			l.duplicates.Inc()
		}
	case err != nil:
		if l.failures != nil {
			l.failures.Inc()
		}
	}
	return c, err
}

func (l *List) claim(ctx context.Context, account, messageID, delivery string) (*Claim, error) {
	key := account + "." + hash(messageID)
	now := l.clock.Now()
	for range maxConflicts {
		v, rev, err := l.b.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		if v != nil {
			var e entry
			if err := json.Unmarshal(v, &e); err != nil {
				return nil, fmt.Errorf("duplicate-ID entry %s: %w", key, err)
			}
			at := time.Unix(e.At, 0)
			switch {
			case e.Delivery == delivery:
				return &Claim{l: l, key: key, rev: rev}, nil // ours, from an earlier try
			case now.Sub(at) < l.retention:
				return nil, &DuplicateError{MessageID: messageID, Delivery: e.Delivery, At: at}
			}
			// Past the retention, the server not having removed it yet.
		}
		val, _ := json.Marshal(entry{Delivery: delivery, At: now.Unix()})
		next, err := l.b.Write(ctx, key, val, rev, l.retention)
		switch {
		case err == nil:
			return &Claim{l: l, key: key, rev: next}, nil
		case !errors.Is(err, kvttl.ErrConflict):
			return nil, err
		}
	}
	return nil, fmt.Errorf("duplicate-ID entry %s: %d conflicting writes in a row", key, maxConflicts)
}

// Release gives the Message-ID up: the delivery failed, and another copy
// may be stored. A nil Claim releases nothing.
func (c *Claim) Release(ctx context.Context) error {
	if c == nil {
		return nil
	}
	return c.l.b.Delete(ctx, c.key, c.rev)
}

// MessageID is the Message-ID of a message, from its header, without
// its angle brackets and spaces; "" when it has none.
func MessageID(body []byte) string {
	// A header cut short still gives the fields read before the cut.
	h, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(body))).ReadMIMEHeader()
	id := strings.TrimSpace(h.Get("Message-Id"))
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">"))
}

func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}

// Clear removes every entry of the list (StoreMaintenance
// removeSieveLists) and returns how many there were. No bucket, nothing
// to remove.
func Clear(ctx context.Context, js jetstream.JetStream) (int, error) {
	return kvttl.Clear(ctx, js, Bucket)
}
