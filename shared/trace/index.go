package trace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/jetmail/jetmail/shared/address"
)

// Trace is one trace's events, as Read returns them, to index.
type Trace struct {
	ID     string
	Events []Event
}

// Summary is what a search returns of one trace.
type Summary struct {
	TraceID string `json:"traceId"`
	// MessageID is the Message-ID header, as recorded.
	MessageID string `json:"messageId,omitempty"`
	// Sender is "" for the null sender <>.
	Sender string `json:"sender"`
	// Recipients are every recipient the trace names, in the order first
	// named.
	Recipients []string `json:"recipients"`
	// Received is when the message was queued (its received event), or
	// its earliest event when that one is gone.
	Received time.Time `json:"received"`
	// LastKind and LastAt are the trace's latest event.
	LastKind Kind      `json:"lastKind"`
	LastAt   time.Time `json:"lastAt"`
	// LastReply is the latest reply or diagnostic of the trace.
	LastReply string `json:"lastReply,omitempty"`
}

// Index is a search index of traces in one directory (bleve, scorch
// segments), one document per trace. It is safe for concurrent use.
type Index struct {
	bi     bleve.Index
	kw     analysis.Analyzer
	closed sync.Once
	// mu orders the writes: Fold reads a trace's document and writes it
	// back, and no other write may come between.
	mu sync.Mutex
}

// Options tune an index. The zero value is a durable index.
type Options struct {
	// UnsafeBatch makes Apply and Fold return once their batch is
	// searchable, before it is on disk, for an index that its owner can
	// rebuild from the stream after a crash (from its Checkpoint, which is
	// never later than what the disk holds). Default false: each batch is
	// on disk when its call returns.
	UnsafeBatch bool
	// PersistNap is how long scorch's persister waits between writes of
	// unsafe batches to disk, so that a second of batches makes one
	// segment. Default 0: scorch's own.
	PersistNap time.Duration
}

// indexVersion is stored in the index; a change of its fields bumps it,
// and Open refuses an index of another version (rebuild it from the
// stream).
const indexVersion = "2"

var (
	versionKey    = []byte("jetmail.trace.version")
	checkpointKey = []byte("jetmail.trace.checkpoint")
)

// Index fields: keyword terms, lower-cased addresses and domains.
const (
	fSender       = "sender"
	fSenderDomain = "sender_domain"
	fRcpt         = "rcpt"
	fRcptDomain   = "rcpt_domain"
	fMessageID    = "message_id"
	fReceived     = "received"
	fLast         = "last"    // the time of the latest event, for Prune
	fSummary      = "summary" // stored, not indexed: the Summary as JSON
	fFold         = "fold"    // stored, not indexed: what Fold needs beyond the Summary
)

// nullSender is the term of the null sender <>.
const nullSender = "<>"

// maxTerm bounds an indexed term, in bytes: an address or Message-ID of
// odd input is cut there, alike when indexed and when searched.
const maxTerm = 1024

// Open opens the index in dir, creating it when dir is missing, empty or
// holds no index.
func Open(dir string, o Options) (*Index, error) {
	config := map[string]any{"unsafe_batch": o.UnsafeBatch}
	if o.PersistNap > 0 {
		config["scorchPersisterOptions"] = map[string]any{"PersisterNapTimeMSec": int(o.PersistNap.Milliseconds())}
	}
	var bi bleve.Index
	_, err := os.Stat(filepath.Join(dir, "index_meta.json"))
	switch {
	case err == nil:
		if bi, err = bleve.OpenUsing(dir, config); err != nil {
			return nil, fmt.Errorf("trace index: open %s: %w", dir, err)
		}
		v, err := bi.GetInternal(versionKey)
		if err != nil || string(v) != indexVersion {
			_ = bi.Close()
			if err == nil {
				err = fmt.Errorf("format version %q, want %q: rebuild it", v, indexVersion)
			}
			return nil, fmt.Errorf("trace index: open %s: %w", dir, err)
		}
	case errors.Is(err, os.ErrNotExist):
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("trace index: create in %s: %w", dir, err)
		}
		if len(entries) > 0 {
			return nil, fmt.Errorf("trace index: create in %s: directory is not empty and holds no index", dir)
		}
		if bi, err = bleve.NewUsing(dir, newMapping(), scorch.Name, scorch.Name, config); err != nil {
			return nil, fmt.Errorf("trace index: create in %s: %w", dir, err)
		}
		if err := bi.SetInternal(versionKey, []byte(indexVersion)); err != nil {
			_ = bi.Close()
			return nil, fmt.Errorf("trace index: create in %s: %w", dir, err)
		}
	default:
		return nil, fmt.Errorf("trace index: open %s: %w", dir, err)
	}
	kw := bi.Mapping().AnalyzerNamed(keyword.Name)
	if kw == nil {
		_ = bi.Close()
		return nil, fmt.Errorf("trace index: open %s: analyzer %q is not registered", dir, keyword.Name)
	}
	return &Index{bi: bi, kw: kw}, nil
}

