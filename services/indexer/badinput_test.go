package indexer_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/delivery"
	"github.com/jetmail/jetmail/services/indexer"
	"github.com/jetmail/jetmail/services/scheduler"
	"github.com/jetmail/jetmail/services/smtp"
	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/fts"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/search"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// Bad input (issue "Store", section 4): messages that are malformed, in
// odd charsets, empty, huge or addressed to thousands are stored and
// indexed, or refused with a proper reply, never lost; bad API input gets
// a JMAP error that names the property.

// patience is how long a test waits for what should take a second: long
// enough for a loaded machine or the race detector.
const patience = 30 * time.Second

// raceDetector reports a test binary built with -race, where the largest
// inputs shrink: hashing and parsing 70 MB under the detector take a
// minute on two cores.
var raceDetector = func() bool {
	bi, ok := debug.ReadBuildInfo()
	if ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}()

// mailNode is a node running every service a message meets on its way
// from SMTP to search, with the admin API.
type mailNode struct {
	t      *testing.T
	st     *store.Store
	smtp   string // the SMTP listener's address
	search search.Client
	api    *jmap.Client
	js     jetstream.JetStream
	queue  *mailqueue.Queue
}

// startMailNode starts a node with the smtp section smtpConfig (TOML, the
// [smtp] table's body) and waits until each account of users is
// searchable.
func startMailNode(t *testing.T, smtpConfig string, users ...string) *mailNode {
	t.Helper()
	srv := jetmailtest.Server(t)
	cfg, err := config.Parse([]byte("[smtp]\nlisten = [\"127.0.0.1:0\"]\nhostname = \"mx.example.org\"\nlocal-domains = [\"example.org\"]\n" + smtpConfig))
	require.NoError(t, err)
	base := jetmailtest.Config(t, "1")
	cfg.Cluster, cfg.HTTP = base.Cluster, base.HTTP
	cfg.API.Users = map[string]config.APIUser{"admin": {Secret: "admin-secret-123", Permissions: []string{"admin"}}}
	q := mailqueue.New(mailqueue.Params{})
	sc := store.NewComponent(store.Params{})
	in := smtp.New(cfg, q).WithStore(sc)
	idx := indexer.New(cfg, sc, indexer.Params{Dir: t.TempDir()})
	n := jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, sc, q, in, delivery.New(cfg, q).WithStore(sc), idx,
		scheduler.New(cfg, taskmanager.Params{Roles: schedulerRoles()}))
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	m := &mailNode{t: t, st: sc.Store(), smtp: in.Addrs()[0], search: search.Client{Conn: jetmailtest.Conn(t, srv)},
		api: &jmap.Client{URL: n.HTTPURL() + "/jmap", Authorization: "Bearer admin-secret-123"}, js: js, queue: q}
	for _, u := range users {
		a := m.account(u)
		require.Eventually(t, func() bool {
			r, err := m.search.Search(context.Background(), m.st.Partition(a.ID), fts.Query{Account: a.ID, Text: "x"})
			return err == nil && !r.Partial
		}, patience, 20*time.Millisecond, "the indexer holds %s's partition", u)
	}
	return m
}

// schedulerRoles are the roles whose tasks the scheduler runs, as `jetmail
// serve` composes it: not the indexer's, or the scheduler, which has no
// handler for them, would take some of the indexer's tasks and fail them.
func schedulerRoles() []roles.Role {
	return slices.DeleteFunc(slices.Clone(roles.All), func(r roles.Role) bool { return r == indexer.Role })
}

// account is the account of smtp.users.<name>.
func (m *mailNode) account(name string) *store.Account {
	m.t.Helper()
	a, err := m.st.AccountByName(context.Background(), name)
	require.NoError(m.t, err)
	return a
}

// send sends body to the recipients from carol@remote.test.
func (m *mailNode) send(body string, to ...string) {
	m.t.Helper()
	require.NoError(m.t, jetmailtest.SendMail(m.smtp, "", "", "carol@remote.test", to, body))
}

