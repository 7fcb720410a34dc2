package maintenance

import (
	"context"

	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
)

// archivedTypes are the store's types of the reference's archived item
// types.
var archivedTypes = map[string]store.Type{
	"email": store.EmailType, "file": store.FileType, "calendarEvent": store.CalendarType, "contactCard": store.ContactsType,
}

// restoreArchivedItem runs RestoreArchivedItem: the archived document with
// the task's blob comes back into the account with its id and blob, and is
// indexed again from the change log; into a destroyed account (before its
// archivedUntil), which comes back with it. jetmail keeps no Sieve scripts, so a
// sieveScript has nothing to restore; past its archivedUntil the task
// fails saying so.
func (s *Service) restoreArchivedItem(ctx context.Context, t *task.Task) error {
	p := t.Payload.(*task.RestoreArchivedItemTask)
	typ, ok := archivedTypes[p.ArchivedItemType]
	if !ok {
		s.log.Info("restore: jetmail keeps no such items, nothing to restore", "archived_item_type", p.ArchivedItemType, "account", p.AccountID)
		return nil
	}
	a, err := s.st.Account(ctx, p.AccountID)
	if err != nil {
		return err
	}
	if a.State != store.Active {
		// A destroyed account's items come back into it: it comes back
		// first, with no secret (an administrator gives it one).
		if _, err := s.st.RestoreAccount(ctx, a.ID); err != nil {
			return err
		}
		s.log.Info("destroyed account restored for its archived item", "account", a.Name, "id", a.ID)
	}
	d, err := s.st.RestoreArchived(ctx, p.AccountID, typ, p.BlobID)
	if err != nil {
		return err
	}
	s.log.Info("archived item restored", "account", p.AccountID, "type", typ, "id", d.ID)
	return nil
}

// mergeThreads runs MergeThreads: the threads of the task's messages fold
// into the first's (store.MergeThreads).
func (s *Service) mergeThreads(ctx context.Context, t *task.Task) error {
	p := t.Payload.(*task.MergeThreadsTask)
	if _, err := s.st.Account(ctx, p.AccountID); err != nil {
		return err
	}
	_, _, err := s.st.MergeThreads(ctx, p.AccountID, p.MessageIDs)
	return err
}
