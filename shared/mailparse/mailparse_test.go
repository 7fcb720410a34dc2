package mailparse_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/mailparse"
)

// crlf turns the "\n" line endings of a Go literal into CRLF, as on the wire.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// requireProblem asserts that some problem note contains each of substrs.
func requireProblem(t *testing.T, m *mailparse.Message, substrs ...string) {
	t.Helper()
	for _, p := range m.Problems {
		all := true
		for _, s := range substrs {
			all = all && strings.Contains(p, s)
		}
		if all {
			return
		}
	}
	require.Failf(t, "problem not found", "want a problem with %q; got %q", substrs, m.Problems)
}

var pdfBytes = []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")

var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01")

// wrap76 base64-encodes b in lines of 76 characters.
func wrap76(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	out.WriteString(s + "\n")
	return out.String()
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		raw   string
		opts  mailparse.Options
		check func(t *testing.T, m *mailparse.Message)
	}{
		{
			name: "plain text",
			raw: crlf(`From: Alice Example <alice@example.com>
To: bob@example.org, "Carol C." <carol@example.net>
Subject: Lunch tomorrow?
Date: Tue, 03 Mar 2026 10:15:00 +0100
Message-ID: <lunch-1@example.com>
Content-Type: text/plain; charset=utf-8

Hi Bob,

are you free   for lunch?
`),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Equal(t, "lunch-1@example.com", m.MessageID)
				require.Equal(t, "Lunch tomorrow?", m.Subject)
				require.Equal(t, []mailparse.Address{{Name: "Alice Example", Email: "alice@example.com"}}, m.From)
				require.Equal(t, []mailparse.Address{{Email: "bob@example.org"}, {Name: "Carol C.", Email: "carol@example.net"}}, m.To)
				require.Nil(t, m.Cc)
				require.True(t, m.Date.Equal(time.Date(2026, 3, 3, 9, 15, 0, 0, time.UTC)))
				require.Equal(t, "Hi Bob,\n\nare you free   for lunch?", m.Text)
				require.Equal(t, "Hi Bob, are you free for lunch?", m.Preview)
				require.False(t, m.TextTruncated)
				require.Empty(t, m.Attachments)
			},
		},
		{
			name: "multipart/alternative keeps the first alternative",
			raw: crlf(`From: a@example.com
Subject: alt
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt-1"

This is a multi-part message in MIME format.
--alt-1
Content-Type: text/plain; charset=us-ascii

Plain version.
--alt-1
Content-Type: text/html; charset=us-ascii

<p>HTML <b>version</b>.</p>
--alt-1--
epilogue
`),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Equal(t, "Plain version.", m.Text)
				require.Empty(t, m.Attachments)
			},
		},
		{
			name: "multipart/alternative with an empty text part uses the html",
			raw: crlf(`Content-Type: multipart/alternative; boundary=b

--b
Content-Type: text/plain


--b
Content-Type: text/html

<html><body><h1>Title</h1><p>Para&nbsp;one</p></body></html>
--b--
`),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Equal(t, "Title\n\nPara one", m.Text)
			},
		},
		{
			name: "multipart/mixed with a PDF and an inline image",
			raw: crlf(`From: a@example.com
Subject: report
Content-Type: multipart/mixed; boundary="mixed"

--mixed
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<p>See the chart: <img src=3D"cid:chart@x"></p>
--rel
Content-Type: image/png
Content-Transfer-Encoding: base64
Content-ID: <chart@x>
Content-Disposition: inline; filename="chart.png"

` + wrap76(pngBytes) + `--rel--

--mixed
Content-Type: application/PDF; name="report.pdf"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="report.pdf"

` + wrap76(pdfBytes) + `--mixed--
`),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Equal(t, "See the chart:", m.Text)
				require.Equal(t, []mailparse.Attachment{
					{Part: "1.2", Name: "chart.png", Type: "image/png", Size: int64(len(pngBytes)), Inline: true},
					{Part: "2", Name: "report.pdf", Type: "application/pdf", Size: int64(len(pdfBytes))},
				}, m.Attachments)
			},
		},
		{
			name: "quoted-printable",
			raw: crlf(`Subject: qp
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Caf=C3=A9 cr=C3=A8me, a soft=
 break and a =3D sign.
`),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Equal(t, "Café crème, a soft break and a = sign.", m.Text)
			},
		},
		{
			name: "ISO-8859-1 body and encoded-word subject",
			raw: crlf("Subject: =?ISO-8859-1?Q?Caf=E9_cr=E8me?=\n" +
				"From: =?iso-8859-1?q?Andr=E9?= <andre@example.fr>\n" +
				"Content-Type: text/plain; charset=\"ISO-8859-1\"\n" +
				"Content-Transfer-Encoding: 8bit\n\n" +
				"Voil\xe0 le caf\xe9.\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Equal(t, "Café crème", m.Subject)
				require.Equal(t, []mailparse.Address{{Name: "André", Email: "andre@example.fr"}}, m.From)
				require.Equal(t, "Voilà le café.", m.Text)
			},
		},
		{
			name: "windows-1252 body and names",
			raw: crlf("Subject: =?windows-1252?Q?=93Quoted=94_=80100?=\n" +
				"To: =?windows-1252?B?" + base64.StdEncoding.EncodeToString([]byte("Jos\xe9 \x96 Sales")) + "?= <sales@example.es>\n" +
				"Content-Type: text/plain; charset=windows-1252\n\n" +
				"Price: \x80 5 \x96 \x93ok\x94\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Equal(t, "“Quoted” €100", m.Subject)
				require.Equal(t, []mailparse.Address{{Name: "José – Sales", Email: "sales@example.es"}}, m.To)
				require.Equal(t, "Price: € 5 – “ok”", m.Text)
			},
		},
		{
			name: "encoded words split across the subject",
			raw: crlf("Subject: =?UTF-8?B?5pel5pys6Kqe?=\n =?UTF-8?Q?_=E3=81=A7=E3=81=99?= and =?utf-8?q?gl?==?utf-8?q?ued?= =?bogus?= end\n" +
				"From: \"=?utf-8?q?Z=C3=B6e?=\" <zoe@example.com>\n\nbody\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Equal(t, "日本語 です and glued =?bogus?= end", m.Subject)
				require.Equal(t, []mailparse.Address{{Name: "Zöe", Email: "zoe@example.com"}}, m.From)
			},
		},
		{
			name: "unknown charset is read as UTF-8",
			raw: crlf("Subject: =?x-klingon?Q?qapla=27?=\n" +
				"Content-Type: text/plain; charset=x-klingon\n\n" +
				"h\xc3\xa9llo \xff world\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				requireProblem(t, m, "part 1", "unknown charset", "x-klingon")
				requireProblem(t, m, "encoded word", "x-klingon")
				require.Equal(t, "qapla'", m.Subject)
				require.Equal(t, "héllo \uFFFD world", m.Text)
			},
		},
		{
			name: "missing closing boundary",
			raw: crlf(`Content-Type: multipart/mixed; boundary=zz

--zz
Content-Type: text/plain

first
--zz
Content-Type: application/octet-stream
Content-Disposition: attachment; filename=data.bin

0123456789`),
			check: func(t *testing.T, m *mailparse.Message) {
				requireProblem(t, m, "closing boundary", "zz")
				require.Equal(t, "first", m.Text)
				require.Equal(t, []mailparse.Attachment{{Part: "2", Name: "data.bin", Type: "application/octet-stream", Size: 10}}, m.Attachments)
			},
		},
		{
			name: "multipart without a boundary parameter is read as text",
			raw:  crlf("Content-Type: multipart/mixed\n\nsome text\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				requireProblem(t, m, "without a boundary")
				require.Equal(t, "some text", m.Text)
			},
		},
		{
			name: "boundary never found",
			raw:  crlf("Content-Type: multipart/mixed; boundary=nope\n\n--other\n\ntext\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				requireProblem(t, m, "boundary", "not found")
				require.Empty(t, m.Text)
			},
		},
		{
			name: "no body",
			raw:  crlf("From: a@example.com\nSubject: empty\n\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Equal(t, "empty", m.Subject)
				require.Empty(t, m.Text)
				require.Empty(t, m.Preview)
				require.Empty(t, m.Attachments)
			},
		},
		{
			name: "headers only, without the blank line",
			raw:  "Subject: just headers\r\nTo: x@example.com",
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Equal(t, "just headers", m.Subject)
				require.Equal(t, []mailparse.Address{{Email: "x@example.com"}}, m.To)
				require.Empty(t, m.Text)
			},
		},
		{
			name: "empty input",
			raw:  "",
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Zero(t, m.Size)
			},
		},
		{
			name: "100 KB header line",
			raw:  crlf("Subject: " + strings.Repeat("a", 100<<10) + "\nTo: after@example.com\n\nbody\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Len(t, m.Subject, 100<<10)
				require.Equal(t, []mailparse.Address{{Email: "after@example.com"}}, m.To)
				require.Equal(t, "body", m.Text)
			},
		},
		{
			name: "message ids with odd white space and comments",
			raw: crlf("Message-ID:   (generated) <abc.123@example.com>  (by us)\n" +
				"In-Reply-To: John's message of Monday <parent@example.com>\n" +
				"References: <root@example.com>\n" +
				"\t(a comment (nested) here) <mid@\n" +
				"  example.com> <parent@example.com>,<x@y>\n\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Equal(t, "abc.123@example.com", m.MessageID)
				require.Equal(t, []string{"parent@example.com"}, m.InReplyTo)
				require.Equal(t, []string{"root@example.com", "mid@example.com", "parent@example.com", "x@y"}, m.References)
				require.Equal(t, []string{"root@example.com", "mid@example.com", "parent@example.com", "x@y", "abc.123@example.com"}, mailparse.ThreadKeys(m))
			},
		},
		{
			name: "message id without brackets",
			raw:  crlf("Message-Id: bare-id@example.com\nIn-Reply-To: <unterminated@example.com\n\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Equal(t, "bare-id@example.com", m.MessageID)
				require.Equal(t, []string{"unterminated@example.com"}, m.InReplyTo)
			},
		},
		{
			name: "message id that holds none",
			raw:  crlf("Message-ID: (just a comment)\n\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				requireProblem(t, m, "Message-ID")
				require.Empty(t, m.MessageID)
			},
		},
		{
			name: "bad Date",
			raw:  crlf("Date: the day after tomorrow\nSubject: x\n\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				requireProblem(t, m, "Date")
				require.True(t, m.Date.IsZero())
				require.Equal(t, "x", m.Subject)
			},
		},
		{
			name: "Date with a comment and obsolete zone",
			raw:  crlf("Date: Fri, 21 Nov 1997 09:55:06 -0600 (MDT)\n\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.True(t, m.Date.Equal(time.Date(1997, 11, 21, 15, 55, 6, 0, time.UTC)))
			},
		},
		{
			name: "RFC 2231 and RFC 2047 file names",
			raw: crlf(`Content-Type: multipart/mixed; boundary=x

--x
Content-Type: application/pdf
Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf

a
--x
Content-Type: text/plain; name*0*=ISO-8859-1''caf%E9; name*1=" au lait"; name*2*=%2Etxt
Content-Disposition: attachment

b
--x
Content-Type: image/jpeg; name="=?UTF-8?Q?Gr=C3=BC=C3=9Fe.jpg?="

c
--x
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="plain.bin"; filename*=utf-8''preferred.bin

d
--x--
`),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Empty(t, m.Text)
				names := []string{}
				for _, a := range m.Attachments {
					names = append(names, a.Name)
				}
				require.Equal(t, []string{"€ rates.pdf", "café au lait.txt", "Grüße.jpg", "preferred.bin"}, names)
				require.Equal(t, "text/plain", m.Attachments[1].Type)
				require.Equal(t, int64(1), m.Attachments[1].Size)
			},
		},
		{
			name: "HTML with script, style and entities",
			raw: crlf(`Content-Type: text/html; charset=utf-8

<!DOCTYPE html>
<html><head><title>Ignored title</title>
<style>p { color: red }</style></head>
<body>
<!-- a comment -->
<p>Caf&eacute; &amp; bar&nbsp;&lt;3 &#8364;&#x41;</p>
<script type="text/javascript">document.write("<p>no</p>");</script>
<div>line one<br>line   two</div>
<ul><li>first</li><li>second</li></ul>
<table><tr><td>a</td><td>b</td></tr></table>
<pre>  keep
    this</pre>
<p>end<img src="x.png">word</p>
</body></html>
`),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Equal(t, "Café & bar <3 €A\n\nline one\nline two\n\nfirst\nsecond\n\na b\n\n  keep\n    this\n\nend word", m.Text)
				require.Equal(t, "Café & bar <3 €A line one line two first second a b keep this end word", m.Preview)
			},
		},
		{
			name: "HTML with a token too long to hold",
			raw: crlf("Content-Type: text/html\n\n<p>before</p><img src=\"data:image/png;base64," +
				strings.Repeat("A", 3<<20) + "\"><p>after</p>\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				requireProblem(t, m, "HTML token longer than")
				require.Equal(t, "before\n\nafter", m.Text)
			},
		},
		{
			name: "a From field is not an mbox line",
			raw:  crlf("From : Spaced <spaced@example.com>\n\nx\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Equal(t, []mailparse.Address{{Name: "Spaced", Email: "spaced@example.com"}}, m.From)
			},
		},
		{
			name: "HTML with a head never closed",
			raw:  crlf("Content-Type: text/html\n\n<html><head><style>x{}</style><body>visible<script>hidden\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Equal(t, "visible", m.Text)
			},
		},
		{
			name: "address lists",
			raw: crlf(`From: "Doe, Jane" <jane@example.com>
To: undisclosed-recipients:;
Cc: team: a@example.com, "B" <b@example.com>;, c@example.com
Bcc: Broken <not closed, John Smith john@example.com, <ok@example.com>
Reply-To: =?utf-8?q?J=C3=BCrgen?= <j@example.de>
Sender: list-bounces@example.com

`),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Equal(t, []mailparse.Address{{Name: "Doe, Jane", Email: "jane@example.com"}}, m.From)
				require.Empty(t, m.To)
				require.Equal(t, []mailparse.Address{{Email: "a@example.com"}, {Name: "B", Email: "b@example.com"}, {Email: "c@example.com"}}, m.Cc)
				requireProblem(t, m, "Bcc", "malformed address list")
				require.Equal(t, []mailparse.Address{{Email: "john@example.com"}, {Email: "ok@example.com"}}, m.Bcc)
				require.Equal(t, []mailparse.Address{{Name: "Jürgen", Email: "j@example.de"}}, m.ReplyTo)
				require.Equal(t, []mailparse.Address{{Email: "list-bounces@example.com"}}, m.Sender)
			},
		},
		{
			name: "text is cut on a rune boundary",
			raw:  crlf("Content-Type: text/plain; charset=utf-8\n\nééééé\n"),
			opts: mailparse.Options{MaxText: 5, MaxPreview: 2},
			check: func(t *testing.T, m *mailparse.Message) {
				require.Equal(t, "éé", m.Text)
				require.True(t, m.TextTruncated)
				require.Equal(t, "éé", m.Preview)
			},
		},
		{
			name: "preview is bounded in runes",
			raw:  crlf("\n  one\n\ttwo   three four\n"),
			opts: mailparse.Options{MaxPreview: 9},
			check: func(t *testing.T, m *mailparse.Message) {
				require.Equal(t, "  one\n\ttwo   three four", m.Text)
				require.Equal(t, "one two t", m.Preview)
			},
		},
		{
			name: "a line that is not a field starts the body",
			raw:  crlf("Subject: glued\nThis is the body already\nsecond line\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				requireProblem(t, m, "not a header field")
				require.Equal(t, "glued", m.Subject)
				require.Equal(t, "This is the body already\nsecond line", m.Text)
			},
		},
		{
			name: "mbox From line is skipped",
			raw:  "From alice@example.com Sat Jan  3 01:05:34 2026\nSubject: mbox\n\nhello\n",
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Equal(t, "mbox", m.Subject)
				require.Equal(t, "hello", m.Text)
			},
		},
		{
			name: "LF line endings",
			raw: "Content-Type: multipart/mixed; boundary=\"lf\"\n\n--lf\nContent-Type: text/plain\n\none\n--lf\n" +
				"Content-Type: text/plain\n\ntwo\n\n--lf--\n",
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Equal(t, "one\n\ntwo", m.Text)
			},
		},
		{
			name: "unknown transfer encoding",
			raw:  crlf("Content-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 f\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				requireProblem(t, m, "unknown transfer encoding", "x-uuencode")
				require.Equal(t, "begin 644 f", m.Text)
			},
		},
		{
			name: "corrupt base64",
			raw:  crlf("Content-Type: application/zip\nContent-Transfer-Encoding: base64\n\nQUJD\n!!!!\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				requireProblem(t, m, "part 1", "base64")
				require.Len(t, m.Attachments, 1)
				require.Equal(t, "1", m.Attachments[0].Part)
				require.Equal(t, int64(3), m.Attachments[0].Size)
			},
		},
		{
			name: "text attachments and forwarded messages are not body text",
			raw: crlf(`Content-Type: multipart/mixed; boundary=m

--m
Content-Type: text/plain

body
--m
Content-Type: text/plain; charset=utf-8
Content-Disposition: attachment; filename=notes.txt

not body
--m
Content-Type: message/rfc822

Subject: inner
Content-Type: text/plain

inner text
--m
Content-Type: text/calendar; method=REQUEST

BEGIN:VCALENDAR
--m--
`),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Equal(t, "body", m.Text)
				require.Len(t, m.Attachments, 3)
				require.Equal(t, "notes.txt", m.Attachments[0].Name)
				require.Equal(t, "message/rfc822", m.Attachments[1].Type)
				require.Equal(t, "3", m.Attachments[1].Part)
				require.Equal(t, "text/calendar", m.Attachments[2].Type)
			},
		},
		{
			name: "multipart/digest parts default to message/rfc822",
			raw:  crlf("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nx\n--d--\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				require.Empty(t, m.Problems)
				require.Equal(t, []mailparse.Attachment{{Part: "1", Type: "message/rfc822", Size: 17}}, m.Attachments)
			},
		},
		{
			name: "malformed content type",
			raw:  crlf("Content-Type: garbage\n\ntext\n"),
			check: func(t *testing.T, m *mailparse.Message) {
				requireProblem(t, m, "malformed Content-Type")
				require.Equal(t, "text", m.Text)
			},
		},
		{
			name: "part header with a broken line",
			raw: crlf(`Content-Type: multipart/mixed; boundary=q

--q
Content-Type: text/plain
this line has no colon
--q
Content-Type: image/gif
Content-Disposition: attachment; filename=x.gif

GIF89a
--q--
`),
			check: func(t *testing.T, m *mailparse.Message) {
				requireProblem(t, m, "part 1 header", "not a header field")
				require.Equal(t, "this line has no colon", m.Text)
				require.Len(t, m.Attachments, 1)
				require.Equal(t, "2", m.Attachments[0].Part)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := mailparse.Parse(strings.NewReader(tc.raw), tc.opts)
			require.NoError(t, err)
			require.Equal(t, int64(len(tc.raw)), m.Size)
			require.True(t, utf8.ValidString(m.Text))
			tc.check(t, m)
		})
	}
}