// bodiesGone waits until the queue's body store holds no message, and
// nothing of one: each was delivered and its body removed, or never kept.
func (m *mailNode) bodiesGone() {
	m.t.Helper()
	ctx := context.Background()
	bodies, err := m.js.ObjectStore(ctx, mailqueue.BucketMessages)
	require.NoError(m.t, err)
	stream, err := m.js.Stream(ctx, "OBJ_"+mailqueue.BucketMessages)
	require.NoError(m.t, err)
	require.Eventually(m.t, func() bool {
		_, err := bodies.List(ctx)
		info, ierr := stream.Info(ctx)
		return errors.Is(err, jetstream.ErrNoObjectsFound) && ierr == nil && info.State.Bytes < 64<<10
	}, patience, 50*time.Millisecond, "a queued body is left")
}

// queueEmpty waits until the queue holds no recipient: each was delivered
// or failed, none is left waiting.
func (m *mailNode) queueEmpty() {
	m.t.Helper()
	require.Eventually(m.t, func() bool {
		n, err := m.queue.Len(context.Background())
		return err == nil && n == 0
	}, patience, 50*time.Millisecond, "recipients are left in the queue")
}

// found waits until q finds one email in the account, and returns it.
func (m *mailNode) found(account string, q fts.Query) (*store.Document, store.Email) {
	m.t.Helper()
	q.Account = account
	var r search.Response
	var err error
	require.Eventually(m.t, func() bool {
		r, err = m.search.Search(context.Background(), m.st.Partition(account), q)
		return err == nil && len(r.IDs) > 0
	}, patience, 20*time.Millisecond, "no email found by %+v (%v)", q, err)
	require.Len(m.t, r.IDs, 1, "%+v finds one email", q)
	d, err := m.st.Document(context.Background(), account, store.EmailType, r.IDs[0])
	require.NoError(m.t, err)
	var e store.Email
	require.NoError(m.t, d.Decode(&e))
	return d, e
}

