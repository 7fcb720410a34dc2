package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultBlobPurgeGrace is Params.BlobPurgeGrace's default: an hour. The
// purge runs daily (task.periodic purge-blob), so a longer grace costs
// nothing but an hour more of an orphan; it is the writers' margin (half
// of it, from finding a blob to writing the document) and the clocks'.
const DefaultBlobPurgeGrace = time.Hour

// The handshake's bounds (doc.go, "The blob purge").
const (
	// condemnLimit: a sweep deletes a condemned blob within this of
	// condemning it, or gives it up.
	condemnLimit = 5 * time.Second
	// condemnStale: a condemned marker older than this is a dead sweep's;
	// a writer that finds one removes it (compare-and-set) and goes on.
	condemnStale = 30 * time.Second
)

// The blob purge's keys in jetmail-documents. They begin with "=", which
// no account id holds (validID), so they are no account's keys, and no
// scan of an account's keys or of a document type meets them.
const (
	pinPrefix       = "=blob.pin."
	condemnedPrefix = "=blob.condemned."
)

// pinKey says a writer found the blob stored and will refer to it: its
// value is when (RFC 3339, the writer's clock).
func pinKey(blob string) string { return pinPrefix + blob }

// condemnedKey says a sweep is deleting the blob: its value is since when
// (RFC 3339, the sweep's clock).
func condemnedKey(blob string) string { return condemnedPrefix + blob }

// metaWritten is the object metadata that says when a blob got its name
// (RFC 3339, the writer's clock): a blob's age for the purge.
const metaWritten = "written"

func (s *Store) writtenMeta() map[string]string {
	return map[string]string{metaWritten: s.p.Clock.Now().UTC().Format(time.RFC3339Nano)}
}

// blobWritten is when the blob got its name; the object store's ModTime
// for a blob stored before it said so.
func blobWritten(info *jetstream.ObjectInfo) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, info.Metadata[metaWritten]); err == nil {
		return t
	}
	return info.ModTime
}

// BlobPurge is what a blob purge (PurgeBlobs) found and did.
type BlobPurge struct {
	// Blobs and Bytes are the named blobs the purge listed.
	Blobs int
	Bytes int64
	// Young are those written within BlobPurgeGrace: never removed.
	Young int
	// Referenced are the older ones a document, an archived document or
	// an upload refers to.
	Referenced int
	// Held are the older unreferenced ones kept all the same: a writer
	// pinned it, another purge was at it, or it changed since listed.
	Held int
	// Removed blobs and the bytes they freed.
	Removed int
	Freed   int64
	// Temporary are the temporary objects of large writes (tmp-*) older
	// than BlobPurgeGrace removed (a crash between write and rename), and
	// TemporaryBytes the bytes they freed.
	Temporary      int
	TemporaryBytes int64
	// StalePins are the pins older than BlobPurgeGrace removed.
	StalePins int
}

// blobStep names a step of the handshake, for blobHooks.
type blobStep string

const (
	// stepWriterFound: a writer found an old blob stored, before its pin.
	stepWriterFound blobStep = "writer-found"
	// stepWriterWaits: a writer found the blob condemned and waits.
	stepWriterWaits blobStep = "writer-waits"
	// stepUnreferenced: the sweep found a candidate unreferenced, before
	// it condemns it.
	stepUnreferenced blobStep = "unreferenced"
	// stepCondemned: the sweep condemned the blob, before it reads the pin.
	stepCondemned blobStep = "condemned"
	// stepUnpinned: the sweep found no pin, before it deletes the blob.
	stepUnpinned blobStep = "unpinned"
)

// blobHooks are a test's: hook is called at each step, and noHandshake
// turns the writer's side off, to show what it prevents.
type blobHooks struct {
	hook        func(step blobStep, blob string)
	noHandshake bool
}

func (s *Store) blobStep(step blobStep, blob string) {
	if s.blobHooks != nil && s.blobHooks.hook != nil {
		s.blobHooks.hook(step, blob)
	}
}

