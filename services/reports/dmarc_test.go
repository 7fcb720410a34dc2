package reports_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/reports"
	jsmtp "github.com/jetmail/jetmail/services/smtp"
	"github.com/jetmail/jetmail/shared/aggreport"
	"github.com/jetmail/jetmail/shared/clusterstats"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/store"
)

var knotKey = jetmailtest.KnotKey{Name: "jetmail.", Algorithm: "hmac-sha256", Secret: base64.StdEncoding.EncodeToString([]byte("a test tsig secret, 32 bytes ok!"))}

// senderZone is a domain that signs with DKIM (selector s1), allows
// 127.0.0.1 by SPF, and asks for DMARC aggregate reports; its subdomain
// fail.sender.test allows no one.
func senderZone(pub ed25519.PublicKey) string {
	return jetmailtest.Zone("sender.test",
		`@ TXT "v=spf1 ip4:127.0.0.1 -all"`,
		`fail TXT "v=spf1 -all"`,
		`_dmarc TXT "v=DMARC1; p=reject; rua=mailto:dmarc@reports.test"`,
		`s1._domainkey TXT "v=DKIM1; k=ed25519; p=`+base64.StdEncoding.EncodeToString(pub)+`"`)
}

// The DMARC results of a window of known traffic become one report with
// the exact counts, valid by RFC 7489's schema, gzip-compressed, queued to
// the domain's rua address with source report.
func TestDMARCReport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	knot := jetmailtest.Knot(t, knotKey, map[string]string{"sender.test": senderZone(pub)})

	const window = 10 * time.Second
	cfg := jetmailtest.Config(t, "1", func(c *config.Config) {
		c.SMTP.Listen, c.SMTP.Hostname, c.SMTP.LocalDomains = []string{"127.0.0.1:0"}, "mx.test", []string{"local.test"}
		c.Queue.Resolver = knot
		c.Report.Window = window
		c.Metrics.CalculateInterval = time.Minute
		c.Task.Periodic = map[string]config.Periodic{}
	})
	sc, stats, q := store.NewComponent(store.Params{}), clusterstats.NewComponent(), mailqueue.New(mailqueue.Params{})
	in := jsmtp.New(cfg, q).WithStore(sc)
	svc := reports.New(cfg, sc, stats, q, reports.Params{})
	jetmailtest.Node(t, jetmailtest.Conn(t, jetmailtest.Server(t)), cfg, sc, stats, q, in, svc)
	require.NoError(t, sc.Store().CreateDomain(ctx, store.Domain{Name: "local.test"}))
	_, err = sc.Store().CreateAccount(ctx, store.Account{Name: "bob", Domain: "local.test", Addresses: []string{"bob@local.test"}})
	require.NoError(t, err)

	signed := func(i int) string {
		var b bytes.Buffer
		msg := fmt.Sprintf("From: alice@sender.test\r\nTo: bob@local.test\r\nSubject: signed %d\r\nMessage-ID: <s%d@sender.test>\r\n\r\nhello %d\r\n", i, i, i)
		require.NoError(t, dkim.Sign(&b, strings.NewReader(msg), &dkim.SignOptions{Domain: "sender.test", Selector: "s1", Signer: priv}))
		return b.String()
	}
	forged := "From: alice@sender.test\r\nTo: bob@local.test\r\nSubject: forged\r\n\r\nnot from alice\r\n"

	start := freshWindow(window)
	addr := in.Addrs()[0]
	for i := range 3 {
		require.NoError(t, jetmailtest.SendMail(addr, "", "", "alice@sender.test", []string{"bob@local.test"}, signed(i)))
	}
	for range 2 {
		require.NoError(t, jetmailtest.SendMail(addr, "", "", "bounce@fail.sender.test", []string{"bob@local.test"}, forged))
	}
	require.Less(t, time.Since(start), window, "the traffic took longer than a window")

	// Each received message carries its Authentication-Results.
	keys, _, err := q.List(ctx, mailqueue.Filter{Queue: "local"})
	require.NoError(t, err)
	require.Len(t, keys, 5)
	var headers []string
	for _, k := range keys {
		r, err := q.Get(ctx, k)
		require.NoError(t, err)
		body, err := q.Body(ctx, r.MessageID)
		require.NoError(t, err)
		m, err := mail.ReadMessage(bytes.NewReader(body))
		require.NoError(t, err)
		headers = append(headers, strings.Join(strings.Fields(m.Header.Get("Authentication-Results")), " "))
	}
	require.Contains(t, headers, "mx.test; spf=pass reason=\"matched ip\" smtp.mailfrom=sender.test; dkim=pass header.d=sender.test; dmarc=pass header.from=sender.test")
	require.Contains(t, headers, "mx.test; spf=fail reason=\"matched all\" smtp.mailfrom=fail.sender.test; dkim=none; dmarc=fail header.from=sender.test")

	// After the window, one report to dmarc@reports.test.
	var report *mailqueue.Recipient
	require.Eventually(t, func() bool {
		keys, _, err := q.List(ctx, mailqueue.Filter{Queue: "report"})
		if err != nil || len(keys) == 0 {
			return false
		}
		require.Len(t, keys, 1)
		report, err = q.Get(ctx, keys[0])
		return err == nil
	}, window+20*time.Second, 100*time.Millisecond, "no report queued")
	require.Equal(t, "dmarc@reports.test", report.Address)
	require.Equal(t, mailqueue.SourceReport, report.Source)
	require.Equal(t, "noreply-reports@mx.test", report.Sender)
	body, err := q.Body(ctx, report.MessageID)
	require.NoError(t, err)

	m, err := mail.ReadMessage(bytes.NewReader(body))
	require.NoError(t, err)
	id := fmt.Sprintf("dmarc-%d-sender.test", start.Unix())
	require.Equal(t, fmt.Sprintf("Report Domain: sender.test Submitter: mx.test Report-ID: <%s>", id), m.Header.Get("Subject"))
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	require.NoError(t, err)
	mr := multipart.NewReader(m.Body, params["boundary"])
	var gz []byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if p.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			require.Equal(t, fmt.Sprintf("mx.test!sender.test!%d!%d.xml.gz", start.Unix(), start.Add(window).Unix()-1), p.FileName())
			gz, err = io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
			require.NoError(t, err)
		}
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	require.NoError(t, err)
	xmlReport, err := io.ReadAll(zr)
	require.NoError(t, err)

	// Valid by the schema, checked by an independent parser (lxml).
	validateXML(t, xmlReport)

	var fb aggreport.DMARCFeedback
	require.NoError(t, xml.Unmarshal(xmlReport, &fb))
	require.Equal(t, id, fb.Metadata.ReportID)
	require.Equal(t, start.Unix(), fb.Metadata.DateRange.Begin)
	require.Equal(t, aggreport.PolicyPublished{Domain: "sender.test", ADKIM: "r", ASPF: "r", P: "reject", SP: "reject", PCT: 100}, fb.Policy)
	counts := map[string]int{}
	for _, r := range fb.Records {
		require.Equal(t, "127.0.0.1", r.Row.SourceIP)
		require.Equal(t, "sender.test", r.Identifiers.HeaderFrom)
		require.Equal(t, "local.test", r.Identifiers.EnvelopeTo)
		key := fmt.Sprintf("%s dkim=%s spf=%s from=%s spf-result=%s", r.Row.PolicyEvaluated.Disposition, r.Row.PolicyEvaluated.DKIM,
			r.Row.PolicyEvaluated.SPF, r.Identifiers.EnvelopeFrom, r.AuthResults.SPF[0].Result)
		counts[key] += r.Row.Count
	}
	require.Equal(t, map[string]int{
		"none dkim=pass spf=pass from=sender.test spf-result=pass":      3,
		"none dkim=fail spf=fail from=fail.sender.test spf-result=fail": 2,
	}, counts)
}

// freshWindow waits until a report window has just begun, so that a
// test's traffic falls in one window, and returns its start.
func freshWindow(window time.Duration) time.Time {
	for {
		now := time.Now()
		if now.Sub(now.Truncate(window)) < 2*time.Second {
			return now.Truncate(window)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// validateXML checks doc against RFC 7489's schema with Python's lxml.
func validateXML(t *testing.T, doc []byte) {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		py = jetmailtest.Tool(t, "python3", "python3-lxml")
	}
	file := filepath.Join(t.TempDir(), "report.xml")
	require.NoError(t, os.WriteFile(file, doc, 0o600))
	script := `import sys
from lxml import etree
schema = etree.XMLSchema(etree.parse(sys.argv[1]))
doc = etree.parse(sys.argv[2])
if not schema.validate(doc):
    print(schema.error_log)
    sys.exit(1)
`
	out, err := exec.Command(py, "-c", script, "testdata/rfc7489.xsd", file).CombinedOutput()
	require.NoError(t, err, "the report is not valid by RFC 7489's schema:\n%s\n%s", out, doc)
}
