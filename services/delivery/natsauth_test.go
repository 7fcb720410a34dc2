package delivery_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/acme"
	"github.com/jetmail/jetmail/services/calendar"
	"github.com/jetmail/jetmail/services/delivery"
	"github.com/jetmail/jetmail/services/indexer"
	"github.com/jetmail/jetmail/services/maintenance"
	"github.com/jetmail/jetmail/services/push"
	"github.com/jetmail/jetmail/services/reports"
	"github.com/jetmail/jetmail/services/scheduler"
	"github.com/jetmail/jetmail/services/smtp"
	"github.com/jetmail/jetmail/services/spamtrainer"
	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/aggreport"
	"github.com/jetmail/jetmail/shared/certs"
	"github.com/jetmail/jetmail/shared/clusterstats"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/natsauth"
	"github.com/jetmail/jetmail/shared/natsconn"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/taskmanager"
	"github.com/jetmail/jetmail/shared/trace"
)

// identities is a NATS server that only the identities of the layout may
// use, each with its seed file, and the permission errors their
// connections were sent.
type identities struct {
	url    string
	seeds  map[string]string // identity -> seed file
	mu     sync.Mutex
	denied map[string][]string // identity -> permission errors
}

func startWithIdentities(t *testing.T) *identities {
	t.Helper()
	dir := t.TempDir()
	ids := &identities{seeds: map[string]string{}, denied: map[string][]string{}}
	var users []natsauth.User
	for _, id := range natsauth.Identities([]string{"admin"}) {
		kp, err := nkeys.CreateUser()
		require.NoError(t, err)
		seed, err := kp.Seed()
		require.NoError(t, err)
		pub, err := kp.PublicKey()
		require.NoError(t, err)
		file := filepath.Join(dir, id.Name+".nk")
		require.NoError(t, os.WriteFile(file, seed, 0o600))
		ids.seeds[id.Name] = file
		users = append(users, natsauth.User{Identity: id, PublicKey: pub})
	}
	nk, err := natsauth.NkeyUsers(users)
	require.NoError(t, err)
	listen := jetmailtest.FreePort(t)
	srv, err := embedded.Start(embedded.Options{DataDir: t.TempDir(), Listen: listen, Users: nk})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	ids.url = "nats://" + listen
	return ids
}

// conn connects as identity, as jetmail serve does (natsconn), recording
// the permission errors the server sends.
func (ids *identities) conn(t *testing.T, identity string) *nats.Conn {
	t.Helper()
	nc, err := natsconn.Connect(config.NATS{URL: ids.url, NKey: ids.seeds[identity]}, "test "+identity,
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			ids.mu.Lock()
			defer ids.mu.Unlock()
			ids.denied[identity] = append(ids.denied[identity], err.Error())
		}))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

func (ids *identities) deniedTo(identity string) []string {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	return append([]string(nil), ids.denied[identity]...)
}

