package mailparse

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// textSink collects the body text, up to max bytes. It makes the text valid
// UTF-8 (a rune split across two writes is joined first), turns CRLF and
// lone CR into LF, drops NUL, which text columns of databases refuse, and
// separates parts by a blank line.
type textSink struct {
	buf       []byte
	max       int
	truncated bool
	carry     [utf8.UTFMax]byte // the start of a rune cut by the end of a write
	ncarry    int
	cr        bool // the last byte was a CR, already written as LF
	sep       bool // a part began: separate it from the text before
}

// begin starts a part and returns the mark that end takes.
func (s *textSink) begin() int {
	s.flush()
	s.sep = len(s.buf) > 0
	s.cr = false
	return len(s.buf)
}

// end finishes a part and reports whether it added more than white space.
func (s *textSink) end(start int) bool {
	s.flush()
	s.sep = false
	return len(bytes.TrimSpace(s.buf[min(start, len(s.buf)):])) > 0
}

// flush writes out a carried partial rune: it will never be completed.
func (s *textSink) flush() {
	if s.ncarry > 0 {
		s.emit([]byte(string(utf8.RuneError)))
		s.ncarry = 0
	}
}

// write adds a chunk of text whose runes may be cut at either end.
func (s *textSink) write(b []byte) {
	if s.ncarry > 0 {
		for s.ncarry < utf8.UTFMax && len(b) > 0 && !utf8.FullRune(s.carry[:s.ncarry]) {
			s.carry[s.ncarry] = b[0]
			s.ncarry++
			b = b[1:]
		}
		if !utf8.FullRune(s.carry[:s.ncarry]) {
			return // b is used up and the rune is still incomplete
		}
		c := s.carry[:s.ncarry]
		s.ncarry = 0
		s.emit(c)
	}
	// Hold back a rune cut by the end of b.
	keep := len(b)
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				keep = i
			}
			break
		}
	}
	s.ncarry = copy(s.carry[:], b[keep:])
	s.emit(b[:keep])
}

// emit adds text in which no rune is cut.
func (s *textSink) emit(b []byte) {
	if !utf8.Valid(b) {
		b = bytes.ToValidUTF8(b, []byte(string(utf8.RuneError)))
	}
	for len(b) > 0 && !s.truncated {
		if s.cr && b[0] == '\n' {
			b = b[1:]
			s.cr = false
			continue
		}
		s.cr = false
		i := bytes.IndexAny(b, "\r\x00")
		if i < 0 {
			s.add(b)
			return
		}
		s.add(b[:i])
		if b[i] == '\r' {
			s.add(lf)
			s.cr = true
		}
		b = b[i+1:]
	}
}

// add appends valid UTF-8, cutting it on a rune boundary at max.
func (s *textSink) add(b []byte) {
	if len(b) == 0 || s.truncated {
		return
	}
	if s.sep {
		s.sep = false
		for n := trailingNewlines(s.buf); n < 2; n++ {
			s.add(lf)
		}
	}
	room := s.max - len(s.buf)
	if len(b) > room {
		cut := room
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		s.buf = append(s.buf, b[:cut]...)
		s.truncated = true
		return
	}
	s.buf = append(s.buf, b...)
}

func trailingNewlines(b []byte) int {
	n := 0
	for n < len(b) && b[len(b)-1-n] == '\n' {
		n++
	}
	return n
}

// result returns the text without leading blank lines and trailing white
// space.
func (s *textSink) result() (string, bool) {
	s.flush()
	t := strings.TrimRight(string(s.buf), " \t\n")
	return strings.TrimLeft(t, "\n"), s.truncated
}

// plainText copies a text/plain part into the sink, stopping once the sink
// is full; the caller drains the rest.
func (p *parser) plainText(r io.Reader, where string) {
	if p.copyBuf == nil {
		p.copyBuf = make([]byte, readBufferSize)
	}
	for !p.text.truncated {
		n, err := r.Read(p.copyBuf)
		p.text.write(p.copyBuf[:n])
		if err != nil {
			if err != io.EOF {
				p.problem("%s: %v", where, err)
			}
			return
		}
	}
}

// htmlText reduces a text/html part to text with the x/net/html tokenizer,
// which takes broken markup as browsers do; no tree is built.
func (p *parser) htmlText(r io.Reader, where string) {
	br := bufio.NewReader(r)
	z := html.NewTokenizer(br)
	z.SetMaxBuf(maxHTMLToken)
	c := htmlConverter{s: &p.text, newlines: 2}
	for !p.text.truncated {
		switch tt := z.Next(); tt {
		case html.ErrorToken:
			err := z.Err()
			if err == io.EOF {
				return
			}
			if err != html.ErrBufferExceeded {
				p.problem("%s: HTML: %v; the rest is skipped", where, err)
				return
			}
			// A token too long to hold, most often an image inlined as a
			// data: URI: skip to the end of the tag and go on with a new
			// tokenizer; the converter keeps its state.
			p.problem("%s: HTML token longer than %d bytes skipped", where, maxHTMLToken)
			if !skipPast(br, '>') {
				return
			}
			z = html.NewTokenizer(br)
			z.SetMaxBuf(maxHTMLToken)
		case html.TextToken:
			c.text(z.Text())
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			c.start(atom.Lookup(name), tt == html.SelfClosingTagToken)
		case html.EndTagToken:
			name, _ := z.TagName()
			c.end(atom.Lookup(name))
		}
	}
}

// skipPast reads up to and including the next delim; it reports false if the
// input ended first.
func skipPast(br *bufio.Reader, delim byte) bool {
	for {
		_, err := br.ReadSlice(delim)
		if err == nil {
			return true
		}
		if err != bufio.ErrBufferFull {
			return false
		}
	}
}

