package store

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/jetmail/jetmail/shared/address"
	"github.com/jetmail/jetmail/shared/kvwatch"
)

// AccountType says whether an account is a person's or a group's.
type AccountType string

// Account types.
const (
	Individual AccountType = "individual"
	Group      AccountType = "group"
)

// AccountState is an account's life.
type AccountState string

// Account states.
const (
	Active  AccountState = "active"
	Deleted AccountState = "deleted"
)

// Tenant groups domains and accounts under one quota.
type Tenant struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Quota is in bytes; 0 for none.
	Quota int64 `json:"quota"`
	// Used is the bytes its accounts use.
	Used    int64     `json:"used"`
	Created time.Time `json:"created"`
}

// Domain is a mail domain the store holds accounts of.
type Domain struct {
	// Name is the domain, lower case.
	Name string `json:"name"`
	// Tenant is the owning tenant's id, if any.
	Tenant  string    `json:"tenant,omitempty"`
	Created time.Time `json:"created"`
}

// Account is a user's or a group's: its mail and documents, its quota,
// the secrets it authenticates with.
type Account struct {
	ID string `json:"id"`
	// Name is the login name, unique in the store.
	Name string      `json:"name"`
	Type AccountType `json:"type"`
	// Domain is the account's domain, lower case.
	Domain string `json:"domain"`
	// Tenant is the tenant's id, if any.
	Tenant string `json:"tenant,omitempty"`
	// Addresses receive mail for the account, lower case; the first is the
	// primary one. Each belongs to one account only.
	Addresses []string `json:"addresses"`
	// Quota is in bytes; 0 for none.
	Quota int64 `json:"quota"`
	// Used is the bytes its documents take.
	Used int64 `json:"used"`
	// SecretHashes are bcrypt hashes of the secrets it authenticates with
	// (SMTP AUTH, the API); the secrets themselves are not kept.
	SecretHashes []string     `json:"secretHashes,omitempty"`
	State        AccountState `json:"state"`
	Created      time.Time    `json:"created"`
	// Deleted and ArchivedUntil are set once destroyed: it is kept until
	// then for a restore.
	Deleted       time.Time `json:"deleted,omitzero"`
	ArchivedUntil time.Time `json:"archivedUntil,omitzero"`

	rev uint64
}

// Revision is the directory revision the account was read at.
func (a *Account) Revision() uint64 { return a.rev }

// CheckSecret reports whether secret is one of the account's.
func (a *Account) CheckSecret(secret string) bool {
	ok := false
	for _, h := range a.SecretHashes {
		// Compare every hash, whatever matched, so that timing says nothing.
		if bcrypt.CompareHashAndPassword([]byte(h), []byte(secret)) == nil {
			ok = true
		}
	}
	return ok
}

// SetSecrets replaces the account's secrets with these (hashed).
func (a *Account) SetSecrets(secrets ...string) error {
	a.SecretHashes = nil
	for _, s := range secrets {
		h, err := bcrypt.GenerateFromPassword([]byte(s), bcrypt.DefaultCost)
		if err != nil {
			return fmt.Errorf("hash a secret: %w", err)
		}
		a.SecretHashes = append(a.SecretHashes, string(h))
	}
	return nil
}

func tenantKey(id string) string   { return "tenant." + id }
func domainKey(name string) string { return "domain." + name }
func accountKey(id string) string  { return "account." + id }
func loginKey(name string) string {
	return "login." + hex.EncodeToString([]byte(strings.ToLower(name)))
}
func addressKey(a string) string { return "address." + hex.EncodeToString([]byte(strings.ToLower(a))) }

// NewID is a new document, account or tenant id: 22 characters, safe in
// KV keys and subjects.
func NewID() string { return nuid.Next() }

// validID reports whether id may be used as a key token.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (s *Store) getJSON(ctx context.Context, kv jetstream.KeyValue, key string, out any) (uint64, error) {
	e, err := kv.Get(ctx, key)
	if err != nil {
		return 0, kvErr(err)
	}
	if err := json.Unmarshal(e.Value(), out); err != nil {
		return 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return e.Revision(), nil
}

