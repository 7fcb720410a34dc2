package maintenance

import (
	"context"
	"errors"
	"fmt"

	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/search"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// reindexBatch is how many IndexDocument tasks one CreateMany makes.
const reindexBatch = 1000

// reindexAccount runs AccountMaintenance reindex: an IndexDocument task
// for each of the account's documents that the index holds, run by the
// indexer on the shard of the account's partition as any other (it reads
// the document as it is now, so running it twice is harmless).
func (s *Service) reindexAccount(ctx context.Context, accountID string) error {
	if _, err := s.st.Account(ctx, accountID); err != nil {
		return err
	}
	var batch []taskmanager.NewTask
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := s.mgr.CreateMany(ctx, batch); err != nil {
			return fmt.Errorf("create index tasks: %w", err)
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	for _, t := range store.Types {
		if t == store.MailboxType {
			continue // mailboxes are not indexed
		}
		var ferr error
		err := s.st.Documents(ctx, accountID, t, func(d *store.Document) bool {
			batch = append(batch, taskmanager.NewTask{Payload: &task.IndexDocumentTask{AccountID: accountID, DocumentID: d.ID, DocumentType: string(t)}})
			if len(batch) >= reindexBatch {
				ferr = flush()
			}
			return ferr == nil
		})
		if err == nil {
			err = ferr
		}
		if err != nil {
			return fmt.Errorf("reindex account %s: %w", accountID, err)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	s.log.Info("account reindex: index tasks created", "account", accountID, "documents", n)
	return nil
}

// reindexPartitions runs StoreMaintenance reindexAccounts (traces false)
// and reindexTelemetry (traces true): the holder of each partition of
// role fts-indexing, or of those of shard shardIndex when set, empties
// its index (its trace index) and builds it again from the store (the
// traces stream), the way a node that gains a partition does. A
// partition no node holds now is built when one gains it.
func (s *Service) reindexPartitions(ctx context.Context, traces bool, shardIndex *int) error {
	rm, _, _ := s.d.View.Role(roles.FtsIndexing)
	shards := len(rm.Shards)
	if shardIndex != nil && (shards == 0 || *shardIndex >= shards) {
		return fmt.Errorf("shardIndex %d: role %s has %d shards", *shardIndex, roles.FtsIndexing, shards)
	}
	client := search.Client{Conn: s.d.Conn}
	var unheld []int
	asked := 0
	for p := range s.d.Config.Cluster.Partitions {
		if shardIndex != nil && p%shards != *shardIndex {
			continue
		}
		err := client.Rebuild(ctx, p, traces)
		switch {
		case errors.Is(err, search.ErrUnavailable):
			unheld = append(unheld, p)
			continue
		case err != nil:
			return fmt.Errorf("rebuild partition %d: %w", p, err)
		}
		asked++
	}
	s.log.Info("partition indexes rebuilding", "traces", traces, "partitions", asked, "unheld", unheld)
	return nil
}
