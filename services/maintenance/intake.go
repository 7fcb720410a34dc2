package maintenance

import (
	"context"

	"github.com/jetmail/jetmail/shared/dupid"
	"github.com/jetmail/jetmail/shared/greylist"
	"github.com/jetmail/jetmail/shared/ratelimit"
)

// The intake protections' state: StoreMaintenance resetRateLimiters,
// removeGreylist and removeSieveLists empty their buckets. Each bucket is
// the cluster's, so one task clears it for every node; a bucket that was
// never made (the protection was never on) has nothing to remove.

// resetRateLimiters removes every rate-limit counter
// (smtp.limits.rate.*): every limit starts its window over.
func (s *Service) resetRateLimiters(ctx context.Context) error {
	n, err := ratelimit.Reset(ctx, s.d.JS())
	if err != nil {
		return err
	}
	s.log.Info("rate limiters reset", "maintenance_type", "resetRateLimiters", "bucket", ratelimit.Bucket, "counters_removed", n)
	return nil
}

// removeGreylist removes every greylist triplet and auto-whitelisted
// client network (smtp.greylist): each triplet is greylisted anew.
func (s *Service) removeGreylist(ctx context.Context) error {
	n, err := greylist.Clear(ctx, s.d.JS())
	if err != nil {
		return err
	}
	s.log.Info("greylist entries removed", "maintenance_type", "removeGreylist", "bucket", greylist.Bucket, "entries_removed", n)
	return nil
}

// removeSieveLists removes the duplicate-ID list of local delivery
// (store.duplicates.retention): a message delivered before may be stored
// again. jetmail runs no Sieve, so there are no vacation lists to remove.
func (s *Service) removeSieveLists(ctx context.Context) error {
	n, err := dupid.Clear(ctx, s.d.JS())
	if err != nil {
		return err
	}
	s.log.Info("duplicate-ID list removed; jetmail keeps no Sieve vacation lists", "maintenance_type", "removeSieveLists",
		"bucket", dupid.Bucket, "duplicate_ids_removed", n, "vacation_lists_removed", 0)
	return nil
}
