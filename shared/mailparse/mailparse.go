package mailparse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// Defaults and fixed bounds; doc.go explains them to callers.
const (
	defaultMaxText     = 1 << 20
	defaultMaxPreview  = 256
	maxHeaderBytes     = 1 << 20
	maxPartHeaderBytes = 256 << 10
	maxDepth           = 20
	maxParts           = 10000
	maxProblems        = 50
	maxHTMLToken       = 1 << 20
	readBufferSize     = 32 << 10
)

// Options bounds the work of Parse. Zero fields take the defaults; so do
// negative ones.
type Options struct {
	// MaxText is how many bytes of body text Parse keeps in Message.Text
	// (default 1 MiB). Text past it is read but not kept, and
	// Message.TextTruncated is set.
	MaxText int
	// MaxPreview is how many runes Message.Preview holds at most (default 256).
	MaxPreview int
}

func (o Options) withDefaults() Options {
	if o.MaxText <= 0 {
		o.MaxText = defaultMaxText
	}
	if o.MaxPreview <= 0 {
		o.MaxPreview = defaultMaxPreview
	}
	return o
}

// Address is one mailbox of an address field.
type Address struct {
	// Name is the display name, RFC 2047 decoded; "" when there is none.
	Name string `json:"name,omitempty"`
	// Email is the addr-spec as given (not case-folded), trimmed of
	// surrounding space.
	Email string `json:"email"`
}

// Attachment is a leaf MIME part that is not body text.
type Attachment struct {
	// Part is the MIME part path as IMAP numbers parts: 1-based, "2", "2.1";
	// "1" for a message that is not multipart.
	Part string `json:"part"`
	// Name is the file name from the Content-Disposition filename parameter or,
	// failing that, the Content-Type name parameter, with RFC 2231 and RFC 2047
	// encodings decoded; "" when there is none.
	Name string `json:"name,omitempty"`
	// Type is the media type in lower case, such as "application/pdf".
	Type string `json:"type"`
	// Size is the size in bytes after the transfer encoding is decoded.
	Size int64 `json:"size"`
	// Inline is set for a part whose Content-Disposition is inline and that
	// has a Content-ID, as an image shown in an HTML body is.
	Inline bool `json:"inline,omitempty"`
}

// Message is what Parse read of a message.
type Message struct {
	// MessageID is the Message-ID without angle brackets; "" when missing.
	MessageID string
	// InReplyTo and References hold the message ids of those fields, without
	// angle brackets, in the order given.
	InReplyTo  []string
	References []string
	// Subject is the Subject field, RFC 2047 decoded.
	Subject string
	// The address fields; nil when the field is missing. Repeated fields are
	// joined.
	From, Sender, ReplyTo, To, Cc, Bcc []Address
	// Date is the Date field, in the zone it gives; the zero time when
	// missing or unparseable.
	Date time.Time
	// Size is the number of bytes read from the input: all of it.
	Size int64
	// Text is the plain text of the body: the text/plain parts, and text/html
	// parts reduced to text, charset-decoded, with "\n" line breaks and parts
	// separated by a blank line, NUL bytes dropped. It is at most
	// Options.MaxText bytes, cut on a rune boundary, and always valid UTF-8.
	Text string
	// TextTruncated reports that text was left out of Text for lack of room.
	TextTruncated bool
	// Preview is the first Options.MaxPreview runes of Text, with runs of
	// white space collapsed to one space.
	Preview string
	// Language is the language of the text (RFC 3282 Content-Language:
	// the first tag of the top-level header's, else of the first text
	// part that has one), such as "fr" or "pt-BR"; "" when not said.
	Language string
	// Attachments lists the parts that are not body text, in the order met.
	Attachments []Attachment
	// Problems says what could not be read, in the order met, such as an
	// unknown charset, a malformed header or a missing boundary. The message
	// was still parsed as far as it goes.
	Problems []string
}

