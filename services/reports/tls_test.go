package reports_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/delivery"
	"github.com/jetmail/jetmail/services/reports"
	"github.com/jetmail/jetmail/shared/aggreport"
	"github.com/jetmail/jetmail/shared/clusterstats"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/store"
)

// acceptAll is an MX that takes every message.
type acceptAll struct{}

func (acceptAll) NewSession(*gosmtp.Conn) (gosmtp.Session, error) { return acceptAll{}, nil }
func (acceptAll) Mail(string, *gosmtp.MailOptions) error          { return nil }
func (acceptAll) Rcpt(string, *gosmtp.RcptOptions) error          { return nil }
func (acceptAll) Data(r io.Reader) error                          { _, err := io.Copy(io.Discard, r); return err }
func (acceptAll) Reset()                                          {}
func (acceptAll) Logout() error                                   { return nil }

// mx serves SMTP on addr until the test ends, with STARTTLS when tlsCfg
// is set.
func mx(t *testing.T, addr string, tlsCfg *tls.Config) {
	t.Helper()
	s := gosmtp.NewServer(acceptAll{})
	s.Domain, s.TLSConfig = "mx.test", tlsCfg
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
}

func tlsZone(domain, mxIP string) string {
	return jetmailtest.Zone(domain, "@ MX 10 mx."+domain+".", "mx A "+mxIP, `_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tls@reports.test"`)
}

