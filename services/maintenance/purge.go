package maintenance

import (
	"context"
)

// purgeData runs StoreMaintenance purgeData: the archive's documents past
// store.archive.retention are removed. The change log needs nothing here
// (its stream drops what is older than store.changelog.retention), nor do
// finished tasks (a task's record goes when it is done). Queue bodies left
// by a crash are not looked for yet.
func (s *Service) purgeData(ctx context.Context) error {
	n, err := s.st.PurgeArchive(ctx)
	if err != nil {
		return err
	}
	s.log.Info("data store purged", "archived_documents_removed", n)
	return nil
}
