package spam_test

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/spam"
)

func trainedModel(t *testing.T) *spam.Model {
	t.Helper()
	var junk [][]byte
	for i := range 12 {
		junk = append(junk, campaign(i))
	}
	m, err := spam.Train(context.Background(), nil, spam.Samples(append(samples(junk, spam.Spam), samples(hamMail(2, 12), spam.Ham)...)...), spam.TrainOptions{})
	require.NoError(t, err)
	return m
}

// TestModelRoundTrip: a decoded model is the same model, and encodes to
// the same bytes.
func TestModelRoundTrip(t *testing.T) {
	t.Parallel()
	m := trainedModel(t)
	b := m.Encode()
	got, err := spam.DecodeModel(b)
	require.NoError(t, err)
	require.Equal(t, b, got.Encode())
	require.Equal(t, m.Len(), got.Len())
	s1, h1 := m.Messages()
	s2, h2 := got.Messages()
	require.Equal(t, [2]int{s1, h1}, [2]int{s2, h2})
	s, h := got.Counts("url:cheap-meds.top")
	require.Equal(t, [2]int{12, 0}, [2]int{s, h})

	empty, err := spam.DecodeModel(spam.NewModel().Encode())
	require.NoError(t, err)
	require.Equal(t, 0, empty.Len())

	// Classifying with either gives the same verdict.
	clf := newClassifier(t)
	require.Equal(t, clf.ClassifyRaw(campaign(50), m, nil), clf.ClassifyRaw(campaign(50), got, nil))
}

// sealed builds an encoded model from a body by hand, checksum included,
// to reach the checks behind the checksum.
func sealed(body ...[]byte) []byte {
	b := []byte("JMSPAM\x01")
	for _, p := range body {
		b = append(b, p...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

func uv(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

// TestModelCorrupt: every kind of damage is refused with its reason.
func TestModelCorrupt(t *testing.T) {
	t.Parallel()
	good := trainedModel(t).Encode()
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 0x20
	v2 := append([]byte(nil), good...)
	v2[6] = 2
	for name, tc := range map[string]struct {
		b    []byte
		want string
	}{
		"empty":        {nil, `not a model (no "JMSPAM" header)`},
		"other format": {[]byte(`{"tokens":{}}`), `not a model`},
		"version":      {v2, "version 2; this build reads version 1"},
		"flipped byte": {flipped, "checksum"},
		"truncated":    {good[:len(good)-10], "checksum"},
		"token order":  {sealed(uv(1, 1, 2), uv(0, 2), []byte("zz"), uv(1, 0), uv(0, 2), []byte("aa"), uv(0, 1)), `token 1 "aa" is not after "zz"`},
		"no counts":    {sealed(uv(1, 1, 1), uv(0, 2), []byte("aa"), uv(0, 0)), `token 0 "aa" has no counts`},
		"extra bytes":  {sealed(uv(1, 1, 1), uv(0, 2), []byte("aa"), uv(1, 0), []byte{7}), "1 bytes after the last token"},
		"short token":  {sealed(uv(1, 1, 1), uv(0, 9), []byte("aa")), "token 0: token length 0+9 with 2 bytes left"},
		"bad prefix":   {sealed(uv(1, 1, 1), uv(3, 2), []byte("aa"), uv(1, 0)), "token 0: shared prefix: 3 is more than 0"},
		"counts cut":   {sealed(uv(1, 1, 1), uv(0, 2), []byte("aa")), `token 0 "aa": spam count: truncated`},
	} {
		_, err := spam.DecodeModel(tc.b)
		require.ErrorIs(t, err, spam.ErrCorruptModel, name)
		require.ErrorContains(t, err, tc.want, name)
	}
}
