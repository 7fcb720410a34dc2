package fts

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
)

// ErrInvalid is wrapped by every error about bad input: a Doc, Key, Query or
// account that cannot be used. The message names the field.
var ErrInvalid = errors.New("fts: invalid input")

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

// Document types.
const (
	TypeEmail    = "email"
	TypeCalendar = "calendar"
	TypeContacts = "contacts"
	TypeFile     = "file"
)

// Doc is one indexed item. Every text field is optional; Body and Names may be
// used by any type (a contact's notes, a file's extracted text, a calendar
// event's attendees).
type Doc struct {
	Account string // owner; every search is restricted to one account
	Type    string // TypeEmail, TypeCalendar, TypeContacts or TypeFile
	ID      string // unique within Account+Type

	// Language is an ISO 639-1 code ("en", "fr", "pt-BR": its primary subtag
	// counts) when known. Languages bleve has an analyzer for are stemmed;
	// "" and any other language use the standard analyzer. See the package
	// documentation for the list.
	Language string

	// Email.
	Subject         string
	From, To, Cc    []string // each "Name <addr>" or a bare address
	Body            string   // plain text: HTML already reduced by the caller
	AttachmentNames []string
	Date            time.Time // also a calendar event's start or a file's mtime; zero: none
	Mailboxes       []string  // mailbox ids, exact match
	Keywords        []string  // "$seen", "$flagged", ...: matched case-insensitively

	// Calendar.
	Summary, Description, Location string

	// Contacts and files.
	Names []string // contact names and addresses, file names
}

// Key names one document.
type Key struct{ Account, Type, ID string }

// Op is one change given to Apply: exactly one of its fields is set.
type Op struct {
	Put    *Doc // add or replace the document of the same key
	Delete *Key // remove it; a missing document is no error

	// Checkpoint is stored with the batch, atomically, and read back with
	// Index.Checkpoint: the caller's position in its change log, so that a
	// lost or rebuilt index never claims changes it does not hold.
	Checkpoint []byte
}

// Options tune an Index. The zero value is the default.
type Options struct {
	// DeleteBatch is how many documents DeleteAccount removes per batch.
	// Default 1000.
	DeleteBatch int

	// UnsafeBatch lets Apply return once a batch is searchable, before it is
	// on disk. Default false: Apply returns when the batch is persisted, so a
	// checkpoint stored with it survives a crash.
	UnsafeBatch bool

	// PersistNap, with UnsafeBatch, is how long the index's persister
	// waits before writing what batches gave it, so that small batches are
	// merged in memory into one segment rather than written as many
	// segments to merge on disk. Default 0: at once.
	PersistNap time.Duration
}

// mergePlan is scorch's tiered merge policy with a smaller first tier.
// Its default rounds every segment under 2,000 documents up to 2,000, so an
// index of fewer documents than that is planned as one segment: each new
// segment (a batch, or a second of them) is merged into all the rest, and
// indexing a stream of small batches rewrites the index again and again.
// With a floor of 20 the tiers are 20, 200, 2,000... documents of up to 10
// segments each, so a document is rewritten about once per tier.
var mergePlan = map[string]any{"FloorSegmentSize": 20}

// Index is a full-text index in one directory. It is safe for concurrent use.
type Index struct {
	bi        bleve.Index
	opts      Options
	analyzers map[string]analysis.Analyzer // by analyzer name

	mu    sync.RWMutex
	langs []string // language keys present in the index, sorted
}

// formatVersion is stored in the index; a change of fields or analysis that
// needs a rebuild bumps it, and Open refuses an index of another version.
const formatVersion = "1"

var (
	versionKey    = []byte("jetmail.fts.version")
	checkpointKey = []byte("jetmail.fts.checkpoint")
)

