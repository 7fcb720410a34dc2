package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/jetmail/jetmail/shared/work"
)

// Insert is an item to create.
type Insert[T any] struct {
	Key   string
	Value *T
	// TriggerAt, when set, fires the first trigger then instead of at the
	// item's due time (a recipient waiting for a sibling's transaction).
	TriggerAt time.Time
	// NoTrigger stores the record only: the caller runs the item itself
	// (a periodic task's firing).
	NoTrigger bool
}

// InsertError says which insert of a Create call failed: Index is its
// place in the call, Key its key. It wraps the cause (ErrExists when the
// key was taken), so errors.Is sees through it.
type InsertError struct {
	Index int
	Key   string
	Err   error
}

func (e *InsertError) Error() string { return fmt.Sprintf("store %s: %v", e.Key, e.Err) }

// Unwrap returns the cause.
func (e *InsertError) Unwrap() error { return e.Err }

// createWindow is how many inserts of one Create are in flight at once. A
// larger batch goes out window by window, one round trip each, so that it
// stays well inside a connection's limit of pending asynchronous publishes
// (4,000 by default, shared by every caller on the connection).
const createWindow = 1024

// createStall is how long a publish may wait for room among the
// connection's pending asynchronous publishes (nats.go's default is
// 200ms, short for a loaded node with several batches at once).
const createStall = 10 * time.Second

// Create stores new items and triggers them, pipelined: a new key cannot
// conflict, so each record and its trigger go out together (a trigger that
// arrives before its record is retried, see Run), and a batch costs one
// round trip per createWindow items. When it returns nil every record is
// durable. If a record is refused (ErrExists when its key was taken) it
// takes back the records it stored, whose triggers then find nothing and
// are dropped, and returns an *InsertError naming the first insert that
// failed. A trigger that could not be published is logged and left to the
// rescuer.
func (e *Engine[T]) Create(ctx context.Context, inserts ...Insert[T]) ([]*Item[T], error) {
	items := make([]*Item[T], len(inserts))
	js := e.js()
	var err error
	var stored []*Item[T]
	for from := 0; from < len(inserts) && err == nil; from += createWindow {
		to := min(from+createWindow, len(inserts))
		var ok []*Item[T]
		ok, err = e.createPart(ctx, js, inserts[from:to], items[from:to], from)
		stored = append(stored, ok...)
	}
	if err != nil {
		// The caller is told nothing was created: take back what was, so
		// that its retry makes no duplicates.
		for _, it := range stored {
			perr := error(nil)
			if it.Inline() {
				perr = e.purgeInline(ctx, it.inline)
			} else {
				perr = e.kv().Purge(ctx, it.Key, jetstream.LastRevision(it.Rev), jetstream.PurgeTTL(e.p.MarkerTTL))
			}
			if perr != nil {
				e.log.Warn("create failed and an item it stored could not be taken back; the rescuer will run it", "key", it.Key, "err", perr)
			}
		}
		return nil, err
	}
	return items, nil
}

