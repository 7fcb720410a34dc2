package maintenance

import (
	"context"
	"errors"
	"fmt"

	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
)

func (s *Service) accountMaintenance(ctx context.Context, t *task.Task) error {
	p := t.Payload.(*task.AccountMaintenanceTask)
	if p.AccountID == task.EveryAccount {
		return s.everyAccount(ctx, p)
	}
	return s.maintainAccount(ctx, p)
}

// everyAccount runs an AccountMaintenance with accountId "*" (the
// per-partition periodic purge): the operation on each active account of
// the partition, going on past one that fails.
func (s *Service) everyAccount(ctx context.Context, p *task.AccountMaintenanceTask) error {
	accounts, err := s.st.PartitionAccounts(ctx, *p.Partition)
	if err != nil {
		return fmt.Errorf("accounts of partition %d: %w", *p.Partition, err)
	}
	var errs []error
	n := 0
	for _, a := range accounts {
		if a.State != store.Active {
			continue
		}
		n++
		one := *p
		one.AccountID, one.Partition = a.ID, nil
		if err := s.maintainAccount(ctx, &one); err != nil {
			errs = append(errs, fmt.Errorf("account %s: %w", a.Name, err))
		}
	}
	s.log.Info("partition's accounts maintained", "maintenance_type", p.MaintenanceType, "partition", *p.Partition, "accounts", n, "failed", len(errs))
	if len(errs) > 0 {
		return fmt.Errorf("%s: %d of %d accounts of partition %d failed: %w", p.MaintenanceType, len(errs), n, *p.Partition, errors.Join(errs...))
	}
	return nil
}

// maintainAccount runs an AccountMaintenance operation on one account.
func (s *Service) maintainAccount(ctx context.Context, p *task.AccountMaintenanceTask) error {
	switch p.MaintenanceType {
	case "recalculateQuota":
		_, _, err := s.st.RecalculateQuota(ctx, p.AccountID)
		return err
	case "reindex":
		return s.reindexAccount(ctx, p.AccountID)
	case "purge":
		return s.purgeAccount(ctx, p.AccountID)
	case "recalculateImapUid":
		return s.recalculateUIDs(ctx, p.AccountID)
	default:
		return errNotYet(task.AccountMaintenance, p.MaintenanceType)
	}
}

func (s *Service) tenantMaintenance(ctx context.Context, t *task.Task) error {
	p := t.Payload.(*task.TenantMaintenanceTask)
	switch p.MaintenanceType {
	case "recalculateQuota":
		_, _, err := s.st.RecalculateTenantQuota(ctx, p.TenantID)
		return err
	default:
		return errNotYet(task.TenantMaintenance, p.MaintenanceType)
	}
}

func (s *Service) storeMaintenance(ctx context.Context, t *task.Task) error {
	p := t.Payload.(*task.StoreMaintenanceTask)
	switch p.MaintenanceType {
	case "resetUserQuotas":
		return s.recalculateAccounts(ctx)
	case "resetTenantQuotas":
		return s.recalculateTenants(ctx)
	case "purgeData":
		return s.purgeData(ctx)
	case "purgeBlob":
		return s.purgeBlobs(ctx)
	case "resetBlobQuotas":
		return s.resetBlobQuotas(ctx)
	case "reindexAccounts":
		return s.reindexPartitions(ctx, false, p.ShardIndex)
	case "reindexTelemetry":
		return s.reindexPartitions(ctx, true, p.ShardIndex)
	case "removeQueueLocks", "removeTaskLocks":
		// The queue's and the task manager's single-holder duties are
		// cluster leases; a message's or a task's own lease is its work
		// item's, which the server ends on its own.
		removed, err := cluster.RemoveDeadLeases(ctx, s.d.Buckets)
		if err != nil {
			return err
		}
		s.log.Info("leases of dead nodes removed", "maintenance_type", p.MaintenanceType, "leases", removed)
		return nil
	case "resetRateLimiters":
		return s.resetRateLimiters(ctx)
	case "removeGreylist":
		return s.removeGreylist(ctx)
	case "removeSieveLists":
		return s.removeSieveLists(ctx) // the duplicate-ID list; no vacation lists
	case "removeDavLocks", "removeAuthTokens":
		// Nothing to remove: no WebDAV, OAuth or ACME service keeps such
		// data here yet (the ACME service will bring tokens of its own,
		// and this with them).
		s.log.Info("store maintenance: jetmail keeps no such data, nothing to remove", "maintenance_type", p.MaintenanceType)
		return nil
	default:
		return errNotYet(task.StoreMaintenance, p.MaintenanceType)
	}
}

// recalculateAccounts recalculates every active account, going on past
// one that fails, and reports how many did.
func (s *Service) recalculateAccounts(ctx context.Context) error {
	accounts, err := s.st.Accounts(ctx)
	if err != nil {
		return err
	}
	var errs []error
	fixed, n := 0, 0
	for _, a := range accounts {
		if a.State != store.Active {
			continue
		}
		n++
		before, after, err := s.st.RecalculateQuota(ctx, a.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("account %s: %w", a.Name, err))
			continue
		}
		if before != after {
			fixed++
		}
	}
	s.log.Info("account quotas recalculated", "accounts", n, "repaired", fixed, "failed", len(errs))
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d accounts not recalculated: %w", len(errs), n, errors.Join(errs...))
	}
	return nil
}

// recalculateTenants recalculates every tenant.
func (s *Service) recalculateTenants(ctx context.Context) error {
	got, err := s.st.RecalculateTenantQuotas(ctx)
	fixed := 0
	for _, c := range got {
		if c[0] != c[1] {
			fixed++
		}
	}
	s.log.Info("tenant quotas recalculated", "tenants", len(got), "repaired", fixed)
	return err
}

// recalculateUIDs runs AccountMaintenance recalculateImapUid: each
// mailbox's emails numbered 1 to n in the order they came, under a new
// UIDValidity where anything changed (store.RecalculateUIDs).
func (s *Service) recalculateUIDs(ctx context.Context, accountID string) error {
	got, err := s.st.RecalculateUIDs(ctx, accountID)
	if err != nil {
		return fmt.Errorf("recalculate the IMAP UIDs of %s: %w", accountID, err)
	}
	for _, r := range got {
		s.log.Info("IMAP UIDs recalculated", "account", accountID, "mailbox", r.Mailbox, "uid_validity", r.Validity, "emails", r.Emails, "renumbered", r.Changed)
	}
	return nil
}
