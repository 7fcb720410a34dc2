package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/shard"
)

// The store's JetStream assets.
const (
	BucketDirectory = "jetmail-directory"
	BucketDocuments = "jetmail-documents"
	BucketBlobs     = "jetmail-blobs"
	StreamChanges   = "jetmail-changes"
)

// Errors callers branch on.
var (
	// ErrNotFound: no such account, domain, tenant, document or blob.
	ErrNotFound = errors.New("not found")
	// ErrExists: the name, address, domain or id is taken.
	ErrExists = errors.New("already exists")
	// ErrConflict: the record changed since it was read; read it again.
	ErrConflict = errors.New("changed meanwhile; try again")
	// ErrOverQuota: the account or its tenant has no room for the size.
	ErrOverQuota = errors.New("over quota")
	// ErrInvalid: a value the store refuses (the error says which).
	ErrInvalid = errors.New("invalid")
	// ErrExpired: an archived item past its ArchivedUntil (RestoreArchived).
	ErrExpired = errors.New("past its archive retention")
	// ErrDirectoryOnly: the store was opened with DirectoryOnly.
	ErrDirectoryOnly = errors.New("store opened for its directory only")
	// ErrInUse: the tenant still has domains or accounts, or the mailbox
	// still has child mailboxes.
	ErrInUse = errors.New("still in use")
	// ErrMailboxHasEmail: the mailbox still holds emails (RFC 8621
	// mailboxHasEmail); destroy it with its emails removed, or move them.
	ErrMailboxHasEmail = errors.New("the mailbox still holds emails")
	// ErrSystemMailbox: the standard mailboxes (Inbox, Junk, Sent, Trash,
	// Archive) cannot be renamed, moved or destroyed.
	ErrSystemMailbox = errors.New("a system mailbox")
)

// PropertyError is an ErrInvalid that names the property it is about, so
// that the API can answer invalidProperties with it.
type PropertyError struct {
	// Property is the property's name or path ("mailboxIds", "keywords/$x").
	Property string
	Reason   string
}

func (e *PropertyError) Error() string { return e.Property + ": " + e.Reason }

// Is makes a PropertyError an ErrInvalid.
func (e *PropertyError) Is(target error) bool { return target == ErrInvalid }

func invalidf(property, format string, args ...any) error {
	return &PropertyError{Property: property, Reason: fmt.Sprintf(format, args...)}
}

// Params configures a Store. Zero fields take the defaults.
type Params struct {
	// JS is the JetStream context the store works through. Required.
	JS jetstream.JetStream
	// Replicas of every asset. Default 1.
	Replicas int
	// Partitions is cluster.partitions: the change log's partitions, the
	// same as the roles'. Default shard.DefaultPartitions.
	Partitions int
	// ChangelogRetention is how long changes are kept. Default 30 days.
	ChangelogRetention time.Duration
	// ArchiveRetention is how long a destroyed document or account is kept
	// for a restore. Default 30 days.
	ArchiveRetention time.Duration
	// BlobPurgeGrace is how old a blob must be before the blob purge
	// (PurgeBlobs) may remove it; a writer that finds a blob stored must
	// write the document that refers to it within half of it (doc.go, "The
	// blob purge"). Default DefaultBlobPurgeGrace (1 h).
	BlobPurgeGrace time.Duration
	// Clock tells the time. Default the system clock.
	Clock clock.Clock
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// DirectoryOnly opens the directory alone, for a node that looks up
	// accounts (the intake) and may read nothing else (natsauth); the
	// document, blob and change methods then fail with ErrDirectoryOnly.
	DirectoryOnly bool
}

// Store is an open store.
type Store struct {
	p     Params
	js    jetstream.JetStream
	dir   jetstream.KeyValue
	docs  jetstream.KeyValue
	blobs jetstream.ObjectStore
	// blobStream is the object store's stream, for one-get reads.
	blobStream jetstream.Stream
	changes    jetstream.Stream
	log        *slog.Logger

	accountCharges, tenantCharges keyLocks
	uidAllocs                     keyLocks
	storing                       idLocks // StoreEmail, by account and email id
	// blobHooks lets a test stop the blob purge's handshake at its steps.
	blobHooks *blobHooks
}

