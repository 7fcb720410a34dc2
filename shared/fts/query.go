package fts

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
)

// Search limits.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Sort orders.
const (
	SortDate      = "date"      // by Doc.Date, newest first; documents without a date last
	SortRelevance = "relevance" // best match first
)

// Query selects documents of one account and one type. Every set field must
// match (AND). Text, From, To, Subject and Body are lists of terms separated
// by spaces; a term matches when the document holds it, stemmed in the
// document's language, and "double-quoted words" match as a phrase. Every
// term must match, each in any of the fields searched.
type Query struct {
	Account string // required
	Type    string // default TypeEmail

	// Text searches every text field of the type: for email Subject, From,
	// To, Cc, Body and AttachmentNames; for calendar Summary, Description,
	// Location, Names and Body; for contacts and files Names and Body.
	Text string
	From string // Doc.From
	To   string // Doc.To
	// Subject searches Doc.Subject (Summary for calendar events); it is
	// invalid for contacts and files.
	Subject string
	// Body searches Doc.Body (and Description for calendar events).
	Body string

	// Before is exclusive and After inclusive, as in JMAP; zero: unset.
	Before, After time.Time

	InMailbox  string // exact mailbox id
	HasKeyword string // case-insensitive
	NotKeyword string // case-insensitive

	Sort        string // SortDate (default) or SortRelevance
	IsAscending bool   // oldest first, or least relevant first

	Position int // index of the first result returned; default 0
	Limit    int // results returned at most; default DefaultLimit, at most MaxLimit
}

// Result is one page of a search.
type Result struct {
	IDs   []string // Doc.ID of the page's documents, in order
	Total uint64   // number of documents matching, all pages together
}

// searchField is a logical field of a query; a language field maps to one
// index field per language.
type searchField struct {
	name string
	lang bool
}

var (
	sfSubject     = searchField{fSubject, true}
	sfBody        = searchField{fBody, true}
	sfSummary     = searchField{fSummary, true}
	sfDescription = searchField{fDescription, true}
	sfLocation    = searchField{fLocation, true}
	sfFrom        = searchField{fFrom, false}
	sfTo          = searchField{fTo, false}
	sfCc          = searchField{fCc, false}
	sfAttachments = searchField{fAttachments, false}
	sfNames       = searchField{fNames, false}
)

// typeFields tells, by document type, which fields Text, Subject and Body
// search. It is also the list of valid types.
var typeFields = map[string]struct{ text, subject, body []searchField }{
	TypeEmail: {
		text:    []searchField{sfSubject, sfFrom, sfTo, sfCc, sfBody, sfAttachments},
		subject: []searchField{sfSubject},
		body:    []searchField{sfBody},
	},
	TypeCalendar: {
		text:    []searchField{sfSummary, sfDescription, sfLocation, sfNames, sfBody},
		subject: []searchField{sfSummary},
		body:    []searchField{sfDescription, sfBody},
	},
	TypeContacts: {
		text: []searchField{sfNames, sfBody},
		body: []searchField{sfBody},
	},
	TypeFile: {
		text: []searchField{sfNames, sfBody},
		body: []searchField{sfBody},
	},
}

// clause is one term or phrase of a query, to be found in any of fields.
type clause struct {
	text   string
	fields []searchField
}

func (c clause) hasLanguageField() bool {
	return slices.ContainsFunc(c.fields, func(f searchField) bool { return f.lang })
}

// splitTerms splits s at white space, keeping "quoted phrases" (quotes
// removed) whole; an unterminated quote runs to the end.
func splitTerms(s string) []string {
	var terms []string
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			return terms
		}
		var term string
		if s[0] == '"' {
			var ok bool
			term, s, ok = strings.Cut(s[1:], `"`)
			if !ok {
				s = ""
			}
		} else {
			i := strings.IndexAny(s, " \t\r\n")
			if i < 0 {
				i = len(s)
			}
			term, s = s[:i], s[i:]
		}
		if strings.TrimSpace(term) != "" {
			terms = append(terms, term)
		}
	}
}

