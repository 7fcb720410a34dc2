package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jetmail/jetmail/shared/address"
	"github.com/jetmail/jetmail/shared/config"
)

// Seed creates the accounts of smtp.users that the store has not been
// seeded with yet, with their domains, and marks each seeded: the
// configuration seeds the store once, and what is changed in the store
// since stays changed (an account destroyed there is not created again).
// It returns the names of the accounts it created.
func (s *Store) Seed(ctx context.Context, users map[string]config.SMTPUser) ([]string, error) {
	names := make([]string, 0, len(users))
	for n := range users {
		names = append(names, n)
	}
	sort.Strings(names)
	var created []string
	for _, name := range names {
		u := users[name]
		if done, err := s.Seeded(ctx, name); err != nil || done {
			if err != nil {
				return created, err
			}
			continue
		}
		if _, err := s.AccountByName(ctx, name); err == nil {
			if err := s.markSeeded(ctx, name); err != nil {
				return created, err
			}
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
		if err := s.markSeeded(ctx, name); err != nil {
			return created, err
		}
		created = append(created, name)
	}
	return created, nil
}

func seededKey(name string) string {
	return "seeded." + hex.EncodeToString([]byte(strings.ToLower(name)))
}

// Seeded reports whether smtp.users.<name> has seeded the store. Until it
// has, the intake may take the configuration's word for that account.
func (s *Store) Seeded(ctx context.Context, name string) (bool, error) {
	_, err := s.dir.Get(ctx, seededKey(name))
	if errors.Is(kvErr(err), ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (s *Store) markSeeded(ctx context.Context, name string) error {
	if _, err := s.dir.Put(ctx, seededKey(name), []byte(s.p.Clock.Now().UTC().Format(time.RFC3339))); err != nil {
		return fmt.Errorf("mark smtp.users.%s seeded: %w", name, err)
	}
	return nil
}