// CreateTenant stores a new tenant and returns its id.
func (s *Store) CreateTenant(ctx context.Context, t Tenant) (string, error) {
	if strings.TrimSpace(t.Name) == "" {
		return "", fmt.Errorf("%w: a tenant needs a name", ErrInvalid)
	}
	if t.Quota < 0 {
		return "", fmt.Errorf("%w: quota %d is negative", ErrInvalid, t.Quota)
	}
	t.ID, t.Used, t.Created = NewID(), 0, s.p.Clock.Now().UTC()
	b, _ := json.Marshal(t)
	if _, err := s.dir.Create(ctx, tenantKey(t.ID), b); err != nil {
		return "", fmt.Errorf("create tenant %s: %w", t.Name, kvErr(err))
	}
	return t.ID, nil
}

// Tenant reads a tenant.
func (s *Store) Tenant(ctx context.Context, id string) (*Tenant, error) {
	var t Tenant
	if _, err := s.getJSON(ctx, s.dir, tenantKey(id), &t); err != nil {
		return nil, fmt.Errorf("tenant %s: %w", id, err)
	}
	return &t, nil
}

// CreateDomain stores a new domain.
func (s *Store) CreateDomain(ctx context.Context, d Domain) error {
	d.Name = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d.Name), "."))
	if !address.ValidDomain(d.Name) {
		return fmt.Errorf("%w: %q is not a domain name", ErrInvalid, d.Name)
	}
	if d.Tenant != "" {
		if _, err := s.Tenant(ctx, d.Tenant); err != nil {
			return err
		}
	}
	d.Created = s.p.Clock.Now().UTC()
	b, _ := json.Marshal(d)
	if _, err := s.dir.Create(ctx, domainKey(d.Name), b); err != nil {
		return fmt.Errorf("create domain %s: %w", d.Name, kvErr(err))
	}
	return nil
}

// Domain reads a domain.
func (s *Store) Domain(ctx context.Context, name string) (*Domain, error) {
	var d Domain
	if _, err := s.getJSON(ctx, s.dir, domainKey(strings.ToLower(name)), &d); err != nil {
		return nil, fmt.Errorf("domain %s: %w", name, err)
	}
	return &d, nil
}

