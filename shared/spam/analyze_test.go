package spam_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/charmap"

	"github.com/jetmail/jetmail/shared/mailgen"
	"github.com/jetmail/jetmail/shared/spam"
)

// crlf turns a readable message into one with CRLF line ends.
func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(strings.TrimPrefix(s, "\n"), "\n", "\r\n"))
}

func tokenSet(m *spam.Message) map[string]bool {
	set := map[string]bool{}
	for _, t := range m.Tokens {
		set[t] = true
	}
	return set
}

func requireTokens(t *testing.T, m *spam.Message, want ...string) {
	t.Helper()
	set := tokenSet(m)
	for _, w := range want {
		require.True(t, set[w], "token %q missing from %q", w, m.Tokens)
	}
}

func requireNoTokens(t *testing.T, m *spam.Message, unwanted ...string) {
	t.Helper()
	set := tokenSet(m)
	for _, w := range unwanted {
		require.False(t, set[w], "token %q in %q", w, m.Tokens)
	}
}

// TestAnalyzeHTMLBase64Charset: an HTML-only body in windows-1252, base64
// encoded, under a KOI8-R encoded subject: the text is decoded, tags are
// stripped, the link inside the base64 is found, and the header tokens
// carry their prefixes.
func TestAnalyzeHTMLBase64Charset(t *testing.T) {
	t.Parallel()
	body, err := charmap.Windows1252.NewEncoder().String(`<html><head><style>p{color:red}</style><title>ignored title</title></head>
<body><p>Caf&eacute; cr&egrave;me <b>sp&eacute;cial</b> for your résumé</p>
<a href="https://Deals.Pills-Shop.top/buy/cheap-meds?id=77">Click here</a>
<img src="http://198.51.100.7/pixel.gif"></body></html>`)
	require.NoError(t, err)
	subject, err := charmap.KOI8R.NewEncoder().String("Скидка сегодня")
	require.NoError(t, err)
	raw := crlf(`
Received: from host-203-0-113-9.dyn.bigisp.example (host-203-0-113-9.dyn.bigisp.example [203.0.113.9])
	by mx1.jetmail.example with ESMTP id 1; Tue, 1 Apr 2025 10:00:00 +0000
From: "Pharmacy Online" <sales@pills-shop.top>
To: bob@example.com
Subject: =?koi8-r?B?` + base64.StdEncoding.EncodeToString([]byte(subject)) + `?=
X-Mailer: PHPMailer 6.0.7
MIME-Version: 1.0
Content-Type: text/html; charset=windows-1252
Content-Transfer-Encoding: base64

` + base64.StdEncoding.EncodeToString([]byte(body)) + "\n")

	m := spam.Analyze(raw)
	require.Equal(t, "Скидка сегодня", m.Subject)
	requireTokens(t, m,
		"subj:скидка", "subj:сегодня", "subj:cs:koi8-r",
		"café", "crème", "spécial", "résumé", "click", "here",
		"url:deals.pills-shop.top", "url:pills-shop.top", "url:tld:top", "urlp:buy", "urlp:cheap", "urlp:meds",
		"url:ip", "url:198.51.100.0",
		"from:sales@pills-shop.top", "from:@pills-shop.top", "from:pharmacy", "from:online",
		"to:@example.com", "rcvd:w:dyn", "rcvd:bigisp.example", "rcvd:203.0.113.0",
		"xm:phpmailer", "ct:text/html", "cs:windows-1252", "cte:base64",
		"x:nodate", "x:nomsgid")
	// Markup, style and title are no words.
	requireNoTokens(t, m, "href", "html", "color", "red", "ignored", "title", "eacute")
	require.Contains(t, m.URLs, "https://Deals.Pills-Shop.top/buy/cheap-meds?id=77")
	require.Len(t, m.Tokens, len(tokenSet(m)), "tokens are distinct")
}

