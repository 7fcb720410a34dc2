package mailparse_test

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/mailparse"
)

// FuzzParse checks that Parse survives any input, reads all of it and keeps
// its promises on Text and Preview. Small bounds make the cuts reachable.
// More seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"Subject: hi\r\n\r\nbody\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>x&amp;y</p>\r\n--b--\r\n",
		"Content-Type: text/plain; charset*=x''y; name*0*=utf-8''%E2%82; name*1*=%AC\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=E2=82\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := mailparse.Parse(bytes.NewReader(data), mailparse.Options{MaxText: 300, MaxPreview: 20})
		require.NoError(t, err)
		require.Equal(t, int64(len(data)), m.Size)
		require.LessOrEqual(t, len(m.Text), 300)
		require.True(t, utf8.ValidString(m.Text), "Text is not valid UTF-8")
		require.LessOrEqual(t, utf8.RuneCountInString(m.Preview), 20)
		require.True(t, utf8.ValidString(m.Subject), "Subject is not valid UTF-8")
		_ = mailparse.ThreadKeys(m)
		_ = mailparse.BaseSubject(m.Subject)
	})
}
