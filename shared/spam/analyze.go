package spam

import (
	"bytes"
	"mime"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jetmail/jetmail/shared/mailparse"
)

// Bounds of what Analyze reads: mail past them is no more telling.
const (
	// maxText is how much body text is tokenized (mailparse.Options.MaxText).
	maxText = 64 << 10
	// maxFields is how many top-level header fields are kept.
	maxFields = 200
	// maxFieldValue bounds one unfolded header value.
	maxFieldValue = 8 << 10
	// maxReceived is how many Received fields are tokenized, from the top.
	maxReceived = 8
)

// Field is one top-level header field, unfolded.
type Field struct {
	// Name is the field name as written.
	Name string
	// Value is the raw value, unfolded and trimmed; encoded words are not
	// decoded (Message.Subject is).
	Value string
}

// Message is what the classifier reads of a message: its tokens for the
// Bayesian model and, for rules, its header, text and URLs.
type Message struct {
	// Tokens are the distinct tokens, in the order first met; doc.go
	// lists their kinds.
	Tokens []string
	// Subject is the Subject field, RFC 2047 decoded.
	Subject string
	// Header holds the top-level fields in order, at most 200.
	Header []Field
	// Text is the plain text of the body, HTML reduced to text, at most
	// 64 KiB (see mailparse.Message.Text).
	Text string
	// URLs are the distinct URLs found in the text and in the raw body
	// (HTML links), at most 64.
	URLs []string
}

// Values returns the values of the fields named name (case-insensitive).
func (m *Message) Values(name string) []string {
	var v []string
	for _, f := range m.Header {
		if strings.EqualFold(f.Name, name) {
			v = append(v, f.Value)
		}
	}
	return v
}

// analyzer builds one Message.
type analyzer struct {
	msg  *Message
	toks *tokenSet
	urlz map[string]bool
}

func (a *analyzer) flag(tok string) { a.toks.add(tok) }

func (a *analyzer) addURL(u string) {
	if !a.urlz[u] && len(a.msg.URLs) < maxURLs {
		a.urlz[u] = true
		a.msg.URLs = append(a.msg.URLs, u)
	}
}

// Analyze reads a raw RFC 5322 message and returns its tokens and the
// parts rules look at. It never fails: malformed mail gives what can be
// read, and the x:malformed token.
func Analyze(raw []byte) *Message {
	a := &analyzer{msg: &Message{}, toks: newTokenSet(), urlz: map[string]bool{}}
	fields, bodyAt := scanHeader(raw)
	a.msg.Header = fields
	pm, err := mailparse.Parse(bytes.NewReader(raw), mailparse.Options{MaxText: maxText})
	if err != nil { // a bytes.Reader does not fail; keep the header
		pm = &mailparse.Message{Problems: []string{err.Error()}}
	}
	a.msg.Subject = pm.Subject
	a.msg.Text = pm.Text

	a.header(pm)
	a.mimeHeaders(raw[bodyAt:])
	for _, at := range pm.Attachments {
		a.toks.add("att:" + at.Type)
		if ext := strings.ToLower(strings.TrimPrefix(path.Ext(at.Name), ".")); ext != "" && len(ext) <= 8 {
			a.toks.add("att:ext:" + ext)
		}
	}
	if len(pm.Problems) > 0 {
		a.flag("x:malformed")
	}

	// HTML parts, decoded: links, and the text a reader does not see.
	hidden, walked := []string(nil), true
	if hasHTMLType(raw) {
		hidden, walked = a.htmlParts(raw)
	}

	// The body: URLs first, then the words between them; hidden text apart.
	text := cutRuns(pm.Text, hidden)
	var st textStats
	last := 0
	for _, s := range a.urls(text, true) {
		a.words(text[last:s.start], "", &st)
		last = s.end
	}
	a.words(text[last:], "", &st)
	for _, h := range hidden {
		a.words(h, "hidden:", nil)
	}
	if st.letters >= 50 && st.upper*10 > st.letters*4 {
		a.flag("x:shouting")
	}
	a.toks.add("x:text:" + bucket(len(text), 0, 200, 1000, 5000, 20000))
	if !walked {
		// The MIME tree could not be walked: look for the links of HTML in
		// the raw body, where a part that is not base64-encoded shows them.
		a.urls(string(raw[bodyAt:]), false)
	}
	a.toks.add("x:urls:" + bucket(len(a.msg.URLs), 0, 1, 2, 6, 20))

	a.msg.Tokens = a.toks.list
	return a.msg
}

// bucket names the range n falls in, among bounds in increasing order:
// "0", "<200", ... and "more" past the last.
func bucket(n int, bounds ...int) string {
	if n == bounds[0] {
		return strconv.Itoa(n)
	}
	for _, b := range bounds[1:] {
		if n < b {
			return "<" + strconv.Itoa(b)
		}
	}
	return "more"
}

