package mailparse

import (
	"io"
	"net/mail"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding/charmap"
)

// wordCharset is the CharsetReader of the RFC 2047 word decoder: an unknown
// charset is read as UTF-8 (invalid bytes are replaced later) rather than
// failing the whole field. An RFC 2231 language suffix ("utf-8*en") is
// dropped.
func (p *parser) wordCharset(label string, in io.Reader) (io.Reader, error) {
	label, _, _ = strings.Cut(label, "*")
	switch strings.ToLower(label) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return in, nil
	}
	r, err := charset.Reader(label, in)
	if err != nil {
		p.problem("unknown charset %q in an encoded word; read as UTF-8", label)
		return in, nil
	}
	return r, nil
}

// charsetDecoder converts a text part to UTF-8. An unknown charset is read
// as UTF-8; the text sink replaces what is not valid UTF-8.
func (p *parser) charsetDecoder(label string, r io.Reader, where string) io.Reader {
	label = strings.ToLower(strings.TrimSpace(label))
	switch label {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return r
	}
	d, err := charset.Reader(label, r)
	if err != nil {
		p.problem("%s: unknown charset %q; read as UTF-8", where, label)
		return r
	}
	return d
}

// decodeWords decodes the RFC 2047 encoded words of a field value. It finds
// the words itself and decodes each with mime.WordDecoder.Decode:
// WordDecoder.DecodeHeader rescans the rest of the value after each
// malformed word, which is quadratic on crafted input. White space between
// two encoded words is dropped, as RFC 2047 says; a malformed word is kept
// as it is.
func (p *parser) decodeWords(v string) string {
	if !strings.Contains(v, "=?") {
		return p.rawText(strings.TrimSpace(v))
	}
	var b strings.Builder
	afterWord := false // the text copied last was a decoded word
	i := 0
	for i < len(v) {
		j := strings.Index(v[i:], "=?")
		if j < 0 {
			break
		}
		start := i + j
		end := encodedWordEnd(v, start)
		if end < 0 {
			b.WriteString(v[i : start+2])
			i, afterWord = start+2, false
			continue
		}
		decoded, err := p.words.Decode(v[start:end])
		if err != nil {
			b.WriteString(v[i:end])
			i, afterWord = end, false
			continue
		}
		if gap := v[i:start]; !afterWord || strings.Trim(gap, " \t\r\n") != "" {
			b.WriteString(gap)
		}
		b.WriteString(decoded)
		i, afterWord = end, true
	}
	b.WriteString(v[i:])
	return p.rawText(strings.TrimSpace(b.String()))
}

// rawText is header text as UTF-8. Raw 8-bit bytes that are not UTF-8
// (RFC 5322 allows neither, RFC 6532 only UTF-8) are nearly always a
// Windows or Latin-1 mailer's: they are read as windows-1252, whose every
// byte is a character, and noted.
func (p *parser) rawText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out, err := charmap.Windows1252.NewDecoder().String(s)
	if err != nil {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	p.problem("header text with raw 8-bit bytes that are not UTF-8; read as windows-1252")
	return out
}

// encodedWordEnd returns the end of the encoded word "=?charset?e?text?="
// that starts at v[start], or -1. Neither charset nor text may hold white
// space or "?", so the scan stops early on anything else.
func encodedWordEnd(v string, start int) int {
	token := func(i int) int {
		for i < len(v) && v[i] != '?' && v[i] > ' ' && v[i] != 0x7f {
			i++
		}
		return i
	}
	i := start + 2
	cs := token(i)
	if cs == i || cs+3 > len(v) || v[cs] != '?' || v[cs+2] != '?' {
		return -1
	}
	switch v[cs+1] {
	case 'b', 'B', 'q', 'Q':
	default:
		return -1
	}
	text := token(cs + 3)
	if text+1 >= len(v) || v[text] != '?' || v[text+1] != '=' {
		return -1
	}
	return text + 2
}