// keepStored is a writer's side of the handshake, when it found the blob
// stored (info) and will refer to it instead of writing it: it reports
// whether the blob is still stored and kept for the writer's document, or
// was removed by a purge meanwhile (the caller writes it again, young).
//
// A blob younger than half the grace needs nothing: no purge removes it
// before the writer's document, written within the other half, is there
// to be seen. An older one is pinned, then the writer waits while it is
// condemned, then looks again: a purge that condemned it after the pin
// sees the pin and keeps it; one that condemned it before has deleted it
// or given it up by the time the writer looks.
func (s *Store) keepStored(ctx context.Context, id string, info *jetstream.ObjectInfo) (bool, error) {
	if s.p.Clock.Since(blobWritten(info)) < s.p.BlobPurgeGrace/2 {
		return true, nil
	}
	s.blobStep(stepWriterFound, id)
	if s.blobHooks != nil && s.blobHooks.noHandshake {
		return true, nil
	}
	if _, err := s.docs.Put(ctx, pinKey(id), []byte(s.p.Clock.Now().UTC().Format(time.RFC3339Nano))); err != nil {
		return false, fmt.Errorf("pin blob %s: %w", id, kvErr(err))
	}
	if err := s.awaitUncondemned(ctx, id); err != nil {
		return false, err
	}
	_, err := s.blobs.GetInfo(ctx, id)
	switch {
	case errors.Is(err, jetstream.ErrObjectNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look for blob %s: %w", id, err)
	}
	return true, nil
}

// awaitUncondemned returns once the blob is not condemned: at once when
// it is not, else when the sweep that condemned it is done with it, or
// when its marker is stale (the sweep died), which it removes.
func (s *Store) awaitUncondemned(ctx context.Context, id string) error {
	key := condemnedKey(id)
	for {
		e, err := s.docs.Get(ctx, key)
		if errors.Is(kvErr(err), ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("is blob %s condemned: %w", id, kvErr(err))
		}
		at, perr := time.Parse(time.RFC3339Nano, string(e.Value()))
		left := condemnStale - s.p.Clock.Since(at)
		if perr != nil || left <= 0 {
			err := s.docs.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
			if err != nil && !errors.Is(casErr(err), ErrConflict) && !errors.Is(kvErr(err), ErrNotFound) {
				return fmt.Errorf("remove the stale condemnation of blob %s: %w", id, kvErr(err))
			}
			s.log.Warn("stale condemnation of a blob removed (a blob purge died at it)", "blob", id, "since", string(e.Value()))
			continue
		}
		s.blobStep(stepWriterWaits, id)
		if err := s.awaitKeyChange(ctx, key, e.Revision(), left); err != nil {
			return fmt.Errorf("wait for the purge of blob %s: %w", id, err)
		}
	}
}

// awaitKeyChange waits until key is no longer at revision rev (changed,
// deleted or purged), or for d by the store's clock, or until ctx ends.
func (s *Store) awaitKeyChange(ctx context.Context, key string, rev uint64, d time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.docs.Watch(ctx, key)
	if err != nil {
		return kvErr(err)
	}
	defer func() { _ = w.Stop() }()
	timer := s.p.Clock.NewTimer(d)
	defer timer.Stop()
	seen := false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.Chan():
			return nil
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return nil
			case e == nil:
				if !seen {
					return nil // no value at all: gone
				}
			case e.Revision() != rev || e.Operation() != jetstream.KeyValuePut:
				return nil
			default:
				seen = true
			}
		}
	}
}

