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
//	                         IMAP UID and its UIDValidity;
//	                         =blob.pin.<blob id>, =blob.condemned.<blob id>: the
//	                         blob purge's handshake with writers (below); "=" is
//	                         in no account id, so these are no account's keys
//	jetmail-blobs (object)   sha256-<hex>: content-addressed, so the same bytes
//	                         (a message delivered to many local recipients, a file)
//	                         are stored once; its metadata "written" says when it
//	                         got its name. tmp-<id>: a large blob being written
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
// refers to, which the blob purge removes. An upload record is kept for
// good, and so is its blob.
//
// # Durable when
//
// A document is durable once its KV write is acknowledged; its change
// follows, de-duplicated by message id (key and revision), so a retried
// append is logged once. A crash between the two leaves the document
// right and its change unlogged: the change log feeds indexes and
// notifications, which an account reindex (AccountMaintenance) rebuilds
// from the documents. A blob is durable once its object is; a
// document refers to a blob only after the blob is stored (written, or
// found stored and kept by the handshake below), so no document points to
// a missing blob. A blob that nothing refers to (a crash before its
// document, a destroyed and purged one) is removed by the blob purge.
//
// # The blob purge
//
// PurgeBlobs (StoreMaintenance purgeBlob, daily by default) removes the
// blobs older than the grace (store Params.BlobPurgeGrace, 1 h) that no
// document, archived document or upload refers to. The <account>.blob.*
// keys are not references: they outlive the documents (a destroy leaves
// them) and say only which account may read a blob. Nothing else refers to
// this object store: the queue keeps its bodies in its own, and tasks name
// documents, not blobs (RestoreArchivedItem's blob is an archived
// document's, kept by that document). Mark and sweep:
//
//	T0 = now; list the blobs; candidates: written before T0 - grace
//	mark: read every document, archived document and upload (after the list)
//	sweep, each unreferenced candidate b:
//	  Create(=blob.condemned.b)   taken: another purge is at b; skip
//	  Get(=blob.pin.b)            pinned since T0 - grace: skip
//	  GetInfo(b)                  gone, or written again since listed: skip
//	  more than 5 s since the Create: skip
//	  Delete(b); Delete(=blob.condemned.b)
//	then: tmp-* written before T0 - grace (a crashed large write) deleted;
//	      pins from before T0 - grace deleted (compare-and-set)
//
// A writer writes its reference (document or upload) within grace/2 of
// finding or writing the blob; on that rests the proof. A writer that
// writes the blob makes it young: not a candidate until T0 > written +
// grace, by when its reference, written by written + grace/2, is there
// for the mark. One that finds it stored and younger than grace/2 needs
// nothing, for the same reason. One that finds it older (putBlobBytes
// and PutBlob on a blob stored already, FileNode/set on the blob a file
// names) pins it:
//
//	Put(=blob.pin.b, now); Get(=blob.condemned.b), waiting while it is
//	there; GetInfo(b): gone -> write b again (young); then the reference
//
// The keys' operations are on one KV stream, read from its leader
// (consistent.go), so they fall in one order, and each side reads after
// its own write. If the pin comes before the condemnation, the purge's Get
// sees it and keeps b. If the condemnation comes first, the writer's Get
// sees it and waits until the purge is done with b; its GetInfo then finds
// b deleted (and writes it again) or kept. If the purge was done with b
// before the writer's Get (the whole sweep between the writer's first look
// and its pin), the GetInfo finds b gone. So no reference is written to a
// deleted blob. A reference the mark missed was written after the mark
// began (after T0), so its writer found b (listed, so stored) and pinned
// it after T0 - grace/2, which the purge sees as fresh. Moves need no
// pin: a destroy writes the archived copy before deleting the document, a
// restore the document before purging the archived copy, and the mark
// reads until the server has nothing more pending, so it sees one or the
// other. Two purges never both delete b (the Create is exclusive), and
// the NUID check keeps a purge from deleting a b written again after
// another purge deleted it. (TestPurgeBlobsRacingAWriter puts a writer in
// each window and shows the blob lost without the writer's side.)
//
// A crash: a purge that dies holding a condemnation leaves it; a writer
// that finds one older than 30 s removes it (compare-and-set) and goes
// on, so it waits at most that long, and the next purge removes such
// too. The 5 s bound from condemnation to delete keeps a live purge well
// inside the 30 s. A writer that dies leaves a pin, which only delays b's
// removal until it is stale. A crash inside the object store's Put of a
// large blob leaves chunks no name points to: they are not looked for
// yet. A removed blob leaves its delete marker, and its pin and
// condemnation keys theirs, as a destroyed document does.
//
// # Quotas
//
// An account's (and its tenant's) used bytes change by compare-and-set on
// its record, retried on conflict, so concurrent deliveries keep it exact.
// Charge refuses, with ErrOverQuota, a size that would take used past the
// quota; the caller (local delivery) answers 452 4.2.2 and the message
// stays queued.
package store