// validate checks q and fills in its defaults.
func (q *Query) validate() error {
	if err := validPart("Query.Account", q.Account); err != nil {
		return err
	}
	if q.Type == "" {
		q.Type = TypeEmail
	}
	if err := validType("Query.Type", q.Type); err != nil {
		return err
	}
	if q.Subject != "" && typeFields[q.Type].subject == nil {
		return invalid("Query.Subject", "type %s has no subject", q.Type)
	}
	switch q.Sort {
	case "":
		q.Sort = SortDate
	case SortDate, SortRelevance:
	default:
		return invalid("Query.Sort", "unknown sort %q (want date or relevance)", q.Sort)
	}
	switch {
	case q.Position < 0:
		return invalid("Query.Position", "negative (%d)", q.Position)
	case q.Limit < 0:
		return invalid("Query.Limit", "negative (%d)", q.Limit)
	case q.Limit > MaxLimit:
		return invalid("Query.Limit", "%d is over the maximum of %d", q.Limit, MaxLimit)
	case q.Limit == 0:
		q.Limit = DefaultLimit
	}
	return nil
}

// Search returns one page of the documents matching q.
func (ix *Index) Search(ctx context.Context, q Query) (Result, error) {
	if err := q.validate(); err != nil {
		return Result{}, err
	}
	bq, ok := ix.buildQuery(q)
	if !ok {
		return Result{IDs: []string{}}, nil
	}
	req := bleve.NewSearchRequestOptions(bq, q.Limit, q.Position, false)
	desc := !q.IsAscending
	if q.Sort == SortDate {
		// Scores are not needed to sort by date, and cost.
		req.Score = "none"
		req.SortByCustom(search.SortOrder{
			&search.SortField{Field: fDate, Type: search.SortFieldAsDate, Desc: desc, Missing: search.SortFieldMissingLast},
			&search.SortDocID{Desc: desc},
		})
	} else {
		req.SortByCustom(search.SortOrder{&search.SortScore{Desc: desc}, &search.SortDocID{Desc: desc}})
	}
	res, err := ix.bi.SearchInContext(ctx, req)
	if err != nil {
		return Result{}, fmt.Errorf("fts: search: %w", err)
	}
	out := Result{IDs: make([]string, 0, len(res.Hits)), Total: res.Total}
	for _, h := range res.Hits {
		out.IDs = append(out.IDs, idOf(h.ID))
	}
	return out, nil
}

