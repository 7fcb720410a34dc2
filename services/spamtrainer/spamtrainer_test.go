package spamtrainer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/spamtrainer"
	"github.com/jetmail/jetmail/shared/config"
	sdelivery "github.com/jetmail/jetmail/shared/delivery"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailgen"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/spam"
	"github.com/jetmail/jetmail/shared/spamstore"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

type trainer struct {
	t      *testing.T
	st     *store.Store
	svc    *spamtrainer.Service
	filter *spamstore.Filter
	cfg    *config.Config
	pause  atomic.Pointer[chan struct{}] // when set, each learnt sample waits on it
}

func startTrainer(t *testing.T, changes ...func(*config.Config)) *trainer {
	t.Helper()
	srv := jetmailtest.Server(t)
	cfg := jetmailtest.Config(t, "1", changes...)
	sc := store.NewComponent(store.Params{})
	tr := &trainer{t: t, cfg: cfg}
	tr.svc = spamtrainer.New(cfg, sc, spamtrainer.Params{Progress: func(int) {
		if ch := tr.pause.Load(); ch != nil {
			<-*ch
		}
	}})
	jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, sc, tr.svc)
	tr.st = sc.Store()
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	models, err := spamstore.OpenModels(ctx, js, 1)
	require.NoError(t, err)
	tr.filter, err = spamstore.NewFilter(models, spam.Params{}, jetmailtest.Logger())
	require.NoError(t, err)
	require.NoError(t, tr.filter.Start(ctx))
	return tr
}

// run creates a task and waits until it is done (nil) or failed.
func (tr *trainer) run(typ string) *task.Task {
	tr.t.Helper()
	ctx := context.Background()
	mgr := tr.svc.Manager()
	tk, err := mgr.Create(ctx, &task.SpamFilterMaintenanceTask{MaintenanceType: typ}, nil)
	require.NoError(tr.t, err)
	var got *task.Task
	require.Eventually(tr.t, func() bool {
		got, err = mgr.Get(ctx, tk.ID)
		return errors.Is(err, taskmanager.ErrNotFound) || err == nil && got.Status.Type != task.Pending
	}, 30*time.Second, 20*time.Millisecond)
	return got
}

// mail stores n spam and n ham of the corpus in the account's Inbox and
// returns their ids, spam first.
func mail(t *testing.T, st *store.Store, account string, c *mailgen.Corpus, n int) (spamIDs, hamIDs []string) {
	t.Helper()
	for len(spamIDs) < n || len(hamIDs) < n {
		m := c.Next()
		if m.Spam && len(spamIDs) == n || !m.Spam && len(hamIDs) == n {
			continue
		}
		d, err := st.StoreEmail(context.Background(), account, m.Raw, store.NewEmail{})
		require.NoError(t, err)
		if m.Spam {
			spamIDs = append(spamIDs, d.ID)
		} else {
			hamIDs = append(hamIDs, d.ID)
		}
	}
	return spamIDs, hamIDs
}

func moveToJunk(t *testing.T, st *store.Store, account string, ids []string) {
	t.Helper()
	for _, id := range ids {
		_, err := st.UpdateEmail(context.Background(), account, id, func(e *store.Email) error {
			e.MailboxIDs = map[string]bool{"junk": true}
			return nil
		})
		require.NoError(t, err)
	}
}

func nextSpam(c *mailgen.Corpus) []byte {
	for {
		if m := c.Next(); m.Spam {
			return m.Raw
		}
	}
}

func alice(t *testing.T, st *store.Store) *store.Account {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, st.CreateDomain(ctx, store.Domain{Name: "example.org"}))
	a, err := st.CreateAccount(ctx, store.Account{Name: "alice", Domain: "example.org", Addresses: []string{"alice@example.org"}})
	require.NoError(t, err)
	return a
}

// Moving 20 messages into Junk and then training makes a similar new
// message land in Junk, stamped with its score.
func TestJunkMovesTrainTheFilter(t *testing.T) {
	t.Parallel()
	tr := startTrainer(t)
	ctx := context.Background()
	a := alice(t, tr.st)
	corpus := mailgen.NewCorpus(mailgen.CorpusOptions{Seed: 11, Difficulty: -1})
	spamIDs, _ := mail(t, tr.st, a.ID, corpus, 20)
	fresh := nextSpam(corpus)

	before, err := tr.filter.Classify(ctx, a.ID, fresh)
	require.NoError(t, err)
	require.Less(t, before.Score, tr.cfg.Spam.JunkThreshold, "the default model knows nothing")

	require.Nil(t, tr.run("train"), "nothing moved yet: nothing to learn, no failure")
	moveToJunk(t, tr.st, a.ID, spamIDs)
	require.Nil(t, tr.run("train"))

	after, err := tr.filter.Classify(ctx, a.ID, fresh)
	require.NoError(t, err)
	require.GreaterOrEqual(t, after.Score, tr.cfg.Spam.JunkThreshold, "trained on the user's moves: %+v", after)

	// Through local delivery: into Junk, with the headers.
	d, err := sdelivery.New(sdelivery.Params{Config: tr.cfg, Store: tr.st, Logger: jetmailtest.Logger(), Spam: tr.filter})
	require.NoError(t, err)
	t.Cleanup(d.Close)
	res := d.Deliver(ctx, &mailqueue.Delivery{Route: config.Route{Type: config.RouteLocal}, Body: fresh,
		Recipients: []*mailqueue.Recipient{{Envelope: mailqueue.Envelope{MessageID: "q-fresh"}, Address: "alice@example.org"}}})
	require.Equal(t, 250, res[0].Code, res[0].Text)
	require.Contains(t, res[0].Text, "Junk")
	got, err := tr.st.Document(ctx, a.ID, store.EmailType, "q-fresh-"+a.ID)
	require.NoError(t, err)
	var e store.Email
	require.NoError(t, got.Decode(&e))
	require.Equal(t, map[string]bool{"junk": true}, e.MailboxIDs)
	r, err := tr.st.Blob(ctx, got.BlobID)
	require.NoError(t, err)
	raw, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.True(t, bytes.HasPrefix(raw, []byte("X-Spam-Status: Yes")), "stamped: %.120s", raw)
	require.Contains(t, string(raw), "X-Spam-Score: ")

	// reset: back to the default model.
	require.Nil(t, tr.run("reset"))
	require.Eventually(t, func() bool {
		v, err := tr.filter.Classify(ctx, a.ID, fresh)
		return err == nil && v.Score < tr.cfg.Spam.JunkThreshold
	}, 10*time.Second, 20*time.Millisecond, "the default model again")
}