// Close closes the index; what Apply returned for is on disk. Calling it
// again does nothing.
func (ix *Index) Close() error {
	var err error
	ix.closed.Do(func() { err = ix.bi.Close() })
	if err != nil {
		return fmt.Errorf("trace index: close: %w", err)
	}
	return nil
}

// Count is the number of traces in the index.
func (ix *Index) Count() (uint64, error) {
	n, err := ix.bi.DocCount()
	if err != nil {
		return 0, fmt.Errorf("trace index: count: %w", err)
	}
	return n, nil
}

// Apply replaces the document of each trace by one made of its events,
// as one batch: applying a trace again is harmless, and is how it is
// updated. A trace with no events (gone from the stream) is removed.
// Nothing is applied when a trace's ID is empty or holds NUL. The batch
// cannot be cancelled: ctx is checked before it.
func (ix *Index) Apply(ctx context.Context, traces []Trace) error {
	return ix.write(ctx, traces, false, nil)
}

// Fold adds the events of each trace to what its document already says
// (a trace may come in several pieces, in any order), as one batch that
// also stores checkpoint (when not nil), so that a reader of the stream
// knows where to go on from. Folding an event twice changes nothing, so
// a reader may go back a little after a crash.
func (ix *Index) Fold(ctx context.Context, traces []Trace, checkpoint []byte) error {
	return ix.write(ctx, traces, true, checkpoint)
}

// Checkpoint is what the last Fold stored as its checkpoint, nil when
// none did.
func (ix *Index) Checkpoint() ([]byte, error) {
	b, err := ix.bi.GetInternal(checkpointKey)
	if err != nil {
		return nil, fmt.Errorf("trace index: checkpoint: %w", err)
	}
	return b, nil
}

func (ix *Index) write(ctx context.Context, traces []Trace, fold bool, checkpoint []byte) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	b := ix.bi.NewBatch()
	folds := map[string]*folder{}
	var order []string
	for i, t := range traces {
		if err := validDocID(t.ID); err != nil {
			return fmt.Errorf("trace index: apply traces[%d]: %w", i, err)
		}
		f := folds[t.ID]
		if f == nil {
			var err error
			if f, err = ix.folderOf(t.ID, fold); err != nil {
				return err
			}
			folds[t.ID] = f
			order = append(order, t.ID)
		}
		for _, e := range t.Events {
			f.add(e)
		}
	}
	for _, id := range order {
		f := folds[id]
		if !f.started {
			b.Delete(id)
			continue
		}
		doc, err := ix.document(id, f)
		if err != nil {
			return fmt.Errorf("trace index: apply trace %s: %w", id, err)
		}
		if err := b.IndexAdvanced(doc); err != nil {
			return fmt.Errorf("trace index: apply trace %s: %w", id, err)
		}
	}
	if checkpoint != nil {
		b.SetInternal(checkpointKey, checkpoint)
	}
	if b.Size() == 0 && checkpoint == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("trace index: apply: %w", err)
	}
	if err := ix.bi.Batch(b); err != nil {
		return fmt.Errorf("trace index: apply %d traces: %w", len(traces), err)
	}
	return nil
}