// Parse reads an RFC 5322 message from r, to its end, and returns what it
// found. Malformed input gives a best-effort Message and notes in
// Message.Problems; Parse returns an error only when reading r fails (or r
// is nil), and then no Message.
func Parse(r io.Reader, o Options) (*Message, error) {
	if r == nil {
		return nil, errNilReader
	}
	o = o.withDefaults()
	cr := &countingReader{r: r}
	br := bufio.NewReaderSize(cr, readBufferSize)
	p := &parser{
		msg:  &Message{},
		text: textSink{max: o.MaxText},
	}
	p.words = &mime.WordDecoder{CharsetReader: p.wordCharset}
	p.message(br)
	// Read to the end so that Size counts every byte, and the epilogue or what
	// a bound skipped does not stay unread in r.
	if _, err := io.Copy(io.Discard, br); err != nil && cr.err == nil {
		cr.err = err
	}
	if cr.err != nil {
		return nil, fmt.Errorf("mailparse: reading message: %w", cr.err)
	}
	m := p.msg
	m.Size = cr.n
	m.Text, m.TextTruncated = p.text.result()
	m.Preview = preview(m.Text, o.MaxPreview)
	return m, nil
}

var (
	errNilReader = errors.New("mailparse: nil reader")
	errBadCount  = errors.New("reader returned an invalid byte count")
)

// countingReader counts the bytes of the input and keeps its first error
// sticky, so that the layers above never read past an error or EOF.
type countingReader struct {
	r   io.Reader
	n   int64
	eof bool
	err error // a read error other than io.EOF
}

func (c *countingReader) Read(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.eof {
		return 0, io.EOF
	}
	n, err := c.r.Read(b)
	if n < 0 || n > len(b) {
		// bufio would panic on such a count.
		c.err = errBadCount
		return 0, c.err
	}
	c.n += int64(n)
	switch {
	case err == io.EOF:
		c.eof = true
	case err != nil:
		c.err = err
	}
	return n, err
}

type parser struct {
	msg      *Message
	text     textSink
	words    *mime.WordDecoder
	parts    int
	partsCut bool
	line     []byte // header line buffer, reused
	copyBuf  []byte // plain text read buffer, reused
}

// problem records what could not be read, up to maxProblems notes.
func (p *parser) problem(format string, args ...any) {
	switch n := len(p.msg.Problems); {
	case n < maxProblems:
		p.msg.Problems = append(p.msg.Problems, fmt.Sprintf(format, args...))
	case n == maxProblems:
		p.msg.Problems = append(p.msg.Problems, "further problems were not recorded")
	}
}

// message reads the top-level header and body.
func (p *parser) message(br *bufio.Reader) {
	h, body := p.readHeader(br, maxHeaderBytes, true, "header")
	p.envelope(h)
	p.entity(h, body, nil, 0, false, false)
}

// envelope fills the Message fields that come from the top-level header.
func (p *parser) envelope(h message.Header) {
	m := p.msg
	if v := h.Get("Subject"); v != "" {
		m.Subject = p.decodeWords(v)
	}
	m.Language = contentLanguage(h.Get("Content-Language"))
	m.From = p.addresses(h, "From")
	m.Sender = p.addresses(h, "Sender")
	m.ReplyTo = p.addresses(h, "Reply-To")
	m.To = p.addresses(h, "To")
	m.Cc = p.addresses(h, "Cc")
	m.Bcc = p.addresses(h, "Bcc")

	if v := h.Get("Message-Id"); strings.TrimSpace(v) != "" {
		if ids := parseIDs(v); len(ids) > 0 {
			m.MessageID = ids[0]
		} else {
			p.problem("Message-ID %s holds no message id", excerpt(v))
		}
	}
	m.InReplyTo = parseIDs(strings.Join(h.Values("In-Reply-To"), " "))
	m.References = parseIDs(strings.Join(h.Values("References"), " "))

	if v := strings.TrimSpace(h.Get("Date")); v != "" {
		if t, err := parseDate(v); err != nil {
			p.problem("Date %s: %v", excerpt(v), err)
		} else {
			m.Date = t
		}
	}
}