// header adds the tokens of the top-level header; doc.go lists them.
func (a *analyzer) header(pm *mailparse.Message) {
	var received, named int
	var mid, date, returnPath, rawSubject string
	for _, f := range a.msg.Header {
		name := strings.ToLower(f.Name)
		if named < 100 && len(name) <= maxTokenLen {
			a.toks.add("hdr:" + name)
			named++
		}
		switch name {
		case "received":
			if received < maxReceived {
				a.received(f.Value)
			}
			received++
		case "x-mailer", "user-agent":
			a.words(f.Value, "xm:", nil)
		case "x-priority", "precedence", "importance":
			if w, _, _ := strings.Cut(strings.ToLower(f.Value), " "); w != "" && len(w) <= 20 {
				a.toks.add(name + ":" + w)
			}
		case "content-type":
			a.contentType(f.Value)
		case "content-transfer-encoding":
			a.toks.addPrefixed("cte:", strings.ToLower(strings.TrimSpace(f.Value)))
		case "message-id":
			mid = f.Value
		case "date":
			date = f.Value
		case "return-path":
			returnPath = f.Value
		case "subject":
			rawSubject = f.Value
		}
	}
	a.toks.add("rcvd:n:" + bucket(received, 0, 1, 2, 3, 5, 8))

	// Subject.
	if strings.TrimSpace(pm.Subject) == "" {
		a.flag("x:nosubject")
	}
	var st textStats
	a.words(pm.Subject, "subj:", &st)
	if st.letters >= 8 && st.upper*10 > st.letters*6 {
		a.flag("x:subj-caps")
	}
	if strings.Contains(pm.Subject, "!") {
		a.flag("x:subj-excl")
	}
	if cs := encodedWordCharset(rawSubject); cs != "" {
		a.toks.addPrefixed("subj:cs:", cs)
	}

	// From, To, Cc, Reply-To.
	fromDomain := ""
	if len(pm.From) == 0 {
		a.flag("x:nofrom")
	}
	for i, ad := range pm.From {
		if i == 2 {
			break
		}
		addr := strings.ToLower(ad.Email)
		if len(addr) <= 64 {
			a.toks.add("from:" + addr)
		}
		if d := domainOf(addr); d != "" {
			fromDomain = registeredDomain(d)
			a.toks.add("from:@" + d)
			if fromDomain != d {
				a.toks.add("from:@" + fromDomain)
			}
		}
		a.words(ad.Name, "from:", nil)
		if strings.Contains(ad.Name, "@") {
			a.flag("x:from-name-addr")
		}
	}
	rcpts := 0
	for _, list := range [][]mailparse.Address{pm.To, pm.Cc} {
		for _, ad := range list {
			rcpts++
			if rcpts > 5 {
				continue
			}
			addr := strings.ToLower(ad.Email)
			if d := domainOf(addr); d != "" {
				a.toks.add("to:@" + d)
			}
			for _, f := range pm.From {
				if strings.EqualFold(f.Email, addr) {
					a.flag("x:from-is-to")
				}
			}
		}
	}
	a.toks.add("to:n:" + bucket(rcpts, 0, 1, 2, 3, 6, 20))
	for _, ad := range pm.ReplyTo {
		if d := domainOf(strings.ToLower(ad.Email)); d != "" {
			a.toks.add("rt:@" + d)
			if fromDomain != "" && registeredDomain(d) != fromDomain {
				a.flag("x:rt-differs")
			}
		}
	}

	// Message-ID, Date, Return-Path.
	if d := domainOf(strings.ToLower(strings.Trim(strings.TrimSpace(mid), "<>"))); d != "" {
		a.toks.add("mid:@" + registeredDomain(d))
		if fromDomain != "" && registeredDomain(d) != fromDomain {
			a.flag("x:mid-differs")
		}
	} else {
		a.flag("x:nomsgid")
	}
	if strings.TrimSpace(date) == "" {
		a.flag("x:nodate")
	}
	if d := domainOf(strings.ToLower(strings.Trim(strings.TrimSpace(returnPath), "<>"))); d != "" {
		a.toks.add("rp:@" + registeredDomain(d))
	}
}

// domainOf returns the host after the last @ of an address; "" when none.
func domainOf(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	d := strings.TrimRight(addr[at+1:], ">. ")
	if len(d) < 3 || len(d) > maxTokenLen || !strings.Contains(d, ".") {
		return ""
	}
	return d
}

// encodedWordCharset is the lower-case charset of the first RFC 2047
// encoded word of a raw header value; "" when it has none.
func encodedWordCharset(v string) string {
	i := strings.Index(v, "=?")
	if i < 0 {
		return ""
	}
	cs, _, ok := strings.Cut(v[i+2:], "?")
	if !ok || len(cs) > 30 {
		return ""
	}
	cs, _, _ = strings.Cut(cs, "*") // RFC 2231 language
	return strings.ToLower(cs)
}

// receivedSkip are the words of every Received field.
var receivedSkip = map[string]bool{
	"from": true, "by": true, "with": true, "id": true, "for": true, "via": true,
	"esmtp": true, "esmtps": true, "smtp": true, "esmtpsa": true, "lmtp": true,
	"version": true, "cipher": true, "bits": true,
}