// Open creates the store's assets if needed and opens them.
func Open(ctx context.Context, p Params) (*Store, error) {
	if p.JS == nil {
		return nil, errors.New("store: JS is required")
	}
	if p.Replicas == 0 {
		p.Replicas = 1
	}
	if p.Partitions == 0 {
		p.Partitions = shard.DefaultPartitions
	}
	if p.ChangelogRetention == 0 {
		p.ChangelogRetention = 30 * 24 * time.Hour
	}
	if p.ArchiveRetention == 0 {
		p.ArchiveRetention = 30 * 24 * time.Hour
	}
	if p.BlobPurgeGrace == 0 {
		p.BlobPurgeGrace = DefaultBlobPurgeGrace
	}
	if p.Clock == nil {
		p.Clock = clock.Real
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	s := &Store{p: p, js: p.JS, log: p.Logger.With("component", "store")}
	var err error
	if s.dir, err = ConsistentKV(ctx, p.JS, jetstream.KeyValueConfig{
		Bucket: BucketDirectory, Description: "jetmail directory: tenants, domains, accounts and their logins and addresses",
		History: 1, Storage: jetstream.FileStorage, Replicas: p.Replicas,
	}); err != nil {
		return nil, err
	}
	if p.DirectoryOnly {
		return s, nil
	}
	if s.docs, err = ConsistentKV(ctx, p.JS, jetstream.KeyValueConfig{
		Bucket: BucketDocuments, Description: "jetmail documents: <account>.<type>.<id>",
		History: 1, Storage: jetstream.FileStorage, Replicas: p.Replicas,
	}); err != nil {
		return nil, err
	}
	if s.blobs, err = consistentObjectStore(ctx, p.JS, jetstream.ObjectStoreConfig{
		Bucket: BucketBlobs, Description: "jetmail blobs, content-addressed (sha256-<hex>)",
		Storage: jetstream.FileStorage, Replicas: p.Replicas,
	}); err != nil {
		return nil, err
	}
	if s.blobStream, err = p.JS.Stream(ctx, "OBJ_"+BucketBlobs); err != nil {
		return nil, fmt.Errorf("open stream OBJ_%s: %w", BucketBlobs, err)
	}
	if s.changes, err = p.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: StreamChanges, Description: "jetmail change log: jetmail.changes.<partition>.<account>.<type>",
		Subjects: []string{changesPrefix + ">"}, Storage: jetstream.FileStorage, Replicas: p.Replicas,
		MaxAge: p.ChangelogRetention, AllowDirect: true, Duplicates: 2 * time.Minute,
	}); err != nil {
		return nil, fmt.Errorf("create stream %s: %w", StreamChanges, err)
	}
	return s, nil
}

// full reports ErrDirectoryOnly for a store opened without its documents.
func (s *Store) full() error {
	if s.docs == nil {
		return ErrDirectoryOnly
	}
	return nil
}

// kvErr maps the KV errors callers branch on to the store's.
// Sizes are the bytes each part of the store holds on the servers (one
// replica): "directory", "documents", "blobs" and "changes". A part not
// created yet is left out.
func Sizes(ctx context.Context, js jetstream.JetStream) (map[string]uint64, error) {
	out := map[string]uint64{}
	for part, stream := range map[string]string{"directory": "KV_" + BucketDirectory, "documents": "KV_" + BucketDocuments,
		"blobs": "OBJ_" + BucketBlobs, "changes": StreamChanges} {
		st, err := js.Stream(ctx, stream)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", stream, err)
		}
		out[part] = st.CachedInfo().State.Bytes
	}
	return out, nil
}

func kvErr(err error) error {
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return fmt.Errorf("%w (%v)", ErrNotFound, err)
	case errors.Is(err, jetstream.ErrKeyExists):
		return fmt.Errorf("%w (%v)", ErrExists, err)
	case errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence:
		return fmt.Errorf("%w (%v)", ErrConflict, err)
	}
	return err
}

// casErr maps the error of a compare-and-set write (Update, or Delete at a
// revision): a revision mismatch is a conflict, whatever nats.go calls it.
func casErr(err error) error {
	var apiErr *jetstream.APIError
	if errors.Is(err, jetstream.ErrKeyExists) || errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return fmt.Errorf("%w (%v)", ErrConflict, err)
	}
	return kvErr(err)
}

// casRetries bounds the compare-and-set retries of a counter update.
const casRetries = 50
