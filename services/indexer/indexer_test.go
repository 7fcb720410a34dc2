package indexer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/indexer"
	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/fts"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/search"
	"github.com/jetmail/jetmail/shared/store"
)

// indexerNode is a node running the store and the indexer.
type indexerNode struct {
	n   *node.Node
	idx *indexer.Service
	sc  *store.Component
}

func startIndexer(t *testing.T, srv *embedded.Server, id, dir string, changes ...func(*config.Config)) *indexerNode {
	t.Helper()
	cfg := jetmailtest.Config(t, id, changes...)
	sc := store.NewComponent(store.Params{})
	idx := indexer.New(cfg, sc, indexer.Params{Dir: dir})
	n := jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, sc, idx)
	return &indexerNode{n, idx, sc}
}

// openStore opens the store with domain example.org in it.
func openStore(t *testing.T, srv *embedded.Server) *store.Store {
	t.Helper()
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	st, err := store.Open(context.Background(), store.Params{JS: js})
	require.NoError(t, err)
	if err := st.CreateDomain(context.Background(), store.Domain{Name: "example.org"}); !errors.Is(err, store.ErrExists) {
		require.NoError(t, err)
	}
	return st
}

func mail(subject, body string) []byte {
	return []byte(fmt.Sprintf("From: Bob Smith <bob@remote.test>\r\nTo: alice@example.org\r\nSubject: %s\r\nMessage-ID: <%d@remote.test>\r\n\r\n%s\r\n", subject, time.Now().UnixNano(), body))
}

func find(t *testing.T, srv *embedded.Server, st *store.Store, account, text string) search.Response {
	t.Helper()
	r, err := search.Client{Conn: jetmailtest.Conn(t, srv)}.Search(context.Background(), st.Partition(account), fts.Query{Account: account, Text: text})
	require.NoError(t, err)
	return r
}

// A stored email is found by its words, its sender and its subject; a
// destroyed one is no longer found; the index is whole (not partial).
func TestStoredEmailIsSearchable(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	startIndexer(t, srv, "1", t.TempDir())
	st := openStore(t, srv)
	ctx := context.Background()
	alice, err := st.CreateAccount(ctx, store.Account{Name: "alice", Domain: "example.org", Addresses: []string{"alice@example.org"}})
	require.NoError(t, err)

	d, err := st.StoreEmail(ctx, alice.ID, mail("Quarterly figures", "the turnover of the bakery grew"), store.NewEmail{})
	require.NoError(t, err)
	_, err = st.StoreEmail(ctx, alice.ID, mail("Lunch", "pizza on friday"), store.NewEmail{})
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		r, err := search.Client{Conn: jetmailtest.Conn(t, srv)}.Search(ctx, st.Partition(alice.ID), fts.Query{Account: alice.ID, Text: "bakery"})
		return err == nil && len(r.IDs) == 1 && !r.Partial
	}, 10*time.Second, 50*time.Millisecond)
	r := find(t, srv, st, alice.ID, "bakery")
	require.Equal(t, []string{d.ID}, r.IDs)
	require.Len(t, find(t, srv, st, alice.ID, "bob@remote.test").IDs, 2)
	require.Empty(t, find(t, srv, st, alice.ID, "sushi").IDs)

	// A message that says its language (Content-Language) is stemmed for
	// it: "chevaux" is found by "cheval".
	fr := []byte("From: bob@remote.test\r\nTo: alice@example.org\r\nSubject: Les chevaux\r\nContent-Language: fr\r\n\r\nLes constructions nouvelles\r\n")
	frDoc, err := st.StoreEmail(ctx, alice.ID, fr, store.NewEmail{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return slices.Equal(find(t, srv, st, alice.ID, "cheval").IDs, []string{frDoc.ID}) }, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, []string{frDoc.ID}, find(t, srv, st, alice.ID, "construction").IDs)

	require.NoError(t, st.DestroyDocument(ctx, alice.ID, store.EmailType, d.ID))
	require.Eventually(t, func() bool { return len(find(t, srv, st, alice.ID, "bakery").IDs) == 0 }, 10*time.Second, 50*time.Millisecond,
		"a destroyed email leaves the index")
	require.Len(t, find(t, srv, st, alice.ID, "pizza").IDs, 1)
}

