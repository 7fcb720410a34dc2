// Package store is jetmail's mail store, on JetStream only: the directory
// of tenants, domains and accounts, the accounts' documents, the blobs they
// refer to, and the change log every role service works from.
//
// # What lives where
//
//	jetmail-directory (KV)   tenant.<id>, domain.<name>, account.<id>;
//	                         login.<hex name> and address.<hex address> -> account id
//	jetmail-documents (KV)   <account>.<type>.<id>: a document (email, mailbox,
//	                         calendar, contacts, file), its modseq the KV revision;
//	                         <account>.archived.<type>.<id>: a destroyed one, kept
//	                         until its archivedUntil; <account>.thread.<hex id>: the
//	                         thread of a Message-ID; <account>.blob.<blob id>: a
//	                         document of the account refers to the blob;
//	                         <account>.upload.<blob id>: the account uploaded it
//	                         (its media type), so it may refer to it;
//	                         <account>.uidnext.<mailbox>: the mailbox's next
//	                         IMAP UID and its UIDValidity
//	jetmail-blobs (object)   sha256-<hex>: content-addressed, so the same bytes
//	                         (a message delivered to many local recipients, a file)
//	                         are stored once
//	jetmail-changes (stream) jetmail.changes.<partition>.<account>.<type>: one
//	                         message per create, update and destroy, kept for
//	                         store.changelog.retention; the partition is the
//	                         account's (FNV-32a, package shard), so a role's shard
//	                         consumers can follow the accounts they own
//
// # An account
//
//	CreateAccount --Create(login.*, address.*), Create(account.*)--> active
//	active --UpdateAccount (CAS on the record's revision)--> active
//	active --DestroyAccount--> deleted (archivedUntil = now + store.archive.retention;
//	                           its logins and addresses are freed)
//
// A login or address index key that points to an account that does not
// exist (a crash between the index and the record) is taken over by the
// next account that claims it, never trusted.
//
// # A document
//
//	Create --Create(<account>.<type>.<id>)--> modseq 1 --change "created"
//	Update --Update(key, modseq)--> modseq n+1 --change "updated"
//	Destroy --Create(archived key), Delete(key)--> archived --change "destroyed"
//
// Every write is compare-and-set on the KV revision, so two writers of one
// document never both win: the loser gets ErrConflict and reads again.
//
// # A mailbox
//
// The five standard mailboxes (Inbox, Junk, Sent, Trash, Archive; their
// role is their id) are created with the account and are never renamed,
// moved or destroyed. A user's mailbox has a name unique among its
// siblings and a parent that exists and is not below it. Destroying one
// with child mailboxes is refused (ErrInUse), and one that holds emails
// (ErrMailboxHasEmail) unless its emails are removed too: those in another
// mailbox leave it (Update), the others are destroyed (Destroy).
//
// # IMAP UIDs
//
// An email has a UID in each mailbox it is in (Email.UIDs), given when it
// comes into the mailbox from the mailbox's counter, <account>.uidnext.<mailbox>
// (a key of its own, so a delivery logs no mailbox change), moved by
// compare-and-set: two nodes never give one UID twice, and UIDs increase
// in the order they are given. A mailbox's first UID sets its UIDValidity.
// A UID given to an email whose write then failed is a gap;
// RecalculateUIDs (AccountMaintenance recalculateImapUid) numbers a
// mailbox 1 to n again in the order of arrival, under a new UIDValidity.
//
// # An upload
//
//	Upload --PutBlob, Put(<account>.upload.<blob>)--> the account may refer to it
//	Email/import --StoreEmail(blob's bytes), id from the blob--> an email; the same
//	                blob imported again is ErrDuplicate (alreadyExists), not a copy
//
// A crash between the blob and its upload record leaves a blob no one
// refers to, which the blob purge removes.
//
// # Durable when
//
// A document is durable once its KV write is acknowledged; its change
// follows, de-duplicated by message id (key and revision), so a retried
// append is logged once. A crash between the two leaves the document
// right and its change unlogged: the change log feeds indexes and
// notifications, which an account reindex (AccountMaintenance) rebuilds
// from the documents. A blob is durable once its object is; a document
// refers to a blob only after the blob is stored, so no document points to
// a missing blob. A blob that no document refers to (a crash before its
// document, a destroyed and purged one) is removed by the blob purge's mark
// and sweep (StoreMaintenance).
//
// # Quotas
//
// An account's (and its tenant's) used bytes change by compare-and-set on
// its record, retried on conflict, so concurrent deliveries keep it exact.
// Charge refuses, with ErrOverQuota, a size that would take used past the
// quota; the caller (local delivery) answers 452 4.2.2 and the message
// stays queued.
package store