// TestAnalyzeObfuscation: the usual ways of hiding a word give the word
// back, and a flag for the trick.
func TestAnalyzeObfuscation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text  string
		token string
		flag  string
	}{
		{"buy V1agra today", "viagra", "x:leet"},
		{"get c@sh now", "cash", "x:leet"},
		{"0nline store", "online", "x:leet"},
		{"order v.i.a.g.r.a here", "viagra", "x:spaced"},
		{"cheap c-i-a-l-i-s pills", "cialis", "x:spaced"},
		{"V I A G R A for you", "viagra", "x:spaced"},
		{"vіagra with a Cyrillic i", "viagra", "x:mixedscript"},
		{"vi\u200bagra hidden by a zero-width space", "viagra", "x:invisible"},
	} {
		m := spam.Analyze(crlf("Subject: hi\n\n" + tc.text + "\n"))
		requireTokens(t, m, tc.token, tc.flag)
	}
	// Words that only look like tricks stay as they are.
	m := spam.Analyze(crlf("Subject: hi\n\nthe mp3 and the 2nd b2b deal, U.S.A. and e.g. 4x4 at 3.5 percent\n"))
	requireTokens(t, m, "mp3", "2nd", "b2b", "4x4", "3.5", "deal")
	requireNoTokens(t, m, "x:leet", "x:spaced")

	// Long numbers are noise, amounts are not; hosts hide behind user@ and
	// ports, and words in running text with a known top-level domain are
	// hosts.
	m = spam.Analyze(crlf("Subject: hi\n\nwin $1,000,000 now, ref 48213977, see http://paypal.com:login@.Evil-Host.com:8080/Claim/Prize or claim-now.top\n"))
	requireTokens(t, m, "$1,000,000", "url:userinfo", "url:port", "url:evil-host.com", "url:tld:com", "urlp:claim", "urlp:prize", "url:claim-now.top")
	requireNoTokens(t, m, "48213977", "url:paypal.com", "paypal", "login", "8080")
}

// TestAnalyzeHiddenText: words in an element hidden by its style become
// hidden: tokens, not body tokens, and the trick is flagged.
func TestAnalyzeHiddenText(t *testing.T) {
	t.Parallel()
	raw := crlf(`
Subject: offer
Content-Type: text/html; charset=utf-8

<html><body><p>Cheap watches here</p>
<div style="display: none">meeting agenda quarterly budget</div>
<p style="font-size:1px">invoice</p></body></html>
`)
	m := spam.Analyze(raw)
	requireTokens(t, m, "cheap", "watches", "hidden:meeting", "hidden:agenda", "hidden:budget", "hidden:invoice",
		"x:html-hidden", "x:html-tiny")
	requireNoTokens(t, m, "meeting", "agenda", "budget", "invoice")
}

// TestAnalyzeHeaderSigns: the header tokens that tell forged and bulk
// mail.
func TestAnalyzeHeaderSigns(t *testing.T) {
	t.Parallel()
	raw := crlf(`
Received: from User (unknown [198.51.100.23])
	by mx1.jetmail.example with SMTP id 7; Tue, 1 Apr 2025 10:00:00 +0000
Message-ID: <abc@localhost.localdomain>
From: "service@paypal.com" <bob@example.com>
To: bob@example.com
Reply-To: claims@freemail.example
Subject: URGENT: VERIFY YOUR ACCOUNT NOW!
X-Priority: 1 (Highest)

Dear customer.
`)
	m := spam.Analyze(raw)
	requireTokens(t, m, "x:from-name-addr", "x:from-is-to", "x:rt-differs", "x:mid-differs", "x:subj-caps", "x:subj-excl",
		"x:nodate", "rcvd:unknown", "rcvd:user", "rcvd:ip", "mid:@localhost.localdomain", "x-priority:1",
		"rt:@freemail.example", "subj:urgent", "subj:verify", "rcvd:n:<2", "to:n:<2")
	require.Equal(t, []string{"claims@freemail.example"}, m.Values("reply-to"))
}

// TestAnalyzeMailgen: realistic mail gives a few hundred distinct tokens
// and never panics, malformed input included.
func TestAnalyzeMailgen(t *testing.T) {
	t.Parallel()
	c := mailgen.NewCorpus(mailgen.CorpusOptions{Seed: 3})
	for range 200 {
		m := spam.Analyze(c.Next().Raw)
		require.Greater(t, len(m.Tokens), 20)
		require.Len(t, m.Tokens, len(tokenSet(m)))
		for _, tok := range m.Tokens {
			require.NotEmpty(t, tok)
			require.LessOrEqual(t, len(tok), 80, "token %q", tok)
		}
	}
	for _, raw := range []string{"", "\r\n\r\n", "no header at all", "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\n<a href=\"http://", "From: <\r\n\r\n<<<>>>"} {
		spam.Analyze([]byte(raw))
	}
}

func FuzzAnalyze(f *testing.F) {
	// Small seeds: the fuzzer slows to a crawl on inputs of tens of KB.
	c := mailgen.NewCorpus(mailgen.CorpusOptions{Seed: 9})
	for n := 0; n < 6; {
		if m := c.Next(); len(m.Raw) < 3000 {
			f.Add(m.Raw)
			n++
		}
	}
	f.Add([]byte("Subject: v.i.a.g.r.a\r\n\r\nhttp://user@1.2.3.4:80/x www.a.b"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := spam.Analyze(raw)
		seen := map[string]bool{}
		for _, tok := range m.Tokens {
			if seen[tok] {
				t.Fatalf("token %q twice", tok)
			}
			seen[tok] = true
		}
	})
}