// createPart publishes one window of a Create (inserts, whose items go
// to items; base is the window's index in the call) and waits for it. It
// returns the items stored and the first failure; on a failure it still
// waits for every publish it sent, so that the caller can take them back.
func (e *Engine[T]) createPart(ctx context.Context, js jetstream.JetStream, inserts []Insert[T], items []*Item[T], base int) ([]*Item[T], error) {
	records := make([]jetstream.PubAckFuture, len(inserts))
	triggers := make([]jetstream.PubAckFuture, len(inserts))
	var err error
	fail := func(i int, cause error) {
		if err == nil {
			err = &InsertError{Index: base + i, Key: inserts[i].Key, Err: cause}
		}
	}
	now := e.p.Clock.Now()
	stall := jetstream.WithStallWait(createStall)
	for i, in := range inserts {
		it := &Item[T]{Key: in.Key, Value: in.Value, Gen: 1, Token: nuid.Next()}
		items[i] = it
		if at, ok := e.p.Due(it.Value); e.p.Inline != nil && ok && !in.NoTrigger && in.TriggerAt.IsZero() {
			// The trigger alone holds the item, one write: on the item's
			// subject when due now, else as its schedule.
			msg, eerr := e.inlineMsg(it, at, now)
			if eerr == nil {
				records[i], eerr = js.PublishMsgAsync(msg, stall)
			}
			if eerr != nil {
				fail(i, eerr)
				break
			}
			continue
		}
		data, eerr := e.encode(it)
		if eerr != nil {
			fail(i, eerr)
			break
		}
		// The KV API has no asynchronous create: this is its raw form, a
		// publish to the key's subject expecting no earlier value.
		msg := nats.NewMsg("$KV." + e.p.Bucket + "." + it.Key)
		msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
		msg.Data = data
		if records[i], eerr = js.PublishMsgAsync(msg, stall); eerr != nil {
			fail(i, eerr)
			break
		}
		if at, ok := e.p.Due(it.Value); ok && !in.NoTrigger {
			if !in.TriggerAt.IsZero() {
				at = in.TriggerAt
			}
			if triggers[i], eerr = js.PublishMsgAsync(e.triggerMsg(it, at), stall); eerr != nil {
				e.log.Warn("item stored but its trigger was not published; the rescuer will publish it", "key", it.Key, "err", eerr)
			}
		}
	}
	var stored []*Item[T]
	for i, f := range records {
		if f == nil {
			continue
		}
		ack, aerr := work.Await(ctx, f)
		if aerr == nil && ack.Duplicate {
			aerr = ErrExists
		}
		if aerr != nil {
			if isConflict(aerr) {
				aerr = ErrExists
			}
			fail(i, aerr)
			continue
		}
		if !items[i].Inline() {
			items[i].Rev = ack.Sequence
		}
		stored = append(stored, items[i])
	}
	for i, f := range triggers {
		if f == nil {
			continue
		}
		if _, terr := work.Await(ctx, f); terr != nil && err == nil {
			e.log.Warn("item stored but its trigger was not published; the rescuer will publish it", "key", items[i].Key, "err", terr)
		}
	}
	return stored, err
}

// Get reads an item.
func (e *Engine[T]) Get(ctx context.Context, key string) (*Item[T], error) {
	if !ValidKey(key) {
		return nil, ErrNotFound
	}
	it, err := e.getRecord(ctx, key)
	if !errors.Is(err, ErrNotFound) || e.p.Inline == nil {
		return it, err
	}
	if it, err = e.getInline(ctx, key); !errors.Is(err, ErrNotFound) {
		return it, err
	}
	// An inline item gets its record before its trigger goes: one that
	// changed between the two reads has its record now.
	return e.getRecord(ctx, key)
}

func (e *Engine[T]) getRecord(ctx context.Context, key string) (*Item[T], error) {
	en, err := e.kv().Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return e.decode(key, en.Revision(), en.Value())
}

// getInline looks for an inline item's trigger.
func (e *Engine[T]) getInline(ctx context.Context, key string) (*Item[T], error) {
	for _, pl := range e.p.InlinePlaces(key) {
		s, err := e.stream(ctx, pl.Stream)
		if err != nil {
			return nil, err
		}
		msg, err := s.GetLastMsgForSubject(ctx, pl.Subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
		ref, ok := RefOf(msg.Subject, msg.Header, msg.Data, msg.Time)
		if !ok || ref.Inline == nil {
			continue
		}
		return e.inlineItem(ref, pl.Stream)
	}
	return nil, ErrNotFound
}

// ValidKey reports whether key can name an item: KV key characters, with
// dots between tokens.
func ValidKey(key string) bool {
	if key == "" || len(key) > 256 || key[0] == '.' || key[len(key)-1] == '.' {
		return false
	}
	for i, c := range key {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '=':
		case c == '.' && key[i-1] != '.':
		default:
			return false
		}
	}
	return true
}

// Save writes it back, on condition that it is still at it.Rev. With
// retrigger the item gets a new trigger (earlier ones become stale) at its
// due time, or none when it is parked; without, its current trigger stays
// valid. it is updated to the stored state.
func (e *Engine[T]) Save(ctx context.Context, it *Item[T], retrigger bool) error {
	return e.save(ctx, it, retrigger, false)
}