// The TLS outcomes of a window's deliveries become one RFC 8460 report
// per policy domain, with the exact session counts and the failure's
// type, queued to the domain's rua address.
func TestTLSReport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Both MXes on one port (queue.mx-port), one with STARTTLS, one without.
	port := jetmailtest.SharedPort(t)
	mx(t, "127.0.0.1:"+port, jetmailtest.SelfSigned(t))
	mx(t, "127.0.0.2:"+port, nil)
	knot := jetmailtest.Knot(t, knotKey, map[string]string{"tls.test": tlsZone("tls.test", "127.0.0.1"), "plain.test": tlsZone("plain.test", "127.0.0.2")})

	const window = 10 * time.Second
	cfg := jetmailtest.Config(t, "1", func(c *config.Config) {
		c.SMTP.Hostname = "mx.test"
		c.Queue.Resolver = knot
		fmt.Sscan(port, &c.Queue.MXPort)
		c.Report.Window = window
		c.Metrics.CalculateInterval = time.Minute
		c.Task.Periodic = map[string]config.Periodic{}
	})
	sc, stats, q := store.NewComponent(store.Params{}), clusterstats.NewComponent(), mailqueue.New(mailqueue.Params{})
	jetmailtest.Node(t, jetmailtest.Conn(t, jetmailtest.Server(t)), cfg, sc, stats, q, delivery.New(cfg, q).WithStore(sc),
		reports.New(cfg, sc, stats, q, reports.Params{}))

	start := freshWindow(window)
	body := []byte("From: alice@mx.test\r\nSubject: hi\r\n\r\nhi\r\n")
	// Two recipients, one session; and one session without TLS.
	_, err := q.Enqueue(ctx, mailqueue.Envelope{Sender: "alice@mx.test"}, []mailqueue.RcptIn{{Address: "a@tls.test"}, {Address: "b@tls.test"}}, body)
	require.NoError(t, err)
	_, err = q.Enqueue(ctx, mailqueue.Envelope{Sender: "alice@mx.test"}, []mailqueue.RcptIn{{Address: "c@plain.test"}}, body)
	require.NoError(t, err)
	left := func() string {
		keys, _, _ := q.List(ctx, mailqueue.Filter{})
		var out []string
		for _, k := range keys {
			if r, err := q.Get(ctx, k); err == nil {
				out = append(out, fmt.Sprintf("%s (%s): %d attempts, %s %s", r.Address, r.Queue, r.Attempts, r.LastStatus, r.LastError))
			}
		}
		return strings.Join(out, "\n")
	}
	if !assert.Eventually(t, func() bool {
		keys, _, err := q.List(ctx, mailqueue.Filter{Queue: "remote"})
		return err == nil && len(keys) == 0
	}, window/2, 50*time.Millisecond) {
		t.Fatalf("not delivered:\n%s", left())
	}
	require.Less(t, time.Since(start), window, "the deliveries took longer than a window")

	reportsByDomain := map[string]aggreport.TLSReport{}
	require.Eventually(t, func() bool {
		keys, _, err := q.List(ctx, mailqueue.Filter{Queue: "report"})
		return err == nil && len(keys) == 2
	}, window+20*time.Second, 100*time.Millisecond, "no reports queued")
	keys, _, err := q.List(ctx, mailqueue.Filter{Queue: "report"})
	require.NoError(t, err)
	for _, k := range keys {
		r, err := q.Get(ctx, k)
		require.NoError(t, err)
		require.Equal(t, "tls@reports.test", r.Address)
		require.Equal(t, mailqueue.SourceReport, r.Source)
		raw, err := q.Body(ctx, r.MessageID)
		require.NoError(t, err)
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		require.NoError(t, err)
		domain := m.Header.Get("TLS-Report-Domain")
		require.Equal(t, "mx.test", m.Header.Get("TLS-Report-Submitter"))
		mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
		require.NoError(t, err)
		require.Equal(t, "multipart/report", mt)
		require.Equal(t, "tlsrpt", params["report-type"])
		mr := multipart.NewReader(m.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			if p.Header.Get("Content-Type") == "text/plain; charset=utf-8" {
				continue
			}
			require.True(t, strings.HasPrefix(p.Header.Get("Content-Type"), "application/tlsrpt+gzip"), p.Header.Get("Content-Type"))
			require.Equal(t, fmt.Sprintf("mx.test!%s!%d!%d!tls-%d-%s.json.gz", domain, start.Unix(), start.Add(window).Unix()-1, start.Unix(), domain), p.FileName())
			zr, err := gzip.NewReader(base64.NewDecoder(base64.StdEncoding, p))
			require.NoError(t, err)
			doc, err := io.ReadAll(zr)
			require.NoError(t, err)
			// RFC 8460 §4.4's fields, by their names.
			var fields map[string]any
			require.NoError(t, json.Unmarshal(doc, &fields))
			for _, f := range []string{"organization-name", "date-range", "contact-info", "report-id", "policies"} {
				require.Contains(t, fields, f, "%s", doc)
			}
			var rep aggreport.TLSReport
			require.NoError(t, json.Unmarshal(doc, &rep))
			reportsByDomain[domain] = rep
		}
	}
	require.Len(t, reportsByDomain, 2)
	ok := reportsByDomain["tls.test"]
	require.Equal(t, aggreport.TLSRange{Start: start.UTC().Format(time.RFC3339), End: start.Add(window).UTC().Format(time.RFC3339)}, ok.DateRange)
	require.Equal(t, "mx.test", ok.OrganizationName)
	require.Equal(t, "noreply-reports@mx.test", ok.ContactInfo)
	require.Len(t, ok.Policies, 1)
	require.Equal(t, "no-policy-found", ok.Policies[0].Policy.Type)
	require.Equal(t, "tls.test", ok.Policies[0].Policy.Domain)
	require.Equal(t, 1, ok.Policies[0].Summary.Successful)
	require.Equal(t, 0, ok.Policies[0].Summary.Failed)

	bad := reportsByDomain["plain.test"]
	require.Len(t, bad.Policies, 1)
	require.Equal(t, 0, bad.Policies[0].Summary.Successful)
	require.Equal(t, 1, bad.Policies[0].Summary.Failed)
	require.Equal(t, []aggreport.TLSFailureDetail{{ResultType: "starttls-not-supported", ReceivingMX: "mx.plain.test", ReceivingIP: "127.0.0.2", Count: 1}},
		bad.Policies[0].FailureDetails)
}