// Each service runs under its own NATS identity (natsauth's layout) and
// the whole path works: mail in through the smtp node, out through the
// delivery node, tasks and queue read over the admin API on NATS by the
// API caller's identity. No connection is refused anything it needs.
func TestServicesUnderTheirNATSIdentities(t *testing.T) {
	t.Parallel()
	ids := startWithIdentities(t)
	t.Cleanup(func() {
		if t.Failed() {
			for id, d := range ids.denied {
				t.Logf("%s was refused: %v", id, d)
			}
		}
	})
	sk := newSink(t)
	apiUsers := func(c *config.Config) {
		c.API.Users = map[string]config.APIUser{"admin": {Secret: "admin-secret-123", Permissions: []string{"admin"}}}
	}

	// The smtp node starts first, on an empty server: it creates what
	// intake needs and nothing else.
	// Each role's map is seeded by the first node that works it, from its
	// own configuration (every role on itself): idx, maint, rep, ...
	inCfg := mailNodeConfig(t, "in", "mx.example.org", sk, 2)
	inQueue, inCerts := mailqueue.New(mailqueue.Params{}), certs.NewComponent()
	in := smtp.New(inCfg, inQueue).WithCerts(inCerts) // reads the certificates, writes none
	jetmailtest.Node(t, ids.conn(t, natsauth.SMTP), inCfg, inCerts, inQueue, in)

	outCfg := mailNodeConfig(t, "out", "mx.example.org", sk, 2)
	apiUsers(outCfg)
	outQueue := mailqueue.New(mailqueue.Params{})
	jetmailtest.Node(t, ids.conn(t, natsauth.Delivery), outCfg, outQueue, delivery.New(outCfg, outQueue))

	schedCfg := jetmailtest.Config(t, "sched", apiUsers, func(c *config.Config) { c.Task.Periodic = map[string]config.Periodic{} })
	// As `jetmail serve scheduler` runs it: every role has a service of
	// its own, and the scheduler works none.
	sched := jetmailtest.Node(t, ids.conn(t, natsauth.Scheduler), schedCfg, scheduler.New(schedCfg, taskmanager.Params{Roles: []roles.Role{}}))
	require.True(t, sched.IsLeader(), "only the scheduler node uses role work, so it leads")

	// The indexer reads the traces that smtp and delivery record.
	idxCfg := jetmailtest.Config(t, "idx", apiUsers)
	idxStore := store.NewComponent(store.Params{})
	jetmailtest.Node(t, ids.conn(t, natsauth.Indexer), idxCfg, idxStore, indexer.New(idxCfg, idxStore, indexer.Params{Dir: t.TempDir()}))
	// The maintenance service repairs quotas in the store.
	maintCfg := jetmailtest.Config(t, "maint", apiUsers)
	maintStore := store.NewComponent(store.Params{})
	maintQueue := mailqueue.New(mailqueue.Params{})
	jetmailtest.Node(t, ids.conn(t, natsauth.Maintenance), maintCfg, maintStore, maintQueue, maintenance.New(maintCfg, maintStore, maintenance.Params{Queue: maintQueue}))
	// The calendar service follows the change log and queues alarm mail.
	calCfg := jetmailtest.Config(t, "cal", apiUsers)
	calStore, calQueue := store.NewComponent(store.Params{}), mailqueue.New(mailqueue.Params{})
	jetmailtest.Node(t, ids.conn(t, natsauth.Calendar), calCfg, calStore, calQueue, calendar.New(calCfg, calStore, calendar.Params{Queue: calQueue}))
	// The acme service reads the domains and runs acme.renew's tasks.
	acmeCfg := jetmailtest.Config(t, "acme", apiUsers)
	acmeStore, acmeCerts := store.NewComponent(store.Params{DirectoryOnly: true}), certs.NewComponent()
	jetmailtest.Node(t, ids.conn(t, natsauth.Acme), acmeCfg, acmeStore, acmeCerts, acme.New(acmeCfg, acmeStore, acmeCerts, acme.Params{}))
	// The push service follows the change log and keeps subscriptions.
	pushCfg := jetmailtest.Config(t, "push", apiUsers)
	pushStore := store.NewComponent(store.Params{})
	jetmailtest.Node(t, ids.conn(t, natsauth.Push), pushCfg, pushStore, push.New(pushCfg, pushStore, push.Params{}))
	// The reports service counts the queue, the tasks and the accounts.
	repCfg := jetmailtest.Config(t, "rep", apiUsers, func(c *config.Config) {
		c.Metrics.CalculateInterval, c.Report.Window = time.Second, 4*time.Second
	})
	repStore, repStats, repQueue := store.NewComponent(store.Params{DirectoryOnly: true}), clusterstats.NewComponent(), mailqueue.New(mailqueue.Params{})
	jetmailtest.Node(t, ids.conn(t, natsauth.Reports), repCfg, repStore, repStats, repQueue, reports.New(repCfg, repStore, repStats, repQueue, reports.Params{}))
	// The spam trainer reads the change log and writes the models.
	spamCfg := jetmailtest.Config(t, "spam", apiUsers)
	spamStore := store.NewComponent(store.Params{})
	jetmailtest.Node(t, ids.conn(t, natsauth.SpamTrainer), spamCfg, spamStore, spamtrainer.New(spamCfg, spamStore, spamtrainer.Params{}))

	// One recipient: the body travels in its entry; two: in the object
	// store, which smtp writes and delivery reads.
	require.NoError(t, send(t, in.Addrs()[0], "alice", "alice@example.org", []string{"bob@remote.test"}, msg))
	require.NoError(t, send(t, in.Addrs()[0], "alice", "alice@example.org", []string{"carol@remote.test", "dave@other.test"}, msg))
	// Delivery is at least once: a recipient may arrive twice on a busy
	// machine (a redelivery after the 3 s AckWait); each must arrive.
	rcpts := func() map[string]bool {
		got := map[string]bool{}
		for _, m := range sk.messages() {
			for _, to := range m.to {
				got[to] = true
			}
		}
		return got
	}
	want := map[string]bool{"bob@remote.test": true, "carol@remote.test": true, "dave@other.test": true}
	if !assert.Eventually(t, func() bool { return reflect.DeepEqual(rcpts(), want) }, 30*time.Second, 20*time.Millisecond) {
		keys, _ := list(t, outQueue, mailqueue.Filter{})
		for _, k := range keys {
			if r, err := outQueue.Get(context.Background(), k); err == nil {
				t.Logf("still queued: %s to %s, %d attempts, last %s %s", k, r.Address, r.Attempts, r.LastStatus, r.LastError)
			}
		}
		t.Fatalf("arrived: %v", rcpts())
	}

	// Both nodes recorded the messages' traces: received on the smtp
	// node, attempts and deliveries on the delivery node.
	adminJS, err := jetstream.New(ids.conn(t, "admin"))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		byNode := map[string]int{}
		for _, e := range allEvents(t, adminJS) {
			byNode[e.Node+" "+string(e.Kind)]++
		}
		return byNode["in received"] == 2 && byNode["out delivered"] >= 3 // at least once
	}, 10*time.Second, 50*time.Millisecond)

	api := &jmap.Client{NATS: ids.conn(t, "api-admin"), User: "admin"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var settings map[string]any
	require.NoError(t, api.Call(ctx, adminapi.MethodTaskManagerGet, map[string]any{}, &settings))
	require.Contains(t, settings, "list")
	var queued struct{ Total int }
	require.NoError(t, api.Call(ctx, adminapi.MethodQueueQuery, map[string]any{"calculateTotal": true}, &queued))
	require.Equal(t, 0, queued.Total, "the message was delivered")
	var accounts struct{ Total int }
	require.NoError(t, api.Call(ctx, adminapi.MethodAccountQuery, map[string]any{}, &accounts))
	require.Equal(t, 1, accounts.Total, "alice, seeded by the delivery node")
	var traces jmap.QueryResponse
	require.Eventually(t, func() bool {
		traces = jmap.QueryResponse{} // x:partial is left out when false
		err := api.Call(ctx, adminapi.MethodTraceQuery, map[string]any{"filter": map[string]any{"sender": "alice@example.org"}}, &traces)
		return err == nil && len(traces.IDs) == 2 && !traces.Partial
	}, 10*time.Second, 50*time.Millisecond, "the indexer found both messages' traces")
	var got adminapi.TraceGetResponse
	require.NoError(t, api.Call(ctx, adminapi.MethodTraceGet, map[string]any{"ids": traces.IDs}, &got))
	require.Len(t, got.List, 2)

	var list struct {
		IDs []string `json:"ids"`
	}
	require.NoError(t, api.Call(ctx, adminapi.MethodAccountQuery, map[string]any{}, &list))
	var created adminapi.TaskSetResponse
	require.NoError(t, api.Call(ctx, adminapi.MethodTaskSet, map[string]any{"create": map[string]any{"q": map[string]any{
		"@type": "AccountMaintenance", "accountId": list.IDs[0], "maintenanceType": "recalculateQuota"}}}, &created))
	require.Contains(t, created.Created, "q", "%+v", created.NotCreated)
	require.Eventually(t, func() bool {
		var got struct {
			NotFound []string `json:"notFound"`
		}
		err := api.Call(ctx, adminapi.MethodTaskGet, map[string]any{"ids": []string{created.Created["q"].ID}}, &got)
		return err == nil && len(got.NotFound) == 1
	}, 10*time.Second, 50*time.Millisecond, "the maintenance node ran the task")

	// Every group of figures was computed under the reports identity.
	require.Eventually(t, func() bool {
		for _, g := range []string{"queue", "tasks", "accounts", "store", "deliveries"} {
			if _, ok := repStats.Stats().Group(g); !ok {
				return false
			}
		}
		return true
	}, 10*time.Second, 50*time.Millisecond, "the reports node computed the figures")
	// It closes the report windows, reading the report events.
	reportKV, err := adminJS.KeyValue(context.Background(), aggreport.Bucket)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err1 := reportKV.Get(context.Background(), "cursor.dmarc")
		_, err2 := reportKV.Get(context.Background(), "cursor.tls")
		return err1 == nil && err2 == nil
	}, 15*time.Second, 100*time.Millisecond, "the reports node closed the report windows")

	for _, id := range []string{natsauth.SMTP, natsauth.Delivery, natsauth.Scheduler, natsauth.Indexer, natsauth.Maintenance, natsauth.Reports, "api-admin"} {
		require.Empty(t, ids.deniedTo(id), "identity %s was refused something it needs", id)
	}
}

