package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jetmail/jetmail/shared/store"
)

// MailboxChanges makes perAccount changes in each of the accounts (a
// mailbox created, then renamed perAccount-1 times), writers accounts at
// a time, counting each change in done as it is stored. It returns once
// all are made, with the first error if some could not be.
func MailboxChanges(ctx context.Context, st *store.Store, accounts []string, perAccount, writers int, done *atomic.Int64) error {
	work := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for range writers {
		wg.Go(func() {
			for a := range work {
				if err := mailboxChanges(ctx, st, a, perAccount, done); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, a := range accounts {
		work <- a
	}
	close(work)
	wg.Wait()
	return errors.Join(errs...)
}

func mailboxChanges(ctx context.Context, st *store.Store, account string, n int, done *atomic.Int64) error {
	id, err := st.CreateMailbox(ctx, account, store.Mailbox{Name: "changes"})
	if err != nil {
		return fmt.Errorf("changes in %s: %w", account, err)
	}
	done.Add(1)
	for i := 1; i < n; i++ {
		if _, err := st.UpdateMailbox(ctx, account, id, func(m *store.Mailbox) error { m.Name = fmt.Sprintf("changes %d", i); return nil }); err != nil {
			return fmt.Errorf("changes in %s: %w", account, err)
		}
		done.Add(1)
	}
	return nil
}
