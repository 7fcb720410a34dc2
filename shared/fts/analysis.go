package fts

import (
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/analysis/lang/ar"
	"github.com/blevesearch/bleve/v2/analysis/lang/cjk"
	"github.com/blevesearch/bleve/v2/analysis/lang/ckb"
	"github.com/blevesearch/bleve/v2/analysis/lang/da"
	"github.com/blevesearch/bleve/v2/analysis/lang/de"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/lang/es"
	"github.com/blevesearch/bleve/v2/analysis/lang/fa"
	"github.com/blevesearch/bleve/v2/analysis/lang/fi"
	"github.com/blevesearch/bleve/v2/analysis/lang/fr"
	"github.com/blevesearch/bleve/v2/analysis/lang/hi"
	"github.com/blevesearch/bleve/v2/analysis/lang/hr"
	"github.com/blevesearch/bleve/v2/analysis/lang/hu"
	"github.com/blevesearch/bleve/v2/analysis/lang/it"
	"github.com/blevesearch/bleve/v2/analysis/lang/nl"
	"github.com/blevesearch/bleve/v2/analysis/lang/no"
	"github.com/blevesearch/bleve/v2/analysis/lang/pl"
	"github.com/blevesearch/bleve/v2/analysis/lang/pt"
	"github.com/blevesearch/bleve/v2/analysis/lang/ro"
	"github.com/blevesearch/bleve/v2/analysis/lang/ru"
	"github.com/blevesearch/bleve/v2/analysis/lang/sv"
	"github.com/blevesearch/bleve/v2/analysis/lang/tr"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/registry"
)

// stdKey is the language key of documents whose language is unknown or has no
// bleve analyzer; their text fields use bleve's standard analyzer.
const stdKey = "std"

// bleveAnalyzer maps a language key (the suffix of the per-language fields and
// the value of the lang field) to the bleve analyzer of its text; fields use
// it through textAnalyzer.
var bleveAnalyzer = map[string]string{
	stdKey:           standard.Name,
	ar.AnalyzerName:  ar.AnalyzerName,
	cjk.AnalyzerName: cjk.AnalyzerName,
	ckb.AnalyzerName: ckb.AnalyzerName,
	da.AnalyzerName:  da.AnalyzerName,
	de.AnalyzerName:  de.AnalyzerName,
	en.AnalyzerName:  en.AnalyzerName,
	es.AnalyzerName:  es.AnalyzerName,
	fa.AnalyzerName:  fa.AnalyzerName,
	fi.AnalyzerName:  fi.AnalyzerName,
	fr.AnalyzerName:  fr.AnalyzerName,
	hi.AnalyzerName:  hi.AnalyzerName,
	hr.AnalyzerName:  hr.AnalyzerName,
	hu.AnalyzerName:  hu.AnalyzerName,
	it.AnalyzerName:  it.AnalyzerName,
	nl.AnalyzerName:  nl.AnalyzerName,
	no.AnalyzerName:  no.AnalyzerName,
	pl.AnalyzerName:  pl.AnalyzerName,
	pt.AnalyzerName:  pt.AnalyzerName,
	ro.AnalyzerName:  ro.AnalyzerName,
	ru.AnalyzerName:  ru.AnalyzerName,
	sv.AnalyzerName:  sv.AnalyzerName,
	tr.AnalyzerName:  tr.AnalyzerName,
}

// languageAliases maps ISO 639-1 codes whose analyzer is named otherwise.
var languageAliases = map[string]string{
	"zh": cjk.AnalyzerName,
	"ja": cjk.AnalyzerName,
	"ko": cjk.AnalyzerName,
	"nb": no.AnalyzerName,
	"nn": no.AnalyzerName,
}

// languageKey returns the key of the analyzer used for a Doc.Language: its
// primary subtag ("pt" of "pt-BR"), lower-cased, when bleve has an analyzer
// for it, stdKey otherwise.
func languageKey(code string) string {
	code = strings.ToLower(strings.TrimSpace(code))
	if i := strings.IndexAny(code, "-_"); i >= 0 {
		code = code[:i]
	}
	if k, ok := languageAliases[code]; ok {
		return k
	}
	if _, ok := bleveAnalyzer[code]; ok && code != stdKey {
		return code
	}
	return stdKey
}

// The analyzers of this package are registered with bleve, not declared in
// the index mapping, so an index opened from disk finds them by name and a
// change to them is a change of formatVersion.
const (
	// nameAnalyzer indexes address and name fields (From, To, Cc, Names,
	// attachment names); nameQueryAnalyzer analyses queries on them.
	nameAnalyzer      = "jetmail_name"
	nameQueryAnalyzer = "jetmail_name_query"
)