// Malformed MIME, unknown and non-UTF-8 charsets and empty bodies are
// stored in the Inbox, what could not be read noted in the email's
// problems, and found by search: by a word of the subject, and of the
// text where there is text to read (decoded, when its charset is known).
// A message over smtp.max-message-size is refused with 552 5.3.4, leaves
// nothing queued, and the session goes on.
func TestBadInputMessagesAreStoredAndFound(t *testing.T) {
	t.Parallel()
	m := startMailNode(t, "max-message-size = 1048576\n"+
		"[smtp.users.alice]\nsecret = \"alice-secret\"\naddresses = [\"alice@example.org\"]\n"+
		"[smtp.users.bob]\nsecret = \"bob-secret-123\"\naddresses = [\"bob@example.org\"]\n", "alice", "bob")
	alice := m.account("alice").ID
	head := "From: Carol <carol@remote.test>\r\nTo: alice@example.org\r\n"
	var nested strings.Builder
	for i := range 25 {
		fmt.Fprintf(&nested, "Content-Type: multipart/mixed; boundary=\"n%d\"\r\n\r\n--n%d\r\n", i, i)
	}
	nested.WriteString("Content-Type: text/plain\r\n\r\ndeep down\r\n")
	cases := []struct {
		name    string
		message string
		// find are queries each of which must find the message.
		find []fts.Query
		// problem is part of a problem the email must note ("" for none).
		problem string
		// preview is part of the email's preview, decoded.
		preview string
	}{
		{
			name: "multipart boundary never closed",
			message: head + "Subject: unclosed wombat\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
				"--b1\r\nContent-Type: text/plain\r\n\r\nthe burrow is dug\r\n--b1\r\nContent-Type: text/plain\r\n\r\nand the tunnel never ends\r\n",
			find: []fts.Query{{Subject: "wombat"}, {Body: "burrow"}, {Body: "tunnel"}}, problem: `closing boundary "b1" missing`,
		},
		{
			name: "multipart without a boundary",
			message: head + "Subject: boundless quokka\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n" +
				"--x\r\nContent-Type: text/plain\r\n\r\nthe island of rottnest\r\n--x--\r\n",
			find: []fts.Query{{Subject: "quokka"}, {Body: "rottnest"}}, problem: "without a boundary",
		},
		{
			name: "multipart whose boundary never comes",
			message: head + "Subject: lost dingo\r\nContent-Type: multipart/alternative; boundary=\"nope\"\r\n\r\n" +
				"the preamble howls\r\n--other\r\n\r\nnot a part\r\n",
			find: []fts.Query{{Subject: "dingo"}}, problem: `boundary "nope" not found`,
		},
		{
			name:    "multipart nested 25 deep",
			message: head + "Subject: deep goanna\r\n" + nested.String(),
			find:    []fts.Query{{Subject: "goanna"}}, problem: "nested deeper",
		},
		{
			name: "truncated message/rfc822 part",
			message: head + "Subject: forwarded dugong\r\nContent-Type: multipart/mixed; boundary=\"f\"\r\n\r\n" +
				"--f\r\nContent-Type: text/plain\r\n\r\nsee the seagrass below\r\n--f\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@y\r\nSubject: inner",
			find: []fts.Query{{Subject: "dugong"}, {Body: "seagrass"}}, problem: `closing boundary "f" missing`,
		},
		{
			name: "broken base64",
			message: head + "Subject: garbled kookaburra\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
				base64.StdEncoding.EncodeToString([]byte("laughing in the gum tree "))[:20] + "!!*&^%$#@ not base64 at all\r\n",
			find: []fts.Query{{Subject: "kookaburra"}, {Body: "laughing"}}, problem: "illegal base64",
		},
		{
			name:    "malformed Content-Type",
			message: head + "Subject: typeless lyrebird\r\nContent-Type: ;;; garbage/\r\n\r\nthe lyrebird mimics a chainsaw\r\n",
			find:    []fts.Query{{Subject: "lyrebird"}, {Body: "chainsaw"}}, problem: "malformed Content-Type",
		},
		{
			name:    "header line without a colon",
			message: head + "Subject: colonless platypus\r\nThis line has no colon\r\nX-Fine: yes\r\n\r\nthe bill of a duck\r\n",
			find:    []fts.Query{{Subject: "platypus"}, {Body: "duck"}}, problem: "not a header field",
		},
		{
			name:    "NUL and control bytes",
			message: head + "Subject: nul cassowary\r\n\r\nbefore\x00after\x01 the cassowary\x7f kicks\r\n",
			find:    []fts.Query{{Subject: "cassowary"}, {Body: "kicks"}},
		},
		{
			name:    "raw 8-bit header",
			message: head + "Subject: Emu\xe9 raw emu\r\n\r\nflightless\r\n",
			find:    []fts.Query{{Subject: "emu"}, {Subject: "emué"}, {Body: "flightless"}}, problem: "read as windows-1252",
		},
		{
			name: "unknown charset",
			message: head + "Subject: =?x-unknown-42?Q?mystery?= echidna\r\nContent-Type: text/plain; charset=\"x-unknown-42\"\r\n\r\n" +
				"spines of the anteater\r\n",
			find: []fts.Query{{Subject: "echidna"}, {Subject: "mystery"}, {Body: "anteater"}}, problem: `unknown charset "x-unknown-42"`,
			preview: "spines of the anteater",
		},
		{
			name: "ISO-8859-1",
			message: head + "Subject: =?ISO-8859-1?Q?Caf=E9?= numbat\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
				"cr\xe8me br\xfbl\xe9e for the numbat\r\n",
			find:    []fts.Query{{Subject: "café"}, {Body: "crème"}, {Body: "brûlée"}},
			preview: "crème brûlée for the numbat",
		},
		{
			name: "windows-1252",
			message: head + "Subject: bilby quotes\r\nContent-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
				"=93smart=94 quotes cost 5 =80 in the desert\r\n",
			find:    []fts.Query{{Subject: "bilby"}, {Body: "desert"}, {Body: "smart"}},
			preview: "“smart” quotes cost 5 € in the desert",
		},
		{
			name:    "headers only",
			message: head + "Subject: headless wallaby",
			find:    []fts.Query{{Subject: "wallaby"}},
		},
		{
			name:    "header and a blank line",
			message: head + "Subject: blank bandicoot\r\n\r\n",
			find:    []fts.Query{{Subject: "bandicoot"}},
		},
	}
	for _, tc := range cases {
		m.send(tc.message, "alice@example.org")
	}
	// Nothing at all: the message is the intake's Received field alone.
	m.send("", "bob@example.org")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := *m
			m.t = t
			for _, q := range tc.find {
				d, e := m.found(alice, q)
				require.True(t, e.MailboxIDs["inbox"], "stored in the Inbox")
				require.NotEmpty(t, d.BlobID, "stored with its message")
				require.True(t, utf8.ValidString(e.Subject), "subject %q", e.Subject)
				if tc.problem != "" {
					require.Contains(t, strings.Join(e.Problems, "\n"), tc.problem, "the problem is noted")
				}
				require.Contains(t, e.Preview, tc.preview)
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		bob := m.account("bob").ID
		var docs []*store.Document
		require.Eventually(t, func() bool {
			docs = docs[:0]
			err := m.st.Documents(context.Background(), bob, store.EmailType, func(d *store.Document) bool { docs = append(docs, d); return true })
			return err == nil && len(docs) == 1
		}, patience, 20*time.Millisecond, "stored")
		require.Eventually(t, func() bool {
			r, err := m.search.Search(context.Background(), m.st.Partition(bob), fts.Query{Account: bob, InMailbox: "inbox"})
			return err == nil && slices.Equal(r.IDs, []string{docs[0].ID})
		}, patience, 20*time.Millisecond, "indexed")
	})

	t.Run("over the size limit", func(t *testing.T) {
		c, err := gosmtp.Dial(m.smtp)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Hello("client.test"))
		require.NoError(t, c.Mail("carol@remote.test", nil))
		require.NoError(t, c.Rcpt("alice@example.org", nil))
		w, err := c.Data()
		require.NoError(t, err)
		_, err = io.WriteString(w, head+"Subject: too big\r\n\r\n"+strings.Repeat(strings.Repeat("x", 76)+"\r\n", 20000))
		require.NoError(t, err)
		err = w.Close()
		var se *gosmtp.SMTPError
		require.ErrorAs(t, err, &se)
		require.Equal(t, 552, se.Code, se.Message)
		require.Equal(t, gosmtp.EnhancedCode{5, 3, 4}, se.EnhancedCode)
		m := *m
		m.t = t
		m.bodiesGone()

		require.NoError(t, c.Mail("carol@remote.test", nil), "the session goes on")
		require.NoError(t, c.Rcpt("alice@example.org", nil))
		w, err = c.Data()
		require.NoError(t, err)
		_, err = io.WriteString(w, head+"Subject: after the refusal, a koala\r\n\r\nsmall again\r\n")
		require.NoError(t, err)
		require.NoError(t, w.Close())
		m.found(alice, fts.Query{Subject: "koala"})
	})
}

