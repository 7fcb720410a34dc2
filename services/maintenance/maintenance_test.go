package maintenance_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/indexer"
	"github.com/jetmail/jetmail/services/maintenance"
	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/fts"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/search"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
	"github.com/jetmail/jetmail/shared/trace"
)

// maintNode is a node running the store and the maintenance service, and
// the indexer too when asked.
type maintNode struct {
	srv *embedded.Server
	cfg *config.Config
	n   *node.Node
	svc *maintenance.Service
	st  *store.Store
	q   *mailqueue.Queue
}

func startMaintenance(t *testing.T, withIndexer bool) maintNode {
	t.Helper()
	srv := jetmailtest.Server(t)
	cfg := jetmailtest.Config(t, "1")
	sc := store.NewComponent(store.Params{})
	q := mailqueue.New(mailqueue.Params{SweepAge: time.Millisecond})
	svc := maintenance.New(cfg, sc, maintenance.Params{Queue: q})
	services := []node.Service{sc, q, svc}
	if withIndexer {
		services = append(services, indexer.New(cfg, sc, indexer.Params{Dir: t.TempDir()}))
	}
	n := jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, services...)
	return maintNode{srv, cfg, n, svc, sc.Store(), q}
}

// alice is account alice@example.org in a new domain example.org.
func alice(t *testing.T, st *store.Store) *store.Account {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, st.CreateDomain(ctx, store.Domain{Name: "example.org"}))
	a, err := st.CreateAccount(ctx, store.Account{Name: "alice", Domain: "example.org", Addresses: []string{"alice@example.org"}})
	require.NoError(t, err)
	return a
}

