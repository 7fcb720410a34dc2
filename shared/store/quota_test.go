package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/store"
)

// A drifted count (bytes charged with no document to show for them) is
// repaired from the documents, for the account and then its tenant, and
// a recalculation racing deliveries ends as the documents say.
func TestRecalculateQuota(t *testing.T) {
	t.Parallel()
	s, _ := open(t)
	ctx := context.Background()
	tid, err := s.CreateTenant(ctx, store.Tenant{Name: "acme"})
	require.NoError(t, err)
	require.NoError(t, s.CreateDomain(ctx, store.Domain{Name: "acme.test", Tenant: tid}))
	a, err := s.CreateAccount(ctx, store.Account{Name: "wile", Domain: "acme.test", Addresses: []string{"wile@acme.test"}})
	require.NoError(t, err)
	var sizes int64
	for i := range 3 {
		d, err := s.StoreEmail(ctx, a.ID, []byte(fmt.Sprintf("Subject: note %d\r\n\r\nbody %d\r\n", i, i)), store.NewEmail{})
		require.NoError(t, err)
		sizes += d.Size
	}
	require.NoError(t, s.Charge(ctx, a.ID, 12345)) // the drift

	before, after, err := s.RecalculateQuota(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, sizes+12345, before)
	require.Equal(t, sizes, after)
	got, err := s.Account(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, sizes, got.Used)

	before, after, err = s.RecalculateTenantQuota(ctx, tid)
	require.NoError(t, err)
	require.Equal(t, sizes+12345, before, "the tenant was charged the drift too")
	require.Equal(t, sizes, after)
	before, after, err = s.RecalculateQuota(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, before, after, "a second run changes nothing")

	// Deliveries during recalculations: the count ends exact.
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 20 {
			d, err := s.StoreEmail(ctx, a.ID, []byte(fmt.Sprintf("Subject: busy %d\r\n\r\nbody\r\n", i)), store.NewEmail{})
			if err != nil {
				t.Error(err)
				return
			}
			sizes += d.Size
		}
	})
	for range 5 {
		if _, _, err := s.RecalculateQuota(ctx, a.ID); err != nil {
			require.ErrorIs(t, err, store.ErrConflict, "busy is the only excuse")
		}
	}
	wg.Wait()
	got, err = s.Account(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, sizes, got.Used)

	_, _, err = s.RecalculateQuota(ctx, "nosuch")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, _, err = s.RecalculateTenantQuota(ctx, "nosuch")
	require.ErrorIs(t, err, store.ErrNotFound)
}