// A message with a 50 MB attachment is accepted, stored with its blob and
// found by its text and by the attachment's name, in memory bounded by a
// few times the message, not held per copy; a client that declares a size
// over smtp.max-message-size is refused at MAIL with 552 5.3.4.
func TestBadInputFiftyMegabyteAttachment(t *testing.T) {
	t.Parallel()
	attachment := 50 << 20
	if raceDetector {
		attachment = 5 << 20
	}
	m := startMailNode(t, "max-message-size = 83886080\n[smtp.users.alice]\nsecret = \"alice-secret\"\naddresses = [\"alice@example.org\"]\n", "alice")
	alice := m.account("alice").ID

	c, err := gosmtp.Dial(m.smtp)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Hello("client.test"))
	err = c.Mail("carol@remote.test", &gosmtp.MailOptions{Size: 90 << 20})
	var se *gosmtp.SMTPError
	require.ErrorAs(t, err, &se, "a declared size over the limit is refused")
	require.Equal(t, 552, se.Code)
	require.Equal(t, gosmtp.EnhancedCode{5, 3, 4}, se.EnhancedCode)

	peak := watchHeap(t)
	start := time.Now()
	require.NoError(t, c.Mail("carol@remote.test", nil))
	require.NoError(t, c.Rcpt("alice@example.org", nil))
	w, err := c.Data()
	require.NoError(t, err)
	size := writeBigMessage(t, w, attachment)
	require.NoError(t, w.Close())
	accepted := time.Since(start)

	d, e := m.found(alice, fts.Query{Body: "aardvark"})
	found := time.Since(start)
	require.True(t, e.MailboxIDs["inbox"])
	require.InDelta(t, size+256, d.Size, 256, "the whole message is stored, below the Received field the intake adds")
	require.Len(t, e.Attachment, 1)
	require.Equal(t, "seismic-survey.bin", e.Attachment[0].Name)
	require.EqualValues(t, attachment, e.Attachment[0].Size)
	d2, _ := m.found(alice, fts.Query{Text: "seismic-survey.bin"})
	require.Equal(t, d.ID, d2.ID, "found by the attachment's name")

	r, err := m.st.Blob(context.Background(), d.BlobID)
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, r)
	r.Close()
	require.NoError(t, err)
	require.Equal(t, d.Size, n, "the blob is the whole message")
	live, heap := peak()
	t.Logf("message of %d MB: accepted in %v, found in %v; peaks above the start: live heap %d MB, heap with garbage %d MB",
		size>>20, accepted.Round(time.Millisecond), found.Round(time.Millisecond), live>>20, heap>>20)
	// Delivery holds the message once (mailqueue bodyOf), the object store
	// writes buffer some more; a copy per chunk, part or reader would show.
	if !raceDetector {
		require.Less(t, live, uint64(7*size), "live heap peak, in a process that runs the JetStream server too")
	}
	m.bodiesGone()
}

