package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
)

// mboxReader streams the messages of an mbox file (RFC 4155): each starts
// with a "From " line, which is not part of it. No well-kept Go mbox
// library is served by the module proxy, so this is a careful splitter:
//
//   - a "From " line starts a message only at the top of the file or after
//     an empty line, and only when it reads "From <sender> <date>" with a
//     time in the date, so a body line that a writer forgot to quote
//     does not split a message;
//   - ">From ", ">>From " ... lines lose one ">" (mboxrd), which also
//     undoes mboxo's quoting of "From " lines;
//   - the empty line before the next "From " line is the separator's, not
//     the message's;
//   - lines end in CRLF in the messages returned, as RFC 5322 has them,
//     whatever the file used.
//
// A message over max bytes is read past and reported as too large, not
// held in memory.
type mboxReader struct {
	br  *bufio.Reader
	max int
	// n counts the messages read; line the file's lines.
	n, line int
	// next is the "From " line that starts the next message, once read.
	next    []byte
	started bool
}

// mboxMessage is one message of an mbox file.
type mboxMessage struct {
	// N is its place in the file, from 1; Line the line of its "From ".
	N, Line int
	// From is its "From " line, without "From ".
	From string
	Raw  []byte
	// TooLarge is set, and Raw empty, when it is over the reader's max.
	TooLarge bool
	Size     int
}

// fromLine is an mbox separator: "From ", a sender, and a date with its
// time ("From alice@example.org Thu Jan  1 10:00:00 2026").
var fromLine = regexp.MustCompile(`^From \S+ +.*\d{1,2}:\d{2}`)

func newMboxReader(r io.Reader, max int) *mboxReader {
	return &mboxReader{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

// readLine reads one line without its end (LF or CRLF); io.EOF after the
// last.
func (m *mboxReader) readLine() ([]byte, error) {
	line, err := m.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		// A very long line: gather it whole.
		buf := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = m.br.ReadSlice('\n')
			buf = append(buf, line...)
		}
		line = buf
	}
	if len(line) == 0 && err != nil {
		return nil, err
	}
	m.line++
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return line, nil
}

// Next returns the next message, or io.EOF after the last.
func (m *mboxReader) Next() (*mboxMessage, error) {
	if !m.started {
		m.started = true
		// Skip what comes before the first "From " line (blank lines).
		for {
			line, err := m.readLine()
			if err != nil {
				return nil, err
			}
			if fromLine.Match(line) {
				m.next = append([]byte(nil), line...)
				break
			}
			if len(bytes.TrimSpace(line)) > 0 {
				return nil, fmt.Errorf("line %d: not an mbox file: it must start with a \"From \" line", m.line)
			}
		}
	}
	if m.next == nil {
		return nil, io.EOF
	}
	m.n++
	msg := &mboxMessage{N: m.n, Line: m.line, From: string(bytes.TrimPrefix(m.next, []byte("From ")))}
	m.next = nil
	var buf bytes.Buffer
	blank := false // the previous line was empty, and is held back
	add := func(line []byte) {
		msg.Size += len(line) + 2
		if msg.TooLarge || msg.Size > m.max {
			msg.TooLarge = true
			buf.Reset()
			return
		}
		buf.Write(line)
		buf.WriteString("\r\n")
	}
	for {
		line, err := m.readLine()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", m.line+1, err)
		}
		if blank && fromLine.Match(line) {
			m.next = append([]byte(nil), line...)
			blank = false
			break
		}
		if blank {
			add(nil)
		}
		if len(line) == 0 {
			blank = true
			continue
		}
		blank = false
		if q := bytes.TrimLeft(line, ">"); len(q) < len(line) && bytes.HasPrefix(q, []byte("From ")) {
			line = line[1:]
		}
		add(line)
	}
	if !msg.TooLarge {
		msg.Raw = buf.Bytes()
	}
	return msg, nil
}