// What a stolen service credential cannot do: the smtp identity cannot
// read the tasks, a queued entry or a message body, take the admin API's
// requests or snoop replies; the delivery identity cannot read the tasks;
// an API caller can only call the API; no credential, no connection.
func TestNATSIdentitiesAreConfined(t *testing.T) {
	t.Parallel()
	ids := startWithIdentities(t)
	ctx := context.Background()

	// The assets exist, made by the admin, so that a refusal below is a
	// permission's and not a missing stream's.
	js, err := jetstream.New(ids.conn(t, "admin"))
	require.NoError(t, err)
	tasks, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: taskmanager.BucketTasks})
	require.NoError(t, err)
	_, err = tasks.Put(ctx, "t1", []byte(`{"secret": "task data"}`))
	require.NoError(t, err)
	bodies, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: mailqueue.BucketMessages})
	require.NoError(t, err)
	_, err = bodies.PutBytes(ctx, "m1", []byte("Subject: private\r\n\r\nbody"))
	require.NoError(t, err)
	entries, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: mailqueue.BucketQueue})
	require.NoError(t, err)
	_, err = entries.Put(ctx, "e1", []byte(`{"rcpt": "bob@remote.test"}`))
	require.NoError(t, err)

	_, err = js.CreateStream(ctx, trace.StreamConfig(time.Hour, 1))
	require.NoError(t, err)

	// denied runs try as identity and checks that the server refused it
	// with a permission violation naming what.
	denied := func(identity, what string, try func(nc *nats.Conn, js jetstream.JetStream) error) {
		t.Helper()
		nc := ids.conn(t, identity)
		njs, err := jetstream.New(nc)
		require.NoError(t, err)
		tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		err = try(nc, njs)
		_ = nc.FlushWithContext(tctx)
		require.Eventually(t, func() bool {
			for _, d := range ids.deniedTo(identity) {
				if strings.Contains(d, "Permissions Violation") && strings.Contains(d, what) {
					return true
				}
			}
			return false
		}, 5*time.Second, 10*time.Millisecond, "%s: no permission violation for %s (err %v, got %v)", identity, what, err, ids.deniedTo(identity))
	}
	get := func(stream, subject string) func(*nats.Conn, jetstream.JetStream) error {
		return func(nc *nats.Conn, _ jetstream.JetStream) error {
			_, err := nc.Request("$JS.API.DIRECT.GET."+stream+"."+subject, nil, 300*time.Millisecond)
			return err
		}
	}
	subscribe := func(subject string) func(*nats.Conn, jetstream.JetStream) error {
		return func(nc *nats.Conn, _ jetstream.JetStream) error {
			_, err := nc.SubscribeSync(subject)
			return err
		}
	}

	denied(natsauth.SMTP, "KV_jetmail-tasks", get("KV_jetmail-tasks", "$KV.jetmail-tasks.t1"))
	// Every node reads the certificates; only acme writes them.
	_, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: certs.Bucket})
	require.NoError(t, err)
	denied(natsauth.Delivery, "$KV.jetmail-certs.cert.example.org", func(nc *nats.Conn, _ jetstream.JetStream) error {
		_, err := nc.Request("$KV.jetmail-certs.cert.example.org", []byte(`{"forged": true}`), 300*time.Millisecond)
		return err
	})
	denied(natsauth.SMTP, "KV_jetmail-queue", get("KV_jetmail-queue", "$KV.jetmail-queue.e1"))
	denied(natsauth.SMTP, "OBJ_jetmail-messages", func(_ *nats.Conn, js jetstream.JetStream) error {
		obs, err := js.ObjectStore(ctx, mailqueue.BucketMessages)
		if err != nil {
			return err
		}
		_, err = obs.GetBytes(ctx, "m1")
		return err
	})
	denied(natsauth.SMTP, "jetmail-traces", get(trace.Stream, "jetmail.traces.1.x"))
	denied(natsauth.Delivery, "jetmail-traces", get(trace.Stream, "jetmail.traces.1.x"))
	denied(natsauth.SMTP, "jetmail.traces.>", subscribe("jetmail.traces.>"))
	denied(natsauth.SMTP, "jetmail.api.>", subscribe("jetmail.api.>"))
	denied(natsauth.SMTP, "_INBOX.>", subscribe("_INBOX.>"))
	denied(natsauth.Delivery, "KV_jetmail-tasks", get("KV_jetmail-tasks", "$KV.jetmail-tasks.t1"))
	denied(natsauth.Delivery, "jetmail.api.x-task.*", subscribe("jetmail.api.x-task.*"))
	denied(natsauth.Scheduler, "KV_jetmail-queue", get("KV_jetmail-queue", "$KV.jetmail-queue.e1"))
	denied("api-admin", "KV_jetmail-tasks", get("KV_jetmail-tasks", "$KV.jetmail-tasks.t1"))
	denied("api-admin", "jetmail.api.x-task.other", func(nc *nats.Conn, _ jetstream.JetStream) error {
		return nc.Publish("jetmail.api.x-task.other", []byte("{}"))
	})

	_, err = nats.Connect(ids.url)
	require.ErrorContains(t, err, "Authorization Violation")
}