// buildQuery returns the bleve query for q, or false when q can match
// nothing: a term yields no token (punctuation alone, or a stop word in every
// language), or no document has the language fields it needs.
//
// Documents of different languages keep their text in different fields, and a
// query term is analysed by each language's analyzer, so the query holds one
// branch per language present: "lang is L and every term matches in L's
// fields or the address fields". A term that is a stop word in L is left out
// of L's branch, as L's analyzer left it out of L's documents.
func (ix *Index) buildQuery(q Query) (query.Query, bool) {
	tf := typeFields[q.Type]
	var clauses []clause
	add := func(s string, fields []searchField) {
		for _, t := range splitTerms(s) {
			clauses = append(clauses, clause{text: t, fields: fields})
		}
	}
	add(q.Text, tf.text)
	add(q.From, []searchField{sfFrom})
	add(q.To, []searchField{sfTo})
	add(q.Subject, tf.subject)
	add(q.Body, tf.body)

	// Filters must not change the ranking: with terms to rank by, they score
	// nothing. Without terms every score would be 0/0, so they keep a weight.
	filterBoost := 1.0
	if len(clauses) > 0 {
		filterBoost = 0
	}
	term := func(field, v string) query.Query {
		t := query.NewTermQuery(v)
		t.SetField(field)
		t.SetBoost(filterBoost)
		return t
	}
	must := []query.Query{term(fScope, scope(q.Account, q.Type))}
	nameQuery := ix.analyzers[nameQueryAnalyzer]

	var langClauses []clause
	for _, c := range clauses {
		if c.hasLanguageField() {
			langClauses = append(langClauses, c)
			continue
		}
		var alts []query.Query
		toks := nameQuery.Analyze([]byte(c.text))
		if len(toks) == 0 {
			return nil, false
		}
		for _, f := range c.fields {
			alts = append(alts, tokensQuery(f.name, toks))
		}
		must = append(must, disjunction(alts))
	}
	if len(langClauses) > 0 {
		langs := ix.languages()
		var branches []query.Query
		for _, lang := range langs {
			var all []query.Query
			if len(langs) > 1 {
				all = append(all, term(fLang, lang))
			}
			n := 0
			analyzer := ix.analyzers[textAnalyzer(lang)]
			for _, c := range langClauses {
				if cq := clauseQuery(c, lang, analyzer, nameQuery); cq != nil {
					all = append(all, cq)
					n++
				}
			}
			if n > 0 {
				branches = append(branches, conjunction(all))
			}
		}
		if len(branches) == 0 {
			return nil, false
		}
		must = append(must, disjunction(branches))
	}

	if !q.Before.IsZero() || !q.After.IsZero() {
		incl, excl := true, false
		r := query.NewDateRangeInclusiveQuery(q.After, q.Before, &incl, &excl)
		r.SetField(fDate)
		r.SetBoost(filterBoost)
		must = append(must, r)
	}
	if q.InMailbox != "" {
		must = append(must, term(fMailbox, q.InMailbox))
	}
	if q.HasKeyword != "" {
		must = append(must, term(fKeyword, strings.ToLower(q.HasKeyword)))
	}
	if q.NotKeyword == "" {
		return conjunction(must), true
	}
	return query.NewBooleanQuery(must, nil, []query.Query{term(fKeyword, strings.ToLower(q.NotKeyword))}), true
}

// clauseQuery is c in the fields of language lang, nil when c is a stop word
// or only punctuation for lang's analyzer.
func clauseQuery(c clause, lang string, analyzer, nameQuery analysis.Analyzer) query.Query {
	var alts []query.Query
	for _, f := range c.fields {
		if f.lang {
			toks := analyzer.Analyze([]byte(c.text))
			if len(toks) == 0 {
				return nil
			}
			alts = append(alts, tokensQuery(langField(f.name, lang), toks))
		} else if toks := nameQuery.Analyze([]byte(c.text)); len(toks) > 0 {
			alts = append(alts, tokensQuery(f.name, toks))
		}
	}
	if len(alts) == 0 {
		return nil
	}
	return disjunction(alts)
}

// tokensQuery matches the tokens of one term or phrase in field: a term query
// for one token, a phrase for tokens at several positions (gaps left by stop
// words match any word).
func tokensQuery(field string, toks analysis.TokenStream) query.Query {
	first, last := toks[0].Position, toks[0].Position
	for _, t := range toks {
		first, last = min(first, t.Position), max(last, t.Position)
	}
	if first == last {
		var alts []query.Query
		for _, t := range toks {
			tq := query.NewTermQuery(string(t.Term))
			tq.SetField(field)
			alts = append(alts, tq)
		}
		return disjunction(alts)
	}
	phrase := make([][]string, last-first+1)
	for _, t := range toks {
		phrase[t.Position-first] = append(phrase[t.Position-first], string(t.Term))
	}
	return query.NewMultiPhraseQuery(phrase, field)
}

func conjunction(qs []query.Query) query.Query {
	if len(qs) == 1 {
		return qs[0]
	}
	return query.NewConjunctionQuery(qs)
}

func disjunction(qs []query.Query) query.Query {
	if len(qs) == 1 {
		return qs[0]
	}
	return query.NewDisjunctionQuery(qs)
}
