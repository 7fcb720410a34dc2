package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Tenants lists the tenants, sorted by name.
func (s *Store) Tenants(ctx context.Context) ([]Tenant, error) {
	var out []Tenant
	err := s.scan(ctx, s.dir, "tenant.>", func(_ string, _ uint64, v []byte) error {
		var t Tenant
		if err := json.Unmarshal(v, &t); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// UpdateTenant applies change to the tenant and writes it if it has not
// changed since it was read, retrying on a conflict (a concurrent Charge).
// change may set the name and the quota; the id, used bytes and creation
// time are the store's.
func (s *Store) UpdateTenant(ctx context.Context, id string, change func(*Tenant) error) (*Tenant, error) {
	if !validID(id) {
		return nil, fmt.Errorf("tenant %q: %w", id, ErrNotFound)
	}
	for range casRetries {
		var t Tenant
		rev, err := s.getJSON(ctx, s.dir, tenantKey(id), &t)
		if err != nil {
			return nil, fmt.Errorf("tenant %s: %w", id, err)
		}
		keep := t
		if err := change(&t); err != nil {
			return nil, err
		}
		t.Name = strings.TrimSpace(t.Name)
		if t.Name == "" {
			return nil, fmt.Errorf("%w: a tenant needs a name", ErrInvalid)
		}
		if t.Quota < 0 {
			return nil, fmt.Errorf("%w: quota %d is negative", ErrInvalid, t.Quota)
		}
		t.ID, t.Used, t.Created = keep.ID, keep.Used, keep.Created
		b, _ := json.Marshal(t)
		if _, err := s.dir.Update(ctx, tenantKey(id), b, rev); errors.Is(casErr(err), ErrConflict) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("write tenant %s: %w", t.Name, casErr(err))
		}
		return &t, nil
	}
	return nil, fmt.Errorf("update tenant %s: %w", id, ErrConflict)
}

// DestroyTenant removes a tenant that no domain and no active account
// belongs to (ErrInUse otherwise: move or destroy them first).
func (s *Store) DestroyTenant(ctx context.Context, id string) error {
	if !validID(id) {
		return fmt.Errorf("tenant %q: %w", id, ErrNotFound)
	}
	e, err := s.dir.Get(ctx, tenantKey(id))
	if err != nil {
		return fmt.Errorf("tenant %s: %w", id, kvErr(err))
	}
	domains, err := s.Domains(ctx)
	if err != nil {
		return err
	}
	var users []string
	for _, d := range domains {
		if d.Tenant == id {
			users = append(users, "domain "+d.Name)
		}
	}
	accounts, err := s.Accounts(ctx)
	if err != nil {
		return err
	}
	for _, a := range accounts {
		if a.Tenant == id && a.State == Active {
			users = append(users, "account "+a.Name)
		}
	}
	if len(users) > 0 {
		if len(users) > 5 {
			users = append(users[:5], fmt.Sprintf("and %d more", len(users)-5))
		}
		return fmt.Errorf("tenant %s: %w by %s", id, ErrInUse, strings.Join(users, ", "))
	}
	if err := s.dir.Delete(ctx, tenantKey(id), jetstream.LastRevision(e.Revision())); err != nil {
		return fmt.Errorf("destroy tenant %s: %w", id, casErr(err))
	}
	return nil
}