// folderOf starts the fold of trace id: from its document when stored
// is set and it has one, else from nothing.
func (ix *Index) folderOf(id string, stored bool) (*folder, error) {
	f := newFolder(id)
	if !stored {
		return f, nil
	}
	d, err := ix.bi.Document(id)
	if err != nil {
		return nil, fmt.Errorf("trace index: read trace %s: %w", id, err)
	}
	if d == nil {
		return f, nil
	}
	var summary, state []byte
	d.VisitFields(func(fl index.Field) {
		switch fl.Name() {
		case fSummary:
			summary = fl.Value()
		case fFold:
			state = fl.Value()
		}
	})
	if err := json.Unmarshal(summary, &f.s); err != nil {
		return nil, fmt.Errorf("trace index: read trace %s: summary: %w", id, err)
	}
	if len(state) > 0 {
		if err := json.Unmarshal(state, &f.st); err != nil {
			return nil, fmt.Errorf("trace index: read trace %s: fold state: %w", id, err)
		}
	}
	f.started = true
	for _, r := range f.s.Recipients {
		f.seen[strings.ToLower(r)] = true
	}
	return f, nil
}

// Prune removes the traces whose latest event is before before (gone
// from the stream past its retention), in batches, and says how many it
// removed.
func (ix *Index) Prune(ctx context.Context, before time.Time) (int, error) {
	n := 0
	for {
		excl := false
		r := query.NewDateRangeInclusiveQuery(time.Time{}, before, nil, &excl)
		r.SetField(fLast)
		req := bleve.NewSearchRequestOptions(r, 1000, 0, false)
		req.Score = "none"
		res, err := ix.bi.SearchInContext(ctx, req)
		if err != nil {
			return n, fmt.Errorf("trace index: prune: %w", err)
		}
		if len(res.Hits) == 0 {
			return n, nil
		}
		ids := make([]string, len(res.Hits))
		for i, h := range res.Hits {
			ids[i] = h.ID
		}
		if err := ix.Delete(ctx, ids); err != nil {
			return n, err
		}
		n += len(ids)
	}
}

// Delete removes the documents of traces ids; a missing one is no error.
func (ix *Index) Delete(ctx context.Context, ids []string) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	b := ix.bi.NewBatch()
	for _, id := range ids {
		if err := validDocID(id); err != nil {
			return fmt.Errorf("trace index: delete: %w", err)
		}
		b.Delete(id)
	}
	if b.Size() == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("trace index: delete: %w", err)
	}
	if err := ix.bi.Batch(b); err != nil {
		return fmt.Errorf("trace index: delete %d traces: %w", len(ids), err)
	}
	return nil
}

func validDocID(id string) error {
	if id == "" {
		return errors.New("empty trace id")
	}
	if strings.IndexByte(id, 0) >= 0 {
		return fmt.Errorf("trace id %q contains NUL", id)
	}
	return nil
}

// Summarize makes a trace's Summary of its events.
func Summarize(t Trace) Summary {
	f := newFolder(t.ID)
	for _, e := range t.Events {
		f.add(e)
	}
	return f.s
}

// folder makes a Summary of events given one at a time, in any order and
// in any number of pieces: the same events give the same Summary.
type folder struct {
	s       Summary
	st      foldState
	started bool // an event was added (here or before the document was stored)
	seen    map[string]bool
}

// foldState is what a stored trace needs beyond its Summary to go on
// folding, stored beside it.
type foldState struct {
	// Received: Summary.Received and Sender come from a received event
	// (else from the earliest event seen, until one comes).
	Received bool `json:"received,omitempty"`
	// ReplyAt is when LastReply was given.
	ReplyAt time.Time `json:"replyAt,omitzero"`
}

func newFolder(id string) *folder {
	return &folder{s: Summary{TraceID: id, Recipients: []string{}}, seen: map[string]bool{}}
}

func (f *folder) addRcpt(a string) {
	if k := strings.ToLower(a); a != "" && !f.seen[k] {
		f.seen[k] = true
		f.s.Recipients = append(f.s.Recipients, a)
	}
}

func (f *folder) add(e Event) {
	s := &f.s
	first := !f.started
	f.started = true
	if s.MessageID == "" {
		s.MessageID = e.MessageID
	}
	switch {
	case e.Kind == KindReceived && (!f.st.Received || e.At.Before(s.Received)):
		s.Received, s.Sender, f.st.Received = e.At, e.Sender, true
	case !f.st.Received && (first || e.At.Before(s.Received)):
		s.Received, s.Sender = e.At, e.Sender
	}
	for _, r := range e.Recipients {
		f.addRcpt(r)
	}
	f.addRcpt(e.Recipient)
	// The latest by time; of events at the same time, the one added last.
	if first || !e.At.Before(s.LastAt) {
		s.LastKind, s.LastAt = e.Kind, e.At
	}
	if e.Reply != "" && !e.At.Before(f.st.ReplyAt) {
		s.LastReply, f.st.ReplyAt = e.Reply, e.At
	}
}