func TestParseNestingIsBounded(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	const levels = 25
	for i := range levels {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\ndeep\r\n")
	for i := levels - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	m, err := mailparse.Parse(strings.NewReader(b.String()), mailparse.Options{})
	require.NoError(t, err)
	requireProblem(t, m, "deeper than 20 levels")
	require.Empty(t, m.Text)
	require.Equal(t, int64(b.Len()), m.Size)
}

func TestParsePartsAreBounded(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=p\r\n\r\n")
	for range 10005 {
		b.WriteString("--p\r\nContent-Type: image/gif\r\n\r\nx\r\n")
	}
	b.WriteString("--p--\r\n")
	m, err := mailparse.Parse(strings.NewReader(b.String()), mailparse.Options{})
	require.NoError(t, err)
	require.Len(t, m.Attachments, 10000)
	requireProblem(t, m, "more than 10000 parts")
}

func TestParseProblemsAreBounded(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=p\r\n\r\n")
	for range 200 {
		b.WriteString("--p\r\nContent-Type: text/plain; charset=x-nope\r\n\r\nx\r\n")
	}
	b.WriteString("--p--\r\n")
	m, err := mailparse.Parse(strings.NewReader(b.String()), mailparse.Options{})
	require.NoError(t, err)
	require.Len(t, m.Problems, 51)
	require.Equal(t, "further problems were not recorded", m.Problems[50])
}

func TestParseHeaderIsBounded(t *testing.T) {
	t.Parallel()
	raw := "Subject: first\r\nX-Big: " + strings.Repeat("x", 2<<20) + "\r\nTo: late@example.com\r\n\r\nbody\r\n"
	m, err := mailparse.Parse(strings.NewReader(raw), mailparse.Options{})
	require.NoError(t, err)
	requireProblem(t, m, "header", "longer than")
	require.Equal(t, "first", m.Subject)
	require.Nil(t, m.To)
	require.Equal(t, "body", m.Text)
	require.Equal(t, int64(len(raw)), m.Size)
}

func TestParseTextIsBounded(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("0123456789\r\n", 200000) // 2.4 MB
	raw := "Content-Type: text/plain\r\n\r\n" + body
	m, err := mailparse.Parse(strings.NewReader(raw), mailparse.Options{})
	require.NoError(t, err)
	require.True(t, m.TextTruncated)
	require.Len(t, m.Text, 1<<20)
	require.Len(t, []rune(m.Preview), 256)
	require.Equal(t, int64(len(raw)), m.Size)
}

func TestParseOneByteReads(t *testing.T) {
	t.Parallel()
	raw := crlf("Subject: slow\nContent-Type: multipart/alternative; boundary=s\n\n--s\n" +
		"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" +
		base64.StdEncoding.EncodeToString([]byte("héllo wörld ✓")) + "\n--s--\n")
	m, err := mailparse.Parse(iotest.OneByteReader(strings.NewReader(raw)), mailparse.Options{})
	require.NoError(t, err)
	require.Empty(t, m.Problems)
	require.Equal(t, "héllo wörld ✓", m.Text)
}

func TestParseReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("Subject: x\r\n\r\nbody"), iotest.ErrReader(boom))
	m, err := mailparse.Parse(r, mailparse.Options{})
	require.ErrorIs(t, err, boom)
	require.Nil(t, m)
}

