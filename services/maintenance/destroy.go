package maintenance

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
)

// destroyAccount runs DestroyAccount: every document of the account is
// destroyed (into the archive, so out of the index through the change
// log, its bytes released), its records of blobs and uploads dropped (the
// blob purge removes what no archived document keeps), its secrets dropped, and the account goes
// to the archive for store.archive.retention, its name and addresses
// free. An account already gone or destroyed is a no-op, so a second
// DestroyAccount succeeds. Queued outbound messages of the account are
// left to the queue (not looked for yet).
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
	s.log.Info("account destroyed", "account", a.Name, "documents", n, "blob_references", refs)
	return nil
}
