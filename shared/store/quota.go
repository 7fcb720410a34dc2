package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
)

// Charge adds delta bytes to the used bytes of the account and of its
// tenant, if any, refusing with ErrOverQuota a positive delta that takes
// either past its quota (0: none). A negative delta releases bytes, never
// below zero. Both counts change by compare-and-set, retried on conflict,
// so concurrent charges stay exact; a tenant refusal gives the account's
// bytes back.
func (s *Store) Charge(ctx context.Context, accountID string, delta int64) error {
	if delta == 0 {
		return nil
	}
	a, err := s.chargeAccount(ctx, accountID, delta)
	if err != nil {
		return err
	}
	if a.Tenant == "" {
		return nil
	}
	if err := s.chargeTenant(ctx, a.Tenant, delta); err != nil {
		if _, uerr := s.chargeAccount(context.WithoutCancel(ctx), accountID, -delta); uerr != nil {
			s.log.Error("give an account's bytes back after a tenant refusal", "account", accountID, "bytes", delta, "err", uerr)
		}
		return err
	}
	return nil
}

// chargeLocks serialise a process's charges of one account (or tenant):
// the compare-and-set stays what keeps the count exact across nodes, but
// many deliveries to one account at once on one node would otherwise
// spend their retries on each other's writes.
type chargeLocks [64]sync.Mutex

func (l *chargeLocks) of(id string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return &l[h.Sum32()%uint32(len(l))]
}

func (s *Store) chargeAccount(ctx context.Context, id string, delta int64) (*Account, error) {
	mu := s.accountCharges.of(id)
	mu.Lock()
	defer mu.Unlock()
	for range casRetries {
		a, err := s.Account(ctx, id)
		if err != nil {
			return nil, err
		}
		used := max(a.Used+delta, 0)
		if delta > 0 && a.Quota > 0 && used > a.Quota {
			return nil, fmt.Errorf("account %s: %w: %d of %d bytes used, %d more asked", a.Name, ErrOverQuota, a.Used, a.Quota, delta)
		}
		a.Used = used
		if _, err := s.putAccount(ctx, a); errors.Is(err, ErrConflict) {
			continue
		} else if err != nil {
			return nil, err
		}
		return a, nil
	}
	return nil, fmt.Errorf("charge account %s: %w", id, ErrConflict)
}

func (s *Store) chargeTenant(ctx context.Context, id string, delta int64) error {
	mu := s.tenantCharges.of(id)
	mu.Lock()
	defer mu.Unlock()
	for range casRetries {
		var t Tenant
		rev, err := s.getJSON(ctx, s.dir, tenantKey(id), &t)
		if err != nil {
			return fmt.Errorf("tenant %s: %w", id, err)
		}
		used := max(t.Used+delta, 0)
		if delta > 0 && t.Quota > 0 && used > t.Quota {
			return fmt.Errorf("tenant %s: %w: %d of %d bytes used, %d more asked", t.Name, ErrOverQuota, t.Used, t.Quota, delta)
		}
		t.Used = used
		b, _ := json.Marshal(t)
		if _, err := s.dir.Update(ctx, tenantKey(id), b, rev); errors.Is(casErr(err), ErrConflict) {
			continue
		} else if err != nil {
			return fmt.Errorf("write tenant %s: %w", t.Name, casErr(err))
		}
		return nil
	}
	return fmt.Errorf("charge tenant %s: %w", id, ErrConflict)
}