func (e *Engine[T]) save(ctx context.Context, it *Item[T], retrigger, cancel bool) error {
	next := *it
	if retrigger {
		next.Gen++
		next.Token = nuid.Next()
	}
	next.inline = nil
	data, err := e.encode(&next)
	if err != nil {
		return err
	}
	var rev uint64
	if it.Inline() {
		// The item changes: it gets a record, and its inline trigger goes
		// once the record is there. A record that exists already means
		// another writer got there first.
		rev, err = e.kv().Create(ctx, it.Key, data)
	} else {
		rev, err = e.kv().Update(ctx, it.Key, data, it.Rev)
	}
	if err != nil {
		if isConflict(err) {
			return ErrConflict
		}
		return fmt.Errorf("store %s: %w", it.Key, err)
	}
	if it.Inline() {
		if err := e.purgeInline(ctx, it.inline); err != nil {
			// Left behind, it runs the item once more: at least once.
			e.log.Warn("item has a record now, but its inline trigger stays", "key", it.Key, "err", err)
		}
	}
	next.Rev = rev
	*it = next
	if !retrigger {
		return nil
	}
	at, ok := e.p.Due(it.Value)
	if cancel && (!ok || !at.After(e.p.Clock.Now())) {
		// A schedule from before would fire and be dropped as stale; remove
		// it so that listings of the stream do not show it.
		e.cancelSchedule(ctx, it)
	}
	if ok {
		if err := e.publish(ctx, it, at); err != nil {
			e.log.Warn("item stored but its trigger was not published; the rescuer will publish it", "key", it.Key, "err", err)
		}
	}
	return nil
}

// Update applies f to an item and stores it with a new trigger (see Save).
// It returns ErrConflict when the item changed between read and write, and
// f's error, with nothing written, when f fails.
func (e *Engine[T]) Update(ctx context.Context, key string, f func(v *T) error) (*Item[T], error) {
	it, err := e.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if err := f(it.Value); err != nil {
		return nil, err
	}
	if err := e.save(ctx, it, true, true); err != nil {
		return nil, err
	}
	return it, nil
}