// Quota recalculation tasks repair deliberately corrupted counts: one
// account (AccountMaintenance), every account (StoreMaintenance
// resetUserQuotas) and every tenant (resetTenantQuotas, TenantMaintenance);
// a type not done yet fails with a reason that says so.
func TestQuotaRecalculationTasks(t *testing.T) {
	t.Parallel()
	m := startMaintenance(t, false)
	svc, st := m.svc, m.st
	js, err := jetstream.New(jetmailtest.Conn(t, m.srv))
	require.NoError(t, err)
	ctx := context.Background()
	tid, err := st.CreateTenant(ctx, store.Tenant{Name: "acme"})
	require.NoError(t, err)
	require.NoError(t, st.CreateDomain(ctx, store.Domain{Name: "acme.test", Tenant: tid}))
	sizes := map[string]int64{}
	var ids []string
	for _, name := range []string{"wile", "road", "runner"} {
		a, err := st.CreateAccount(ctx, store.Account{Name: name, Domain: "acme.test", Addresses: []string{name + "@acme.test"}})
		require.NoError(t, err)
		for i := range 2 {
			d, err := st.StoreEmail(ctx, a.ID, fmt.Appendf(nil, "Subject: %s %d\r\n\r\nhello\r\n", name, i), store.NewEmail{})
			require.NoError(t, err)
			sizes[a.ID] += d.Size
		}
		require.NoError(t, st.Charge(ctx, a.ID, 1000)) // the corruption
		ids = append(ids, a.ID)
	}
	used := func(id string) int64 {
		a, err := st.Account(ctx, id)
		require.NoError(t, err)
		return a.Used
	}
	mgr := svc.Manager()
	run := func(p task.Payload) *task.Task {
		t.Helper()
		tk, err := mgr.Create(ctx, p, nil)
		require.NoError(t, err)
		var got *task.Task
		require.Eventually(t, func() bool {
			got, err = mgr.Get(ctx, tk.ID)
			return errors.Is(err, taskmanager.ErrNotFound) || err == nil && got.Status.Type != task.Pending
		}, 10*time.Second, 20*time.Millisecond)
		return got // nil: done
	}

	require.Nil(t, run(&task.AccountMaintenanceTask{AccountID: ids[0], MaintenanceType: "purge"}), "nothing past retention: done")
	require.Nil(t, run(&task.AccountMaintenanceTask{AccountID: ids[0], MaintenanceType: "recalculateQuota"}))
	require.Equal(t, sizes[ids[0]], used(ids[0]))
	require.Equal(t, sizes[ids[1]]+1000, used(ids[1]), "only the account asked for")

	// recalculateImapUid: UIDs broken behind the store's back are dense
	// and in order again.
	var emails []*store.Document
	require.NoError(t, st.Documents(ctx, ids[2], store.EmailType, func(d *store.Document) bool { emails = append(emails, d); return true }))
	require.Len(t, emails, 2)
	for i, d := range emails {
		_, err := st.UpdateDocument(ctx, ids[2], store.EmailType, d.ID, func(d *store.Document) error {
			var e store.Email
			require.NoError(t, d.Decode(&e))
			e.UIDs = map[string]store.UID{"inbox": {Validity: 1, UID: uint32(40 - i)}}
			return d.Encode(e)
		})
		require.NoError(t, err)
	}
	require.Nil(t, run(&task.AccountMaintenanceTask{AccountID: ids[2], MaintenanceType: "recalculateImapUid"}))
	got := map[uint32]bool{}
	for _, d := range emails {
		d, err := st.Document(ctx, ids[2], store.EmailType, d.ID)
		require.NoError(t, err)
		var e store.Email
		require.NoError(t, d.Decode(&e))
		require.Greater(t, e.UIDs["inbox"].Validity, uint32(1), "a new UIDValidity")
		got[e.UIDs["inbox"].UID] = true
	}
	require.Equal(t, map[uint32]bool{1: true, 2: true}, got)

	require.Nil(t, run(&task.StoreMaintenanceTask{MaintenanceType: "resetUserQuotas"}))
	var total int64
	for _, id := range ids {
		require.Equal(t, sizes[id], used(id))
		total += sizes[id]
	}
	tn, err := st.Tenant(ctx, tid)
	require.NoError(t, err)
	require.Equal(t, total+3000, tn.Used, "accounts first, the tenant on its own")
	require.Nil(t, run(&task.StoreMaintenanceTask{MaintenanceType: "resetTenantQuotas"}))
	tn, err = st.Tenant(ctx, tid)
	require.NoError(t, err)
	require.Equal(t, total, tn.Used)
	require.Nil(t, run(&task.TenantMaintenanceTask{TenantID: tid, MaintenanceType: "recalculateQuota"}), "nothing to repair is no failure")

	// purgeData (hourly by default) completes; within retention the
	// archive keeps what it has. A queue body a crash left goes; a queued
	// message's stays.
	docs, err := st.PurgeArchive(ctx)
	require.NoError(t, err)
	require.Zero(t, docs)
	bodies, err := js.ObjectStore(ctx, mailqueue.BucketMessages)
	require.NoError(t, err)
	_, err = bodies.PutBytes(ctx, "left-by-a-crash", []byte("Subject: orphan\r\n\r\nx\r\n"))
	require.NoError(t, err)
	live, err := m.q.Enqueue(ctx, mailqueue.Envelope{Sender: "carol@other.test"}, []mailqueue.RcptIn{{Address: "a@remote.test"}, {Address: "b@remote.test"}}, []byte("Subject: live\r\n\r\nx\r\n"))
	require.NoError(t, err)
	time.Sleep(5 * time.Millisecond) // past the queue's SweepAge
	require.Nil(t, run(&task.StoreMaintenanceTask{MaintenanceType: "purgeData"}))
	_, err = bodies.GetInfo(ctx, "left-by-a-crash")
	require.ErrorIs(t, err, jetstream.ErrObjectNotFound, "the orphan body is purged")
	_, err = m.q.Body(ctx, live)
	require.NoError(t, err, "the queued message keeps its body")

	for _, typ := range []string{"removeDavLocks", "removeSieveLists", "removeAuthTokens"} {
		require.Nil(t, run(&task.StoreMaintenanceTask{MaintenanceType: typ}), "%s: no such data is no failure", typ)
	}

	// removeQueueLocks: a lease a dead node left goes; the live node's stay.
	leases, err := js.KeyValue(ctx, cluster.BucketLeases)
	require.NoError(t, err)
	_, err = leases.Create(ctx, "duty.ghost-work", []byte("ghost"))
	require.NoError(t, err)
	kept, err := leases.Get(ctx, cluster.LeaderKey)
	require.NoError(t, err)
	require.Equal(t, "1", string(kept.Value()))
	require.Nil(t, run(&task.StoreMaintenanceTask{MaintenanceType: "removeQueueLocks"}))
	_, err = leases.Get(ctx, "duty.ghost-work")
	require.ErrorIs(t, err, jetstream.ErrKeyNotFound)
	kept, err = leases.Get(ctx, cluster.LeaderKey)
	require.NoError(t, err, "the live leader's lease stays")
	require.Equal(t, "1", string(kept.Value()))
	require.Nil(t, run(&task.StoreMaintenanceTask{MaintenanceType: "removeGreylist"}), "no greylist yet is no failure")
	failed := run(&task.AccountMaintenanceTask{AccountID: "nosuch", MaintenanceType: "recalculateQuota"})
	require.NotNil(t, failed)
	require.Contains(t, failed.Status.FailureReason, "not found")
}

