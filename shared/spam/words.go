package spam

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Token length bounds, in bytes after lower-casing: shorter tokens carry
// no meaning, longer ones are base64 runs, hashes and hash busters.
const (
	minTokenLen = 2
	maxTokenLen = 40
)

// tokenSet gathers the distinct tokens of one message: a token counts once
// however often it occurs, as in bogofilter and SpamAssassin.
type tokenSet struct {
	seen map[string]struct{}
	list []string
}

func newTokenSet() *tokenSet {
	return &tokenSet{seen: make(map[string]struct{}, 256), list: make([]string, 0, 256)}
}

func (t *tokenSet) add(tok string) {
	if _, ok := t.seen[tok]; ok {
		return
	}
	t.seen[tok] = struct{}{}
	t.list = append(t.list, tok)
}

// addPrefixed adds prefix+word for a word within the length bounds.
func (t *tokenSet) addPrefixed(prefix, word string) {
	if len(word) < minTokenLen || len(word) > maxTokenLen {
		return
	}
	t.add(prefix + word)
}

// isWordRune reports whether r can be part of a word: letters, digits and
// combining marks, and the joiners that words hold inside (don't,
// follow-up, 3.5, $100, v.i.a.g.r.a), which trimWord strips at the ends.
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
			return true
		}
		switch r {
		case '\'', '-', '.', '_', '$', '@', '&':
			return true
		}
		return false
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || invisible(r)
}

// invisible are the characters that render as nothing, which spam puts
// inside words to defeat filters (vi\u200bagra): they are dropped from the
// word and the message is flagged.
func invisible(r rune) bool {
	switch r {
	case '\u00ad', '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff':
		return true
	}
	return false
}

// words splits text into words and adds their tokens, each with prefix
// (empty for the body). It undoes the usual obfuscations: letters spaced
// out (V I A G R A, v.i.a.g.r.a, v-i-a-g-r-a), digits and symbols for
// letters (v1agra, c@sh), Cyrillic or Greek look-alikes mixed into Latin
// words, and invisible characters; each one found adds a flag token
// (x:spaced, x:leet, x:mixedscript, x:invisible), since obfuscation is
// itself a sign of spam. Hosts and email addresses in running text become
// url: and email: tokens. st, when not nil, counts letters and upper-case
// letters for the shouting flag.
func (a *analyzer) words(text, prefix string, st *textStats) {
	var run strings.Builder // single letters in a row: V I A G R A
	runLen := 0
	flushRun := func() {
		// Fewer than 4 are not a spaced-out word, and single letters are
		// no tokens.
		if runLen >= 4 {
			a.toks.addPrefixed(prefix, strings.ToLower(run.String()))
			a.flag("x:spaced")
		}
		run.Reset()
		runLen = 0
	}
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		if !isWordRune(r) {
			// A single space between single letters keeps a run going.
			if !(r == ' ' && runLen > 0) {
				flushRun()
			}
			i += n
			continue
		}
		j := i
		for j < len(text) {
			r, n := utf8.DecodeRuneInString(text[j:])
			if !isWordRune(r) && !(r == ',' && j > i && isDigit(text[j-1]) && j+1 < len(text) && isDigit(text[j+1])) {
				break // a comma between digits stays: 1,000,000
			}
			if st != nil && unicode.IsLetter(r) {
				st.letters++
				if unicode.IsUpper(r) {
					st.upper++
				}
			}
			j += n
		}
		w := trimWord(text[i:j])
		i = j
		if w == "" {
			continue
		}
		if l, n := utf8.DecodeRuneInString(w); n == len(w) && unicode.IsLetter(l) {
			run.WriteString(w)
			runLen++
			continue
		}
		flushRun()
		a.word(w, prefix)
	}
	flushRun()
}

// trimWord strips the joiners that words do not start or end with; a
// leading $ stays (money).
func trimWord(w string) string {
	w = strings.TrimRight(w, "'-._@&$")
	if strings.HasPrefix(w, "$") {
		return "$" + strings.TrimLeft(w, "'-._@&$")
	}
	return strings.TrimLeft(w, "'-._@&")
}

