package cli

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The mbox reader splits at "From " lines that follow an empty line and
// carry a date, unquotes >From lines, and gives each message CRLF lines.
func TestMboxReader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		want []string
		big  []bool
	}{
		{"two messages, LF", "From a@x Thu Jan  1 10:00:00 2026\nSubject: 1\n\nbody 1\n\nFrom b@x Thu Jan  1 11:00:00 2026\nSubject: 2\n\nbody 2\n",
			[]string{"Subject: 1\r\n\r\nbody 1\r\n", "Subject: 2\r\n\r\nbody 2\r\n"}, nil},
		{"CRLF and leading blank lines", "\r\n\r\nFrom a@x Thu Jan  1 10:00:00 2026\r\nSubject: 1\r\n\r\nbody\r\n",
			[]string{"Subject: 1\r\n\r\nbody\r\n"}, nil},
		{"quoted From lines", "From a@x Thu Jan  1 10:00:00 2026\nSubject: q\n\n>From the start\n>>From deeper\n>Fromage\n",
			[]string{"Subject: q\r\n\r\nFrom the start\r\n>From deeper\r\n>Fromage\r\n"}, nil},
		{"an unquoted From line inside a paragraph", "From a@x Thu Jan  1 10:00:00 2026\nSubject: u\n\nline\nFrom b@x Thu Jan  1 11:00:00 2026\n",
			[]string{"Subject: u\r\n\r\nline\r\nFrom b@x Thu Jan  1 11:00:00 2026\r\n"}, nil},
		{"a From line with no date after a blank line", "From a@x Thu Jan  1 10:00:00 2026\nSubject: d\n\nhi\n\nFrom here on, we part\n",
			[]string{"Subject: d\r\n\r\nhi\r\n\r\nFrom here on, we part\r\n"}, nil},
		{"blank lines kept inside, the separator's dropped", "From a@x Thu Jan  1 10:00:00 2026\nSubject: b\n\n\n\nend\n\n\nFrom b@x Thu Jan  1 11:00:00 2026\nSubject: c\n",
			[]string{"Subject: b\r\n\r\n\r\n\r\nend\r\n\r\n", "Subject: c\r\n"}, nil},
		{"too large", "From a@x Thu Jan  1 10:00:00 2026\nSubject: big\n\n" + strings.Repeat("x", 200) + "\n\nFrom b@x Thu Jan  1 11:00:00 2026\nSubject: s\n",
			[]string{"", "Subject: s\r\n"}, []bool{true, false}},
		{"empty", "", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newMboxReader(strings.NewReader(tc.in), 100)
			var got []string
			var big []bool
			for {
				m, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				require.Equal(t, len(got)+1, m.N)
				got, big = append(got, string(m.Raw)), append(big, m.TooLarge)
			}
			require.Equal(t, tc.want, got)
			if tc.big != nil {
				require.Equal(t, tc.big, big)
			}
		})
	}
	_, err := newMboxReader(strings.NewReader("Subject: not mbox\n"), 100).Next()
	require.ErrorContains(t, err, "not an mbox file")
}