// With no indexer running, a full-text Email/query is refused with
// serverUnavailable, never answered with nothing; with one, it is
// answered with the page, sorted, and the total.
func TestEmailQueryFullText(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	// A node with the store alone: its API answers Email/query.
	cfg := jetmailtest.Config(t, "api", func(c *config.Config) { c.Cluster.Roles[roles.FtsIndexing] = roles.Shards{{"1"}} })
	cfg.API.Users = map[string]config.APIUser{"admin": {Secret: "admin-secret-123", Permissions: []string{"admin"}}}
	n := jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, store.NewComponent(store.Params{}))
	admin := &jmap.Client{URL: n.HTTPURL() + "/jmap", Authorization: "Bearer admin-secret-123"}
	st := openStore(t, srv)
	ctx := context.Background()
	alice, err := st.CreateAccount(ctx, store.Account{Name: "alice", Domain: "example.org", Addresses: []string{"alice@example.org"}})
	require.NoError(t, err)
	var ids []string
	for i := range 3 {
		d, err := st.StoreEmail(ctx, alice.ID, mail(fmt.Sprintf("report %d", i), "numbers inside"), store.NewEmail{ReceivedAt: time.Date(2026, 1, 1+i, 0, 0, 0, 0, time.UTC)})
		require.NoError(t, err)
		ids = append(ids, d.ID)
	}
	query := func(filter map[string]any) (jmap.QueryResponse, error) {
		var res jmap.QueryResponse
		err := admin.Call(ctx, adminapi.MethodEmailQuery, map[string]any{"accountId": alice.ID, "filter": filter, "limit": 2,
			"sort": []map[string]any{{"property": "receivedAt", "isAscending": false}}}, &res)
		return res, err
	}
	_, err = query(map[string]any{"text": "numbers"})
	var me *jmap.MethodError
	require.ErrorAs(t, err, &me)
	require.Equal(t, "serverUnavailable", me.Type)
	require.Contains(t, me.Description, "jetmail serve indexer")

	startIndexer(t, srv, "1", t.TempDir(), func(c *config.Config) { c.Cluster.Roles[roles.FtsIndexing] = roles.Shards{{"1"}} })
	var res jmap.QueryResponse
	require.Eventually(t, func() bool {
		res, err = query(map[string]any{"text": "numbers"})
		return err == nil && res.Total == 3 && !res.Partial
	}, 10*time.Second, 50*time.Millisecond, "%v %+v", err, res)
	require.Equal(t, []string{ids[2], ids[1]}, res.IDs, "newest first, a page of 2")
	res, err = query(map[string]any{"subject": "report", "before": "2026-01-02T00:00:00Z"})
	require.NoError(t, err)
	require.Equal(t, []string{ids[0]}, res.IDs)
	_, err = query(map[string]any{"text": "numbers", "colour": "red"})
	require.ErrorAs(t, err, &me)
	require.Equal(t, "invalidArguments", me.Type)
}