func TestThreadKeys(t *testing.T) {
	t.Parallel()
	require.Nil(t, mailparse.ThreadKeys(nil))
	require.Nil(t, mailparse.ThreadKeys(&mailparse.Message{}))
	m := &mailparse.Message{
		MessageID:  "self@x",
		InReplyTo:  []string{"<b@x>", " c@x "},
		References: []string{"a@x", "b@x", "", "a@x"},
	}
	require.Equal(t, []string{"a@x", "b@x", "c@x", "self@x"}, mailparse.ThreadKeys(m))
}

func TestBaseSubject(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Hello", "Hello"},
		{"  Re:   Hello\t world  ", "Hello world"},
		{"RE: re: Fwd: FW: AW: Hello", "Hello"},
		{"Re[2]: Hello", "Hello"},
		{"Re : Hello", "Hello"},
		{"Fwd: Hello (fwd)", "Hello"},
		{"[Fwd: Re: Hello]", "Hello"},
		{"Re: [list] Hello", "[list] Hello"},
		{"[list] Re: Hello", "[list] Hello"},
		{"[list] [team] AW: WG: Hello", "[list] [team] Hello"},
		{"Reply: not a prefix", "Reply: not a prefix"},
		{"Re: ", ""},
		{"", ""},
		{"[list]", "[list]"},
		{"Re: Re[x]: Hello", "Re[x]: Hello"},
		{"SV: Vs: Antw: Hej", "Hej"},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, mailparse.BaseSubject(tc.in), "BaseSubject(%q)", tc.in)
	}
}

