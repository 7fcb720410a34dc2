package maintenance

import (
	"context"
	"fmt"
	"time"
)

// purgeData runs StoreMaintenance purgeData: the archive's documents past
// store.archive.retention are removed, and so are the queue's message
// bodies that no entry refers to any more (a crash between a message's
// last recipient and its body: mailqueue.Queue.SweepBodies). The change
// log needs nothing here (its stream drops what is older than
// store.changelog.retention), nor do finished tasks (a task's record goes
// when it is done).
func (s *Service) purgeData(ctx context.Context) error {
	n, err := s.st.PurgeArchive(ctx)
	if err != nil {
		return err
	}
	bodies := 0
	if s.p.Queue != nil {
		if bodies, err = s.p.Queue.SweepBodies(ctx); err != nil {
			return fmt.Errorf("purge data: %w", err)
		}
	}
	s.log.Info("data store purged", "archived_documents_removed", n, "queue_bodies_removed", bodies)
	return nil
}

// purgeAccount runs AccountMaintenance purge: the emails in the account's
// Trash and Junk since before store.trash.retention and
// store.junk.retention leave them (destroyed, into the archive, when
// there is nowhere else they are).
func (s *Service) purgeAccount(ctx context.Context, accountID string) error {
	if _, err := s.st.Account(ctx, accountID); err != nil {
		return err
	}
	now := s.d.Clock.Now()
	cfg := s.d.Config.Storage
	total := 0
	for mailbox, keep := range map[string]time.Duration{"trash": cfg.TrashRetention, "junk": cfg.JunkRetention} {
		n, err := s.st.PurgeMailbox(ctx, accountID, mailbox, now.Add(-keep))
		if err != nil {
			return fmt.Errorf("purge account %s: %w", accountID, err)
		}
		total += n
	}
	if total > 0 {
		s.log.Info("account purged", "account", accountID, "emails", total)
	}
	return nil
}
