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
	switch p.MaintenanceType {
	case "recalculateQuota":
		_, _, err := s.st.RecalculateQuota(ctx, p.AccountID)
		return err
	case "reindex":
		return s.reindexAccount(ctx, p.AccountID)
	case "purge":
		return s.purgeAccount(ctx, p.AccountID)
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
	case "removeDavLocks", "removeSieveLists", "removeAuthTokens":
		// Nothing to remove: no WebDAV, Sieve, OAuth or ACME service keeps
		// such data here yet (the ACME service will bring tokens of its
		// own, and this with them).
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