// PurgeBlobs removes the blobs no document, archived document or upload
// refers to, which were written more than BlobPurgeGrace ago, by mark and
// sweep, and says what it found: safe against writers that store or find
// the same blobs meanwhile (doc.go, "The blob purge", says how). It also
// removes the temporary objects of large writes (tmp-*) older than the
// grace and the stale pins. Run it on one node at a time or many: two
// purges never both delete a blob, and a writer is safe against each.
func (s *Store) PurgeBlobs(ctx context.Context) (BlobPurge, error) {
	var r BlobPurge
	if err := s.full(); err != nil {
		return r, err
	}
	t0 := s.p.Clock.Now()
	cutoff := t0.Add(-s.p.BlobPurgeGrace)
	if err := s.removeStaleCondemnations(ctx); err != nil {
		return r, err
	}

	// List first, then mark: a blob listed as old whose reference is
	// written after the mark began was found by its writer, who pinned it.
	list, err := s.blobs.List(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		return r, fmt.Errorf("purge blobs: list them: %w", err)
	}
	candidates := map[string]*jetstream.ObjectInfo{}
	var temporary []*jetstream.ObjectInfo
	named := map[string]bool{} // the NUIDs of the named blobs' chunks
	for _, o := range list {
		switch {
		case strings.HasPrefix(o.Name, "tmp-"):
			if blobWritten(o).Before(cutoff) {
				temporary = append(temporary, o)
			}
			continue
		case !strings.HasPrefix(o.Name, "sha256-"):
			continue // not the store's
		}
		named[o.NUID] = true
		r.Blobs++
		r.Bytes += int64(o.Size)
		if !blobWritten(o).Before(cutoff) {
			r.Young++
			continue
		}
		candidates[o.Name] = o
	}
	refs, err := s.referencedBlobs(ctx)
	if err != nil {
		return r, fmt.Errorf("purge blobs: %w", err)
	}
	ids := make([]string, 0, len(candidates))
	for id := range candidates {
		if _, ok := refs[id]; ok {
			r.Referenced++
			continue
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		o := candidates[id]
		s.blobStep(stepUnreferenced, id)
		removed, err := s.sweepBlob(ctx, o, cutoff)
		if err != nil {
			return r, fmt.Errorf("purge blobs: %w", err)
		}
		if !removed {
			r.Held++
			continue
		}
		r.Removed++
		r.Freed += int64(o.Size)
	}

	for _, o := range temporary {
		if err := s.removeTemporary(ctx, o, named[o.NUID]); err != nil {
			return r, fmt.Errorf("purge blobs: %w", err)
		}
		r.Temporary++
		if !named[o.NUID] {
			r.TemporaryBytes += int64(o.Size)
		}
	}
	if r.StalePins, err = s.removeStalePins(ctx, cutoff); err != nil {
		return r, fmt.Errorf("purge blobs: %w", err)
	}
	return r, nil
}

// referencedBlobs reads the blob of every document, archived document and
// upload (scanFiltered: a document destroyed meanwhile is seen by its
// archived copy, written after the scan began).
func (s *Store) referencedBlobs(ctx context.Context) (map[string]struct{}, error) {
	filters := []string{"*.archived.>", "*.upload.*"}
	for _, t := range Types {
		filters = append(filters, "*."+string(t)+".*")
	}
	refs := map[string]struct{}{}
	err := s.scanFiltered(ctx, s.docs, filters, func(key string, _ uint64, value []byte) error {
		if id := referredBlob(key, value); id != "" {
			refs[id] = struct{}{}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the blobs' references: %w", err)
	}
	return refs, nil
}

// referredBlob is the blob a document, archived document or upload key
// refers to, if any.
func referredBlob(key string, value []byte) string {
	if parts := strings.Split(key, "."); len(parts) == 3 && parts[1] == "upload" {
		return parts[2]
	}
	var d struct {
		BlobID string `json:"blobId"`
	}
	if json.Unmarshal(value, &d) != nil {
		// Unreadable: then nothing else can use it either; its blob, if it
		// had one, is not kept for it.
		return ""
	}
	return d.BlobID
}

// sweepBlob is the sweep's side of the handshake for an old unreferenced
// blob o: condemn it, read its pin, and delete it unless a writer pinned
// it since cutoff (or it changed since listed, or this took too long).
func (s *Store) sweepBlob(ctx context.Context, o *jetstream.ObjectInfo, cutoff time.Time) (bool, error) {
	key := condemnedKey(o.Name)
	condemned := s.p.Clock.Now().UTC()
	rev, err := s.docs.Create(ctx, key, []byte(condemned.Format(time.RFC3339Nano)))
	if errors.Is(kvErr(err), ErrExists) {
		return false, nil // another purge is at it
	}
	if err != nil {
		return false, fmt.Errorf("condemn blob %s: %w", o.Name, kvErr(err))
	}
	defer func() {
		if err := s.docs.Delete(context.WithoutCancel(ctx), key, jetstream.LastRevision(rev)); err != nil {
			s.log.Warn("blob condemnation left (a writer or the next purge removes it once stale)", "blob", o.Name, "err", err)
		}
	}()
	s.blobStep(stepCondemned, o.Name)
	e, err := s.docs.Get(ctx, pinKey(o.Name))
	switch {
	case err == nil:
		at, perr := time.Parse(time.RFC3339Nano, string(e.Value()))
		if perr != nil || !at.Before(cutoff) {
			return false, nil // a writer will refer to it
		}
	case !errors.Is(kvErr(err), ErrNotFound):
		return false, fmt.Errorf("read the pin of blob %s: %w", o.Name, kvErr(err))
	}
	s.blobStep(stepUnpinned, o.Name)
	now, err := s.blobs.GetInfo(ctx, o.Name)
	switch {
	case errors.Is(err, jetstream.ErrObjectNotFound):
		return false, nil // another purge removed it
	case err != nil:
		return false, fmt.Errorf("look for blob %s: %w", o.Name, err)
	case now.NUID != o.NUID:
		return false, nil // written again since listed: young
	}
	if took := s.p.Clock.Since(condemned); took > condemnLimit {
		s.log.Warn("blob purge too slow to delete a condemned blob, kept", "blob", o.Name, "took", took)
		return false, nil
	}
	if err := s.blobs.Delete(ctx, o.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return false, fmt.Errorf("delete blob %s: %w", o.Name, err)
	}
	return true, nil
}

// removeTemporary removes a large write's temporary object. One whose
// chunks a named blob shares (its rename was stored, the removal of its
// old name was not) loses its name only: deleting it would purge the
// named blob's chunks.
func (s *Store) removeTemporary(ctx context.Context, o *jetstream.ObjectInfo, shared bool) error {
	if shared {
		subj := "$O." + BucketBlobs + ".M." + base64.URLEncoding.EncodeToString([]byte(o.Name))
		if err := s.blobStream.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
			return fmt.Errorf("remove the name %s: %w", o.Name, err)
		}
		return nil
	}
	if err := s.blobs.Delete(ctx, o.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("delete %s: %w", o.Name, err)
	}
	return nil
}

// removeStaleCondemnations removes the condemned markers of purges that
// died at them, as a writer would.
func (s *Store) removeStaleCondemnations(ctx context.Context) error {
	return s.removeOlder(ctx, condemnedPrefix+"*", s.p.Clock.Now().Add(-condemnStale), nil)
}

// removeStalePins removes the pins from before cutoff: none protects a
// write still to come, whose pin is newer.
func (s *Store) removeStalePins(ctx context.Context, cutoff time.Time) (int, error) {
	n := 0
	err := s.removeOlder(ctx, pinPrefix+"*", cutoff, &n)
	return n, err
}

// removeOlder removes the keys matching filter whose time value is before
// cutoff, each at the revision read (one written again meanwhile stays),
// counting them in n when not nil.
func (s *Store) removeOlder(ctx context.Context, filter string, cutoff time.Time, n *int) error {
	type old struct {
		key string
		rev uint64
	}
	var gone []old
	err := s.scan(ctx, s.docs, filter, func(key string, rev uint64, v []byte) error {
		if at, err := time.Parse(time.RFC3339Nano, string(v)); err != nil || at.Before(cutoff) {
			gone = append(gone, old{key, rev})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, g := range gone {
		err := s.docs.Delete(ctx, g.key, jetstream.LastRevision(g.rev))
		switch {
		case errors.Is(casErr(err), ErrConflict):
			continue
		case err != nil:
			return fmt.Errorf("remove %s: %w", g.key, kvErr(err))
		}
		if n != nil {
			*n++
		}
	}
	return nil
}
