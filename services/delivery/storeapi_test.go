package delivery_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/delivery"
	"github.com/jetmail/jetmail/services/smtp"
	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/mailqueue"
)

func basicAuth(user, secret string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, secret)
	return r.Header.Get("Authorization")
}

// The store's API as an operator and an account use it: accounts and
// domains made and listed by the admin, mail read by the admin and by the
// account itself with its own credentials, which reach nothing else.
func TestStoreAPI(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	cfg := mailNodeConfig(t, "1", "mx.example.org", newSink(t), 2)
	cfg.API.Users = map[string]config.APIUser{"admin": {Secret: "admin-secret-123", Permissions: []string{"admin"}}}
	q := mailqueue.New(mailqueue.Params{})
	in := smtp.New(cfg, q)
	n := jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, q, in, delivery.New(cfg, q))
	url := n.HTTPURL() + "/jmap"
	admin := &jmap.Client{URL: url, Authorization: "Bearer admin-secret-123"}
	ctx := context.Background()

	var dom adminapi.DomainSetResponse
	require.NoError(t, admin.Call(ctx, adminapi.MethodDomainSet, map[string]any{"create": map[string]any{"d": map[string]any{"name": "Shop.Test"}}}, &dom))
	require.Equal(t, "shop.test", dom.Created["d"].ID)

	var set adminapi.AccountSetResponse
	require.NoError(t, admin.Call(ctx, adminapi.MethodAccountSet, map[string]any{"create": map[string]any{
		"f":     map[string]any{"name": "fred", "domain": "shop.test", "addresses": []string{"fred@shop.test"}, "secrets": []string{"fred-secret-123"}},
		"short": map[string]any{"name": "gus", "domain": "shop.test", "secrets": []string{"short"}},
		"odd":   map[string]any{"name": "hal", "domain": "shop.test", "colour": "red"},
		"taken": map[string]any{"name": "alice", "domain": "example.org"},
	}}, &set))
	fred := set.Created["f"].ID
	require.NotEmpty(t, fred)
	require.Equal(t, "invalidProperties", set.NotCreated["short"].Type)
	require.Equal(t, []string{"secrets"}, set.NotCreated["short"].Properties)
	require.Contains(t, set.NotCreated["odd"].Description, `unknown property "colour"`)
	require.Equal(t, "alreadyExists", set.NotCreated["taken"].Type)

	var q1 jmap.QueryResponse
	require.NoError(t, admin.Call(ctx, adminapi.MethodAccountQuery, map[string]any{"filter": map[string]any{"domain": "shop.test"}}, &q1))
	require.Equal(t, []string{fred}, q1.IDs)
	var got adminapi.AccountGetResponse
	require.NoError(t, admin.Call(ctx, adminapi.MethodAccountGet, map[string]any{"ids": []string{fred, "nosuch"}}, &got))
	require.Equal(t, "fred", got.List[0].Name)
	require.Equal(t, []string{"nosuch"}, got.NotFound)

	// Fred, authenticated with his store secret, writes to alice.
	require.NoError(t, jetmailtest.SendMail(in.Addrs()[0], "fred", "fred-secret-123", "fred@shop.test", []string{"alice@example.org"}, msg))
	var alice jmap.QueryResponse
	require.NoError(t, admin.Call(ctx, adminapi.MethodAccountQuery, map[string]any{"filter": map[string]any{"name": "alice"}}, &alice))
	aliceID := alice.IDs[0]
	var emails jmap.QueryResponse
	require.Eventually(t, func() bool {
		return admin.Call(ctx, adminapi.MethodEmailQuery, map[string]any{"accountId": aliceID, "filter": map[string]any{"inMailbox": "inbox"}}, &emails) == nil && emails.Total == 1
	}, 10*time.Second, 50*time.Millisecond)
	var eg adminapi.EmailGetResponse
	require.NoError(t, admin.Call(ctx, adminapi.MethodEmailGet, map[string]any{"accountId": aliceID, "ids": emails.IDs}, &eg))
	require.Equal(t, "hi", eg.List[0].Subject)
	require.Equal(t, "alice@example.org", eg.List[0].From[0].Email)
	rc, err := admin.Download(ctx, aliceID, eg.List[0].BlobID)
	require.NoError(t, err)
	raw, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	require.Contains(t, string(raw), "Subject: hi")

	// Alice with her own credentials: her mail, no accountId needed; not
	// fred's, not the accounts.
	self := &jmap.Client{URL: url, Authorization: basicAuth("alice", "alice-secret")}
	var mine jmap.QueryResponse
	require.NoError(t, self.Call(ctx, adminapi.MethodEmailQuery, map[string]any{}, &mine))
	require.Equal(t, emails.IDs, mine.IDs)
	var boxes adminapi.MailboxGetResponse
	require.NoError(t, admin.Call(ctx, adminapi.MethodMailboxGet, map[string]any{"accountId": fred}, &boxes))
	require.Len(t, boxes.List, 5)

	fredSelf := &jmap.Client{URL: url, Authorization: basicAuth("fred", "fred-secret-123")}
	var fredMail jmap.QueryResponse
	require.NoError(t, fredSelf.Call(ctx, adminapi.MethodEmailQuery, map[string]any{}, &fredMail))
	require.Equal(t, 0, fredMail.Total)
	var me *jmap.MethodError
	require.ErrorAs(t, fredSelf.Call(ctx, adminapi.MethodEmailQuery, map[string]any{"accountId": aliceID}, nil), &me)
	require.Equal(t, "forbidden", me.Type)
	require.ErrorAs(t, fredSelf.Call(ctx, adminapi.MethodAccountGet, map[string]any{}, nil), &me)
	require.Equal(t, "forbidden", me.Type)
	// Fred may not download alice's message, though he may guess its name.
	var p *jmap.Problem
	_, err = fredSelf.Download(ctx, aliceID, eg.List[0].BlobID)
	require.ErrorAs(t, err, &p)
	require.Equal(t, 403, p.Status)
	_, err = fredSelf.Download(ctx, fred, eg.List[0].BlobID)
	require.ErrorAs(t, err, &p)
	require.Equal(t, 404, p.Status, "not a blob of his")
	require.ErrorAs(t, (&jmap.Client{URL: url, Authorization: basicAuth("fred", "wrong-secret-1")}).Call(ctx, adminapi.MethodEmailQuery, map[string]any{}, nil), &p)
	require.Equal(t, 401, p.Status)
}