func TestParseDoesNotReadPastEOF(t *testing.T) {
	t.Parallel()
	raw := crlf("Content-Type: multipart/mixed; boundary=e\n\n--e\n\nx\n--e--\n")
	r := &countReads{r: bytes.NewReader([]byte(raw))}
	_, err := mailparse.Parse(r, mailparse.Options{})
	require.NoError(t, err)
	require.Zero(t, r.afterEOF, "Parse should stop reading at the first EOF")
}

type countReads struct {
	r        io.Reader
	eof      bool
	afterEOF int
}

func (c *countReads) Read(p []byte) (int, error) {
	if c.eof {
		c.afterEOF++
	}
	n, err := c.r.Read(p)
	if err == io.EOF {
		c.eof = true
	}
	return n, err
}

// The language is the top-level Content-Language, else the first text
// part's; its first well-formed tag, comments left out.
func TestParseLanguage(t *testing.T) {
	t.Parallel()
	parse := func(raw string) string {
		m, err := mailparse.Parse(strings.NewReader(crlf(raw)), mailparse.Options{})
		require.NoError(t, err)
		return m.Language
	}
	require.Equal(t, "fr", parse("Subject: a\nContent-Language: fr\n\nbonjour\n"))
	require.Equal(t, "pt-BR", parse("Subject: a\nContent-Language: (Brazil) pt-BR, en\n\nola\n"))
	require.Equal(t, "", parse("Subject: a\n\nhello\n"))
	require.Equal(t, "", parse("Subject: a\nContent-Language: 42, en\n\nhello\n"), "the first tag is not one")
	require.Equal(t, "", parse("Subject: a\nContent-Language: averyverylongsubtag\n\nhello\n"))
	require.Equal(t, "de", parse(`Subject: a
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: image/png
Content-Language: en

x
--b
Content-Type: text/plain
Content-Language: de

Guten Tag
--b--
`), "an attachment's language is not the text's")
	require.Equal(t, "it", parse("Subject: a\nContent-Language: it\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Language: de\n\nciao\n--b--\n"))
}

// Raw 8-bit header bytes that are not UTF-8 are read as windows-1252, and
// noted; UTF-8 ones are kept.
func TestParseRawHeaderBytes(t *testing.T) {
	t.Parallel()
	m, err := mailparse.Parse(strings.NewReader("Subject: Caf\xe9 \x93quoted\x94\r\n\r\nx\r\n"), mailparse.Options{})
	require.NoError(t, err)
	require.Equal(t, "Café “quoted”", m.Subject)
	require.Contains(t, strings.Join(m.Problems, "; "), "windows-1252")
	m, err = mailparse.Parse(strings.NewReader("Subject: Café\r\n\r\nx\r\n"), mailparse.Options{})
	require.NoError(t, err)
	require.Equal(t, "Café", m.Subject)
	require.Empty(t, m.Problems)
}
