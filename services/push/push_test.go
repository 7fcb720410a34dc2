package push_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/calendar"
	"github.com/jetmail/jetmail/services/push"
	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/store"
)

// receiver is a webhook receiver: it counts the pushes per account, data
// type and state, and keeps each subscription's verification code. A
// path can be made to fail.
type receiver struct {
	srv *httptest.Server

	mu sync.Mutex
	// states[account][type][state] counts the pushes of that state.
	states map[string]map[string]map[uint64]int
	// pushIDs counts the pushes by Push-Id.
	pushIDs map[string]int
	codes   map[string]string
	alerts  []map[string]any
	posts   map[string]int // by path
	// failing[path] > 0 fails that many POSTs to path; -1 fails them all.
	failing map[string]int
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{states: map[string]map[string]map[uint64]int{}, pushIDs: map[string]int{}, codes: map[string]string{},
		posts: map[string]int{}, failing: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	var body map[string]json.RawMessage
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.posts[req.URL.Path]++
	if n := r.failing[req.URL.Path]; n != 0 {
		if n > 0 {
			r.failing[req.URL.Path]--
		}
		http.Error(w, "not now", http.StatusServiceUnavailable)
		return
	}
	var typ string
	_ = json.Unmarshal(body["@type"], &typ)
	switch typ {
	case "PushVerification":
		var id, code string
		_ = json.Unmarshal(body["pushSubscriptionId"], &id)
		_ = json.Unmarshal(body["verificationCode"], &code)
		r.codes[id] = code
	case "StateChange":
		r.pushIDs[req.Header.Get("Push-Id")]++
		var changed map[string]map[string]string
		_ = json.Unmarshal(body["changed"], &changed)
		for account, types := range changed {
			if r.states[account] == nil {
				r.states[account] = map[string]map[uint64]int{}
			}
			for t, state := range types {
				if r.states[account][t] == nil {
					r.states[account][t] = map[uint64]int{}
				}
				n, _ := strconv.ParseUint(state, 10, 64)
				r.states[account][t][n]++
			}
		}
	case "CalendarAlert":
		r.pushIDs[req.Header.Get("Push-Id")]++
		var a map[string]any
		b, _ := json.Marshal(body)
		_ = json.Unmarshal(b, &a)
		r.alerts = append(r.alerts, a)
	}
	w.WriteHeader(http.StatusCreated)
}

// url is the receiver's URL for one subscription.
func (r *receiver) url(path string) string { return r.srv.URL + "/" + path }

func (r *receiver) code(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.codes[id]
}

// latest is the highest state of type t pushed for the account, and how
// many pushes it took.
func (r *receiver) latest(account, t string) (top uint64, pushes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s, n := range r.states[account][t] {
		top = max(top, s)
		pushes += n
	}
	return top, pushes
}

// duplicates counts the pushes beyond the first of each account, type
// and state.
func (r *receiver) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := 0
	for _, types := range r.states {
		for _, states := range types {
			for _, n := range states {
				d += n - 1
			}
		}
	}
	return d
}

// pushNode is one node running the store and the push service.
type pushNode struct {
	st    *store.Store
	url   string
	admin *jmap.Client
}

const adminSecret = "admin-secret-123"

func startPush(t testing.TB, changes ...func(*config.Config)) *pushNode {
	t.Helper()
	srv := jetmailtest.Server(t)
	cfg := jetmailtest.Config(t, "1", append([]func(*config.Config){func(c *config.Config) {
		c.API.Users = map[string]config.APIUser{"admin": {Secret: adminSecret, Permissions: []string{"admin"}}}
	}}, changes...)...)
	sc := store.NewComponent(store.Params{})
	n := jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, sc, push.New(cfg, sc, push.Params{RetryBase: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond}))
	require.NoError(t, sc.Store().CreateDomain(context.Background(), store.Domain{Name: "example.org"}))
	url := n.HTTPURL() + "/jmap"
	return &pushNode{st: sc.Store(), url: url, admin: &jmap.Client{URL: url, Authorization: "Bearer " + adminSecret}}
}

// account creates an account with a secret and returns it with a client
// that calls as it.
func account(t testing.TB, st *store.Store, url, name string) (*store.Account, *jmap.Client) {
	t.Helper()
	a, err := st.CreateAccount(context.Background(), store.Account{Name: name, Domain: "example.org", Addresses: []string{name + "@example.org"}}, name+"-secret-123")
	require.NoError(t, err)
	return a, &jmap.Client{URL: url, Authorization: basicAuth(name, name+"-secret-123")}
}

