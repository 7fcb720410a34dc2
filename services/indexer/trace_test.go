package indexer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/delivery"
	"github.com/jetmail/jetmail/services/indexer"
	"github.com/jetmail/jetmail/services/scheduler"
	"github.com/jetmail/jetmail/services/smtp"
	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/search"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
	"github.com/jetmail/jetmail/shared/trace"
)

// refusingMX is an SMTP server that refuses every recipient for good.
type refusingMX struct{}

func (refusingMX) NewSession(*gosmtp.Conn) (gosmtp.Session, error) { return refusingSession{}, nil }

type refusingSession struct{}

func (refusingSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (refusingSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no mailbox " + to}
}
func (refusingSession) Data(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err }
func (refusingSession) Reset()                 {}
func (refusingSession) Logout() error          { return nil }

func startRefusingMX(t *testing.T) string {
	t.Helper()
	srv := gosmtp.NewServer(refusingMX{})
	srv.Domain = "mx.remote.test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

const relayConfig = mailConfig + `
[queue.route.mx]
type = "relay"
address = "127.0.0.1"
port = %s
tls = "none"
[queue.strategy]
route = [ { if = "is_local_domain('*', rcpt_domain)", then = "'local'" }, { else = "'mx'" } ]
`

// A message refused for good by the remote MX is found by trace search,
// by its recipient, sender and Message-ID, with its attempt (the host and
// its 550) and its bounce; the bounce notice to the sender has a trace of
// its own, from the null sender. An IndexTrace task indexes a trace again.
func TestTraceSearchFindsBouncedMessage(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	cfg, err := config.Parse(fmt.Appendf(nil, relayConfig, startRefusingMX(t)))
	require.NoError(t, err)
	base := jetmailtest.Config(t, "1")
	cfg.Cluster, cfg.HTTP = base.Cluster, base.HTTP
	cfg.API.Users = map[string]config.APIUser{"admin": {Secret: "admin-secret-123", Permissions: []string{"admin"}},
		"reader": {Secret: "reader-secret-123", Permissions: []string{indexer.PermTraceQuery}}}
	q := mailqueue.New(mailqueue.Params{})
	sc := store.NewComponent(store.Params{})
	in := smtp.New(cfg, q).WithStore(sc)
	indexDir := t.TempDir()
	idx := indexer.New(cfg, sc, indexer.Params{Dir: indexDir})
	n := jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, sc, q, in, delivery.New(cfg, q).WithStore(sc), idx,
		scheduler.New(cfg, taskmanager.Params{Roles: slices.DeleteFunc(slices.Clone(roles.All), func(r roles.Role) bool { return r == indexer.Role })}))
	admin := &jmap.Client{URL: n.HTTPURL() + "/jmap", Authorization: "Bearer admin-secret-123"}
	ctx := context.Background()

	body := "From: alice@example.org\r\nTo: bob@remote.test\r\nMessage-ID: <bounce-1@example.org>\r\nSubject: hello\r\n\r\nhi\r\n"
	require.NoError(t, jetmailtest.SendMail(in.Addrs()[0], "alice", "alice-secret", "alice@example.org", []string{"bob@remote.test"}, body))

	query := func(filter map[string]any) (jmap.QueryResponse, error) {
		var res jmap.QueryResponse
		err := admin.Call(ctx, adminapi.MethodTraceQuery, map[string]any{"filter": filter}, &res)
		return res, err
	}
	get := func(ids ...string) adminapi.TraceGetResponse {
		var res adminapi.TraceGetResponse
		require.NoError(t, admin.Call(ctx, adminapi.MethodTraceGet, map[string]any{"ids": ids}, &res))
		return res
	}
	// Found by recipient once bounced (its summary's last event is the
	// bounce or the notice after it).
	var id string
	require.Eventually(t, func() bool {
		res, err := query(map[string]any{"rcpt": "Bob@Remote.test"})
		if err != nil || len(res.IDs) != 1 || res.Partial {
			return false
		}
		id = res.IDs[0]
		tr := get(id).List[0]
		return tr.LastKind == trace.KindBounced || tr.LastKind == trace.KindDSNSent
	}, 15*time.Second, 50*time.Millisecond, "the bounced message is found by its recipient")

	for _, f := range []map[string]any{{"sender": "alice@example.org"}, {"sender": "@example.org", "rcpt": "remote.test"},
		{"messageId": "bounce-1@example.org"}, {"messageId": "<bounce-1@example.org>", "after": time.Now().Add(-time.Hour).Format(time.RFC3339)}} {
		res, err := query(f)
		require.NoError(t, err)
		require.Equal(t, []string{id}, res.IDs, "%v", f)
	}
	res, err := query(map[string]any{"rcpt": "bob@remote.test", "before": time.Now().Add(-time.Hour).Format(time.RFC3339)})
	require.NoError(t, err)
	require.Empty(t, res.IDs, "received within the hour")

	tr := get(id, "no-such-trace", "bad.id").List[0]
	require.Equal(t, id, tr.ID)
	require.Equal(t, "<bounce-1@example.org>", tr.MessageID)
	require.Equal(t, "alice@example.org", tr.Sender)
	require.Equal(t, []string{"bob@remote.test"}, tr.Recipients)
	var kinds []trace.Kind
	var attempt, bounced trace.Event
	for _, e := range tr.Events {
		kinds = append(kinds, e.Kind)
		switch e.Kind {
		case trace.KindAttempt:
			attempt = e
		case trace.KindBounced:
			bounced = e
		}
	}
	require.Equal(t, []trace.Kind{trace.KindReceived, trace.KindAttempt, trace.KindBounced, trace.KindDSNSent}, kinds)
	require.Equal(t, "127.0.0.1", attempt.RemoteHost)
	require.Contains(t, attempt.Reply, "550")
	require.Contains(t, attempt.Reply, "no mailbox")
	require.Equal(t, "5.1.1", bounced.Status)
	require.Equal(t, []string{"no-such-trace", "bad.id"}, get(id, "no-such-trace", "bad.id").NotFound)

	// The bounce notice to alice: a trace from the null sender, delivered
	// locally.
	require.Eventually(t, func() bool {
		res, err := query(map[string]any{"sender": "<>", "rcpt": "alice@example.org"})
		return err == nil && len(res.IDs) == 1 && res.IDs[0] != id
	}, 10*time.Second, 50*time.Millisecond, "the DSN's own trace")

	// Bad input is a precise error.
	var me *jmap.MethodError
	_, err = query(map[string]any{"colour": "red"})
	require.ErrorAs(t, err, &me)
	require.Equal(t, "unsupportedFilter", me.Type)
	_, err = query(map[string]any{"after": "yesterday"})
	require.ErrorAs(t, err, &me)
	require.Equal(t, "invalidArguments", me.Type)
	require.Contains(t, me.Description, "filter/after")
	err = admin.Call(ctx, adminapi.MethodTraceQuery, map[string]any{"position": 990, "limit": 20}, &res)
	require.ErrorAs(t, err, &me)
	require.Equal(t, "invalidArguments", me.Type)
	err = admin.Call(ctx, adminapi.MethodTraceGet, map[string]any{}, &res)
	require.ErrorAs(t, err, &me)
	require.Equal(t, "invalidArguments", me.Type)
	// Query and get are permissions of their own.
	reader := &jmap.Client{URL: n.HTTPURL() + "/jmap", Authorization: "Bearer reader-secret-123"}
	require.NoError(t, reader.Call(ctx, adminapi.MethodTraceQuery, map[string]any{}, &res))
	err = reader.Call(ctx, adminapi.MethodTraceGet, map[string]any{"ids": []string{id}}, &res)
	require.ErrorAs(t, err, &me)
	require.Equal(t, "forbidden", me.Type)

	// IndexTrace tasks run: for a known trace, and for one the stream no
	// longer has (it is removed from the index).
	mgr := idx.Manager()
	created, err := mgr.CreateMany(ctx, []taskmanager.NewTask{{Payload: &task.IndexTraceTask{TraceID: id}}, {Payload: &task.IndexTraceTask{TraceID: "gone"}}})
	require.NoError(t, err)
	var left *task.Task
	require.Eventually(t, func() bool {
		for _, c := range created {
			if left, err = mgr.Get(ctx, c.ID); !errors.Is(err, taskmanager.ErrNotFound) {
				return false
			}
		}
		return true
	}, 10*time.Second, 50*time.Millisecond, "the IndexTrace tasks are done: %+v %v", left, err)
	res, err = query(map[string]any{"messageId": "bounce-1@example.org"})
	require.NoError(t, err)
	require.Equal(t, []string{id}, res.IDs)

	// Restarted (past the persister's nap), the node goes on from its trace
	// indexes' checkpoints: it finds the traces at once, folding none again.
	time.Sleep(1500 * time.Millisecond)
	jetmailtest.StopNode(n)
	cfg2 := jetmailtest.Config(t, "1")
	sc2 := store.NewComponent(store.Params{})
	n2 := jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg2, sc2, indexer.New(cfg2, sc2, indexer.Params{Dir: indexDir}))
	client := search.Client{Conn: jetmailtest.Conn(t, srv)}
	var found search.TraceResult
	require.Eventually(t, func() bool {
		found, err = client.SearchTraces(ctx, cfg2.Cluster.Partitions, trace.Query{MessageID: "bounce-1@example.org"})
		return err == nil && !found.Partial
	}, 10*time.Second, 20*time.Millisecond)
	require.Len(t, found.Traces, 1)
	require.Equal(t, id, found.Traces[0].TraceID)
	require.Zero(t, metric(t, n2, "jetmail_index_trace_messages_total", "", ""), "nothing read again")
}

// With no indexer holding any partition, a trace search is an error,
// never an empty answer.
func TestTraceSearchWithoutIndexer(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	_, err := search.Client{Conn: jetmailtest.Conn(t, srv)}.SearchTraces(context.Background(), 16, trace.Query{Rcpt: "a@b.test"})
	require.ErrorIs(t, err, search.ErrTracesUnavailable)
}