// htmlConverter turns HTML tokens into text: white space collapses as a
// browser renders it (but in <pre>), block elements break lines, and the
// content of elements that are not shown is dropped.
type htmlConverter struct {
	s        *textSink
	skip     atom.Atom // element whose content is being dropped
	skipN    int       // nesting of skip
	inHead   bool
	pre      int
	newlines int  // newlines at the end of the output, at most what matters
	space    bool // white space seen since the last word
}

// hidden are the elements whose content is not shown; rawText are those of
// them whose content the tokenizer reads as raw text, even after a
// self-closing tag, as browsers do.
var (
	hidden = map[atom.Atom]bool{
		atom.Script: true, atom.Style: true, atom.Title: true, atom.Template: true,
		atom.Noscript: true, atom.Iframe: true, atom.Noembed: true, atom.Noframes: true,
		atom.Svg: true,
	}
	rawText = map[atom.Atom]bool{
		atom.Script: true, atom.Style: true, atom.Title: true, atom.Noscript: true,
		atom.Iframe: true, atom.Noembed: true, atom.Noframes: true,
	}
)

// Block elements, by the line breaks they make around them.
var (
	paragraphs = map[atom.Atom]bool{
		atom.P: true, atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true,
		atom.H5: true, atom.H6: true, atom.Blockquote: true, atom.Table: true,
		atom.Ul: true, atom.Ol: true, atom.Dl: true, atom.Pre: true, atom.Hr: true,
	}
	lines = map[atom.Atom]bool{
		atom.Div: true, atom.Li: true, atom.Tr: true, atom.Dt: true, atom.Dd: true,
		atom.Address: true, atom.Article: true, atom.Aside: true, atom.Caption: true,
		atom.Center: true, atom.Details: true, atom.Dialog: true, atom.Fieldset: true,
		atom.Figcaption: true, atom.Figure: true, atom.Footer: true, atom.Form: true,
		atom.Header: true, atom.Hgroup: true, atom.Legend: true, atom.Main: true,
		atom.Nav: true, atom.Section: true, atom.Summary: true, atom.Thead: true,
		atom.Tbody: true, atom.Tfoot: true, atom.Option: true,
	}
)

func (c *htmlConverter) start(a atom.Atom, selfClosing bool) {
	if c.skipN > 0 {
		if a == c.skip && !selfClosing {
			c.skipN++
		}
		return
	}
	switch {
	case hidden[a]:
		if !selfClosing || rawText[a] {
			c.skip, c.skipN = a, 1
		}
		return
	case a == atom.Head:
		c.inHead = !selfClosing
		return
	case a == atom.Body:
		c.inHead = false // the head end tag is optional
		return
	case c.inHead:
		return
	case a == atom.Br:
		c.s.add(lf)
		c.newlines++
		c.space = false
	case a == atom.Td || a == atom.Th || a == atom.Img:
		if c.newlines == 0 {
			c.space = true
		}
	case paragraphs[a]:
		c.breakLines(2)
	case lines[a]:
		c.breakLines(1)
	}
	if a == atom.Pre && !selfClosing {
		c.pre++
	}
}

func (c *htmlConverter) end(a atom.Atom) {
	if c.skipN > 0 {
		if a == c.skip {
			c.skipN--
		}
		return
	}
	switch {
	case a == atom.Head:
		c.inHead = false
	case c.inHead:
	case paragraphs[a]:
		c.breakLines(2)
	case lines[a]:
		c.breakLines(1)
	}
	if a == atom.Pre && c.pre > 0 {
		c.pre--
	}
}

// breakLines ends the line, and leaves n-1 blank lines, unless the output
// already does.
func (c *htmlConverter) breakLines(n int) {
	c.space = false
	for c.newlines < n {
		c.s.add(lf)
		c.newlines++
	}
}

var (
	nbsp     = []byte("\u00a0")
	oneSpace = []byte(" ")
)

func (c *htmlConverter) text(t []byte) {
	if c.skipN > 0 || c.inHead || len(t) == 0 {
		return
	}
	// The tokenizer passes bytes through; keep the sink's invariant.
	if !utf8.Valid(t) {
		t = bytes.ToValidUTF8(t, []byte(string(utf8.RuneError)))
	}
	if c.pre > 0 {
		c.s.emit(t)
		c.space = false
		if n := trailingNewlines(t); n == len(t) {
			c.newlines += n
		} else {
			c.newlines = n
		}
		return
	}
	if bytes.Contains(t, nbsp) {
		t = bytes.ReplaceAll(t, nbsp, []byte(" "))
	}
	for len(t) > 0 {
		if isHTMLSpace(t[0]) {
			if c.newlines == 0 {
				c.space = true
			}
			t = t[1:]
			continue
		}
		j := bytes.IndexFunc(t, func(r rune) bool { return r < utf8.RuneSelf && isHTMLSpace(byte(r)) })
		if j < 0 {
			j = len(t)
		}
		if c.space {
			c.s.add(oneSpace)
			c.space = false
		}
		c.s.emit(t[:j])
		c.newlines = 0
		t = t[j:]
	}
}

func isHTMLSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// preview collapses the white space of text and keeps its first limit runes.
func preview(text string, limit int) string {
	var b strings.Builder
	n := 0
	space := false
	for _, r := range text {
		if n >= limit {
			break
		}
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			space = false
			b.WriteByte(' ')
			if n++; n >= limit {
				break
			}
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimRight(b.String(), " ")
}