// subscribe creates a subscription to path and verifies it with the code
// the receiver got.
func subscribe(t testing.TB, cl *jmap.Client, r *receiver, path string, types []string) string {
	t.Helper()
	var res adminapi.PushSubscriptionSetResponse
	create := map[string]any{"deviceClientId": "device-" + path, "url": r.url(path)}
	if types != nil {
		create["types"] = types
	}
	require.NoError(t, cl.Call(context.Background(), adminapi.MethodPushSubscriptionSet, map[string]any{"create": map[string]any{"s": create}}, &res))
	require.Empty(t, res.NotCreated)
	id := res.Created["s"].ID
	code := r.code(id)
	require.NotEmpty(t, code, "the PushVerification reached the receiver before the create returned")
	require.NoError(t, cl.Call(context.Background(), adminapi.MethodPushSubscriptionSet, map[string]any{"update": map[string]any{id: map[string]any{"verificationCode": code}}}, &res))
	require.Empty(t, res.NotUpdated)
	return id
}

// touch makes n changes to the account's mailboxes (n/10 on each of 10
// at once, as fast as the store takes them, when n is 10 or more), and
// returns the account's Mailbox state after.
func touch(t testing.TB, st *store.Store, account string, n int) uint64 {
	t.Helper()
	ctx := context.Background()
	writers := min(n, 10)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			id, err := st.CreateMailbox(ctx, account, store.Mailbox{Name: fmt.Sprintf("box %d %d", w, time.Now().UnixNano())})
			if err != nil {
				errs <- err
				return
			}
			for i := 1; i < n/writers; i++ {
				if _, err := st.UpdateMailbox(ctx, account, id, func(m *store.Mailbox) error { m.Name = fmt.Sprintf("box %d %d", w, i); return nil }); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	state, err := st.State(ctx, account, store.MailboxType)
	require.NoError(t, err)
	v, _ := strconv.ParseUint(state, 10, 64)
	return v
}

// A subscription is verified through the code POSTed to it, and then gets
// the account's changes; a burst of 1,000 changes gives a push per
// push.coalesce (100ms) that it lasts, or two more, carrying the latest
// state, not 1,000.
func TestVerifiedSubscriptionGetsCoalescedChanges(t *testing.T) {
	t.Parallel()
	n := startPush(t)
	r := newReceiver(t)
	alice, cl := account(t, n.st, n.url, "alice")

	// Before verification, nothing but the PushVerification is sent.
	var res adminapi.PushSubscriptionSetResponse
	require.NoError(t, cl.Call(context.Background(), adminapi.MethodPushSubscriptionSet, map[string]any{"create": map[string]any{
		"s": map[string]any{"deviceClientId": "phone", "url": r.url("unverified")}}}, &res))
	require.Empty(t, res.NotCreated)
	unverified := res.Created["s"].ID
	var got adminapi.PushSubscriptionGetResponse
	require.NoError(t, cl.Call(context.Background(), adminapi.MethodPushSubscriptionGet, map[string]any{}, &got))
	require.Len(t, got.List, 1)
	require.Equal(t, "phone", got.List[0].DeviceClientID)
	require.Nil(t, got.List[0].VerificationCode, "no code until the client echoed it")

	// A wrong code is refused precisely.
	require.NoError(t, cl.Call(context.Background(), adminapi.MethodPushSubscriptionSet, map[string]any{"update": map[string]any{
		unverified: map[string]any{"verificationCode": "guess"}}}, &res))
	require.Equal(t, "invalidProperties", res.NotUpdated[unverified].Type)
	require.Equal(t, []string{"verificationCode"}, res.NotUpdated[unverified].Properties)

	id := subscribe(t, cl, r, "alice", []string{"Mailbox"})
	began := time.Now()
	want := touch(t, n.st, alice.ID, 1000)
	burst := time.Since(began)
	require.Eventually(t, func() bool { top, _ := r.latest(alice.ID, "Mailbox"); return top == want }, 20*time.Second, 20*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // anything late would show now
	_, pushes := r.latest(alice.ID, "Mailbox")
	bound := int(burst/config.DefaultPush.Coalesce) + 3
	t.Logf("1000 changes in %s: %d pushes (at most %d)", burst.Round(time.Millisecond), pushes, bound)
	require.LessOrEqual(t, pushes, bound, "a burst is coalesced")
	require.Zero(t, r.duplicates())
	r.mu.Lock()
	require.Zero(t, r.posts["/unverified"]-1, "the unverified subscription got its PushVerification only")
	require.Empty(t, r.states[alice.ID]["Email"], "the subscription asked for Mailbox only")
	r.mu.Unlock()

	// get shows the echoed code, never the url.
	var raw map[string]any
	require.NoError(t, cl.Call(context.Background(), adminapi.MethodPushSubscriptionGet, map[string]any{"ids": []string{id}}, &raw))
	b, _ := json.Marshal(raw)
	require.NotContains(t, string(b), r.srv.URL)
	require.Contains(t, string(b), r.code(id))
}

// A push that fails is retried with backoff until it gets through; a
// subscription that keeps failing is disabled after push.max-failures,
// and its owner sees why.
func TestFailingPushesRetriedThenDisabled(t *testing.T) {
	t.Parallel()
	n := startPush(t, func(c *config.Config) { c.Push.MaxFailures = 3 })
	r := newReceiver(t)
	alice, cl := account(t, n.st, n.url, "alice")
	flaky := subscribe(t, cl, r, "flaky", nil)
	dead := subscribe(t, cl, r, "dead", nil)
	r.mu.Lock()
	r.failing["/flaky"], r.failing["/dead"] = 2, -1
	r.mu.Unlock()

	want := touch(t, n.st, alice.ID, 1)
	require.Eventually(t, func() bool { top, _ := r.latest(alice.ID, "Mailbox"); return top == want }, 20*time.Second, 20*time.Millisecond)
	var got adminapi.PushSubscriptionGetResponse
	require.Eventually(t, func() bool {
		require.NoError(t, cl.Call(context.Background(), adminapi.MethodPushSubscriptionGet, map[string]any{"ids": []string{flaky, dead}}, &got))
		return len(got.List) == 2 && got.List[1].Disabled != nil
	}, 20*time.Second, 50*time.Millisecond)
	require.Nil(t, got.List[0].Disabled)
	require.Zero(t, got.List[0].Failures, "a success resets the count")
	require.Equal(t, 3, got.List[1].Failures)
	require.Contains(t, *got.List[1].Disabled, "after 3 POSTs failed in a row")
	require.Contains(t, *got.List[1].Disabled, "503 Service Unavailable")
	_, pushes := r.latest(alice.ID, "Mailbox")
	require.Equal(t, 1, pushes, "the state reached flaky once, after two failures, and dead never")

	// Disabled: nothing more is tried.
	r.mu.Lock()
	before := r.posts["/dead"]
	r.mu.Unlock()
	want = touch(t, n.st, alice.ID, 1)
	require.Eventually(t, func() bool { top, _ := r.latest(alice.ID, "Mailbox"); return top == want }, 20*time.Second, 20*time.Millisecond)
	r.mu.Lock()
	require.Equal(t, before, r.posts["/dead"])
	r.mu.Unlock()
}

// Bad subscriptions get a precise error, and nothing is stored.
func TestBadSubscriptionsRefused(t *testing.T) {
	t.Parallel()
	n := startPush(t)
	r := newReceiver(t)
	_, cl := account(t, n.st, n.url, "alice")
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr + "/push"
	}()
	for name, tc := range map[string]struct {
		create map[string]any
		prop   string
		says   string
	}{
		"plain http, not loopback": {map[string]any{"deviceClientId": "d", "url": "http://push.example.com/x"}, "url", "plain http is allowed only to a loopback address"},
		"not a URL":                {map[string]any{"deviceClientId": "d", "url": "push me"}, "url", "no host"},
		"unreachable":              {map[string]any{"deviceClientId": "d", "url": closed}, "url", "could not be delivered: unreachable"},
		"refused by the receiver":  {map[string]any{"deviceClientId": "d", "url": r.url("refuses")}, "url", "503"},
		"expired":                  {map[string]any{"deviceClientId": "d", "url": r.url("x"), "expires": "2020-01-01T00:00:00Z"}, "expires", "in the past"},
		"unknown type":             {map[string]any{"deviceClientId": "d", "url": r.url("x"), "types": []string{"Email", "Nope"}}, "types", `unknown data type "Nope"`},
		"encryption keys":          {map[string]any{"deviceClientId": "d", "url": r.url("x"), "keys": map[string]string{"p256dh": "a", "auth": "b"}}, "keys", "RFC 8291"},
		"no device id":             {map[string]any{"url": r.url("x")}, "deviceClientId", "missing"},
		"unknown property":         {map[string]any{"deviceClientId": "d", "url": r.url("x"), "color": "red"}, "color", "unknown property"},
	} {
		r.mu.Lock()
		r.failing["/refuses"] = -1
		r.mu.Unlock()
		var res adminapi.PushSubscriptionSetResponse
		require.NoError(t, cl.Call(context.Background(), adminapi.MethodPushSubscriptionSet, map[string]any{"create": map[string]any{"s": tc.create}}, &res), name)
		require.Empty(t, res.Created, name)
		e := res.NotCreated["s"]
		require.NotNil(t, e, name)
		require.Equal(t, "invalidProperties", e.Type, name)
		require.Equal(t, []string{tc.prop}, e.Properties, name)
		require.Contains(t, e.Description, tc.says, name)
	}
	var got adminapi.PushSubscriptionGetResponse
	require.NoError(t, cl.Call(context.Background(), adminapi.MethodPushSubscriptionGet, map[string]any{}, &got))
	require.Empty(t, got.List, "nothing refused stays stored")

	// Only the verification code, the expiry and the types may change.
	id := subscribe(t, cl, r, "ok", nil)
	var res adminapi.PushSubscriptionSetResponse
	require.NoError(t, cl.Call(context.Background(), adminapi.MethodPushSubscriptionSet, map[string]any{"update": map[string]any{
		id: map[string]any{"url": r.url("elsewhere")}, "nope": map[string]any{"types": nil}}}, &res))
	require.Equal(t, []string{"url"}, res.NotUpdated[id].Properties)
	require.Equal(t, "notFound", res.NotUpdated["nope"].Type)

	// An admin reaches an account only by naming it.
	var me *jmap.MethodError
	require.ErrorAs(t, n.admin.Call(context.Background(), adminapi.MethodPushSubscriptionGet, map[string]any{}, nil), &me)
	require.Equal(t, "invalidArguments", me.Type)
	require.ErrorAs(t, n.admin.Call(context.Background(), adminapi.MethodPushSubscriptionGet, map[string]any{"accountId": "nobody"}, nil), &me)
	require.Equal(t, "accountNotFound", me.Type)

	// And it can destroy.
	require.NoError(t, cl.Call(context.Background(), adminapi.MethodPushSubscriptionSet, map[string]any{"destroy": []string{id, "nope"}}, &res))
	require.Equal(t, []string{id}, res.Destroyed)
	require.Equal(t, "notFound", res.NotDestroyed["nope"].Type)
}

func basicAuth(user, secret string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, secret)
	return r.Header.Get("Authorization")
}

