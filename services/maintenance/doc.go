// Package maintenance is the maintenance service (`jetmail serve
// maintenance`), the node side of roles purge.stores and purge.accounts:
// it runs the store-wide and per-account maintenance tasks on the nodes of
// the shard that owns each task's partition (package work), as the indexer
// runs the index tasks.
//
// # What it does
//
//	AccountMaintenance recalculateQuota   the account's used bytes set to
//	                                      the sum of its documents' sizes
//	TenantMaintenance recalculateQuota    the tenant's used bytes set to
//	                                      the sum of its active accounts'
//	AccountMaintenance purge              the emails in Trash and Junk
//	                                      past store.trash.retention and
//	                                      store.junk.retention purged
//	                                      (store.PurgeMailbox)
//	AccountMaintenance recalculateImapUid each mailbox's emails given the
//	                                      UIDs 1 to n in the order they
//	                                      came, under a new UIDValidity
//	                                      where one changed
//	                                      (store.RecalculateUIDs)
//	AccountMaintenance with accountId "*" the operation on each active
//	                                      account of x:partition: the
//	                                      daily purge-accounts periodic
//	                                      task, one schedule per partition
//	                                      (task.periodic per-partition), so
//	                                      each shard of purge.accounts
//	                                      purges its own accounts once
//	AccountMaintenance reindex            an IndexDocument task for each
//	                                      of the account's indexed
//	                                      documents (the indexer runs them)
//	StoreMaintenance reindexAccounts      each partition's full-text index
//	                                      (of shard shardIndex, when set)
//	                                      emptied and built again from the
//	                                      store by its holder, as on gain
//	StoreMaintenance reindexTelemetry     the same for the trace indexes,
//	                                      read again from the traces stream
//	StoreMaintenance resetUserQuotas      every account recalculated
//	StoreMaintenance resetTenantQuotas    every tenant recalculated
//	StoreMaintenance purgeData            archived documents past
//	                                      store.archive.retention removed
//	                                      (the hourly default periodic
//	                                      task), and the queue's message
//	                                      bodies no entry refers to (a
//	                                      crash left them)
//	StoreMaintenance purgeBlob            the blobs past the store's
//	                                      grace (1 h) that no document,
//	                                      archived document or upload
//	                                      refers to removed, by mark and
//	                                      sweep safe against writers
//	                                      (store.PurgeBlobs; the daily
//	                                      default periodic task)
//	StoreMaintenance resetBlobQuotas      nothing: jetmail counts no
//	                                      account's uploads (one is
//	                                      bounded by maxSizeUpload); the
//	                                      task completes and logs so
//	StoreMaintenance removeQueueLocks,    the cluster leases (leader,
//	removeTaskLocks                       duties) held by nodes that are
//	                                      not live members removed, so a
//	                                      live one takes them at once
//	StoreMaintenance resetRateLimiters    every rate-limit counter removed
//	                                      (bucket jetmail-ratelimits): the
//	                                      limits start their windows over
//	StoreMaintenance removeGreylist       every greylist triplet and
//	                                      auto-whitelisted client removed
//	                                      (bucket jetmail-greylist)
//	StoreMaintenance removeSieveLists     the duplicate-ID list of local
//	                                      delivery removed (bucket
//	                                      jetmail-delivery-dedup); jetmail
//	                                      has no Sieve vacation lists, and
//	                                      the log says so
//	StoreMaintenance removeDavLocks,      nothing: jetmail has no WebDAV,
//	removeAuthTokens                      OAuth or ACME service keeping
//	                                      such data yet; the task
//	                                      completes and logs so
//
//	DestroyAccount                        every document destroyed (into
//	                                      the archive, out of the index),
//	                                      the secrets dropped, the account
//	                                      archived; again: a no-op
//	MergeThreads                          the threads of the messages
//	                                      folded into the first's
//	RestoreArchivedItem                   the archived document with the
//	                                      blob back in the account with its
//	                                      id (and indexed again); into a
//	                                      destroyed account, which comes
//	                                      back first (store.RestoreAccount:
//	                                      its name and addresses, no
//	                                      secret); a sieveScript has
//	                                      nothing to restore (jetmail
//	                                      keeps none)
//
// A recalculation repairs a count that drifted; deliveries may go on
// meanwhile (store.RecalculateQuota says how). Every maintenance type of
// the reference is done; a type this version does not know (a newer
// node's) fails with a reason that says so.
package maintenance
