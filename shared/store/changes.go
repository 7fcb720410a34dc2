package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/shard"
)

// Op is what a change did.
type Op string

// Change operations.
const (
	Created   Op = "created"
	Updated   Op = "updated"
	Destroyed Op = "destroyed"
)

// changesPrefix starts the change log's subjects.
const changesPrefix = "jetmail.changes."

// Change is one entry of the change log.
type Change struct {
	Account string `json:"account"`
	Type    Type   `json:"type"`
	ID      string `json:"id"`
	Op      Op     `json:"op"`
	// Modseq is the document's after the change (before it, for a destroy).
	Modseq uint64    `json:"modseq"`
	At     time.Time `json:"at"`
	// Into and OutOf are, for an email's update, the mailboxes it came
	// into and left (sorted): the spam trainer takes an email moved into
	// Junk as spam, out of it as ham.
	Into  []string `json:"into,omitempty"`
	OutOf []string `json:"outOf,omitempty"`
	// Seq is the change's place in the log (not stored: the stream's).
	Seq uint64 `json:"-"`
}

// Partition is the account's partition among the cluster's: where its
// changes, and its role work, go.
func (s *Store) Partition(account string) int { return shard.Partition(account, s.p.Partitions) }

// ChangeSubject is where the account's changes of type t are logged.
func (s *Store) ChangeSubject(account string, t Type) string {
	return changesPrefix + strconv.Itoa(s.Partition(account)) + "." + account + "." + string(t)
}

// logChange appends d's change, de-duplicated by key, modseq and op, so
// that a retried append is logged once.
func (s *Store) logChange(ctx context.Context, d *Document, op Op) error {
	c := Change{Account: d.Account, Type: d.Type, ID: d.ID, Op: op, Modseq: d.modseq, At: s.p.Clock.Now().UTC(), Into: d.into, OutOf: d.outOf}
	b, _ := json.Marshal(c)
	msg := nats.NewMsg(s.ChangeSubject(d.Account, d.Type))
	msg.Data = b
	msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s/%d/%s", docKey(d.Account, d.Type, d.ID), d.modseq, op))
	var err error
	for try := range 3 {
		if _, err = s.js.PublishMsg(ctx, msg); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
	}
	// The document is written; its change is what a reindex makes up for.
	s.log.Error("log a change: the document is stored, its change is not (an account reindex makes up for it)",
		"account", d.Account, "type", d.Type, "id", d.ID, "op", op, "err", err)
	return nil
}

// State is the account's state for documents of type t (JMAP's state
// string): it changes with every change of one of them.
func (s *Store) State(ctx context.Context, account string, t Type) (string, error) {
	if err := s.full(); err != nil {
		return "", err
	}
	m, err := s.changes.GetLastMsgForSubject(ctx, s.ChangeSubject(account, t))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return "0", nil
	}
	if err != nil {
		return "", fmt.Errorf("state of %s %s: %w", account, t, err)
	}
	return strconv.FormatUint(m.Sequence, 10), nil
}

// Changes returns the account's changes of type t after state since (""
// or "0": from the start of the log), at most limit (0: no limit), and
// the state they bring it to.
func (s *Store) Changes(ctx context.Context, account string, t Type, since string, limit int) ([]Change, string, error) {
	from := uint64(0)
	if since != "" {
		n, err := strconv.ParseUint(since, 10, 64)
		if err != nil {
			return nil, "", fmt.Errorf("%w: state %q", ErrInvalid, since)
		}
		from = n
	}
	state, err := s.State(ctx, account, t)
	if err != nil {
		return nil, "", err
	}
	last, _ := strconv.ParseUint(state, 10, 64)
	if last <= from {
		return nil, state, nil
	}
	cons, err := s.changes.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{s.ChangeSubject(account, t)}, DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq: from + 1,
	})
	if err != nil {
		return nil, "", fmt.Errorf("read changes of %s %s: %w", account, t, err)
	}
	var out []Change
	for {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			return nil, "", fmt.Errorf("read changes of %s %s: %w", account, t, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return nil, "", err
		}
		var c Change
		if err := json.Unmarshal(m.Data(), &c); err == nil {
			c.Seq = meta.Sequence.Stream
			out = append(out, c)
		}
		if meta.Sequence.Stream >= last || (limit > 0 && len(out) >= limit) {
			return out, strconv.FormatUint(meta.Sequence.Stream, 10), nil
		}
	}
}

// LogBounds returns the first and last sequence the change log holds (a
// last of 0: it is empty). A change older than first was dropped by
// store.changelog.retention.
func (s *Store) LogBounds(ctx context.Context) (first, last uint64, err error) {
	if err := s.full(); err != nil {
		return 0, 0, err
	}
	info, err := s.changes.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("read change log bounds: %w", err)
	}
	return info.State.FirstSeq, info.State.LastSeq, nil
}

// PartitionChanges calls fn, in order, for the changes of partition p
// from sequence from (0: the start of the log) up to the last change
// logged when it was called, and returns the sequence of the last change
// it read (from-1 when there was none). It stops at fn's first error.
func (s *Store) PartitionChanges(ctx context.Context, p int, from uint64, fn func(Change) error) (uint64, error) {
	if err := s.full(); err != nil {
		return 0, err
	}
	from = max(from, 1)
	_, last, err := s.LogBounds(ctx)
	if err != nil || last < from {
		return from - 1, err
	}
	subject := changesPrefix + strconv.Itoa(p) + ".>"
	cons, err := s.changes.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from,
	})
	if err != nil {
		return from - 1, fmt.Errorf("read changes of partition %d: %w", p, err)
	}
	seen := from - 1
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		return seen, nil
	}
	for {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return seen, fmt.Errorf("read changes of partition %d: %w", p, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return seen, err
			}
			var c Change
			if err := json.Unmarshal(m.Data(), &c); err == nil {
				c.Seq = meta.Sequence.Stream
				if err := fn(c); err != nil {
					return seen, err
				}
			}
			seen = meta.Sequence.Stream
			if seen >= last || meta.NumPending == 0 {
				return seen, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return seen, fmt.Errorf("read changes of partition %d: %w", p, err)
		}
		if n == 0 {
			return seen, nil // nothing more in the partition up to last
		}
	}
}

// PartitionAccounts lists the accounts of partition p that are not
// deleted.
func (s *Store) PartitionAccounts(ctx context.Context, p int) ([]*Account, error) {
	all, err := s.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Account
	for _, a := range all {
		if s.Partition(a.ID) == p && a.State != Deleted {
			out = append(out, a)
		}
	}
	return out, nil
}