// word adds the tokens of one trimmed word.
func (a *analyzer) word(w, prefix string) {
	if strings.ContainsFunc(w, invisible) {
		w = strings.Map(func(r rune) rune {
			if invisible(r) {
				return -1
			}
			return r
		}, w)
		a.flag("x:invisible")
	}
	if at := strings.IndexByte(w, '@'); at > 0 && strings.IndexByte(w[at:], '.') > 0 {
		if d := hostOf(w[at+1:]); d != "" {
			a.toks.add("email:@" + d)
			return
		}
	}
	lw := strings.ToLower(w)
	if strings.IndexByte(lw, '.') > 0 {
		if joined, ok := unspace(lw); ok {
			a.toks.addPrefixed(prefix, joined)
			a.flag("x:spaced")
			return
		}
		if looksLikeHost(lw) {
			a.host(lw, "url:")
			return
		}
		if !isNumber(lw) { // 3.5 stays one token; e.g, u.s.a and a.m split
			for part := range strings.SplitSeq(lw, ".") {
				a.plainWord(strings.Trim(part, "'-_@&"), prefix)
			}
			return
		}
	}
	if joined, ok := unspace(lw); ok { // v-i-a-g-r-a
		a.toks.addPrefixed(prefix, joined)
		a.flag("x:spaced")
		return
	}
	a.plainWord(lw, prefix)
}

// plainWord adds a lower-cased word, folding look-alikes and l33t.
func (a *analyzer) plainWord(w, prefix string) {
	if w == "" {
		return
	}
	if isNumber(w) && len(w) > 5 && w[0] != '$' {
		return // phone numbers, order and tracking numbers: noise; amounts stay
	}
	if len(w) > maxTokenLen {
		a.flag("x:longword")
		return
	}
	if folded, ok := foldMixedScript(w); ok {
		w = folded
		a.flag("x:mixedscript")
	}
	if plain, ok := unleet(w); ok {
		w = plain
		a.flag("x:leet")
	}
	a.toks.addPrefixed(prefix, w)
}

// unspace joins a word whose letters are separated by one repeated
// separator (v.i.a.g.r.a, c-a-s-h): at least 4 letters.
func unspace(w string) (string, bool) {
	if len(w) < 7 || len(w)%2 == 0 {
		return "", false
	}
	sep := w[1]
	if sep != '.' && sep != '-' && sep != '_' {
		return "", false
	}
	b := make([]byte, 0, len(w)/2+1)
	for i := 0; i < len(w); i++ {
		c := w[i]
		if i%2 == 1 {
			if c != sep {
				return "", false
			}
			continue
		}
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return "", false
		}
		b = append(b, c)
	}
	return string(b), true
}

// leet maps the digits and symbols that stand for letters.
var leet = [128]byte{'0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', '$': 's'}

// unleet undoes l33t in a word of at least 4 bytes where each substitute
// sits between letters or starts a word before two letters (v1agra,
// c@sh, 0nline), so that mp3, 2nd, 4x4 and b2b stay as they are.
func unleet(w string) (string, bool) {
	if len(w) < 4 {
		return "", false
	}
	isLetter := func(i int) bool { return i >= 0 && i < len(w) && 'a' <= w[i] && w[i] <= 'z' }
	subs := 0
	for i := 0; i < len(w); i++ {
		c := w[i]
		switch {
		case 'a' <= c && c <= 'z':
		case c < 128 && leet[c] != 0:
			if !(isLetter(i-1) && isLetter(i+1) || i == 0 && isLetter(1) && isLetter(2)) {
				return "", false
			}
			subs++
		default:
			return "", false
		}
	}
	if subs == 0 {
		return "", false
	}
	b := []byte(w)
	for i, c := range b {
		if leet[c] != 0 {
			b[i] = leet[c]
		}
	}
	return string(b), true
}

// lookAlikes maps the Cyrillic and Greek letters that look like Latin ones.
var lookAlikes = map[rune]rune{
	'а': 'a', 'е': 'e', 'о': 'o', 'р': 'p', 'с': 'c', 'у': 'y', 'х': 'x', 'і': 'i', 'ј': 'j', 'ѕ': 's',
	'к': 'k', 'м': 'm', 'т': 't', 'в': 'b', 'н': 'h',
	'α': 'a', 'ο': 'o', 'ρ': 'p', 'ν': 'v', 'ι': 'i', 'κ': 'k', 'τ': 't', 'χ': 'x', 'ε': 'e',
}

// foldMixedScript turns a word that mixes Latin letters with Cyrillic or
// Greek look-alikes into Latin; a word wholly in one script stays.
func foldMixedScript(w string) (string, bool) {
	latin, other := false, false
	for _, r := range w {
		switch {
		case r < utf8.RuneSelf:
			if 'a' <= r && r <= 'z' {
				latin = true
			}
		case lookAlikes[r] != 0:
			other = true
		}
	}
	if !latin || !other {
		return "", false
	}
	return strings.Map(func(r rune) rune {
		if l := lookAlikes[r]; l != 0 {
			return l
		}
		return r
	}, w), true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isNumber(w string) bool {
	digits := 0
	for i := 0; i < len(w); i++ {
		switch c := w[i]; {
		case '0' <= c && c <= '9':
			digits++
		case c == '.' || c == ',' || c == '$':
		default:
			return false
		}
	}
	return digits > 0
}

// textStats counts letters, for the flag of text in capitals.
type textStats struct{ letters, upper int }
