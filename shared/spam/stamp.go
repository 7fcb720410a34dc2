package spam

import (
	"bytes"
	"strconv"
	"strings"
)

// The header fields the classifier writes. Stamp removes any the message
// came with, so a sender cannot forge a verdict.
const (
	HeaderStatus = "X-Spam-Status"
	HeaderScore  = "X-Spam-Score"
	headerFlag   = "X-Spam-Flag"
)

// statusClues is how many clues X-Spam-Status names.
const statusClues = 5

// Status renders the X-Spam-Status value, in SpamAssassin's shape:
//
//	Yes, score=0.97 required=0.90 bayes=0.95 model=global
//		tests=FREE_MONEY,NO_DATE tokens=subj:viagra,url:pills.top
//
// "Yes" when Score is at least required, else "No"; tests are the rules
// that hit and tokens the most significant clues (those in plain ASCII).
func (v Verdict) Status(required float64) string {
	var b strings.Builder
	if v.Score >= required {
		b.WriteString("Yes")
	} else {
		b.WriteString("No")
	}
	b.WriteString(", score=" + formatScore(v.Score))
	b.WriteString(" required=" + formatScore(required))
	b.WriteString(" bayes=" + formatScore(v.Bayes))
	b.WriteString(" model=" + string(v.Model))
	if len(v.Rules) > 0 {
		b.WriteString(" tests=")
		for i, r := range v.Rules {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(r.ID)
		}
	}
	n := 0
	for _, c := range v.Clues {
		if n == statusClues {
			break
		}
		if !headerSafe(c.Token) {
			continue
		}
		if n == 0 {
			b.WriteString(" tokens=")
		} else {
			b.WriteByte(',')
		}
		b.WriteString(c.Token)
		n++
	}
	return b.String()
}

// formatScore writes a score with two decimals, as 0.97.
func formatScore(s float64) string { return strconv.FormatFloat(s, 'f', 2, 64) }

// headerSafe reports whether a token can go into a header as it is:
// visible ASCII without the list's comma.
func headerSafe(tok string) bool {
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= ' ' || c >= 0x7f || c == ',' {
			return false
		}
	}
	return tok != ""
}

// Stamp returns raw with X-Spam-Status and X-Spam-Score prepended, and
// the X-Spam-Status, X-Spam-Score and X-Spam-Flag fields of its top-level
// header removed. required is the junk threshold the status is against.
// Line ends follow raw's (CRLF unless its first line ends in a bare LF).
func Stamp(raw []byte, v Verdict, required float64) []byte {
	eol := "\r\n"
	if nl := bytes.IndexByte(raw, '\n'); nl >= 0 && (nl == 0 || raw[nl-1] != '\r') {
		eol = "\n"
	}
	var b bytes.Buffer
	b.Grow(len(raw) + 256)
	writeFolded(&b, HeaderStatus, v.Status(required), eol)
	b.WriteString(HeaderScore + ": " + formatScore(v.Score) + eol)
	b.Write(stripFields(raw, HeaderStatus, HeaderScore, headerFlag))
	return b.Bytes()
}

// writeFolded writes a field folded before lines grow past 78: at spaces,
// or after a comma inside a long list (tests=A,B,C), which unfolds to a
// comma and a space.
func writeFolded(b *bytes.Buffer, name, value, eol string) {
	line := len(name) + 1
	b.WriteString(name + ":")
	for _, w := range strings.Fields(value) {
		for j, part := range strings.SplitAfter(w, ",") {
			sep := ""
			if j == 0 {
				sep = " "
			}
			if line+len(sep)+len(part) > 78 && line > 1 {
				b.WriteString(eol + "\t")
				line, sep = 1, ""
			}
			b.WriteString(sep + part)
			line += len(sep) + len(part)
		}
	}
	b.WriteString(eol)
}

// stripFields removes the named fields, with their continuation lines,
// from the top-level header of raw. raw is returned as is when it has
// none of them.
func stripFields(raw []byte, names ...string) []byte {
	var out []byte // nil until a field is removed
	drop := false
	i := 0
	for i < len(raw) {
		end := len(raw)
		if nl := bytes.IndexByte(raw[i:], '\n'); nl >= 0 {
			end = i + nl + 1
		}
		line := raw[i:end]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break // the end of the header
		}
		if line[0] != ' ' && line[0] != '\t' {
			drop = false
			for _, n := range names {
				if len(line) > len(n) && line[len(n)] == ':' && strings.EqualFold(string(line[:len(n)]), n) {
					drop = true
				}
			}
		}
		switch {
		case drop && out == nil:
			out = append(make([]byte, 0, len(raw)), raw[:i]...)
		case !drop && out != nil:
			out = append(out, line...)
		}
		i = end
	}
	if out == nil {
		return raw
	}
	return append(out, raw[i:]...)
}
