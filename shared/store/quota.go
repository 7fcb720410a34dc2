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

// keyLocks serialise a process's compare-and-set writes of one key (an
// account's or tenant's charge, a mailbox's UID counter): the
// compare-and-set stays what keeps the count exact across nodes, but many
// deliveries to one account at once on one node would otherwise spend
// their retries on each other's writes.
type keyLocks [64]sync.Mutex

func (l *keyLocks) of(id string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return &l[h.Sum32()%uint32(len(l))]
}

// idLocks serialise a process's work on one exact id (unlike keyLocks,
// ids that share a stripe do not wait for each other): the deliveries of
// one message to several addresses of an account store it once, the
// others finding it stored, instead of each parsing it and taking a UID
// only to lose the race to create it.
type idLocks struct {
	mu sync.Mutex
	m  map[string]*idLock
}

type idLock struct {
	sync.Mutex
	waiters int
}

// lock takes id's lock and returns its release.
func (l *idLocks) lock(id string) func() {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*idLock{}
	}
	e := l.m[id]
	if e == nil {
		e = &idLock{}
		l.m[id] = e
	}
	e.waiters++
	l.mu.Unlock()
	e.Lock()
	return func() {
		e.Unlock()
		l.mu.Lock()
		if e.waiters--; e.waiters == 0 {
			delete(l.m, id)
		}
		l.mu.Unlock()
	}
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

// recalcRounds bounds the scans of one quota recalculation.
const recalcRounds = 5

// RecalculateQuota sets the account's used bytes to the sum of its
// documents' sizes, repairing a count that drifted (a crash between a
// charge and its document's write, a charge given back twice). It returns
// the count before and after. Charges go on meanwhile: a document is
// charged before it is written, so the documents are summed twice, and
// the count set (by compare-and-set) only when neither the sum nor the
// count moved in between; else it scans again, up to recalcRounds times,
// and says ErrConflict for an account too busy to settle. The tenant's
// count is the tenant's own recalculation (RecalculateTenantQuota).
func (s *Store) RecalculateQuota(ctx context.Context, accountID string) (before, after int64, err error) {
	if err := s.full(); err != nil {
		return 0, 0, err
	}
	mu := s.accountCharges.of(accountID)
	for range recalcRounds {
		a, err := s.Account(ctx, accountID)
		if err != nil {
			return 0, 0, err
		}
		first, err := s.documentBytes(ctx, accountID)
		if err != nil {
			return 0, 0, err
		}
		second, err := s.documentBytes(ctx, accountID)
		if err != nil {
			return 0, 0, err
		}
		if first != second {
			continue // a document came or went while summing
		}
		mu.Lock()
		if a.Used == second {
			mu.Unlock()
			return a.Used, a.Used, nil
		}
		old := a.Used
		a.Used = second
		_, err = s.putAccount(ctx, a) // conflicts with any charge since the account was read
		mu.Unlock()
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return 0, 0, err
		}
		s.log.Info("account quota recalculated", "account", a.Name, "used_before", old, "used", second)
		return old, second, nil
	}
	return 0, 0, fmt.Errorf("recalculate the quota of account %s: %w: it kept changing; try again when it is quieter", accountID, ErrConflict)
}

// documentBytes sums the sizes of the account's documents of every type.
func (s *Store) documentBytes(ctx context.Context, accountID string) (int64, error) {
	var sum int64
	for _, t := range Types {
		if err := s.Documents(ctx, accountID, t, func(d *Document) bool { sum += d.Size; return true }); err != nil {
			return 0, fmt.Errorf("sum the documents of account %s: %w", accountID, err)
		}
	}
	return sum, nil
}

// RecalculateTenantQuota sets the tenant's used bytes to the sum of its
// active accounts' (as they count them: recalculate those first to repair
// both), under the same rule as RecalculateQuota, and returns the count
// before and after.
func (s *Store) RecalculateTenantQuota(ctx context.Context, tenantID string) (before, after int64, err error) {
	got, err := s.recalculateTenants(ctx, []string{tenantID})
	if err != nil {
		return 0, 0, err
	}
	return got[tenantID][0], got[tenantID][1], nil
}

// RecalculateTenantQuotas recalculates every tenant as
// RecalculateTenantQuota does, summing the accounts once per round for
// all of them, and returns each tenant's count before and after.
func (s *Store) RecalculateTenantQuotas(ctx context.Context) (map[string][2]int64, error) {
	tenants, err := s.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(tenants))
	for i, t := range tenants {
		ids[i] = t.ID
	}
	return s.recalculateTenants(ctx, ids)
}

// tenantBytes sums the used bytes of the active accounts of each tenant.
func (s *Store) tenantBytes(ctx context.Context) (map[string]int64, error) {
	accounts, err := s.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	sums := map[string]int64{}
	for _, a := range accounts {
		if a.Tenant != "" && a.State == Active {
			sums[a.Tenant] += a.Used
		}
	}
	return sums, nil
}

func (s *Store) recalculateTenants(ctx context.Context, ids []string) (map[string][2]int64, error) {
	if err := s.full(); err != nil {
		return nil, err
	}
	out := map[string][2]int64{}
	left := ids
	for range recalcRounds {
		if len(left) == 0 {
			return out, nil
		}
		type read struct {
			t   Tenant
			rev uint64
		}
		reads := make(map[string]read, len(left))
		for _, id := range left {
			var t Tenant
			rev, err := s.getJSON(ctx, s.dir, tenantKey(id), &t)
			if err != nil {
				return nil, fmt.Errorf("tenant %s: %w", id, err)
			}
			reads[id] = read{t, rev}
		}
		first, err := s.tenantBytes(ctx)
		if err != nil {
			return nil, err
		}
		second, err := s.tenantBytes(ctx)
		if err != nil {
			return nil, err
		}
		var again []string
		for _, id := range left {
			r, sum := reads[id], second[id]
			if first[id] != sum {
				again = append(again, id) // an account's count moved while summing
				continue
			}
			if r.t.Used == sum {
				out[id] = [2]int64{sum, sum}
				continue
			}
			t := r.t
			t.Used = sum
			b, _ := json.Marshal(t)
			mu := s.tenantCharges.of(id)
			mu.Lock()
			_, err := s.dir.Update(ctx, tenantKey(id), b, r.rev)
			mu.Unlock()
			if errors.Is(casErr(err), ErrConflict) {
				again = append(again, id)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("write tenant %s: %w", t.Name, casErr(err))
			}
			s.log.Info("tenant quota recalculated", "tenant", t.Name, "used_before", r.t.Used, "used", sum)
			out[id] = [2]int64{r.t.Used, sum}
		}
		left = again
	}
	if len(left) > 0 {
		return out, fmt.Errorf("recalculate the quota of tenants %v: %w: they kept changing; try again when it is quieter", left, ErrConflict)
	}
	return out, nil
}