// writeBigMessage writes a message with a text part and an attachment of
// size bytes, base64 in lines of 76, a chunk at a time, and returns the
// message's size in bytes.
func writeBigMessage(t *testing.T, w io.Writer, size int) int64 {
	t.Helper()
	cw := &countingWriter{w: w}
	_, err := io.WriteString(cw, "From: Carol <carol@remote.test>\r\nTo: alice@example.org\r\nSubject: Survey data\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\nContent-Type: text/plain\r\n\r\nThe aardvark survey is attached.\r\n"+
		"--big\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"seismic-survey.bin\"\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\n")
	require.NoError(t, err)
	lines := &lineWriter{w: cw, width: 76}
	enc := base64.NewEncoder(base64.StdEncoding, lines)
	chunk := make([]byte, 57<<10)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	for left := size; left > 0; left -= len(chunk) {
		_, err := enc.Write(chunk[:min(left, len(chunk))])
		require.NoError(t, err)
	}
	require.NoError(t, enc.Close())
	_, err = io.WriteString(cw, "\r\n--big--\r\n")
	require.NoError(t, err)
	return cw.n
}

// lineWriter breaks what it writes into lines of width bytes.
type lineWriter struct {
	w     io.Writer
	width int
	col   int
}

func (l *lineWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), l.width-l.col)
		if _, err := l.w.Write(p[:k]); err != nil {
			return n, err
		}
		n, p, l.col = n+k, p[k:], l.col+k
		if l.col == l.width {
			if _, err := io.WriteString(l.w, "\r\n"); err != nil {
				return n, err
			}
			l.col = 0
		}
	}
	return n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// watchHeap samples the heap until the returned function is called, which
// returns the peaks above the start of the live heap (as the last GC
// marked it) and of the heap with its garbage not yet swept. The process
// holds the JetStream server too: its buffers count.
func watchHeap(t *testing.T) func() (live, heap uint64) {
	t.Helper()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	read := func() (uint64, uint64) {
		metrics.Read(sample)
		return sample[0].Value.Uint64(), sample[1].Value.Uint64()
	}
	baseLive, baseHeap := read()
	var peakLive, peakHeap uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			l, h := read()
			peakLive, peakHeap = max(peakLive, l), max(peakHeap, h)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	stop := func() (uint64, uint64) {
		once.Do(func() { close(done); wg.Wait() })
		return peakLive - min(baseLive, peakLive), peakHeap - min(baseHeap, peakHeap)
	}
	t.Cleanup(func() { stop() })
	return stop
}