// AccountMaintenance reindex puts back what the index lost: an entry
// deleted behind the store's back is found again.
func TestReindexAccount(t *testing.T) {
	t.Parallel()
	m := startMaintenance(t, true)
	srv, cfg, n, svc, st := m.srv, m.cfg, m.n, m.svc, m.st
	ctx := context.Background()
	a := alice(t, st)
	var ids []string
	for i := range 3 {
		d, err := st.StoreEmail(ctx, a.ID, fmt.Appendf(nil, "Subject: walrus %d\r\n\r\ntusks\r\n", i), store.NewEmail{})
		require.NoError(t, err)
		ids = append(ids, d.ID)
	}
	client := search.Client{Conn: jetmailtest.Conn(t, srv)}
	p := st.Partition(a.ID)
	found := func() int {
		r, err := client.Search(ctx, p, fts.Query{Account: a.ID, Text: "walrus"})
		if err != nil || r.Partial {
			return -1
		}
		return len(r.IDs)
	}
	require.Eventually(t, func() bool { return found() == 3 }, 10*time.Second, 20*time.Millisecond)
	// The index loses two entries the store still has.
	for _, id := range ids[:2] {
		require.NoError(t, client.Apply(ctx, p, []fts.Op{{Delete: &fts.Key{Account: a.ID, Type: string(store.EmailType), ID: id}}}))
	}
	require.Equal(t, 1, found())

	tk, err := svc.Manager().Create(ctx, &task.AccountMaintenanceTask{AccountID: a.ID, MaintenanceType: "reindex"}, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return found() == 3 }, 10*time.Second, 20*time.Millisecond, "reindexed")
	require.Eventually(t, func() bool {
		_, err := svc.Manager().Get(ctx, tk.ID)
		return errors.Is(err, taskmanager.ErrNotFound)
	}, 10*time.Second, 20*time.Millisecond, "the task is done")

	// StoreMaintenance reindexAccounts: the partitions' indexes are built
	// again from the store, so what they lost comes back too.
	require.NoError(t, client.Apply(ctx, p, []fts.Op{{Delete: &fts.Key{Account: a.ID, Type: string(store.EmailType), ID: ids[0]}}}))
	require.Equal(t, 2, found())
	_, err = svc.Manager().Create(ctx, &task.StoreMaintenanceTask{MaintenanceType: "reindexAccounts"}, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return found() == 3 }, 30*time.Second, 20*time.Millisecond, "rebuilt")

	// StoreMaintenance reindexTelemetry: the trace indexes are read again
	// from the traces stream, and still find the message.
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	rec, err := trace.NewRecorder(js, cfg.Cluster.Partitions, trace.RecorderOptions{Node: "test"})
	require.NoError(t, err)
	rec.Record(ctx, trace.Event{TraceID: "walrus1", Kind: trace.KindReceived, Sender: "alice@example.org", Recipients: []string{"bob@remote.test"}})
	require.NoError(t, rec.Flush(ctx))
	traces := func() int {
		r, err := client.SearchTraces(ctx, cfg.Cluster.Partitions, trace.Query{Rcpt: "bob@remote.test"})
		if err != nil || r.Partial {
			return -1
		}
		return len(r.Traces)
	}
	// Every partition was just gained again: on a busy machine their
	// followers take a while to catch up.
	require.Eventually(t, func() bool { return traces() == 1 }, 30*time.Second, 20*time.Millisecond)
	read := metric(t, n, "jetmail_index_trace_messages_total")
	_, err = svc.Manager().Create(ctx, &task.StoreMaintenanceTask{MaintenanceType: "reindexTelemetry"}, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return metric(t, n, "jetmail_index_trace_messages_total") > read && traces() == 1
	}, 30*time.Second, 20*time.Millisecond, "the traces were read again")
}