// Calendar events are found by summary, description and location;
// contacts by their names and addresses.
func TestEventsAndContactsAreSearchable(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	startIndexer(t, srv, "1", t.TempDir())
	st := openStore(t, srv)
	ctx := context.Background()
	alice, err := st.CreateAccount(ctx, store.Account{Name: "alice", Domain: "example.org"})
	require.NoError(t, err)

	ev, err := store.ParseCalendarEvent("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:e1\r\nDTSTAMP:20261201T090000Z\r\n" +
		"DTSTART:20261203T090000Z\r\nSUMMARY:Rowing club meeting\r\nLOCATION:Boathouse\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
	require.NoError(t, err)
	evDoc := &store.Document{Account: alice.ID, Type: store.CalendarType, ID: "ev1"}
	require.NoError(t, evDoc.Encode(ev))
	require.NoError(t, st.CreateDocument(ctx, evDoc))
	card, err := store.ParseContactCard("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Zoë Martin\r\nN:Martin;Zoë;;;\r\nEMAIL:zoe.martin@mail.example.org\r\nEND:VCARD\r\n")
	require.NoError(t, err)
	cardDoc := &store.Document{Account: alice.ID, Type: store.ContactsType, ID: "c1"}
	require.NoError(t, cardDoc.Encode(card))
	require.NoError(t, st.CreateDocument(ctx, cardDoc))

	c := search.Client{Conn: jetmailtest.Conn(t, srv)}
	p := st.Partition(alice.ID)
	require.Eventually(t, func() bool {
		r1, err1 := c.Search(ctx, p, fts.Query{Account: alice.ID, Type: fts.TypeCalendar, Text: "boathouse rowing"})
		r2, err2 := c.Search(ctx, p, fts.Query{Account: alice.ID, Type: fts.TypeContacts, Text: "zoe.martin@mail.example.org"})
		return err1 == nil && err2 == nil && slices.Equal(r1.IDs, []string{"ev1"}) && slices.Equal(r2.IDs, []string{"c1"})
	}, 10*time.Second, 50*time.Millisecond)
	r, err := c.Search(ctx, p, fts.Query{Account: alice.ID, Type: fts.TypeEmail, Text: "boathouse"})
	require.NoError(t, err)
	require.Empty(t, r.IDs, "an event is not an email")
}

// The partition indexes' checkpoints follow the tasks: once every task of
// the changes up to a point is done, the index of each partition stores
// the next sequence, so that a restart replays from there rather than
// from when the node gained the partition. A restarted node replays
// nothing it had indexed, and answers as before.
func TestCheckpointFollowsTasks(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	dir := t.TempDir()
	start := func() *node.Node {
		cfg := jetmailtest.Config(t, "1")
		sc := store.NewComponent(store.Params{})
		return jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, sc, indexer.New(cfg, sc, indexer.Params{Dir: dir, CheckpointInterval: 50 * time.Millisecond}))
	}
	n := start()
	st := openStore(t, srv)
	ctx := context.Background()
	alice, err := st.CreateAccount(ctx, store.Account{Name: "alice", Domain: "example.org", Addresses: []string{"alice@example.org"}})
	require.NoError(t, err)
	for i := range 20 {
		_, err := st.StoreEmail(ctx, alice.ID, mail(fmt.Sprintf("note %d", i), "checkpoint words"), store.NewEmail{})
		require.NoError(t, err)
	}
	_, last, err := st.LogBounds(ctx)
	require.NoError(t, err)
	p := strconv.Itoa(st.Partition(alice.ID))
	require.Eventually(t, func() bool {
		return metric(t, n, "jetmail_index_checkpoint", "partition", p) >= float64(last+1)
	}, 10*time.Second, 20*time.Millisecond, "the checkpoint of alice's partition passes the last change")
	require.Len(t, find(t, srv, st, alice.ID, "checkpoint").IDs, 20)

	// Past the persister's nap, the checkpoint is on disk with what it
	// covers: the restarted node replays nothing and finds all 20.
	time.Sleep(1500 * time.Millisecond)
	jetmailtest.StopNode(n)
	n = start()
	require.Eventually(t, func() bool {
		r, err := search.Client{Conn: jetmailtest.Conn(t, srv)}.Search(ctx, st.Partition(alice.ID), fts.Query{Account: alice.ID, Text: "checkpoint"})
		return err == nil && !r.Partial && len(r.IDs) == 20
	}, 10*time.Second, 20*time.Millisecond)
	require.Zero(t, metric(t, n, "jetmail_index_builds_total", "kind", "rebuild"), "replayed from the checkpoint, not rebuilt")
	require.Zero(t, metric(t, n, "jetmail_index_changes_replayed_total", "", ""), "nothing to replay")
}

// metric reads a gauge or counter of the node's registry, the one with
// label=value (any, when label is "").
func metric(t *testing.T, n *node.Node, name, label, value string) float64 {
	t.Helper()
	mfs, err := n.Deps().Metrics.(prometheus.Gatherer).Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, l := range m.GetLabel() {
				match = match || l.GetName() == label && l.GetValue() == value
			}
			if !match {
				continue
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