// One message to 10,000 local addresses (10 accounts of 1,000 addresses
// each, in turn): the intake takes the first 1,000 recipients of a
// transaction, RFC 5321's 452 4.5.3 refuses the rest (the client sends
// them in another transaction), and each account of the accepted ones
// gets the message once, in its Inbox, found by search, charged once.
func TestBadInputTenThousandRecipients(t *testing.T) {
	t.Parallel()
	accounts, perAccount := 10, 1000
	if raceDetector {
		perAccount = 200 // 2,000 recipients, over the limit all the same
	}
	var conf strings.Builder
	rcpts := make([]string, 0, accounts*perAccount)
	for a := range accounts {
		fmt.Fprintf(&conf, "[smtp.users.u%d]\nsecret = \"u%d-secret-123\"\naddresses = [", a, a)
		for i := range perAccount {
			if i > 0 {
				conf.WriteString(", ")
			}
			fmt.Fprintf(&conf, "\"u%d.%d@example.org\"", a, i)
		}
		conf.WriteString("]\n")
	}
	for i := range perAccount {
		for a := range accounts {
			rcpts = append(rcpts, fmt.Sprintf("u%d.%d@example.org", a, i))
		}
	}
	start := time.Now()
	users := make([]string, accounts)
	for a := range users {
		users[a] = fmt.Sprintf("u%d", a)
	}
	m := startMailNode(t, conf.String(), users...)
	t.Logf("node with %d addresses started in %v", len(rcpts), time.Since(start).Round(time.Millisecond))

	c, err := gosmtp.Dial(m.smtp)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Hello("client.test"))
	_, limits := c.Extension("LIMITS")
	require.Equal(t, "RCPTMAX=1000", limits, "the limit is told in EHLO (RFC 9422)")
	start = time.Now()
	require.NoError(t, c.Mail("carol@remote.test", nil))
	accepted, refused := 0, 0
	for _, r := range rcpts {
		err := c.Rcpt(r, nil)
		var se *gosmtp.SMTPError
		switch {
		case err == nil:
			accepted++
		case errors.As(err, &se) && se.Code == 452 && se.EnhancedCode == gosmtp.EnhancedCode{4, 5, 3}:
			refused++
		default:
			require.NoError(t, err, "RCPT TO:<%s>", r)
		}
	}
	require.Equal(t, 1000, accepted, "the first 1,000 recipients are taken")
	require.Equal(t, len(rcpts)-1000, refused, "the rest: 452 4.5.3 too many recipients")
	w, err := c.Data()
	require.NoError(t, err)
	_, err = io.WriteString(w, "From: Carol <carol@remote.test>\r\nTo: undisclosed-recipients:;\r\nSubject: Newsletter for the many\r\n\r\nThe pangolin edition.\r\n")
	require.NoError(t, err)
	require.NoError(t, w.Close())
	t.Logf("%d RCPT and DATA in %v", len(rcpts), time.Since(start).Round(time.Millisecond))

	for _, u := range users {
		a := m.account(u)
		d, e := m.found(a.ID, fts.Query{Body: "pangolin"})
		require.True(t, e.MailboxIDs["inbox"])
		n := 0
		require.NoError(t, m.st.Documents(context.Background(), a.ID, store.EmailType, func(*store.Document) bool { n++; return true }))
		require.Equal(t, 1, n, "%s has the message once, not once per address", u)
		require.Equal(t, d.Size, m.account(u).Used, "%s is charged for it once", u)
	}
	m.queueEmpty()
	t.Logf("delivered and found in %v", time.Since(start).Round(time.Millisecond))
}