// Open opens the index in dir, creating it when dir is missing, empty or holds
// no index.
func Open(dir string, o Options) (*Index, error) {
	if o.DeleteBatch <= 0 {
		o.DeleteBatch = 1000
	}
	config := map[string]any{"unsafe_batch": o.UnsafeBatch, "scorchMergePlanOptions": mergePlan}
	if o.PersistNap > 0 {
		config["scorchPersisterOptions"] = map[string]any{"PersisterNapTimeMSec": int(o.PersistNap.Milliseconds())}
	}
	var bi bleve.Index
	_, err := os.Stat(filepath.Join(dir, "index_meta.json"))
	switch {
	case err == nil:
		bi, err = bleve.OpenUsing(dir, config)
		if err != nil {
			return nil, fmt.Errorf("fts: open %s: %w", dir, err)
		}
		v, err := bi.GetInternal(versionKey)
		if err != nil || string(v) != formatVersion {
			_ = bi.Close()
			if err == nil {
				err = fmt.Errorf("format version %q, want %q: rebuild it", v, formatVersion)
			}
			return nil, fmt.Errorf("fts: open %s: %w", dir, err)
		}
	case errors.Is(err, os.ErrNotExist):
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("fts: create in %s: %w", dir, err)
		}
		if len(entries) > 0 {
			return nil, fmt.Errorf("fts: create in %s: directory is not empty and holds no index", dir)
		}
		bi, err = bleve.NewUsing(dir, newMapping(), scorch.Name, scorch.Name, config)
		if err != nil {
			return nil, fmt.Errorf("fts: create in %s: %w", dir, err)
		}
		if err := bi.SetInternal(versionKey, []byte(formatVersion)); err != nil {
			_ = bi.Close()
			return nil, fmt.Errorf("fts: create in %s: %w", dir, err)
		}
	default:
		return nil, fmt.Errorf("fts: open %s: %w", dir, err)
	}

	ix := &Index{bi: bi, opts: o, analyzers: map[string]analysis.Analyzer{}}
	m := bi.Mapping()
	names := []string{keyword.Name, nameAnalyzer, nameQueryAnalyzer}
	for key := range bleveAnalyzer {
		names = append(names, textAnalyzer(key))
	}
	for _, name := range names {
		a := m.AnalyzerNamed(name)
		if a == nil {
			_ = bi.Close()
			return nil, fmt.Errorf("fts: open %s: analyzer %q is not registered", dir, name)
		}
		ix.analyzers[name] = a
	}
	if err := ix.loadLanguages(); err != nil {
		_ = bi.Close()
		return nil, fmt.Errorf("fts: open %s: %w", dir, err)
	}
	return ix, nil
}

// loadLanguages reads which languages the index holds, so that a search only
// queries the per-language fields that exist.
func (ix *Index) loadLanguages() error {
	d, err := ix.bi.FieldDict(fLang)
	if err != nil {
		return fmt.Errorf("read languages: %w", err)
	}
	defer func() { _ = d.Close() }()
	for {
		e, err := d.Next()
		if err != nil {
			return fmt.Errorf("read languages: %w", err)
		}
		if e == nil {
			return nil
		}
		ix.addLanguage(e.Term)
	}
}

func (ix *Index) addLanguage(key string) {
	ix.mu.RLock()
	_, found := slices.BinarySearch(ix.langs, key)
	ix.mu.RUnlock()
	if found {
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if i, found := slices.BinarySearch(ix.langs, key); !found {
		ix.langs = slices.Insert(slices.Clone(ix.langs), i, key)
	}
}

func (ix *Index) languages() []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.langs
}

// Close closes the index. Pending merges are abandoned; the data on disk is
// consistent.
func (ix *Index) Close() error {
	if err := ix.bi.Close(); err != nil {
		return fmt.Errorf("fts: close: %w", err)
	}
	return nil
}

// Count returns the number of documents in the index, all accounts together.
func (ix *Index) Count() (uint64, error) {
	n, err := ix.bi.DocCount()
	if err != nil {
		return 0, fmt.Errorf("fts: count: %w", err)
	}
	return n, nil
}

// Checkpoint returns the value of the last Op.Checkpoint applied, nil when
// none was.
func (ix *Index) Checkpoint() ([]byte, error) {
	v, err := ix.bi.GetInternal(checkpointKey)
	if err != nil {
		return nil, fmt.Errorf("fts: checkpoint: %w", err)
	}
	return v, nil
}