// parseParams parses a Content-Type or Content-Disposition value into its
// lower-cased leading token and its parameters, keyed by lower-cased name.
// It is lenient where mime.ParseMediaType is not (stray semicolons, unquoted
// spaces, repeated names: the first wins) and decodes RFC 2231 continuations
// and charsets in any charset, and RFC 2047 words in file names, which many
// mailers send although no RFC allows them there.
func (p *parser) parseParams(v, where string) (string, map[string]string) {
	token, rest, _ := strings.Cut(v, ";")
	token = strings.ToLower(strings.TrimSpace(token))
	if i := strings.IndexAny(token, " \t("); i >= 0 {
		token = token[:i]
	}

	params := map[string]string{}
	type section struct {
		value   string
		encoded bool
	}
	extended := map[string]map[int]section{}
	for {
		rest = strings.TrimLeft(rest, " \t\r\n;")
		if rest == "" {
			break
		}
		eq := strings.IndexAny(rest, "=;")
		if eq < 0 {
			break
		}
		if rest[eq] == ';' {
			rest = rest[eq:] // a name without a value
			continue
		}
		name := strings.ToLower(strings.TrimSpace(rest[:eq]))
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var value string
		if strings.HasPrefix(rest, `"`) {
			value, rest = unquote(rest[1:])
			if i := strings.IndexByte(rest, ';'); i >= 0 {
				rest = rest[i:]
			} else {
				rest = ""
			}
		} else {
			end := strings.IndexByte(rest, ';')
			if end < 0 {
				end = len(rest)
			}
			value, rest = strings.TrimSpace(rest[:end]), rest[end:]
		}
		if name == "" {
			continue
		}

		base, sec, isExt := strings.Cut(name, "*")
		if !isExt {
			if _, dup := params[name]; !dup {
				params[name] = value
			}
			continue
		}
		// name*=, name*N= and name*N*= of RFC 2231.
		s := section{value: value}
		index := 0
		switch {
		case sec == "":
			s.encoded = true
		default:
			num, enc := strings.CutSuffix(sec, "*")
			n, err := strconv.Atoi(num)
			if err != nil || n < 0 || n > 999 {
				continue
			}
			index, s.encoded = n, enc
		}
		if extended[base] == nil {
			extended[base] = map[int]section{}
		}
		if _, dup := extended[base][index]; !dup {
			extended[base][index] = s
		}
	}

	names := make([]string, 0, len(extended))
	for name := range extended {
		names = append(names, name)
	}
	sort.Strings(names) // problems in a stable order
	for _, name := range names {
		sections := extended[name]
		var raw []byte
		label := ""
		for i := 0; ; i++ {
			s, ok := sections[i]
			if !ok {
				break
			}
			value := s.value
			if s.encoded {
				if i == 0 {
					// charset'language'value
					if cs, after, ok := strings.Cut(value, "'"); ok {
						if _, after, ok := strings.Cut(after, "'"); ok {
							label, value = cs, after
						}
					}
				}
				raw = append(raw, percentDecode(value)...)
			} else {
				raw = append(raw, value...)
			}
		}
		if raw == nil && len(sections) > 0 {
			continue // no section 0
		}
		params[name] = p.decodeParam(raw, label, where)
	}

	for _, name := range []string{"name", "filename"} {
		if v, ok := params[name]; ok && strings.Contains(v, "=?") {
			params[name] = p.decodeWords(v)
		}
	}
	return token, params
}

// decodeParam converts an RFC 2231 value from its charset.
func (p *parser) decodeParam(raw []byte, label, where string) string {
	label = strings.ToLower(strings.TrimSpace(label))
	switch label {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return strings.ToValidUTF8(string(raw), "\uFFFD")
	}
	r, err := charset.Reader(label, strings.NewReader(string(raw)))
	if err != nil {
		p.problem("%s: unknown charset %q in a parameter; read as UTF-8", where, label)
		return strings.ToValidUTF8(string(raw), "\uFFFD")
	}
	b, err := io.ReadAll(r)
	if err != nil {
		p.problem("%s: parameter in charset %q: %v", where, label, err)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// unquote reads a quoted-string whose opening quote is already consumed and
// returns its content and what follows the closing quote. An unterminated
// string runs to the end.
func unquote(s string) (string, string) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:]
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

// percentDecode decodes %XX escapes; a malformed escape is kept as is.
func percentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if b, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				out = append(out, byte(b))
				i += 2
				continue
			}
		}
		out = append(out, s[i])
	}
	return out
}

// addresses parses an address field, all its occurrences joined. When the
// list is not valid RFC 5322, it is parsed piece by piece and what still
// fails is salvaged by looking for an addr-spec.
func (p *parser) addresses(h message.Header, key string) []Address {
	values := h.Values(key)
	if len(values) == 0 {
		return nil
	}
	v := strings.Join(values, ", ")
	if strings.TrimSpace(v) == "" {
		return nil
	}
	ap := mail.AddressParser{WordDecoder: p.words}
	if list, err := ap.ParseList(v); err == nil {
		out := make([]Address, 0, len(list))
		for _, a := range list {
			out = append(out, p.newAddress(a))
		}
		return out
	}
	p.problem("%s: malformed address list %s", key, excerpt(v))
	var out []Address
	for _, piece := range splitAddressList(v) {
		if strings.TrimSpace(piece) == "" {
			continue
		}
		if a, err := ap.Parse(piece); err == nil {
			out = append(out, p.newAddress(a))
		} else if a, ok := p.looseAddress(piece); ok {
			out = append(out, a)
		}
	}
	return out
}