// readHeader reads header fields up to the blank line that ends them and
// returns them with the reader of the body that follows. A line that is
// neither a field nor the continuation of one ends the header early and is
// taken as the first line of the body, as mail readers do with a message
// that lacks the blank line. At the top, a leading mbox "From " line is
// skipped. Fields past limit bytes are read and dropped.
func (p *parser) readHeader(br *bufio.Reader, limit int, top bool, where string) (message.Header, io.Reader) {
	var (
		block    []byte
		body     io.Reader = br
		inField  bool
		overflow bool
		first    = true
	)
	for {
		line, cut, err := p.readLine(br, limit)
		if len(line) == 0 || isBlankLine(line) {
			break
		}
		if first && top && bytes.HasPrefix(line, []byte("From ")) && !isFieldLine(line) {
			first = false
			if err != nil {
				break
			}
			continue
		}
		first = false
		if !overflow {
			cont := line[0] == ' ' || line[0] == '\t'
			if (cont && !inField) || (!cont && !isFieldLine(line)) {
				p.problem("%s: line %s is not a header field; taken as the start of the body", where, excerpt(string(line)))
				body = io.MultiReader(bytes.NewReader(bytes.Clone(line)), br)
				break
			}
			if cut || len(block)+len(line)+2 > limit {
				overflow = true
				p.problem("%s: longer than %d bytes; the fields past that are skipped", where, limit)
			} else {
				block = append(block, line...)
				if line[len(line)-1] != '\n' {
					block = append(block, '\r', '\n')
				}
				inField = true
			}
		}
		if err != nil {
			break
		}
	}
	block = append(block, '\r', '\n')
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(block)))
	if err != nil {
		// readHeader lets through only lines that ReadHeader accepts, so this
		// is a safety net; h holds the fields read before the error.
		p.problem("%s: %v", where, err)
	}
	return message.Header{Header: h}, body
}

// readLine reads one line, with its line ending, into p.line. Past limit bytes
// the rest of the line is read and dropped, and cut is set.
func (p *parser) readLine(br *bufio.Reader, limit int) (line []byte, cut bool, err error) {
	buf := p.line[:0]
	for {
		chunk, rerr := br.ReadSlice('\n')
		if room := limit - len(buf); room < len(chunk) {
			buf = append(buf, chunk[:max(room, 0)]...)
			cut = true
		} else {
			buf = append(buf, chunk...)
		}
		if rerr != bufio.ErrBufferFull {
			p.line = buf
			return buf, cut, rerr
		}
	}
}

func isBlankLine(line []byte) bool {
	return len(bytes.TrimRight(line, "\r\n")) == 0
}