// Apply applies ops as one bleve batch: they become searchable together. When
// several ops name the same key, the last one wins. Nothing is applied when an
// op is invalid. The batch itself cannot be cancelled: ctx is checked before.
func (ix *Index) Apply(ctx context.Context, ops []Op) error {
	b := ix.bi.NewBatch()
	var langs []string
	for i, op := range ops {
		where := fmt.Sprintf("ops[%d]", i)
		set := 0
		if op.Put != nil {
			set++
		}
		if op.Delete != nil {
			set++
		}
		if op.Checkpoint != nil {
			set++
		}
		if set != 1 {
			return invalid(where, "want exactly one of Put, Delete and Checkpoint, have %d", set)
		}
		switch {
		case op.Put != nil:
			doc, lang, err := ix.document(where+".Put", op.Put)
			if err != nil {
				return err
			}
			if err := b.IndexAdvanced(doc); err != nil {
				return fmt.Errorf("fts: %s: %w", where, err)
			}
			langs = append(langs, lang)
		case op.Delete != nil:
			k := op.Delete
			if err := validKey(where+".Delete", k.Account, k.Type, k.ID); err != nil {
				return err
			}
			b.Delete(docID(k.Account, k.Type, k.ID))
		default:
			b.SetInternal(checkpointKey, op.Checkpoint)
		}
	}
	if b.Size() == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fts: apply: %w", err)
	}
	// Known before the documents are searchable, so that no search misses
	// them for want of their language's fields.
	for _, l := range langs {
		ix.addLanguage(l)
	}
	if err := ix.bi.Batch(b); err != nil {
		return fmt.Errorf("fts: apply %d ops: %w", len(ops), err)
	}
	return nil
}

// DeleteAccount removes every document of account, whatever its type, and
// returns how many it removed. Documents put concurrently may be removed too.
func (ix *Index) DeleteAccount(ctx context.Context, account string) (int, error) {
	if err := validPart("account", account); err != nil {
		return 0, err
	}
	var scopes []query.Query
	for typ := range typeFields {
		t := query.NewTermQuery(scope(account, typ))
		t.SetField(fScope)
		scopes = append(scopes, t)
	}
	q := query.NewDisjunctionQuery(scopes)
	deleted := 0
	for {
		req := bleve.NewSearchRequestOptions(q, ix.opts.DeleteBatch, 0, false)
		req.Score = "none"
		res, err := ix.bi.SearchInContext(ctx, req)
		if err != nil {
			return deleted, fmt.Errorf("fts: delete account: %w", err)
		}
		if len(res.Hits) == 0 {
			return deleted, nil
		}
		b := ix.bi.NewBatch()
		for _, h := range res.Hits {
			b.Delete(h.ID)
		}
		if err := ix.bi.Batch(b); err != nil {
			return deleted, fmt.Errorf("fts: delete account: %w", err)
		}
		deleted += len(res.Hits)
	}
}

// Bleve document ids join the key's parts with NUL, which validPart refuses in
// them, so an id splits back unambiguously.
func docID(account, typ, id string) string {
	return scope(account, typ) + "\x00" + id
}

func scope(account, typ string) string {
	return account + "\x00" + typ
}

func idOf(docID string) string {
	_, rest, _ := strings.Cut(docID, "\x00")
	_, id, _ := strings.Cut(rest, "\x00")
	return id
}

func validPart(field, v string) error {
	if v == "" {
		return invalid(field, "empty")
	}
	if strings.IndexByte(v, 0) >= 0 {
		return invalid(field, "contains NUL")
	}
	return nil
}

func validType(field, t string) error {
	if _, ok := typeFields[t]; !ok {
		return invalid(field, "unknown type %q (want email, calendar, contacts or file)", t)
	}
	return nil
}

func validKey(where, account, typ, id string) error {
	if err := validPart(where+".Account", account); err != nil {
		return err
	}
	if err := validType(where+".Type", typ); err != nil {
		return err
	}
	return validPart(where+".ID", id)
}

// Index fields. Per-language text fields are named base+"_"+language key
// ("body_fr", "subject_std").
const (
	fScope       = "scope" // account and type: the one term every search needs
	fLang        = "lang"
	fDate        = "date"
	fMailbox     = "mailbox"
	fKeyword     = "keyword"
	fSubject     = "subject"
	fBody        = "body"
	fSummary     = "summary"
	fDescription = "description"
	fLocation    = "location"
	fFrom        = "from"
	fTo          = "to"
	fCc          = "cc"
	fAttachments = "attachments"
	fNames       = "names"
)