// A DISPLAY alarm becomes a CalendarAlert pushed to the account's
// subscriptions, once, with the event's and the alarm's ids.
func TestAlarmNotificationPushesCalendarAlert(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	cfg := jetmailtest.Config(t, "1", func(c *config.Config) {
		c.API.Users = map[string]config.APIUser{"admin": {Secret: adminSecret, Permissions: []string{"admin"}}}
		c.Task.Periodic = map[string]config.Periodic{}
	})
	sc := store.NewComponent(store.Params{})
	q := mailqueue.New(mailqueue.Params{})
	nd := jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, sc, q, calendar.New(cfg, sc, calendar.Params{Queue: q}), push.New(cfg, sc, push.Params{}))
	st := sc.Store()
	ctx := context.Background()
	require.NoError(t, st.CreateDomain(ctx, store.Domain{Name: "example.org"}))
	alice, cl := account(t, st, nd.HTTPURL()+"/jmap", "alice")
	r := newReceiver(t)
	subscribe(t, cl, r, "alice", []string{"CalendarEvent"})

	start := time.Now().Add(5*time.Minute + 2*time.Second)
	ev, err := store.ParseCalendarEvent(strings.ReplaceAll(fmt.Sprintf(`BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//jetmail test//EN
BEGIN:VEVENT
UID:standup@example.org
DTSTAMP:20260101T000000Z
DTSTART:%s
DURATION:PT15M
SUMMARY:Standup
BEGIN:VALARM
UID:alarm-1
ACTION:DISPLAY
DESCRIPTION:Standup soon
TRIGGER:-PT5M
END:VALARM
END:VEVENT
END:VCALENDAR
`, start.UTC().Format("20060102T150405Z")), "\n", "\r\n"))
	require.NoError(t, err)
	d := &store.Document{Account: alice.ID, Type: store.CalendarType}
	require.NoError(t, d.Encode(ev))
	require.NoError(t, st.CreateDocument(ctx, d))

	require.Eventually(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.alerts) > 0 }, 20*time.Second, 20*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Len(t, r.alerts, 1)
	a := r.alerts[0]
	require.Equal(t, "CalendarAlert", a["@type"])
	require.Equal(t, alice.ID, a["accountId"])
	require.Equal(t, d.ID, a["calendarEventId"])
	require.Equal(t, "standup@example.org", a["uid"])
	require.Equal(t, "alarm-1", a["alertId"])
}