// metric reads a counter of the node's registry, summed over its labels.
func metric(t *testing.T, n *node.Node, name string) float64 {
	t.Helper()
	mfs, err := n.Deps().Metrics.(prometheus.Gatherer).Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// RestoreArchivedItem brings a destroyed email back, with its id, and it
// is found by search again; nothing archived with that blob is a clear
// failure.
func TestRestoreArchivedItem(t *testing.T) {
	t.Parallel()
	m := startMaintenance(t, true)
	srv, svc, st := m.srv, m.svc, m.st
	ctx := context.Background()
	a := alice(t, st)
	d, err := st.StoreEmail(ctx, a.ID, []byte("Subject: narwhal\r\n\r\nunicorn of the sea\r\n"), store.NewEmail{})
	require.NoError(t, err)
	client := search.Client{Conn: jetmailtest.Conn(t, srv)}
	found := func() []string {
		r, err := client.Search(ctx, st.Partition(a.ID), fts.Query{Account: a.ID, Text: "narwhal"})
		if err != nil || r.Partial {
			return nil
		}
		return r.IDs
	}
	require.Eventually(t, func() bool { return len(found()) == 1 }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, st.DestroyDocument(ctx, a.ID, store.EmailType, d.ID))
	require.Eventually(t, func() bool { r := found(); return r != nil && len(r) == 0 }, 10*time.Second, 20*time.Millisecond)

	arch, err := st.Archived(ctx, a.ID, store.EmailType, d.ID)
	require.NoError(t, err)
	restore := &task.RestoreArchivedItemTask{AccountID: a.ID, BlobID: d.BlobID, ArchivedItemType: "email", CreatedAt: d.Created, ArchivedUntil: arch.ArchivedUntil}
	mgr := svc.Manager()
	tk, err := mgr.Create(ctx, restore, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return slices.Equal(found(), []string{d.ID}) }, 10*time.Second, 20*time.Millisecond, "restored, and found again")
	back, err := st.Document(ctx, a.ID, store.EmailType, d.ID)
	require.NoError(t, err)
	require.Equal(t, d.BlobID, back.BlobID)
	acc, err := st.Account(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, d.Size, acc.Used, "charged again")
	require.Eventually(t, func() bool { _, err := mgr.Get(ctx, tk.ID); return errors.Is(err, taskmanager.ErrNotFound) }, 10*time.Second, 20*time.Millisecond)

	tk, err = mgr.Create(ctx, restore, nil)
	require.NoError(t, err)
	var failed *task.Task
	require.Eventually(t, func() bool {
		failed, err = mgr.Get(ctx, tk.ID)
		return err == nil && failed.Status.Type != task.Pending
	}, 10*time.Second, 20*time.Millisecond)
	require.Contains(t, failed.Status.FailureReason, "nothing archived", "restored once, the archive no longer has it")

	// Mail alice sent, still queued, and mail someone else sent.
	from := func(sender string) []string {
		keys, _, err := m.q.List(ctx, mailqueue.Filter{Sender: sender})
		require.NoError(t, err)
		return keys
	}
	for _, sender := range []string{"alice@example.org", "carol@other.test"} {
		_, err := m.q.Enqueue(ctx, mailqueue.Envelope{Sender: sender}, []mailqueue.RcptIn{{Address: "bob@remote.test"}}, []byte("Subject: hi\r\n\r\nhi\r\n"))
		require.NoError(t, err)
		require.Len(t, from(sender), 1)
	}

	// DestroyAccount: its mail leaves the index, its name is free, the
	// account is archived, its queued mail is cancelled; a second one is
	// a no-op.
	for range 2 {
		tk, err = mgr.Create(ctx, &task.DestroyAccountTask{AccountName: "alice", AccountDomainID: "example.org", AccountID: a.ID}, nil)
		require.NoError(t, err)
		require.Eventually(t, func() bool { _, err := mgr.Get(ctx, tk.ID); return errors.Is(err, taskmanager.ErrNotFound) }, 10*time.Second, 20*time.Millisecond, "done")
	}
	gone, err := st.Account(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, store.Deleted, gone.State)
	require.Empty(t, gone.SecretHashes)
	require.Zero(t, gone.Used, "every document's bytes released")
	_, err = st.AccountByName(ctx, "alice")
	require.ErrorIs(t, err, store.ErrNotFound, "the name is free")
	_, err = st.Document(ctx, a.ID, store.EmailType, d.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = st.Archived(ctx, a.ID, store.EmailType, d.ID)
	require.NoError(t, err, "kept in the archive")
	refers, err := st.Refers(ctx, a.ID, d.BlobID)
	require.NoError(t, err)
	require.False(t, refers, "the account's blob references are gone")
	require.Empty(t, from("alice@example.org"), "the account's queued mail is cancelled")
	require.Len(t, from("carol@other.test"), 1, "no one else's")
	require.Eventually(t, func() bool { r := found(); return r != nil && len(r) == 0 }, 10*time.Second, 20*time.Millisecond, "out of the index")

	// RestoreArchivedItem after DestroyAccount: the account comes back
	// with its name, and the email with it, searchable again.
	arch, err = st.Archived(ctx, a.ID, store.EmailType, d.ID)
	require.NoError(t, err)
	tk, err = mgr.Create(ctx, &task.RestoreArchivedItemTask{AccountID: a.ID, BlobID: d.BlobID, ArchivedItemType: "email", CreatedAt: d.Created, ArchivedUntil: arch.ArchivedUntil}, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return slices.Equal(found(), []string{d.ID}) }, 10*time.Second, 20*time.Millisecond, "restored after the account's destruction, and found again")
	back, err = st.Document(ctx, a.ID, store.EmailType, d.ID)
	require.NoError(t, err)
	require.Equal(t, d.BlobID, back.BlobID)
	byName, err := st.AccountByName(ctx, "alice")
	require.NoError(t, err)
	require.Equal(t, a.ID, byName.ID, "the account is back, with its name")
	require.Equal(t, store.Active, byName.State)
	require.Equal(t, d.Size, byName.Used)
	refers, err = st.Refers(ctx, a.ID, d.BlobID)
	require.NoError(t, err)
	require.True(t, refers, "the restored email refers to its blob again")
}

// MergeThreads runs on the maintenance service: two unlinked threads
// become one.
func TestMergeThreadsTask(t *testing.T) {
	t.Parallel()
	m := startMaintenance(t, false)
	svc, st := m.svc, m.st
	ctx := context.Background()
	a := alice(t, st)
	var docs []*store.Document
	for _, id := range []string{"a@x", "b@x"} {
		d, err := st.StoreEmail(ctx, a.ID, []byte("Message-ID: <"+id+">\r\nSubject: s\r\n\r\nx\r\n"), store.NewEmail{})
		require.NoError(t, err)
		docs = append(docs, d)
	}
	thread := func(d *store.Document) string {
		got, err := st.Document(ctx, a.ID, store.EmailType, d.ID)
		require.NoError(t, err)
		var e store.Email
		require.NoError(t, got.Decode(&e))
		return e.ThreadID
	}
	require.NotEqual(t, thread(docs[0]), thread(docs[1]))
	_, err := svc.Manager().Create(ctx, &task.MergeThreadsTask{AccountID: a.ID, ThreadName: "s", MessageIDs: []string{"a@x", "b@x"}}, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return thread(docs[0]) == thread(docs[1]) }, 10*time.Second, 20*time.Millisecond)
}