// Domains lists the domains, sorted by name.
func (s *Store) Domains(ctx context.Context) ([]Domain, error) {
	var out []Domain
	err := s.scan(ctx, s.dir, "domain.>", func(_ string, _ uint64, v []byte) error {
		var d Domain
		if err := json.Unmarshal(v, &d); err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// CreateAccount stores a new account with the given secrets (hashed) and
// returns it. Its name and addresses must be free; its domain, and tenant
// if any, must exist. Every account gets the standard mailboxes.
func (s *Store) CreateAccount(ctx context.Context, a Account, secrets ...string) (*Account, error) {
	a.Name = strings.TrimSpace(a.Name)
	if a.Name == "" {
		return nil, fmt.Errorf("%w: an account needs a name", ErrInvalid)
	}
	if a.Type == "" {
		a.Type = Individual
	}
	if a.Type != Individual && a.Type != Group {
		return nil, fmt.Errorf("%w: type %q is not individual or group", ErrInvalid, a.Type)
	}
	if a.Quota < 0 {
		return nil, fmt.Errorf("%w: quota %d is negative", ErrInvalid, a.Quota)
	}
	a.Domain = strings.ToLower(a.Domain)
	dom, err := s.Domain(ctx, a.Domain)
	if err != nil {
		return nil, err
	}
	if a.Tenant == "" {
		a.Tenant = dom.Tenant
	}
	for i, addr := range a.Addresses {
		p, err := address.Parse(addr)
		if err != nil {
			return nil, fmt.Errorf("%w: address %q: %v", ErrInvalid, addr, err)
		}
		a.Addresses[i] = strings.ToLower(p.String())
	}
	if err := a.SetSecrets(secrets...); err != nil {
		return nil, err
	}
	a.ID, a.Used, a.State, a.Created = NewID(), 0, Active, s.p.Clock.Now().UTC()
	claimed := []string{}
	undo := func() {
		for _, k := range claimed {
			_ = s.dir.Delete(context.WithoutCancel(ctx), k)
		}
	}
	for _, k := range append([]string{loginKey(a.Name)}, mapKeys(a.Addresses, addressKey)...) {
		if err := s.claim(ctx, k, a.ID); err != nil {
			undo()
			return nil, fmt.Errorf("create account %s: %w", a.Name, err)
		}
		claimed = append(claimed, k)
	}
	b, _ := json.Marshal(a)
	rev, err := s.dir.Create(ctx, accountKey(a.ID), b)
	if err != nil {
		undo()
		return nil, fmt.Errorf("create account %s: %w", a.Name, kvErr(err))
	}
	a.rev = rev
	if s.full() == nil {
		if err := s.createMailboxes(ctx, a.ID); err != nil {
			return nil, err
		}
	}
	return &a, nil
}

func mapKeys(in []string, f func(string) string) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// claim makes index key k point to account id: it must be free, or point
// to an account that does not exist or is deleted (left by a crash or a
// destroy).
func (s *Store) claim(ctx context.Context, k, id string) error {
	_, err := s.dir.Create(ctx, k, []byte(id))
	if err == nil || !errors.Is(err, jetstream.ErrKeyExists) {
		return kvErr(err)
	}
	e, err := s.dir.Get(ctx, k)
	if err != nil {
		return kvErr(err)
	}
	if other, err := s.Account(ctx, string(e.Value())); err == nil && other.State == Active {
		return fmt.Errorf("%s: %w (account %s)", indexName(k), ErrExists, other.Name)
	}
	_, err = s.dir.Update(ctx, k, []byte(id), e.Revision())
	if errors.Is(casErr(err), ErrConflict) {
		return fmt.Errorf("%s: %w (claimed meanwhile)", indexName(k), ErrExists)
	}
	return kvErr(err)
}

// indexName says what an index key is of, for errors.
func indexName(k string) string {
	kind, h, _ := strings.Cut(k, ".")
	b, _ := hex.DecodeString(h)
	return fmt.Sprintf("%s %q", kind, b)
}

// Account reads an account by id.
func (s *Store) Account(ctx context.Context, id string) (*Account, error) {
	if !validID(id) {
		return nil, fmt.Errorf("account %q: %w", id, ErrNotFound)
	}
	var a Account
	rev, err := s.getJSON(ctx, s.dir, accountKey(id), &a)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", id, err)
	}
	a.rev = rev
	return &a, nil
}

// AccountByName reads the active account with login name name.
func (s *Store) AccountByName(ctx context.Context, name string) (*Account, error) {
	return s.byIndex(ctx, loginKey(name), func(a *Account) bool { return strings.EqualFold(a.Name, name) })
}

// AccountByAddress reads the active account that receives mail for addr.
func (s *Store) AccountByAddress(ctx context.Context, addr string) (*Account, error) {
	addr = strings.ToLower(addr)
	return s.byIndex(ctx, addressKey(addr), func(a *Account) bool {
		for _, x := range a.Addresses {
			if x == addr {
				return true
			}
		}
		return false
	})
}

// byIndex follows an index key, trusting it only if the account it names
// is active and still has the name or address (ok).
func (s *Store) byIndex(ctx context.Context, k string, ok func(*Account) bool) (*Account, error) {
	e, err := s.dir.Get(ctx, k)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", indexName(k), kvErr(err))
	}
	a, err := s.Account(ctx, string(e.Value()))
	if err != nil || a.State != Active || !ok(a) {
		return nil, fmt.Errorf("%s: %w", indexName(k), ErrNotFound)
	}
	return a, nil
}

// Accounts lists the accounts, active and deleted, sorted by name.
func (s *Store) Accounts(ctx context.Context) ([]*Account, error) {
	var out []*Account
	err := s.EachAccount(ctx, func(a *Account) error { out = append(out, a); return nil })
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// EachAccount calls fn for each account, active and deleted, in no order,
// streaming: it holds one account at a time.
func (s *Store) EachAccount(ctx context.Context, fn func(*Account) error) error {
	return s.scan(ctx, s.dir, "account.>", func(_ string, rev uint64, v []byte) error {
		var a Account
		if err := json.Unmarshal(v, &a); err != nil {
			return err
		}
		a.rev = rev
		return fn(&a)
	})
}

// UpdateAccount applies change to the account and writes it if it has not
// changed since it was read, retrying on a conflict. The id, name, state,
// used bytes and addresses are the store's to change (DestroyAccount,
// Charge); change may set the quota, secrets and type.
func (s *Store) UpdateAccount(ctx context.Context, id string, change func(*Account) error) (*Account, error) {
	for range casRetries {
		a, err := s.Account(ctx, id)
		if err != nil {
			return nil, err
		}
		keep := *a
		if err := change(a); err != nil {
			return nil, err
		}
		if a.Quota < 0 {
			return nil, fmt.Errorf("%w: quota %d is negative", ErrInvalid, a.Quota)
		}
		a.ID, a.Name, a.State, a.Used, a.Addresses, a.Domain, a.Tenant = keep.ID, keep.Name, keep.State, keep.Used, keep.Addresses, keep.Domain, keep.Tenant
		if a.rev, err = s.putAccount(ctx, a); errors.Is(err, ErrConflict) {
			continue
		} else if err != nil {
			return nil, err
		}
		return a, nil
	}
	return nil, fmt.Errorf("update account %s: %w", id, ErrConflict)
}

func (s *Store) putAccount(ctx context.Context, a *Account) (uint64, error) {
	b, _ := json.Marshal(a)
	rev, err := s.dir.Update(ctx, accountKey(a.ID), b, a.rev)
	if err != nil {
		return 0, fmt.Errorf("write account %s: %w", a.Name, casErr(err))
	}
	return rev, nil
}

// DestroyAccount marks the account deleted, frees its login and addresses,
// and keeps its documents until ArchiveRetention has passed.
func (s *Store) DestroyAccount(ctx context.Context, id string) error {
	for range casRetries {
		a, err := s.Account(ctx, id)
		if err != nil {
			return err
		}
		if a.State == Deleted {
			return nil
		}
		now := s.p.Clock.Now().UTC()
		a.State, a.Deleted, a.ArchivedUntil = Deleted, now, now.Add(s.p.ArchiveRetention)
		if _, err := s.putAccount(ctx, a); errors.Is(err, ErrConflict) {
			continue
		} else if err != nil {
			return err
		}
		for _, k := range append([]string{loginKey(a.Name)}, mapKeys(a.Addresses, addressKey)...) {
			if e, err := s.dir.Get(ctx, k); err == nil && string(e.Value()) == id {
				_ = s.dir.Delete(ctx, k, jetstream.LastRevision(e.Revision()))
			}
		}
		return nil
	}
	return fmt.Errorf("destroy account %s: %w", id, ErrConflict)
}

// RestoreAccount brings a destroyed account back, before its
// archivedUntil (ErrExpired after): its name and addresses are claimed
// again (ErrExists when another account has taken one meanwhile), then it
// is active again. Its secrets stay dropped, so an administrator gives it
// a new one. An active account is left as it is.
func (s *Store) RestoreAccount(ctx context.Context, id string) (*Account, error) {
	a, err := s.Account(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.State == Active {
		return a, nil
	}
	if !a.ArchivedUntil.After(s.p.Clock.Now()) {
		return nil, fmt.Errorf("restore account %s: %w: archived until %s", a.Name, ErrExpired, a.ArchivedUntil.Format(time.RFC3339))
	}
	// The index keys first: a crash after them leaves keys pointing to a
	// destroyed account, which the next claimant takes over.
	for _, k := range append([]string{loginKey(a.Name)}, mapKeys(a.Addresses, addressKey)...) {
		if err := s.claim(ctx, k, a.ID); err != nil {
			return nil, fmt.Errorf("restore account %s: %w", a.Name, err)
		}
	}
	for range casRetries {
		a.State, a.Deleted, a.ArchivedUntil = Active, time.Time{}, time.Time{}
		rev, err := s.putAccount(ctx, a)
		if errors.Is(err, ErrConflict) {
			if a, err = s.Account(ctx, id); err != nil {
				return nil, err
			}
			continue
		} else if err != nil {
			return nil, fmt.Errorf("restore account %s: %w", a.Name, err)
		}
		a.rev = rev
		return a, nil
	}
	return nil, fmt.Errorf("restore account %s: %w", id, ErrConflict)
}

// scan calls fn for every key of kv matching filter (a subject filter
// below the bucket, such as "account.>"), streaming.
func (s *Store) scan(ctx context.Context, kv jetstream.KeyValue, filter string, fn func(key string, rev uint64, value []byte) error) error {
	return s.scanFiltered(ctx, kv, []string{filter}, fn)
}

// scanFiltered is scan over several filters (kvwatch.Scan: a key
// rewritten during the listing is not missed, such as an account a
// delivery charged while the accounts were listed).
func (s *Store) scanFiltered(ctx context.Context, kv jetstream.KeyValue, filters []string, fn func(key string, rev uint64, value []byte) error) error {
	return kvwatch.Scan(ctx, kv, filters, func(e jetstream.KeyValueEntry) error { return fn(e.Key(), e.Revision(), e.Value()) })
}