// isFieldLine reports whether line starts a header field: a name of visible
// ASCII characters, then a colon. It accepts what textproto.ReadHeader does.
func isFieldLine(line []byte) bool {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return false
	}
	for _, c := range bytes.Trim(line[:colon], " \t") {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// partPath renders a part path the IMAP way.
func partPath(path []int) string {
	if len(path) == 0 {
		return "1"
	}
	var b strings.Builder
	for i, n := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// entity reads the body of one MIME entity whose header is h. depth counts
// the multiparts around it; noText says that an earlier alternative already
// gave the text, so text parts here are skipped; digest says that the parent
// is a multipart/digest, whose parts default to message/rfc822. It reports
// whether the entity added text to the message.
func (p *parser) entity(h message.Header, body io.Reader, path []int, depth int, noText, digest bool) bool {
	where := "part " + partPath(path)
	ctype, cparams := p.contentType(h, where, digest)

	if strings.HasPrefix(ctype, "multipart/") {
		boundary := cparams["boundary"]
		switch {
		case boundary == "":
			p.problem("%s: %s without a boundary; read as text/plain", where, ctype)
			ctype, cparams = "text/plain", nil
		case depth >= maxDepth:
			p.problem("%s: multipart nested deeper than %d levels; skipped", where, maxDepth)
			return false
		default:
			return p.multipart(body, boundary, strings.TrimPrefix(ctype, "multipart/"), path, depth, noText, where)
		}
	}

	disp, dparams := p.disposition(h, where)
	name := dparams["filename"]
	if name == "" {
		name = cparams["name"]
	}
	isText := (ctype == "text/plain" || ctype == "text/html") &&
		disp != "attachment" && (name == "" || disp == "inline")
	if isText && noText {
		return false
	}

	decoded := p.transferDecoder(h.Get("Content-Transfer-Encoding"), body, where)
	if isText && p.msg.Language == "" {
		p.msg.Language = contentLanguage(h.Get("Content-Language"))
	}
	if isText {
		if p.text.truncated {
			return false
		}
		start := p.text.begin()
		r := p.charsetDecoder(cparams["charset"], decoded, where)
		if ctype == "text/html" {
			p.htmlText(r, where)
		} else {
			p.plainText(r, where)
		}
		return p.text.end(start)
	}

	n, err := io.Copy(io.Discard, decoded)
	if err != nil {
		p.problem("%s: %v", where, err)
	}
	p.msg.Attachments = append(p.msg.Attachments, Attachment{
		Part:   partPath(path),
		Name:   cleanName(name),
		Type:   ctype,
		Size:   n,
		Inline: disp == "inline" && strings.TrimSpace(h.Get("Content-Id")) != "",
	})
	return false
}

// multipart walks the parts of a multipart body.
func (p *parser) multipart(body io.Reader, boundary, subtype string, path []int, depth int, noText bool, where string) bool {
	mr := newMultipartReader(body, boundary)
	if !mr.start() {
		p.problem("%s: boundary %q not found; the body is skipped", where, boundary)
		return false
	}
	alternative := subtype == "alternative"
	digest := subtype == "digest"
	gotText := false
	for n := 1; !mr.closed; n++ {
		if mr.eof {
			p.problem("%s: closing boundary %q missing", where, boundary)
			break
		}
		if p.parts >= maxParts {
			if !p.partsCut {
				p.partsCut = true
				p.problem("%s: more than %d parts; the rest are skipped", where, maxParts)
			}
			break
		}
		p.parts++
		mr.nextPart()
		child := append(path[:len(path):len(path)], n)
		br := bufio.NewReader(mr)
		h, cbody := p.readHeader(br, maxPartHeaderBytes, false, "part "+partPath(child)+" header")
		if p.entity(h, cbody, child, depth+1, noText || (alternative && gotText), digest) {
			gotText = true
		}
		// The entity may stop early (a decoding error, text past MaxText).
		if _, err := io.Copy(io.Discard, mr); err != nil {
			p.problem("%s: %v", where, err)
		}
	}
	return gotText
}

// contentType parses Content-Type, with the RFC 2045 default for a missing
// or malformed one.
func (p *parser) contentType(h message.Header, where string, digest bool) (string, map[string]string) {
	v := h.Get("Content-Type")
	if strings.TrimSpace(v) == "" {
		if digest {
			return "message/rfc822", nil
		}
		return "text/plain", nil
	}
	t, params := p.parseParams(v, where)
	slash := strings.IndexByte(t, '/')
	if slash <= 0 || slash == len(t)-1 {
		p.problem("%s: malformed Content-Type %s; read as text/plain", where, excerpt(v))
		return "text/plain", nil
	}
	return t, params
}

// disposition parses Content-Disposition: "inline", "attachment" or "" when
// missing. RFC 2183 has an unknown disposition treated as attachment.
func (p *parser) disposition(h message.Header, where string) (string, map[string]string) {
	v := h.Get("Content-Disposition")
	if strings.TrimSpace(v) == "" {
		return "", nil
	}
	d, params := p.parseParams(v, where)
	if d != "inline" {
		d = "attachment"
	}
	return d, params
}

// transferDecoder undoes the Content-Transfer-Encoding with go-message's
// decoders. An unknown encoding is read as is.
func (p *parser) transferDecoder(cte string, body io.Reader, where string) io.Reader {
	cte = strings.ToLower(strings.TrimSpace(cte))
	if i := strings.IndexAny(cte, " \t;("); i >= 0 {
		cte = cte[:i]
	}
	var h message.Header
	h.Set("Content-Transfer-Encoding", cte)
	e, err := message.New(h, body)
	if err != nil {
		p.problem("%s: unknown transfer encoding %q; read as is", where, cte)
		return body
	}
	return e.Body
}

// cleanName makes a file name safe to show: valid UTF-8, no control
// characters, no surrounding space.
func cleanName(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// excerpt quotes the start of s for a problem note.
func excerpt(s string) string {
	const n = 60
	if len(s) > n {
		cut := n
		for cut > 0 && cut < len(s) && s[cut]&0xc0 == 0x80 {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

// contentLanguage is the first language tag of a Content-Language field
// (RFC 3282: tags separated by commas, comments in parentheses), or ""
// when it holds none that is well formed (RFC 5646: subtags of 1 to 8
// letters or digits, the first letters only).
func contentLanguage(v string) string {
	var b strings.Builder
	depth := 0
	for _, c := range v { // comments out
		switch {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(c)
		}
	}
	first, _, _ := strings.Cut(b.String(), ",")
	tag := strings.TrimSpace(first)
	if tag == "" {
		return ""
	}
	for i, sub := range strings.Split(tag, "-") {
		if len(sub) < 1 || len(sub) > 8 {
			return ""
		}
		for _, c := range sub {
			letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
			if !letter && (i == 0 || c < '0' || c > '9') {
				return ""
			}
		}
	}
	return tag
}
