package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/store"
)

// A tenant is renamed and given a quota by compare-and-set, keeping the
// bytes its accounts use; it is destroyed only once nothing belongs to it.
func TestTenants(t *testing.T) {
	t.Parallel()
	s, _ := open(t)
	ctx := context.Background()
	id, err := s.CreateTenant(ctx, store.Tenant{Name: "Acme"})
	require.NoError(t, err)
	other, err := s.CreateTenant(ctx, store.Tenant{Name: "Beta"})
	require.NoError(t, err)
	require.NoError(t, s.CreateDomain(ctx, store.Domain{Name: "acme.test", Tenant: id}))
	a, err := s.CreateAccount(ctx, store.Account{Name: "wile", Domain: "acme.test"})
	require.NoError(t, err)
	require.NoError(t, s.Charge(ctx, a.ID, 100))

	got, err := s.UpdateTenant(ctx, id, func(t *store.Tenant) error { t.Name, t.Quota, t.Used = "Acme Inc", 5000, 0; return nil })
	require.NoError(t, err)
	require.Equal(t, "Acme Inc", got.Name)
	require.EqualValues(t, 5000, got.Quota)
	require.EqualValues(t, 100, got.Used, "used bytes are the store's")
	_, err = s.UpdateTenant(ctx, id, func(t *store.Tenant) error { t.Quota = -1; return nil })
	require.ErrorIs(t, err, store.ErrInvalid)
	_, err = s.UpdateTenant(ctx, "nosuch", func(*store.Tenant) error { return nil })
	require.ErrorIs(t, err, store.ErrNotFound)

	all, err := s.Tenants(ctx)
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, "Acme Inc", all[0].Name)

	err = s.DestroyTenant(ctx, id)
	require.ErrorIs(t, err, store.ErrInUse)
	require.ErrorContains(t, err, "domain acme.test")
	require.NoError(t, s.DestroyTenant(ctx, other))
	_, err = s.Tenant(ctx, other)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, s.DestroyTenant(ctx, other), store.ErrNotFound)
}
