package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/store/storetest"
)

// webhook counts the StateChange pushes it gets, per account, state and
// Push-Id, answering each after a short wait so that a node has pushes in
// flight.
type webhook struct {
	mu      sync.Mutex
	codes   map[string]string
	states  map[string]map[uint64]int // account -> Mailbox state -> pushes
	pushIDs map[string]int
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Type    string                       `json:"@type"`
		ID      string                       `json:"pushSubscriptionId"`
		Code    string                       `json:"verificationCode"`
		Changed map[string]map[string]string `json:"changed"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if body.Type == "StateChange" {
		time.Sleep(20 * time.Millisecond)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch body.Type {
	case "PushVerification":
		h.codes[body.ID] = body.Code
	case "StateChange":
		h.pushIDs[r.Header.Get("Push-Id")]++
		for account, types := range body.Changed {
			if s, ok := types["Mailbox"]; ok {
				n, _ := strconv.ParseUint(s, 10, 64)
				if h.states[account] == nil {
					h.states[account] = map[uint64]int{}
				}
				h.states[account][n]++
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// duplicates counts the pushes beyond the first of each account and
// state, and of each Push-Id.
func (h *webhook) duplicates() (byState, byPushID int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, states := range h.states {
		for _, n := range states {
			byState += n - 1
		}
	}
	for _, n := range h.pushIDs {
		byPushID += n - 1
	}
	return byState, byPushID
}

func (h *webhook) latest(account string) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	top := uint64(0)
	for s := range h.states[account] {
		top = max(top, s)
	}
	return top
}

// 10,000 changes across 100 accounts, push-notifications in two shards of
// two `jetmail serve push` processes on a 3-server cluster, one process
// killed with SIGKILL halfway: every account's final state is pushed, the
// duplicates are no more than the killed node had in flight
// (push.concurrency, one subscription per account), and each duplicate
// carries the Push-Id of the first.
func TestPushKillNodeMidStream(t *testing.T) {
	t.Parallel()
	const accounts, perAccount, concurrency = 100, 100, 4
	servers := jetmailtest.Cluster(t, 3)
	urls := jetmailtest.URLs(servers)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "jetmail.toml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
[cluster]
heartbeat-interval = "250ms"
node-timeout = "2s"
[cluster.roles.push-notifications]
push-notifications = ["n1,n2", "n3,n4"]
[nats]
replicas = 3
[push]
concurrency = %d
timeout = "2s"
[api.users.admin]
secret = "admin-secret-123"
permissions = ["admin"]
`, concurrency)), 0o600))
	procs := map[string]*proc{}
	var api string
	for _, id := range []string{"n1", "n2", "n3", "n4"} {
		addr := jetmailtest.FreePort(t)
		procs[id] = start(t, dir, "serve", "push", "--nats-url", urls, "--config", cfgPath, "--node-id", id, "--http", addr)
		waitReady(t, procs[id], addr)
		if id == "n1" {
			api = "http://" + addr + "/jmap"
		}
	}

	ctx := context.Background()
	js, err := jetstream.New(jetmailtest.Dial(t, urls))
	require.NoError(t, err)
	st, err := store.Open(ctx, store.Params{JS: js, Replicas: 3})
	require.NoError(t, err)
	require.NoError(t, st.CreateDomain(ctx, store.Domain{Name: "example.org"}))

	hook := &webhook{codes: map[string]string{}, states: map[string]map[uint64]int{}, pushIDs: map[string]int{}}
	recv := httptest.NewServer(hook)
	defer recv.Close()
	admin := &jmap.Client{URL: api, Authorization: "Bearer admin-secret-123"}
	var accs []string
	for i := range accounts {
		a, err := st.CreateAccount(ctx, store.Account{Name: fmt.Sprintf("u%d", i), Domain: "example.org", Addresses: []string{fmt.Sprintf("u%d@example.org", i)}})
		require.NoError(t, err)
		accs = append(accs, a.ID)
		var res adminapi.PushSubscriptionSetResponse
		require.NoError(t, admin.Call(ctx, adminapi.MethodPushSubscriptionSet, map[string]any{"accountId": a.ID,
			"create": map[string]any{"s": map[string]any{"deviceClientId": "d", "url": recv.URL + "/" + a.ID}}}, &res))
		require.Empty(t, res.NotCreated)
		id := res.Created["s"].ID
		hook.mu.Lock()
		code := hook.codes[id]
		hook.mu.Unlock()
		require.NoError(t, admin.Call(ctx, adminapi.MethodPushSubscriptionSet, map[string]any{"accountId": a.ID,
			"update": map[string]any{id: map[string]any{"verificationCode": code}}}, &res))
		require.Empty(t, res.NotUpdated)
	}
	time.Sleep(time.Second) // every node's copy of the subscriptions has them

	var done atomic.Int64
	changed := make(chan error, 1)
	go func() { changed <- storetest.MailboxChanges(ctx, st, accs, perAccount, 10, &done) }()
	require.Eventually(t, func() bool { return done.Load() >= accounts*perAccount/2 }, 120*time.Second, 10*time.Millisecond)
	procs["n2"].kill()
	t.Logf("n2 killed after %d changes", done.Load())
	require.NoError(t, <-changed)

	pending := func() int {
		n := 0
		for _, a := range accs {
			state, err := st.State(ctx, a, store.MailboxType)
			require.NoError(t, err)
			if fmt.Sprint(hook.latest(a)) != state {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return pending() == 0 }, 90*time.Second, 200*time.Millisecond, "every account's final state is pushed")
	time.Sleep(time.Second) // let any late duplicate land
	byState, byPushID := hook.duplicates()
	t.Logf("%d changes in %d accounts, one node killed: %d duplicate pushes (bound %d), %d of them with the first's Push-Id", accounts*perAccount, accounts, byState, concurrency, byPushID)
	require.LessOrEqual(t, byState, concurrency, "duplicates are bounded by what the killed node had in flight")
	require.Equal(t, byState, byPushID, "a duplicate carries the same Push-Id as the first")
	for _, id := range []string{"n1", "n3", "n4"} {
		require.Equal(t, 0, procs[id].stop(30*time.Second))
	}
}
