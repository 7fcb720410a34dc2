package maintenance

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
)

// destroyAccount runs DestroyAccount: every document of the account is
// destroyed (into the archive, so out of the index through the change
// log, its bytes released), its records of blobs and uploads dropped (the
// blob purge removes what no archived document keeps), its secrets dropped, and the account goes
// to the archive for store.archive.retention, its name and addresses
// free. An account already gone or destroyed is a no-op, so a second
// DestroyAccount succeeds. The account's queued outbound messages (those
// from its addresses) are cancelled, with no bounce: their sender is gone.
func (s *Service) destroyAccount(ctx context.Context, t *task.Task) error {
	p := t.Payload.(*task.DestroyAccountTask)
	var a *store.Account
	var err error
	if p.AccountID != "" {
		a, err = s.st.Account(ctx, p.AccountID)
	} else {
		a, err = s.st.AccountByName(ctx, p.AccountName)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.log.Info("destroy account: no such account, nothing to do", "account", p.AccountName, "domain", p.AccountDomainID)
		return nil
	case err != nil:
		return err
	case a.State != store.Active:
		s.log.Info("destroy account: already destroyed", "account", a.Name)
		return nil
	case !strings.EqualFold(a.Domain, p.AccountDomainID) && !strings.EqualFold(a.Domain, strings.TrimPrefix(p.AccountDomainID, "@")):
		return fmt.Errorf("account %s is in domain %s, not %s", a.Name, a.Domain, p.AccountDomainID)
	}
	n := 0
	for _, typ := range store.Types {
		var ids []string
		if err := s.st.Documents(ctx, a.ID, typ, func(d *store.Document) bool { ids = append(ids, d.ID); return true }); err != nil {
			return err
		}
		for _, id := range ids {
			if err := s.st.DestroyDocument(ctx, a.ID, typ, id); err != nil {
				return fmt.Errorf("destroy account %s: %s %s: %w", a.Name, typ, id, err)
			}
			n++
		}
	}
	refs, err := s.st.DropBlobReferences(ctx, a.ID)
	if err != nil {
		return fmt.Errorf("destroy account %s: %w", a.Name, err)
	}
	if _, err := s.st.UpdateAccount(ctx, a.ID, func(acc *store.Account) error { acc.SecretHashes = nil; return nil }); err != nil {
		return fmt.Errorf("destroy account %s: drop its secrets: %w", a.Name, err)
	}
	if err := s.st.DestroyAccount(ctx, a.ID); err != nil {
		return err
	}
	cancelled, err := s.cancelQueued(ctx, a)
	if err != nil {
		return fmt.Errorf("destroy account %s: %w", a.Name, err)
	}
	s.log.Info("account destroyed", "account", a.Name, "documents", n, "blob_references", refs, "queued_messages_cancelled", cancelled)
	return nil
}

// cancelQueued cancels the queued recipients of the mail the account
// sent (its addresses as the envelope sender), with no bounce. Mail to
// the account still queued finds no account at its next attempt and
// fails 550 5.1.1 to its sender, as for any unknown address.
func (s *Service) cancelQueued(ctx context.Context, a *store.Account) (int, error) {
	if s.p.Queue == nil {
		if len(a.Addresses) > 0 {
			s.log.Warn("destroy account: no queue on this node, the account's queued messages are left to it", "account", a.Name)
		}
		return 0, nil
	}
	n := 0
	for _, addr := range a.Addresses {
		keys, _, err := s.p.Queue.List(ctx, mailqueue.Filter{Sender: addr})
		if err != nil {
			return n, fmt.Errorf("list the queued mail from %s: %w", addr, err)
		}
		for _, k := range keys {
			if err := s.p.Queue.Cancel(ctx, k, false); err != nil && !errors.Is(err, mailqueue.ErrNotFound) {
				return n, fmt.Errorf("cancel queued %s: %w", k, err)
			}
			n++
		}
	}
	return n, nil
}
