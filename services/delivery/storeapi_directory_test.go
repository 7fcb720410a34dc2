package delivery_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jmap"
)

// Tenants are made, listed, changed and destroyed by the admin, never by
// an account; a tenant with domains stays. x:Domain/query finds a
// tenant's domains.
func TestTenantAPI(t *testing.T) {
	t.Parallel()
	a := startStoreAPI(t)
	_, annSelf := a.account("ann", 0)

	r := call[adminapi.TenantSetResponse](t, a.admin, adminapi.MethodTenantSet, map[string]any{"create": map[string]any{
		"acme":  map[string]any{"name": "Acme", "quota": 1 << 30},
		"beta":  map[string]any{"name": "Beta"},
		"blank": map[string]any{"name": " "},
		"neg":   map[string]any{"name": "x", "quota": -1},
		"type":  map[string]any{"name": "x", "quota": "lots"},
		"odd":   map[string]any{"name": "x", "used": 5},
	}})
	acme, beta := r.Created["acme"].ID, r.Created["beta"].ID
	require.NotEmpty(t, acme)
	for cid, prop := range map[string]string{"blank": "name", "neg": "quota", "type": "quota", "odd": "used"} {
		require.Equal(t, "invalidProperties", r.NotCreated[cid].Type, cid)
		require.Equal(t, []string{prop}, r.NotCreated[cid].Properties, cid)
	}

	g := call[adminapi.TenantGetResponse](t, a.admin, adminapi.MethodTenantGet, map[string]any{"ids": []string{acme, "nosuch"}})
	require.Equal(t, "Acme", g.List[0].Name)
	require.EqualValues(t, 1<<30, g.List[0].Quota)
	require.Equal(t, []string{"nosuch"}, g.NotFound)
	g = call[adminapi.TenantGetResponse](t, a.admin, adminapi.MethodTenantGet, map[string]any{})
	require.Len(t, g.List, 2)

	for _, tc := range []struct {
		name string
		args map[string]any
		ids  []string
	}{
		{"all, by name", map[string]any{}, []string{acme, beta}},
		{"descending", map[string]any{"sort": []map[string]any{{"property": "name", "isAscending": false}}}, []string{beta, acme}},
		{"name part", map[string]any{"filter": map[string]any{"name": "CM"}}, []string{acme}},
		{"page", map[string]any{"position": 1, "limit": 1}, []string{beta}},
	} {
		q := call[jmap.QueryResponse](t, a.admin, adminapi.MethodTenantQuery, tc.args)
		require.Equal(t, tc.ids, q.IDs, tc.name)
	}
	require.Equal(t, "unsupportedSort", methodErr(t, a.admin, adminapi.MethodTenantQuery, map[string]any{"sort": []map[string]any{{"property": "quota"}}}))

	var dom adminapi.DomainSetResponse
	require.NoError(t, a.admin.Call(t.Context(), adminapi.MethodDomainSet, map[string]any{"create": map[string]any{
		"a": map[string]any{"name": "acme.test", "tenant": acme}, "b": map[string]any{"name": "acme-labs.test", "tenant": acme}}}, &dom))
	require.Len(t, dom.Created, 2)
	q := call[jmap.QueryResponse](t, a.admin, adminapi.MethodDomainQuery, map[string]any{"filter": map[string]any{"tenant": acme}})
	require.Equal(t, []string{"acme-labs.test", "acme.test"}, q.IDs)
	q = call[jmap.QueryResponse](t, a.admin, adminapi.MethodDomainQuery, map[string]any{"filter": map[string]any{"name": "SHOP"}})
	require.Equal(t, []string{"shop.test"}, q.IDs)
	require.Equal(t, "invalidArguments", methodErr(t, a.admin, adminapi.MethodDomainQuery, map[string]any{"filter": map[string]any{"owner": "x"}}))

	u := call[adminapi.TenantSetResponse](t, a.admin, adminapi.MethodTenantSet, map[string]any{"update": map[string]any{
		acme: map[string]any{"quota": 2048}, beta: map[string]any{"name": ""}, "nosuch": map[string]any{"quota": 1},
	}, "destroy": []string{acme, beta}})
	require.Contains(t, u.Updated, acme)
	require.Equal(t, []string{"name"}, u.NotUpdated[beta].Properties)
	require.Equal(t, "notFound", u.NotUpdated["nosuch"].Type)
	require.Equal(t, "tenantInUse", u.NotDestroyed[acme].Type)
	require.Contains(t, u.NotDestroyed[acme].Description, "domain acme.test")
	require.Equal(t, []string{beta}, u.Destroyed)
	g = call[adminapi.TenantGetResponse](t, a.admin, adminapi.MethodTenantGet, map[string]any{"ids": []string{acme}})
	require.EqualValues(t, 2048, g.List[0].Quota)

	// An account reaches no tenant.
	require.Equal(t, "forbidden", methodErr(t, annSelf, adminapi.MethodTenantGet, map[string]any{}))
	s := call[adminapi.TenantSetResponse](t, annSelf, adminapi.MethodTenantSet, map[string]any{"create": map[string]any{"x": map[string]any{"name": "Mine"}}})
	require.Equal(t, "forbidden", s.NotCreated["x"].Type)
	require.Equal(t, "forbidden", methodErr(t, a.reader, adminapi.MethodDomainQuery, map[string]any{}))
}