// Complete removes an item that has run, on condition that no one gave it a
// new trigger meanwhile (ErrConflict: the change stands). It retries while
// JetStream does not answer, until ctx ends: a removal that went through
// unanswered counts as done on the next try.
func (e *Engine[T]) Complete(ctx context.Context, it *Item[T]) error {
	if it.Inline() {
		return nil // acknowledging the trigger removes the item
	}
	rev := it.Rev
	wait := 50 * time.Millisecond
	for {
		err := e.kv().Purge(ctx, it.Key, jetstream.LastRevision(rev), jetstream.PurgeTTL(e.p.MarkerTTL))
		if err == nil {
			return nil
		}
		if isConflict(err) {
			cur, gerr := e.Get(ctx, it.Key)
			switch {
			case errors.Is(gerr, ErrNotFound):
				return nil // an earlier try went through
			case gerr == nil && (cur.Gen != it.Gen || cur.Token != it.Token):
				return ErrConflict
			case gerr == nil:
				rev = cur.Rev // only the revision moved (a claim): still ours
				continue
			}
			err = gerr
		}
		e.log.Warn("remove item: retrying", "key", it.Key, "err", err, "retry_in", wait)
		if !e.sleep(ctx, wait) {
			return fmt.Errorf("remove %s: %w", it.Key, err)
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// Destroy removes an item whatever its state and cancels its schedule.
func (e *Engine[T]) Destroy(ctx context.Context, key string) (*Item[T], error) {
	it, err := e.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if it.Inline() {
		return it, e.purgeInline(ctx, it.inline)
	}
	if err := e.kv().Purge(ctx, key, jetstream.LastRevision(it.Rev), jetstream.PurgeTTL(e.p.MarkerTTL)); err != nil {
		if isConflict(err) {
			return nil, ErrConflict
		}
		return nil, fmt.Errorf("remove %s: %w", key, err)
	}
	e.cancelSchedule(ctx, it)
	return it, nil
}

// Match returns the items whose keys match a KV pattern ("<message id>.*"),
// with a record or inline. It reads the inline triggers before the records
// (an inline item gets its record before its trigger goes), so an item
// changing meanwhile is not missed; the record wins when it has both.
func (e *Engine[T]) Match(ctx context.Context, pattern string) ([]*Item[T], error) {
	found := map[string]*Item[T]{}
	var order []string
	add := func(it *Item[T]) {
		if _, ok := found[it.Key]; !ok {
			order = append(order, it.Key)
		}
		found[it.Key] = it
	}
	if e.p.Inline != nil {
		if err := e.scanInline(ctx, e.p.InlinePlaces(pattern), func(it *Item[T]) bool { add(it); return true }); err != nil {
			return nil, err
		}
	}
	lister, err := e.kv().ListKeysFiltered(ctx, pattern)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", pattern, err)
	}
	for k := range lister.Keys() {
		it, err := e.getRecord(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue // removed since it was listed
		}
		if err != nil {
			return nil, err
		}
		add(it)
	}
	out := make([]*Item[T], len(order))
	for i, k := range order {
		out[i] = found[k]
	}
	return out, nil
}

// scanRecords calls fn for every item with a record, in no promised order.
func (e *Engine[T]) scanRecords(ctx context.Context, fn func(it *Item[T]) bool) error {
	return e.scanRecordsFrom(ctx, 0, fn)
}

// scanRecordsFrom is scanRecords from bucket revision from (0: the start):
// the records last written at or after it, in revision order.
func (e *Engine[T]) scanRecordsFrom(ctx context.Context, from uint64, fn func(it *Item[T]) bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := []jetstream.WatchOpt{jetstream.IgnoreDeletes()}
	if from > 0 {
		opts = append(opts, jetstream.ResumeFromRevision(from))
	}
	w, err := e.kv().WatchAll(ctx, opts...)
	if err != nil {
		return fmt.Errorf("scan %s: %w", e.p.Bucket, err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case en, ok := <-w.Updates():
			if !ok || en == nil {
				return nil
			}
			it, err := e.decode(en.Key(), en.Revision(), en.Value())
			if err != nil {
				e.log.Error("scan: undecodable item skipped", "key", en.Key(), "err", err)
				continue
			}
			if !fn(it) {
				return nil
			}
		}
	}
}

// Scan calls fn for every item: the inline ones (their triggers), then
// those with a record (the bucket), until fn returns false or ctx ends. It
// streams: memory stays flat however many items there are. An inline item
// gets its record before its trigger goes, so one changing during the scan
// may be seen twice, never missed.
func (e *Engine[T]) Scan(ctx context.Context, fn func(it *Item[T]) bool) error {
	more := true
	if e.p.Inline != nil {
		if err := e.scanInline(ctx, e.p.InlinePlaces("*"), func(it *Item[T]) bool { more = fn(it); return more }); err != nil || !more {
			return err
		}
	}
	return e.scanRecords(ctx, fn)
}

// scanBatch is how many messages one direct get returns at most while
// scanning inline items.
const scanBatch = 1000

// scanInline calls fn for every inline item in places. It reads a stream
// that allows direct gets in batches of scanBatch, one round trip each
// (reads answered by any replica, as the bucket's are); another it reads
// one message at a time.
func (e *Engine[T]) scanInline(ctx context.Context, places []Place, fn func(it *Item[T]) bool) error {
	for _, pl := range places {
		s, err := e.stream(ctx, pl.Stream)
		if err != nil {
			return err
		}
		visit := func(msg *jetstream.RawStreamMsg) bool {
			ref, ok := RefOf(msg.Subject, msg.Header, msg.Data, msg.Time)
			if !ok || ref.Inline == nil {
				return true
			}
			it, err := e.inlineItem(ref, pl.Stream)
			if err != nil {
				e.log.Error("scan: undecodable inline item skipped", "key", ref.Key, "err", err)
				return true
			}
			return fn(it)
		}
		read := scanOneByOne
		if s.CachedInfo().Config.AllowDirect {
			read = scanDirect
		}
		more, err := read(ctx, e.js(), s, pl.Subject, visit)
		if err != nil {
			return fmt.Errorf("scan %s: %w", pl.Subject, err)
		}
		if !more {
			return nil
		}
	}
	return nil
}

// scanDirect calls visit for every message on subject in stream s, read in
// direct-get batches, until visit returns false (then more is false).
func scanDirect(ctx context.Context, js jetstream.JetStream, s jetstream.Stream, subject string, visit func(*jetstream.RawStreamMsg) bool) (more bool, err error) {
	name := s.CachedInfo().Config.Name
	for seq := uint64(1); ; {
		msgs, err := jetstreamext.GetBatch(ctx, js, name, scanBatch, jetstreamext.GetBatchSeq(seq), jetstreamext.GetBatchSubject(subject))
		if err != nil {
			return false, err
		}
		got, last := 0, false
		for msg, err := range msgs {
			if errors.Is(err, jetstreamext.ErrNoMessages) {
				return true, nil
			}
			if err != nil {
				return false, err
			}
			got++
			seq = msg.Sequence + 1
			// The server counts the matching messages after this one.
			last = msg.Header.Get("Nats-Num-Pending") == "0"
			if !visit(msg) {
				return false, nil
			}
		}
		if got == 0 || last {
			return true, nil
		}
	}
}

// scanOneByOne is scanDirect for a stream without direct gets: one request
// per message.
func scanOneByOne(ctx context.Context, _ jetstream.JetStream, s jetstream.Stream, subject string, visit func(*jetstream.RawStreamMsg) bool) (more bool, err error) {
	for seq := uint64(1); ; {
		msg, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		seq = msg.Sequence + 1
		if !visit(msg) {
			return false, nil
		}
	}
}