// newAddress converts a net/mail address. net/mail leaves encoded words in
// a quoted display name alone, as RFC 2047 asks, but many mailers quote
// them, so they are decoded here.
func (p *parser) newAddress(a *mail.Address) Address {
	name := a.Name
	if strings.Contains(name, "=?") {
		name = p.decodeWords(name)
	}
	return newAddress(name, a.Address)
}

func newAddress(name, email string) Address {
	return Address{
		Name:  strings.ToValidUTF8(strings.TrimSpace(name), "\uFFFD"),
		Email: strings.ToValidUTF8(strings.TrimSpace(email), "\uFFFD"),
	}
}

// looseAddress salvages "Name <addr>" or a bare word with an "@" from a
// piece that net/mail rejects.
func (p *parser) looseAddress(s string) (Address, bool) {
	s = strings.TrimSpace(strings.TrimRight(strings.TrimSpace(s), ";"))
	if open := strings.LastIndexByte(s, '<'); open >= 0 {
		if end := strings.IndexByte(s[open:], '>'); end > 0 {
			email := strings.TrimSpace(s[open+1 : open+end])
			if email != "" {
				name := strings.Trim(strings.TrimSpace(s[:open]), `"`)
				if _, after, ok := strings.Cut(name, ":"); ok && !strings.Contains(name, "=?") {
					name = after // a group name before the first member
				}
				return newAddress(p.decodeWords(name), email), true
			}
		}
	}
	for _, w := range strings.Fields(s) {
		w = strings.Trim(w, `<>"'(),;:`)
		if strings.Contains(w, "@") {
			return newAddress("", w), true
		}
	}
	return Address{}, false
}

// splitAddressList splits at the commas that are outside quotes and
// comments. Angle brackets are not tracked: an unclosed one would swallow
// the rest of the list, and the obsolete routes that put commas inside them
// are not worth it.
func splitAddressList(s string) []string {
	var out []string
	quoted := false
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && (quoted || depth > 0):
			i++
		case quoted:
			quoted = c != '"'
		case c == '"':
			quoted = true
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// parseIDs extracts message ids from a Message-ID, In-Reply-To or
// References field, without angle brackets. It is lenient: comments and
// white space anywhere are dropped (also white space folded into an id), an
// unterminated "<id" runs to the next white space, and when there is no
// bracketed id at all, bare words holding an "@" are taken, as some mailers
// send them.
func parseIDs(v string) []string {
	var ids, bare []string
	for i := 0; i < len(v); {
		switch c := v[i]; {
		case c == '(':
			i = skipComment(v, i)
		case c == '<':
			// Look for the '>' only up to the next '<', which keeps this
			// linear on input such as "<<<<".
			rest := v[i+1:]
			if next := strings.IndexByte(rest, '<'); next >= 0 {
				rest = rest[:next]
			}
			if end := strings.IndexByte(rest, '>'); end >= 0 {
				if id := dropSpace(rest[:end]); id != "" {
					ids = append(ids, id)
				}
				i += 1 + end + 1
				break
			}
			j := i + 1 // unterminated: up to white space or the next '<'
			for j < len(v) && !isSpace(v[j]) && v[j] != '<' {
				j++
			}
			if id := dropSpace(v[i+1 : j]); id != "" {
				ids = append(ids, id)
			}
			i = j
		case isSpace(c) || c == ',':
			i++
		default:
			j := i
			for j < len(v) && !isSpace(v[j]) && v[j] != '<' && v[j] != '(' && v[j] != ',' {
				j++
			}
			if w := v[i:j]; strings.Contains(w, "@") {
				bare = append(bare, strings.ToValidUTF8(strings.Trim(w, `"`), "\uFFFD"))
			}
			i = j
		}
	}
	if len(ids) == 0 {
		return bare
	}
	return ids
}

// dropSpace removes the white space folded into an id, and makes it valid
// UTF-8.
func dropSpace(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x80 && isSpace(byte(r)) {
			return -1
		}
		return r
	}, s)
	return strings.ToValidUTF8(s, "\uFFFD")
}

// skipComment returns the index after the comment that starts at v[i],
// nested comments and quoted pairs included; an unterminated comment runs to
// the end.
func skipComment(v string, i int) int {
	depth := 0
	for ; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(v)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

// parseDate parses a Date field with net/mail, which knows RFC 5322 and its
// obsolete forms, after dropping a trailing comment that it may not accept.
func parseDate(v string) (time.Time, error) {
	t, err := mail.ParseDate(v)
	if err == nil {
		return t, nil
	}
	if i := strings.IndexByte(v, '('); i > 0 {
		if t, err2 := mail.ParseDate(strings.TrimSpace(v[:i])); err2 == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}
