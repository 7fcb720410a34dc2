package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// blobInMemory is how much of a blob PutBlob reads before it knows the
// blob's name: a smaller one is named first and written once, a larger one
// is written under a temporary name while it is hashed, then renamed.
const blobInMemory = 1 << 20

// BlobRef names a stored blob.
type BlobRef struct {
	// ID is "sha256-<hex of the content's SHA-256>".
	ID   string `json:"blobId"`
	Size int64  `json:"size"`
}

// PutBlob stores r's bytes under their hash and returns their name: the
// same bytes are stored once, however often they are put.
func (s *Store) PutBlob(ctx context.Context, r io.Reader) (BlobRef, error) {
	if err := s.full(); err != nil {
		return BlobRef{}, err
	}
	head := make([]byte, 0, 4096)
	buf := bytes.NewBuffer(head)
	n, err := io.CopyN(buf, r, blobInMemory+1)
	if err != nil && !errors.Is(err, io.EOF) {
		return BlobRef{}, fmt.Errorf("read a blob: %w", err)
	}
	if n <= blobInMemory {
		return s.putBlobBytes(ctx, buf.Bytes())
	}
	// Too large to hold: write it under a temporary name while hashing,
	// then give it its name (or drop it, when those bytes are stored).
	h := sha256.New()
	tmp := "tmp-" + NewID()
	info, err := s.blobs.Put(ctx, jetstream.ObjectMeta{Name: tmp, Metadata: s.writtenMeta()}, io.TeeReader(io.MultiReader(buf, r), h))
	if err != nil {
		_ = s.blobs.Delete(context.WithoutCancel(ctx), tmp)
		return BlobRef{}, fmt.Errorf("store a blob: %w", err)
	}
	ref := BlobRef{ID: "sha256-" + hex.EncodeToString(h.Sum(nil)), Size: int64(info.Size)}
	drop := func() { _ = s.blobs.Delete(context.WithoutCancel(ctx), tmp) }
	// A purge may remove the stored blob between the rename's refusal and
	// the look at it: then rename again, a few times.
	for range 5 {
		err = s.blobs.UpdateMeta(ctx, tmp, jetstream.ObjectMeta{Name: ref.ID, Metadata: s.writtenMeta()})
		if err == nil {
			return ref, nil
		}
		if !errors.Is(err, jetstream.ErrObjectAlreadyExists) {
			if named, _ := s.blobs.GetInfo(ctx, ref.ID); named != nil && named.NUID == info.NUID {
				// Renamed; only the old name stayed, which the purge
				// removes (and keeps the chunks).
				return ref, nil
			}
			drop()
			return BlobRef{}, fmt.Errorf("name blob %s: %w", ref.ID, err)
		}
		// Those bytes are stored already: keep them, drop these.
		stored, err := s.blobs.GetInfo(ctx, ref.ID)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			continue
		}
		if err != nil {
			drop()
			return BlobRef{}, fmt.Errorf("look for blob %s: %w", ref.ID, err)
		}
		kept, err := s.keepStored(ctx, ref.ID, stored)
		if err != nil {
			drop()
			return BlobRef{}, err
		}
		if kept {
			drop()
			return ref, nil
		}
	}
	drop()
	return BlobRef{}, fmt.Errorf("name blob %s: removed and written again by others, time after time", ref.ID)
}

// putBlobBytes is PutBlob for bytes in memory, of any size: named before
// anything is written, they are not written again when stored already.
// (StoreEmail puts a message this way: the streaming PutBlob wrote a large
// message whole, once for each account it was delivered to, to find each
// time that the bytes were stored.) Found stored, a blob is kept for the
// caller's document by the handshake with the blob purge (keepStored).
func (s *Store) putBlobBytes(ctx context.Context, b []byte) (BlobRef, error) {
	if err := s.full(); err != nil {
		return BlobRef{}, err
	}
	sum := sha256.Sum256(b)
	ref := BlobRef{ID: "sha256-" + hex.EncodeToString(sum[:]), Size: int64(len(b))}
	info, err := s.blobs.GetInfo(ctx, ref.ID)
	switch {
	case err == nil:
		kept, err := s.keepStored(ctx, ref.ID, info)
		if err != nil {
			return BlobRef{}, err
		}
		if kept {
			return ref, nil
		}
		// A purge removed it meanwhile: write it again.
	case !errors.Is(err, jetstream.ErrObjectNotFound):
		return BlobRef{}, fmt.Errorf("look for blob %s: %w", ref.ID, err)
	}
	if _, err := s.blobs.Put(ctx, jetstream.ObjectMeta{Name: ref.ID, Metadata: s.writtenMeta()}, bytes.NewReader(b)); err != nil {
		return BlobRef{}, fmt.Errorf("store blob %s: %w", ref.ID, err)
	}
	return ref, nil
}

// Blob opens a stored blob for reading; the caller closes it.
//
// A blob of one chunk (up to the object store's 128 KB: most messages) is
// read with one message get and checked against its name; a larger one is
// streamed by the object store, which makes a consumer per read.
func (s *Store) Blob(ctx context.Context, id string) (io.ReadCloser, error) {
	if err := s.full(); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(id, "sha256-") {
		return nil, fmt.Errorf("blob %q: %w", id, ErrNotFound)
	}
	info, err := s.blobs.GetInfo(ctx, id)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("blob %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", id, err)
	}
	switch {
	case info.Chunks == 0:
		return io.NopCloser(bytes.NewReader(nil)), nil
	case info.Chunks == 1 && s.blobStream != nil:
		m, err := s.blobStream.GetLastMsgForSubject(ctx, "$O."+BucketBlobs+".C."+info.NUID)
		if err != nil {
			return nil, fmt.Errorf("blob %s: %w", id, err)
		}
		sum := sha256.Sum256(m.Data)
		if "sha256-"+hex.EncodeToString(sum[:]) != id {
			return nil, fmt.Errorf("blob %s: its content does not match its name", id)
		}
		return io.NopCloser(bytes.NewReader(m.Data)), nil
	}
	r, err := s.blobs.Get(ctx, id)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("blob %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", id, err)
	}
	return r, nil
}

// keepBlob is BlobInfo for a writer about to refer to a stored blob
// without writing it (a file naming a blob its account refers to
// already): found stored, the blob is kept for the writer's document as
// putBlobBytes keeps one (keepStored). It is ErrNotFound when the blob is
// not stored, or a purge removed it meanwhile.
func (s *Store) keepBlob(ctx context.Context, id string) (BlobRef, error) {
	if err := s.full(); err != nil {
		return BlobRef{}, err
	}
	info, err := s.blobInfo(ctx, id)
	if err != nil {
		return BlobRef{}, err
	}
	kept, err := s.keepStored(ctx, id, info)
	if err != nil {
		return BlobRef{}, err
	}
	if !kept {
		return BlobRef{}, fmt.Errorf("blob %s: %w (removed by the blob purge)", id, ErrNotFound)
	}
	return BlobRef{ID: id, Size: int64(info.Size)}, nil
}
