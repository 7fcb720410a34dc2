package mailparse

import (
	"bufio"
	"bytes"
	"io"
)

var (
	crlf = []byte("\r\n")
	lf   = crlf[1:]
)

// multipartReader splits a multipart body at its boundary (RFC 2046 5.1.1),
// one part at a time; it is itself the reader of the current part, from its
// header to the line ending before the next delimiter.
//
// go-message's multipart reader gives up on a malformed part header, a
// preamble line longer than its buffer or an unterminated body, and reads a
// part header into memory without bound; this one reads lines of any length
// and leaves the part header to readHeader, which bounds it.
type multipartReader struct {
	br   *bufio.Reader
	dash []byte // "--" + boundary

	atLineStart bool   // the next byte from br starts a line
	held        []byte // the last line ending: part of the body only if no delimiter follows
	pending     []byte // that line ending, once known to be part of the body
	out         []byte // the rest of the current line, in br's buffer

	delimiters int  // delimiter lines read
	partDone   bool // the current part ended
	closed     bool // the close delimiter was read
	eof        bool // the input ended before it
	err        error
}

func newMultipartReader(r io.Reader, boundary string) *multipartReader {
	return &multipartReader{
		br:          bufio.NewReaderSize(r, 16<<10),
		dash:        []byte("--" + boundary),
		atLineStart: true,
	}
}

const (
	notDelimiter = iota
	partDelimiter
	closeDelimiter
)

// delimiter tells whether line is a delimiter line. Trailing white space is
// allowed, and anything after the close delimiter's "--", seen in the wild.
func (m *multipartReader) delimiter(line []byte) int {
	if !bytes.HasPrefix(line, m.dash) {
		return notDelimiter
	}
	rest := line[len(m.dash):]
	if bytes.HasPrefix(rest, []byte("--")) {
		return closeDelimiter
	}
	if len(bytes.TrimRight(rest, " \t\r\n")) == 0 {
		return partDelimiter
	}
	return notDelimiter
}

// start skips the preamble. It reports whether a delimiter was found; after
// a close delimiter right away, closed is set and there are no parts.
func (m *multipartReader) start() bool {
	m.partDone = false
	for !m.partDone {
		m.pending, m.out = nil, nil
		m.fill()
	}
	return m.delimiters > 0
}

// nextPart starts reading the part after the delimiter just read.
func (m *multipartReader) nextPart() {
	m.atLineStart = true
	m.held, m.pending, m.out = nil, nil, nil
	m.partDone = false
}

// fill reads the next line, or as much of it as the buffer holds, and decides
// whether it ends the part.
func (m *multipartReader) fill() {
	line, err := m.br.ReadSlice('\n')
	if err != nil && err != bufio.ErrBufferFull {
		m.eof = true
		if err != io.EOF {
			m.err = err
		}
	}
	if m.atLineStart && len(line) > 0 {
		if d := m.delimiter(line); d != notDelimiter {
			// The line ending before a delimiter belongs to it.
			m.held = nil
			m.partDone = true
			m.closed = d == closeDelimiter
			m.delimiters++
			return
		}
	}
	if m.eof {
		m.partDone = true
	}
	if len(line) == 0 {
		return
	}
	m.pending = m.held
	switch {
	case bytes.HasSuffix(line, crlf):
		m.out, m.held = line[:len(line)-2], crlf
	case line[len(line)-1] == '\n':
		m.out, m.held = line[:len(line)-1], lf
	default:
		m.out, m.held = line, nil
	}
	m.atLineStart = m.held != nil
}

// Read reads the current part.
func (m *multipartReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		switch {
		case len(m.pending) > 0:
			c := copy(b[n:], m.pending)
			m.pending = m.pending[c:]
			n += c
		case len(m.out) > 0:
			c := copy(b[n:], m.out)
			m.out = m.out[c:]
			n += c
		case m.partDone:
			if n > 0 {
				return n, nil
			}
			if m.err != nil {
				return 0, m.err
			}
			return 0, io.EOF
		default:
			m.fill()
		}
	}
	return n, nil
}