// textAnalyzer names the analyzer of the text fields of a language key: the
// bleve analyzer of the language, less overlong tokens.
func textAnalyzer(key string) string { return "jetmail_text_" + key }

// maxTokenBytes drops tokens that are no words: base64 or hex runs left in a
// body would otherwise grow the term dictionary with terms no one searches.
const maxTokenBytes = 128

type capped struct{ analysis.Analyzer }

func (c capped) Analyze(input []byte) analysis.TokenStream {
	toks := c.Analyzer.Analyze(input)
	out := toks[:0]
	for _, t := range toks {
		if len(t.Term) <= maxTokenBytes {
			out = append(out, t)
		}
	}
	return out
}

func register(name string, ctor registry.AnalyzerConstructor) {
	if err := registry.RegisterAnalyzer(name, ctor); err != nil {
		panic(err)
	}
}

func init() {
	for name, expand := range map[string]bool{nameAnalyzer: true, nameQueryAnalyzer: false} {
		a := capped{&addressAnalyzer{expand: expand, words: unicode.NewUnicodeTokenizer(), lower: lowercase.NewLowerCaseFilter()}}
		register(name, func(map[string]any, *registry.Cache) (analysis.Analyzer, error) { return a, nil })
	}
	for key, inner := range bleveAnalyzer {
		register(textAnalyzer(key), func(_ map[string]any, cache *registry.Cache) (analysis.Analyzer, error) {
			a, err := cache.AnalyzerNamed(inner)
			if err != nil {
				return nil, err
			}
			return capped{a}, nil
		})
	}
}

// addressAnalyzer tokenizes "Name <local@domain>" lists. Words outside
// addresses are split as Unicode words. An address is one position holding,
// when expand is set (indexing), the whole address, its local part, the words
// of the local part, its domain, each parent domain and each domain label but
// the last: "ann.lee@mail.example.org" is found by the whole address, by
// "ann.lee", "ann", "lee", "mail.example.org", "example.org", "mail" and
// "example". At query time (expand unset) an address is only the whole
// address, so it does not match its parts in other addresses.
type addressAnalyzer struct {
	expand bool
	words  analysis.Tokenizer
	lower  analysis.TokenFilter
}

func isAddressSeparator(r rune) bool {
	switch r {
	case ' ', '\t', '\r', '\n', ',', ';', '<', '>', '"', '(', ')', '[', ']':
		return true
	}
	return false
}

func (a *addressAnalyzer) Analyze(input []byte) analysis.TokenStream {
	var out analysis.TokenStream
	pos := 0
	emit := func(term string, start, end int) {
		out = append(out, &analysis.Token{Term: []byte(term), Start: start, End: end, Position: pos, Type: analysis.AlphaNumeric})
	}
	for start := 0; start < len(input); {
		r, n := utf8.DecodeRune(input[start:])
		if isAddressSeparator(r) {
			start += n
			continue
		}
		end := start
		for end < len(input) {
			r, n := utf8.DecodeRune(input[end:])
			if isAddressSeparator(r) {
				break
			}
			end += n
		}
		chunk := string(input[start:end])
		at := strings.LastIndexByte(chunk, '@')
		local, domain := "", ""
		if at >= 0 {
			local, domain = chunk[:at], strings.Trim(chunk[at+1:], ".")
		}
		if local == "" || domain == "" {
			for _, t := range a.words.Tokenize(input[start:end]) {
				pos++
				emit(string(t.Term), start+t.Start, start+t.End)
			}
			start = end
			continue
		}
		pos++
		emit(local+"@"+domain, start, end)
		if a.expand {
			emit(local, start, start+at)
			if parts := strings.FieldsFunc(local, isLocalSeparator); len(parts) > 1 {
				for _, p := range parts {
					emit(p, start, start+at)
				}
			}
			labels := strings.Split(domain, ".")
			for i := range labels {
				if i+1 < len(labels) || i == 0 {
					emit(strings.Join(labels[i:], "."), start+at+1, end)
				}
				if i+1 < len(labels) && labels[i] != "" {
					emit(labels[i], start+at+1, end)
				}
			}
		}
		start = end
	}
	return a.lower.Filter(out)
}

func isLocalSeparator(r rune) bool {
	return r == '.' || r == '_' || r == '-' || r == '+'
}
