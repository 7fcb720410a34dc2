package delivery_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/store"
)

// storeAPI is a node serving the store's API alone, with an admin and an
// API user who may read mail only.
type storeAPI struct {
	t      *testing.T
	url    string
	admin  *jmap.Client
	reader *jmap.Client
}

func startStoreAPI(t *testing.T) *storeAPI {
	t.Helper()
	cfg := jetmailtest.Config(t, "1", func(c *config.Config) {
		c.API.Users = map[string]config.APIUser{
			"admin":  {Secret: "admin-secret-123", Permissions: []string{"admin"}},
			"reader": {Secret: "reader-secret-123", Permissions: []string{store.PermMailGet}},
		}
	})
	n := jetmailtest.Node(t, jetmailtest.Conn(t, jetmailtest.Server(t)), cfg, store.NewComponent(store.Params{}))
	url := n.HTTPURL() + "/jmap"
	return &storeAPI{t: t, url: url,
		admin:  &jmap.Client{URL: url, Authorization: "Bearer admin-secret-123"},
		reader: &jmap.Client{URL: url, Authorization: "Bearer reader-secret-123"}}
}

// account creates an account (and the domain shop.test) and returns its
// id and a client with its own credentials.
func (a *storeAPI) account(name string, quota int64) (string, *jmap.Client) {
	a.t.Helper()
	ctx := context.Background()
	_ = a.admin.Call(ctx, adminapi.MethodDomainSet, map[string]any{"create": map[string]any{"d": map[string]any{"name": "shop.test"}}}, nil)
	var r adminapi.AccountSetResponse
	require.NoError(a.t, a.admin.Call(ctx, adminapi.MethodAccountSet, map[string]any{"create": map[string]any{"a": adminapi.AccountCreate{
		Name: name, Domain: "shop.test", Addresses: []string{name + "@shop.test"}, Quota: quota, Secrets: []string{name + "-secret-123"}}}}, &r))
	require.Empty(a.t, r.NotCreated)
	return r.Created["a"].ID, &jmap.Client{URL: a.url, Authorization: basicAuth(name, name+"-secret-123")}
}

// upload uploads body to the account as cl and returns its blob id.
func (a *storeAPI) upload(cl *jmap.Client, account, typ, body string) string {
	a.t.Helper()
	r, err := cl.Upload(context.Background(), account, typ, strings.NewReader(body))
	require.NoError(a.t, err)
	return r.BlobID
}

// call runs a method as cl with args, decoding into a fresh R.
func call[R any](t *testing.T, cl *jmap.Client, method string, args any) R {
	t.Helper()
	var r R
	require.NoError(t, cl.Call(context.Background(), method, args, &r))
	return r
}

// methodErr runs a method that must fail with a method error, and
// returns its type.
func methodErr(t *testing.T, cl *jmap.Client, method string, args any) string {
	t.Helper()
	var me *jmap.MethodError
	require.ErrorAs(t, cl.Call(context.Background(), method, args, nil), &me)
	return me.Type
}

// raw is v as JSON, for a create or update in a table.
func raw(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}
