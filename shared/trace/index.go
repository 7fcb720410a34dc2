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
}

// indexVersion is stored in the index; a change of its fields bumps it,
// and Open refuses an index of another version (rebuild it from the
// stream).
const indexVersion = "1"

var versionKey = []byte("jetmail.trace.version")

// Index fields: keyword terms, lower-cased addresses and domains.
const (
	fSender       = "sender"
	fSenderDomain = "sender_domain"
	fRcpt         = "rcpt"
	fRcptDomain   = "rcpt_domain"
	fMessageID    = "message_id"
	fReceived     = "received"
	fSummary      = "summary" // stored, not indexed: the Summary as JSON
)

// nullSender is the term of the null sender <>.
const nullSender = "<>"

// maxTerm bounds an indexed term, in bytes: an address or Message-ID of
// odd input is cut there, alike when indexed and when searched.
const maxTerm = 1024

// Open opens the index in dir, creating it when dir is missing, empty or
// holds no index.
func Open(dir string) (*Index, error) {
	var bi bleve.Index
	_, err := os.Stat(filepath.Join(dir, "index_meta.json"))
	switch {
	case err == nil:
		if bi, err = bleve.Open(dir); err != nil {
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
		if bi, err = bleve.NewUsing(dir, newMapping(), scorch.Name, scorch.Name, nil); err != nil {
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
// as one batch that is on disk when Apply returns: applying a trace again
// is harmless, and is how it is updated. A trace with no events (gone
// from the stream) is removed. Nothing is applied when a trace's ID is
// empty or holds NUL. The batch cannot be cancelled: ctx is checked
// before it.
func (ix *Index) Apply(ctx context.Context, traces []Trace) error {
	b := ix.bi.NewBatch()
	for i, t := range traces {
		if err := validDocID(t.ID); err != nil {
			return fmt.Errorf("trace index: apply traces[%d]: %w", i, err)
		}
		if len(t.Events) == 0 {
			b.Delete(t.ID)
			continue
		}
		doc, err := ix.document(t)
		if err != nil {
			return fmt.Errorf("trace index: apply trace %s: %w", t.ID, err)
		}
		if err := b.IndexAdvanced(doc); err != nil {
			return fmt.Errorf("trace index: apply trace %s: %w", t.ID, err)
		}
	}
	if b.Size() == 0 {
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

// Delete removes the documents of traces ids; a missing one is no error.
func (ix *Index) Delete(ctx context.Context, ids []string) error {
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

// summarize makes a trace's Summary of its events.
func summarize(t Trace) Summary {
	s := Summary{TraceID: t.ID, Recipients: []string{}}
	seen := map[string]bool{}
	addRcpt := func(a string) {
		if k := strings.ToLower(a); a != "" && !seen[k] {
			seen[k] = true
			s.Recipients = append(s.Recipients, a)
		}
	}
	haveSender, haveReceived := false, false
	var replyAt time.Time
	for i, e := range t.Events {
		if s.MessageID == "" {
			s.MessageID = e.MessageID
		}
		if e.Kind == KindReceived && (!haveReceived || e.At.Before(s.Received)) {
			s.Received, haveReceived = e.At, true
			s.Sender, haveSender = e.Sender, true
		}
		if !haveSender {
			s.Sender, haveSender = e.Sender, true
		}
		if !haveReceived && (i == 0 || e.At.Before(s.Received)) {
			s.Received = e.At
		}
		for _, r := range e.Recipients {
			addRcpt(r)
		}
		addRcpt(e.Recipient)
		// The latest by time; of events at the same time, the one stored
		// last.
		if i == 0 || !e.At.Before(s.LastAt) {
			s.LastKind, s.LastAt = e.Kind, e.At
		}
		if e.Reply != "" && !e.At.Before(replyAt) {
			s.LastReply, replyAt = e.Reply, e.At
		}
	}
	return s
}

// document is t's bleve document, built directly (as package fts does)
// rather than through the mapping's reflection.
func (ix *Index) document(t Trace) (*document.Document, error) {
	s := summarize(t)
	doc := document.NewDocument(t.ID)
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
	stored, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	doc.AddField(document.NewTextFieldCustom(fSummary, nil, stored, index.StoreField, ix.kw))
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
	dfm := bleve.NewDateTimeFieldMapping()
	dfm.Store, dfm.IncludeInAll = false, false
	dm.AddFieldMappingsAt(fReceived, dfm)
	m.DefaultMapping = dm
	return m
}
