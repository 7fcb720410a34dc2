package store

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/jetmail/jetmail/shared/address"
	"github.com/jetmail/jetmail/shared/config"
)

// Seed creates the accounts of smtp.users that the store does not have
// yet (by name), with their domains: the configuration seeds the store,
// and changes made in the store since are kept. It returns the names of
// the accounts it created.
func (s *Store) Seed(ctx context.Context, users map[string]config.SMTPUser) ([]string, error) {
	names := make([]string, 0, len(users))
	for n := range users {
		names = append(names, n)
	}
	sort.Strings(names)
	var created []string
	for _, name := range names {
		u := users[name]
		if _, err := s.AccountByName(ctx, name); err == nil {
			continue
		} else if !errors.Is(err, ErrNotFound) {
			return created, err
		}
		domain := ""
		for _, a := range u.Addresses {
			d := address.DomainOf(a)
			if d == "" {
				continue
			}
			if domain == "" {
				domain = d
			}
			if err := s.CreateDomain(ctx, Domain{Name: d}); err != nil && !errors.Is(err, ErrExists) {
				return created, fmt.Errorf("smtp.users.%s: %w", name, err)
			}
		}
		if domain == "" {
			return created, fmt.Errorf("smtp.users.%s: %w: no address to take a domain from", name, ErrInvalid)
		}
		if _, err := s.CreateAccount(ctx, Account{Name: name, Domain: domain, Addresses: append([]string(nil), u.Addresses...)}, u.Secret); err != nil {
			return created, fmt.Errorf("smtp.users.%s: %w", name, err)
		}
		created = append(created, name)
	}
	return created, nil
}