// document is the bleve document of trace id, built directly (as package
// fts does) rather than through the mapping's reflection.
func (ix *Index) document(id string, f *folder) (*document.Document, error) {
	s := f.s
	doc := document.NewDocument(id)
	pos := map[string]uint64{}
	added := map[string]bool{}
	add := func(field, term string) {
		if term == "" || added[field+"\x00"+term] {
			return
		}
		added[field+"\x00"+term] = true
		doc.AddField(document.NewTextFieldCustom(field, []uint64{pos[field]}, []byte(term), index.IndexField, ix.kw))
		pos[field]++
	}
	if s.Sender == "" {
		add(fSender, nullSender)
	} else {
		add(fSender, addressTerm(s.Sender))
		add(fSenderDomain, domainTerm(address.DomainOf(s.Sender)))
	}
	for _, r := range s.Recipients {
		add(fRcpt, addressTerm(r))
		add(fRcptDomain, domainTerm(address.DomainOf(r)))
	}
	add(fMessageID, messageIDTerm(s.MessageID))
	received, err := document.NewDateTimeFieldWithIndexingOptions(fReceived, nil, s.Received, time.RFC3339, index.IndexField|index.DocValues)
	if err != nil {
		return nil, fmt.Errorf("received time %s: %w", s.Received, err)
	}
	doc.AddField(received)
	last, err := document.NewDateTimeFieldWithIndexingOptions(fLast, nil, s.LastAt, time.RFC3339, index.IndexField)
	if err != nil {
		return nil, fmt.Errorf("last event time %s: %w", s.LastAt, err)
	}
	doc.AddField(last)
	stored, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	doc.AddField(document.NewTextFieldCustom(fSummary, nil, stored, index.StoreField, ix.kw))
	state, err := json.Marshal(f.st)
	if err != nil {
		return nil, err
	}
	doc.AddField(document.NewTextFieldCustom(fFold, nil, state, index.StoreField, ix.kw))
	return doc, nil
}

func cut(s string) string {
	if len(s) > maxTerm {
		return s[:maxTerm]
	}
	return s
}

func addressTerm(a string) string { return cut(strings.ToLower(strings.TrimSpace(a))) }

func domainTerm(d string) string {
	return cut(strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), "."))
}

// messageIDTerm is a Message-ID without its angle brackets and white
// space, case kept: the id's parts are case-sensitive.
func messageIDTerm(id string) string {
	id = strings.TrimSpace(id)
	id = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">"))
	return cut(id)
}

// newMapping describes the fields that document builds, so that the index
// on disk documents itself.
func newMapping() mapping.IndexMapping {
	m := bleve.NewIndexMapping()
	m.DefaultAnalyzer = keyword.Name
	m.IndexDynamic, m.StoreDynamic, m.DocValuesDynamic = false, false, false
	dm := bleve.NewDocumentStaticMapping()
	for _, name := range []string{fSender, fSenderDomain, fRcpt, fRcptDomain, fMessageID} {
		fm := bleve.NewKeywordFieldMapping()
		fm.Store, fm.IncludeInAll, fm.IncludeTermVectors, fm.DocValues = false, false, false, false
		dm.AddFieldMappingsAt(name, fm)
	}
	sm := bleve.NewTextFieldMapping()
	sm.Analyzer, sm.Index, sm.Store, sm.IncludeInAll, sm.IncludeTermVectors, sm.DocValues = keyword.Name, false, true, false, false, false
	dm.AddFieldMappingsAt(fSummary, sm)
	dm.AddFieldMappingsAt(fFold, sm)
	dfm := bleve.NewDateTimeFieldMapping()
	dfm.Store, dfm.IncludeInAll = false, false
	dm.AddFieldMappingsAt(fReceived, dfm)
	lfm := bleve.NewDateTimeFieldMapping()
	lfm.Store, lfm.IncludeInAll, lfm.DocValues = false, false, false
	dm.AddFieldMappingsAt(fLast, lfm)
	m.DefaultMapping = dm
	return m
}
