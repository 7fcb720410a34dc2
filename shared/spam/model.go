package spam

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
)

// Label says what a sample is.
type Label uint8

// The labels.
const (
	Ham Label = iota
	Spam
)

func (l Label) String() string {
	if l == Spam {
		return "spam"
	}
	return "ham"
}

// counts are how many spam and ham messages held a token.
type counts struct{ spam, ham uint32 }

// Model is a trained Bayesian model: for each token, the number of spam
// and ham messages it was seen in, and the number of spam and ham
// messages trained. A Model is never changed once built (Train returns a
// new one), so it is safe for concurrent use and an aborted training
// leaves the old one as it was.
type Model struct {
	spam, ham uint32
	tokens    map[string]counts
}

// NewModel returns the default model: empty, it knows no token, so the
// Bayesian score of every message is 0.5 and only rules decide. Reset goes
// back to it.
func NewModel() *Model { return &Model{tokens: map[string]counts{}} }

// Messages returns the number of spam and ham messages trained.
func (m *Model) Messages() (spam, ham int) { return int(m.spam), int(m.ham) }

// Len returns the number of tokens the model knows.
func (m *Model) Len() int { return len(m.tokens) }

// Counts returns the number of spam and ham messages that held token.
func (m *Model) Counts(token string) (spam, ham int) {
	c := m.tokens[token]
	return int(c.spam), int(c.ham)
}

// The encoding of a model, version 1:
//
//	"JMSPAM" 0x01
//	uvarint spam messages, uvarint ham messages, uvarint tokens
//	per token, in byte order: uvarint length of the prefix shared with the
//	  previous token, uvarint length of the rest, the rest, uvarint spam
//	  count, uvarint ham count
//	CRC-32 (IEEE) of all the above, big-endian
//
// Tokens in order make the encoding of a model always the same bytes, and
// the shared prefixes make it about a third of the plain size.
const (
	modelMagic   = "JMSPAM"
	modelVersion = 1
	// maxStoredToken bounds a token in an encoded model; Analyze makes
	// none longer than about 70 bytes.
	maxStoredToken = 255
)

// ErrCorruptModel is returned, wrapped with the reason, by DecodeModel for
// bytes that are not a model this version can read.
var ErrCorruptModel = errors.New("spam: corrupt model")

// Encode returns the model in its versioned binary form, the blob that is
// stored.
func (m *Model) Encode() []byte {
	keys := make([]string, 0, len(m.tokens))
	size := 0
	for k := range m.tokens {
		keys = append(keys, k)
		size += len(k)
	}
	slices.Sort(keys)
	b := make([]byte, 0, 32+size/2+len(keys)*4)
	b = append(b, modelMagic...)
	b = append(b, modelVersion)
	b = binary.AppendUvarint(b, uint64(m.spam))
	b = binary.AppendUvarint(b, uint64(m.ham))
	b = binary.AppendUvarint(b, uint64(len(keys)))
	prev := ""
	for _, k := range keys {
		shared := commonPrefix(prev, k)
		b = binary.AppendUvarint(b, uint64(shared))
		b = binary.AppendUvarint(b, uint64(len(k)-shared))
		b = append(b, k[shared:]...)
		c := m.tokens[k]
		b = binary.AppendUvarint(b, uint64(c.spam))
		b = binary.AppendUvarint(b, uint64(c.ham))
		prev = k
	}
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b), maxStoredToken)
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// DecodeModel reads a model that Encode wrote. Whatever is wrong with the
// bytes (another format or version, a bad checksum, a truncated or
// inconsistent body) gives an error wrapping ErrCorruptModel that says
// what and where.
func DecodeModel(b []byte) (*Model, error) {
	fail := func(format string, args ...any) (*Model, error) {
		return nil, fmt.Errorf("%w: %s", ErrCorruptModel, fmt.Sprintf(format, args...))
	}
	if len(b) < len(modelMagic)+1+4 || !bytes.HasPrefix(b, []byte(modelMagic)) {
		return fail("not a model (no %q header)", modelMagic)
	}
	if v := b[len(modelMagic)]; v != modelVersion {
		return fail("version %d; this build reads version %d", v, modelVersion)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if got := crc32.ChecksumIEEE(body); got != sum {
		return fail("checksum %08x, want %08x", got, sum)
	}
	r := body[len(modelMagic)+1:]
	var err error
	uvarint := func(what string, limit uint64) uint64 {
		if err != nil {
			return 0
		}
		v, n := binary.Uvarint(r)
		switch {
		case n <= 0:
			err = fmt.Errorf("%s: truncated", what)
		case v > limit:
			err = fmt.Errorf("%s: %d is more than %d", what, v, limit)
		default:
			r = r[n:]
		}
		return v
	}
	m := &Model{}
	m.spam = uint32(uvarint("spam messages", math.MaxUint32))
	m.ham = uint32(uvarint("ham messages", math.MaxUint32))
	// Each token takes at least 5 bytes, which bounds the map's size hint.
	n := uvarint("token count", uint64(len(r)/5))
	if err != nil {
		return fail("%v", err)
	}
	m.tokens = make(map[string]counts, n)
	var prev []byte
	for i := range n {
		shared := int(uvarint("shared prefix", uint64(len(prev))))
		rest := int(uvarint("token length", maxStoredToken))
		if err == nil && (rest == 0 || rest > len(r) || shared+rest > maxStoredToken) {
			err = fmt.Errorf("token length %d+%d with %d bytes left", shared, rest, len(r))
		}
		if err != nil {
			return fail("token %d: %v", i, err)
		}
		tok := append(prev[:shared:shared], r[:rest]...)
		r = r[rest:]
		if i > 0 && bytes.Compare(prev, tok) >= 0 {
			return fail("token %d %q is not after %q", i, tok, prev)
		}
		c := counts{
			spam: uint32(uvarint("spam count", math.MaxUint32)),
			ham:  uint32(uvarint("ham count", math.MaxUint32)),
		}
		if err != nil {
			return fail("token %d %q: %v", i, tok, err)
		}
		if c.spam == 0 && c.ham == 0 {
			return fail("token %d %q has no counts", i, tok)
		}
		m.tokens[string(tok)] = c
		prev = tok
	}
	if len(r) != 0 {
		return fail("%d bytes after the last token", len(r))
	}
	return m, nil
}

// String describes the model for logs.
func (m *Model) String() string {
	return fmt.Sprintf("model: %d spam, %d ham, %d tokens", m.spam, m.ham, len(m.tokens))
}