// languageFields are stemmed by language; the others are names and
// addresses, analysed alike in every language.
var languageFields = []string{fSubject, fBody, fSummary, fDescription, fLocation}

const (
	textOptions    = index.IndexField | index.IncludeTermVectors // positions for phrases
	keywordOptions = index.IndexField
	dateOptions    = index.IndexField | index.DocValues // doc values to sort by
)

func langField(base, key string) string { return base + "_" + key }

// document turns d into a bleve document, bypassing the mapping: the mapping
// cannot choose an analyzer per document, and skipping its reflection is
// faster.
func (ix *Index) document(where string, d *Doc) (*document.Document, string, error) {
	if err := validKey(where, d.Account, d.Type, d.ID); err != nil {
		return nil, "", err
	}
	lang := languageKey(d.Language)
	doc := document.NewDocument(docID(d.Account, d.Type, d.ID))
	kw := ix.analyzers[keyword.Name]
	addKeyword := func(name, v string, pos []uint64) {
		doc.AddField(document.NewTextFieldCustom(name, pos, []byte(v), keywordOptions, kw))
	}
	addKeyword(fScope, scope(d.Account, d.Type), nil)
	addKeyword(fLang, lang, nil)

	text := ix.analyzers[textAnalyzer(lang)]
	for name, v := range map[string]string{fSubject: d.Subject, fBody: d.Body, fSummary: d.Summary, fDescription: d.Description, fLocation: d.Location} {
		if v != "" {
			doc.AddField(document.NewTextFieldCustom(langField(name, lang), nil, []byte(v), textOptions, text))
		}
	}
	names := ix.analyzers[nameAnalyzer]
	for name, vs := range map[string][]string{fFrom: d.From, fTo: d.To, fCc: d.Cc, fAttachments: d.AttachmentNames, fNames: d.Names} {
		for i, v := range vs {
			doc.AddField(document.NewTextFieldCustom(name, []uint64{uint64(i)}, []byte(v), textOptions, names))
		}
	}
	for i, v := range d.Mailboxes {
		addKeyword(fMailbox, v, []uint64{uint64(i)})
	}
	for i, v := range d.Keywords {
		addKeyword(fKeyword, strings.ToLower(v), []uint64{uint64(i)})
	}
	// A date bleve cannot represent (before 1678 or after 2262, as spam has)
	// leaves the document undated rather than failing its batch.
	if !d.Date.IsZero() {
		if f, err := document.NewDateTimeFieldWithIndexingOptions(fDate, nil, d.Date, time.RFC3339, dateOptions); err == nil {
			doc.AddField(f)
		}
	}
	return doc, lang, nil
}

// newMapping describes the fields that document builds, so that the index on
// disk documents itself and bleve's own query parsers pick the same analyzers.
func newMapping() mapping.IndexMapping {
	m := bleve.NewIndexMapping()
	m.DefaultAnalyzer = textAnalyzer(stdKey)
	m.IndexDynamic = false
	m.StoreDynamic = false
	m.DocValuesDynamic = false
	dm := bleve.NewDocumentStaticMapping()
	field := func(name, analyzer string, vectors bool) {
		fm := bleve.NewTextFieldMapping()
		fm.Analyzer = analyzer
		fm.Store = false
		fm.IncludeInAll = false
		fm.IncludeTermVectors = vectors
		fm.DocValues = false
		dm.AddFieldMappingsAt(name, fm)
	}
	for _, name := range []string{fScope, fLang, fMailbox, fKeyword} {
		field(name, keyword.Name, false)
	}
	for _, name := range []string{fFrom, fTo, fCc, fAttachments, fNames} {
		field(name, nameAnalyzer, true)
	}
	for _, base := range languageFields {
		for key := range bleveAnalyzer {
			field(langField(base, key), textAnalyzer(key), true)
		}
	}
	dfm := bleve.NewDateTimeFieldMapping()
	dfm.Store = false
	dfm.IncludeInAll = false
	dm.AddFieldMappingsAt(fDate, dfm)
	m.DefaultMapping = dm
	return m
}