// An abort during a long retrain stops it cleanly: the models are as they
// were, and the task does not fail.
func TestAbortLeavesTheModelUnchanged(t *testing.T) {
	t.Parallel()
	tr := startTrainer(t)
	ctx := context.Background()
	a := alice(t, tr.st)
	corpus := mailgen.NewCorpus(mailgen.CorpusOptions{Seed: 12})
	spamIDs, _ := mail(t, tr.st, a.ID, corpus, 15)
	moveToJunk(t, tr.st, a.ID, spamIDs)
	require.Nil(t, tr.run("train"))
	models := tr.svc.Spam()
	before, err := models.Model(ctx, spamstore.GlobalModel)
	require.NoError(t, err)
	spamIDs, _ = mail(t, tr.st, a.ID, corpus, 15)
	moveToJunk(t, tr.st, a.ID, spamIDs)

	// The retrain stops at its first sample until the abort is sent.
	gate := make(chan struct{})
	tr.pause.Store(&gate)
	mgr := tr.svc.Manager()
	retrain, err := mgr.Create(ctx, &task.SpamFilterMaintenanceTask{MaintenanceType: "retrain"}, nil)
	require.NoError(t, err)
	var once sync.Once
	release := func() { once.Do(func() { tr.pause.Store(nil); close(gate) }) }
	t.Cleanup(release)
	time.Sleep(200 * time.Millisecond) // let the retrain reach its first sample
	require.Nil(t, tr.run("abort"))
	release()
	require.Eventually(t, func() bool {
		_, err := mgr.Get(ctx, retrain.ID)
		return errors.Is(err, taskmanager.ErrNotFound)
	}, 30*time.Second, 20*time.Millisecond, "the aborted retrain completes, not fails")
	after, err := models.Model(ctx, spamstore.GlobalModel)
	require.NoError(t, err)
	require.Equal(t, before.Encode(), after.Encode(), "the model is as it was")
}

// updateRules downloads a checked rule file for every node; a corrupted
// or invalid one fails the task with the reason, and the old rules stay.
func TestUpdateRules(t *testing.T) {
	t.Parallel()
	var file atomic.Pointer[[]byte]
	var sum atomic.Pointer[string]
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/rules.json":
			_, _ = w.Write(*file.Load())
		case "/rules.json.sha256":
			_, _ = io.WriteString(w, *sum.Load()+"  rules.json\n")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(web.Close)
	publish := func(b []byte, digestOf []byte) {
		file.Store(&b)
		h := sha256.Sum256(digestOf)
		s := hex.EncodeToString(h[:])
		sum.Store(&s)
	}
	tr := startTrainer(t, func(c *config.Config) { c.Spam.RulesURL = web.URL + "/rules.json" })
	ctx := context.Background()
	models := tr.svc.Spam()

	good := []byte(`{"format":"jetmail-spam-rules/1","name":"test","rules":[{"id":"PANGOLIN","target":"body","pattern":"(?i)pangolin","score":0.6}]}`)
	publish(good, good)
	require.Nil(t, tr.run("updateRules"))
	_, stored, err := models.Rules(ctx)
	require.NoError(t, err)
	want := sha256.Sum256(good)
	require.Equal(t, hex.EncodeToString(want[:]), stored)
	msg := []byte("From: a@b.test\r\nSubject: hi\r\n\r\nA pangolin walked in.\r\n")
	require.Eventually(t, func() bool {
		v, err := tr.filter.Classify(ctx, "", msg)
		return err == nil && len(v.Rules) == 1
	}, 10*time.Second, 20*time.Millisecond, "the filter uses the new rules")

	bad := []byte(`{"format":"jetmail-spam-rules/1","name":"test2","rules":[{"id":"BROKEN","target":"body","pattern":"(unclosed","score":0.5}]}`)
	for name, c := range map[string]struct {
		body, digestOf []byte
		reason         string
	}{
		"corrupted": {append([]byte("x"), good...), good, "SHA-256"},
		"invalid":   {bad, bad, "BROKEN"},
	} {
		publish(c.body, c.digestOf)
		failed := tr.run("updateRules")
		require.NotNil(t, failed, name)
		require.Contains(t, failed.Status.FailureReason, c.reason, name)
		require.Contains(t, failed.Status.FailureReason, "the rules in use stay", name)
		_, stored, err := models.Rules(ctx)
		require.NoError(t, err)
		require.Equal(t, hex.EncodeToString(want[:]), stored, "%s: the old rules stay", name)
		require.NoError(t, mgrDestroy(tr, failed))
	}
}

func mgrDestroy(tr *trainer, tk *task.Task) error {
	return tr.svc.Manager().Destroy(context.Background(), tk.ID)
}