// Bad arguments to Email/query and Email/set get a JMAP method error that
// names the argument by its path (what the store tests check of each
// email's properties in Email/set and Email/import is not repeated).
func TestBadInputAPIErrorsNameTheProperty(t *testing.T) {
	t.Parallel()
	m := startMailNode(t, "[smtp.users.alice]\nsecret = \"alice-secret\"\naddresses = [\"alice@example.org\"]\n", "alice")
	alice := m.account("alice").ID
	m.send("From: carol@remote.test\r\nTo: alice@example.org\r\nSubject: Tapir\r\n\r\nOne to find.\r\n", "alice@example.org")
	d, _ := m.found(alice, fts.Query{Subject: "tapir"})

	for _, tc := range []struct {
		method string
		args   map[string]any
		typ    string
		says   string // part of the description: the argument's path, at least
	}{
		{adminapi.MethodEmailQuery, map[string]any{"filter": map[string]any{"before": "yesterday"}}, "invalidArguments", "filter/before must be an RFC 3339 date-time"},
		{adminapi.MethodEmailQuery, map[string]any{"filter": map[string]any{"text": "tapir", "after": "2026-13-45T00:00:00Z"}}, "invalidArguments", "filter/after must be an RFC 3339 date-time"},
		{adminapi.MethodEmailQuery, map[string]any{"filter": map[string]any{"after": 1700000000}}, "invalidArguments", "filter/after must be an RFC 3339 date-time"},
		{adminapi.MethodEmailQuery, map[string]any{"filter": map[string]any{"inMailbox": 5}}, "invalidArguments", "filter/inMailbox must be a string"},
		{adminapi.MethodEmailQuery, map[string]any{"filter": map[string]any{"text": []string{"tapir"}}}, "invalidArguments", "filter/text must be a string"},
		{adminapi.MethodEmailQuery, map[string]any{"filter": map[string]any{"colour": "red"}}, "invalidArguments", `"filter/colour"`},
		{adminapi.MethodEmailQuery, map[string]any{"filter": "tapir"}, "invalidArguments", "filter must be an object"},
		{adminapi.MethodEmailQuery, map[string]any{"sort": []map[string]any{{"property": "size"}}}, "unsupportedSort", `"size"`},
		{adminapi.MethodEmailQuery, map[string]any{"sort": []map[string]any{{"property": "receivedAt", "isAscending": "yes"}}}, "invalidArguments", "sort/isAscending must be true or false"},
		{adminapi.MethodEmailQuery, map[string]any{"limit": "ten"}, "invalidArguments", "limit must be a whole number"},
		{adminapi.MethodEmailQuery, map[string]any{"position": -1}, "invalidArguments", "position must be 0 or more"},
		{adminapi.MethodEmailQuery, map[string]any{"collapseThreads": true}, "invalidArguments", `"collapseThreads"`},
		{adminapi.MethodEmailQuery, map[string]any{"accountId": "nosuch"}, "accountNotFound", "nosuch"},
		{adminapi.MethodEmailSet, map[string]any{"destroy": []any{d.ID, 5}}, "invalidArguments", "destroy must be an array, each item a string"},
		{adminapi.MethodEmailSet, map[string]any{"update": []string{d.ID}}, "invalidArguments", "update must be an object"},
		{adminapi.MethodEmailSet, map[string]any{"ifInState": 3}, "invalidArguments", "ifInState must be a string"},
		{adminapi.MethodEmailSet, map[string]any{"updates": map[string]any{}}, "invalidArguments", `"updates"`},
		{adminapi.MethodEmailSet, map[string]any{"accountId": "nosuch", "destroy": []string{d.ID}}, "accountNotFound", "nosuch"},
	} {
		args := maps.Clone(tc.args)
		if _, ok := args["accountId"]; !ok {
			args["accountId"] = alice
		}
		err := m.api.Call(context.Background(), tc.method, args, nil)
		var me *jmap.MethodError
		require.ErrorAs(t, err, &me, "%s %v", tc.method, tc.args)
		require.Equal(t, tc.typ, me.Type, "%s %v: %s", tc.method, tc.args, me.Description)
		require.Contains(t, me.Description, tc.says, "%s %v", tc.method, tc.args)
	}
	var got adminapi.EmailGetResponse
	require.NoError(t, m.api.Call(context.Background(), adminapi.MethodEmailGet, map[string]any{"accountId": alice, "ids": []string{d.ID}}, &got))
	require.Len(t, got.List, 1, "no bad call changed the email")
}