// received adds the tokens of a Received field up to its date: hosts and
// their domains, IP addresses by /24, the words of host names (dyn, pool,
// dsl) and the other words (unknown, helo, localhost).
func (a *analyzer) received(v string) {
	v, _, _ = strings.Cut(v, ";")
	for f := range strings.FieldsFuncSeq(v, func(r rune) bool {
		return r == ' ' || r == '\t' || strings.ContainsRune("()[]<>=,", r)
	}) {
		f = strings.TrimPrefix(strings.ToLower(strings.Trim(f, ".:")), "ipv6:")
		switch {
		case f == "" || receivedSkip[f] || len(f) > 60:
		case strings.ContainsRune(f, '@'):
		case isIP(f):
			a.host(f, "rcvd:")
		case strings.Contains(f, ".") && hostOf(f) == f:
			a.host(f, "rcvd:")
			// The words of the name but its top-level domain: dyn, pool, mail.
			name := f[:max(strings.LastIndexByte(f, '.'), 0)]
			for part := range strings.FieldsFuncSeq(name, func(r rune) bool { return !('a' <= r && r <= 'z') }) {
				if len(part) >= 2 && len(part) <= 12 {
					a.toks.add("rcvd:w:" + part)
				}
			}
		case isAlpha(f):
			a.toks.addPrefixed("rcvd:", f)
		}
	}
}

func isIP(s string) bool {
	if !strings.ContainsAny(s, ".:") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || c == '.' || c == ':') {
			return false
		}
	}
	return strings.Count(s, ".") == 3 || strings.Count(s, ":") >= 2
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || c == '-') {
			return false
		}
	}
	return s != ""
}

// contentType adds ct: the media type and cs: its charset.
func (a *analyzer) contentType(v string) {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		mt, _, _ = strings.Cut(strings.ToLower(strings.TrimSpace(v)), ";")
		a.flag("x:bad-content-type")
	}
	a.toks.addPrefixed("ct:", mt)
	if cs := strings.ToLower(params["charset"]); cs != "" {
		a.toks.addPrefixed("cs:", cs)
	}
}

// mimeHeaders adds the tokens of the part headers in the body: their
// Content-Type and Content-Transfer-Encoding, which mailparse reads but
// does not report. Any line of the body that starts with those names is
// taken for one; a part header line in the text of a message is rare
// enough not to matter.
func (a *analyzer) mimeHeaders(body []byte) {
	for len(body) > 0 {
		nl := bytes.IndexByte(body, '\n')
		line := body
		if nl >= 0 {
			line, body = body[:nl], body[nl+1:]
		} else {
			body = nil
		}
		if len(line) < 13 || (line[0]|0x20 != 'c') {
			continue
		}
		switch {
		case hasPrefixFold(line, "content-type:"):
			v := string(bytes.TrimSpace(line[13:]))
			// Parameters often follow on continuation lines.
			for len(body) > 0 && (body[0] == ' ' || body[0] == '\t') && len(v) < 1000 {
				nl := bytes.IndexByte(body, '\n')
				if nl < 0 {
					nl = len(body)
				}
				v += " " + string(bytes.TrimSpace(body[:nl]))
				body = body[min(nl+1, len(body)):]
			}
			a.contentType(v)
		case hasPrefixFold(line, "content-transfer-encoding:"):
			a.toks.addPrefixed("cte:", strings.ToLower(string(bytes.TrimSpace(line[26:]))))
		}
	}
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && strings.EqualFold(string(b[:len(prefix)]), prefix)
}

// scanHeader splits the top-level header of raw into unfolded fields and
// returns them with the offset of the body. It stops at the blank line,
// or at a line that is not a field (as mailparse does); an mbox "From "
// line in front is skipped.
func scanHeader(raw []byte) ([]Field, int) {
	var fields []Field
	i := 0
	if bytes.HasPrefix(raw, []byte("From ")) {
		if nl := bytes.IndexByte(raw, '\n'); nl >= 0 {
			i = nl + 1
		}
	}
	cur := -1 // the field a continuation line belongs to
	for i < len(raw) {
		nl := bytes.IndexByte(raw[i:], '\n')
		end := len(raw)
		if nl >= 0 {
			end = i + nl
		}
		line := bytes.TrimRight(raw[i:end], "\r")
		if len(line) == 0 {
			return fields, min(end+1, len(raw))
		}
		if line[0] == ' ' || line[0] == '\t' {
			if cur >= 0 && len(fields[cur].Value) < maxFieldValue {
				fields[cur].Value += " " + string(bytes.TrimSpace(line))
			}
			i = end + 1
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || bytes.ContainsAny(line[:colon], " \t") {
			return fields, i // not a field: the body starts here
		}
		if len(fields) < maxFields {
			v := bytes.TrimSpace(line[colon+1:])
			if !utf8.Valid(v) {
				v = bytes.ToValidUTF8(v, []byte("\uFFFD"))
			}
			fields = append(fields, Field{Name: string(line[:colon]), Value: string(v)})
			cur = len(fields) - 1
		} else {
			cur = -1
		}
		i = end + 1
	}
	return fields, len(raw)
}
