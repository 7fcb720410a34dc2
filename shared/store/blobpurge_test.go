package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/store"
)

// openBlobs opens a store with p on a server of its own, its clock a fake
// one, and returns the JetStream context too, to reach the blob store
// behind the store's back.
func openBlobs(t *testing.T, p store.Params) (*store.Store, *clock.Fake, jetstream.JetStream) {
	t.Helper()
	js, err := jetstream.New(jetmailtest.Conn(t, jetmailtest.Server(t)))
	require.NoError(t, err)
	clk := clock.NewFake(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	p.JS, p.Clock, p.Logger = js, clk, jetmailtest.Logger()
	s, err := store.Open(context.Background(), p)
	require.NoError(t, err)
	return s, clk, js
}

func message(name string) []byte {
	return fmt.Appendf(nil, "Subject: %s\r\nMessage-ID: <%s@example.org>\r\n\r\nbody of %s\r\n", name, name, name)
}

func blobBytes(t *testing.T, s *store.Store, id string) ([]byte, error) {
	t.Helper()
	rc, err := s.Blob(context.Background(), id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func large(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 3<<20) // past PutBlob's 1 MiB: written under a temporary name, then renamed
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// A blob purge removes exactly the blobs written before the grace that no
// document, archived document or upload refers to: orphans small and
// large, a purged archive's blob and a crashed large write's temporary
// object go; emails (one blob for two accounts), an archived email,
// uploads and a young orphan stay, readable.
func TestPurgeBlobsRemovesExactlyTheUnreferenced(t *testing.T) {
	t.Parallel()
	s, clk, js := openBlobs(t, store.Params{ArchiveRetention: 2 * time.Hour})
	ctx := context.Background()
	alice, bob := account(t, s, "alice", 0), account(t, s, "bob", 0)
	keep := map[string][]byte{} // blob id -> content
	gone := map[string]int64{}  // blob id -> size

	shared := message("shared")
	d1, err := s.StoreEmail(ctx, alice.ID, shared, store.NewEmail{})
	require.NoError(t, err)
	d2, err := s.StoreEmail(ctx, bob.ID, shared, store.NewEmail{})
	require.NoError(t, err)
	require.Equal(t, d1.BlobID, d2.BlobID, "one blob for both")
	keep[d1.BlobID] = shared

	purged, err := s.StoreEmail(ctx, bob.ID, message("purged"), store.NewEmail{})
	require.NoError(t, err)
	require.NoError(t, s.DestroyDocument(ctx, bob.ID, store.EmailType, purged.ID))
	gone[purged.BlobID] = purged.Size

	small := []byte("an uploaded note")
	u1, err := s.Upload(ctx, alice.ID, bytes.NewReader(small), "text/plain")
	require.NoError(t, err)
	keep[u1.ID] = small
	big := large(t)
	u2, err := s.Upload(ctx, bob.ID, bytes.NewReader(big), "")
	require.NoError(t, err)
	keep[u2.ID] = big

	orphan := func(b []byte) {
		ref, err := s.PutBlob(ctx, bytes.NewReader(b))
		require.NoError(t, err)
		gone[ref.ID] = ref.Size
	}
	orphan([]byte("an orphan: its document never came"))
	orphan(large(t))
	// A large write that crashed before its rename left its temporary
	// object.
	obs, err := js.ObjectStore(ctx, store.BucketBlobs)
	require.NoError(t, err)
	half := []byte("half of a large blob")
	_, err = obs.Put(ctx, jetstream.ObjectMeta{Name: "tmp-crashed", Metadata: map[string]string{"written": clk.Now().Format(time.RFC3339Nano)}},
		bytes.NewReader(half))
	require.NoError(t, err)

	clk.Advance(3 * time.Hour)
	n, err := s.PurgeArchive(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the purged email's archived copy, past retention")
	archived, err := s.StoreEmail(ctx, alice.ID, message("archived"), store.NewEmail{})
	require.NoError(t, err)
	require.NoError(t, s.DestroyDocument(ctx, alice.ID, store.EmailType, archived.ID))
	keep[archived.BlobID] = message("archived")
	orphan([]byte("an orphan of later"))
	clk.Advance(2 * time.Hour) // all but the next are past the grace (1 h)
	young := []byte("a young orphan: its document may be on its way")
	yref, err := s.PutBlob(ctx, bytes.NewReader(young))
	require.NoError(t, err)
	keep[yref.ID] = young

	r, err := s.PurgeBlobs(ctx)
	require.NoError(t, err)
	var freed int64
	for _, size := range gone {
		freed += size
	}
	require.Equal(t, store.BlobPurge{
		Blobs: len(keep) + len(gone), Bytes: r.Bytes, Young: 1, Referenced: len(keep) - 1,
		Removed: len(gone), Freed: freed, Temporary: 1, TemporaryBytes: int64(len(half)),
	}, r)
	for id := range gone {
		info, err := obs.GetInfo(ctx, id, jetstream.GetObjectInfoShowDeleted())
		require.NoError(t, err)
		require.True(t, info.Deleted, "%s removed", id)
		_, err = s.Blob(ctx, id)
		require.ErrorIs(t, err, store.ErrNotFound, id)
	}
	for id, want := range keep {
		got, err := blobBytes(t, s, id)
		require.NoError(t, err, id)
		require.Equal(t, want, got, id)
	}
	list, err := obs.List(ctx)
	require.NoError(t, err)
	var names, kept []string
	for _, o := range list {
		names = append(names, o.Name)
	}
	for id := range keep {
		kept = append(kept, id)
	}
	sort.Strings(names)
	sort.Strings(kept)
	require.Equal(t, kept, names, "exactly the kept blobs are left, no temporary object")

	again, err := s.PurgeBlobs(ctx)
	require.NoError(t, err)
	require.Zero(t, again.Removed+again.Temporary, "nothing more to remove")
	require.Equal(t, len(keep), again.Blobs)
}

// hookRun is one run of the handshake's race with a writer put exactly in
// the window a hook opens: it reports whether the writer's email is
// readable afterwards.
type hookRun func(t *testing.T, noHandshake bool) (readable bool)

// The handshake closes the race of a writer that finds an old
// unreferenced blob stored while a purge removes it: in every window of
// the race, the writer's document finds its blob afterwards; with the
// writer's side of the handshake off, the same interleaving leaves the
// document pointing to a removed blob (so each run can fail).
func TestPurgeBlobsRacingAWriter(t *testing.T) {
	t.Parallel()
	// setup is a store with an old orphan of raw and an account to store
	// it in.
	setup := func(t *testing.T, raw []byte) (*store.Store, *clock.Fake, *store.Account, string) {
		s, clk, _ := openBlobs(t, store.Params{})
		ref, err := s.PutBlob(context.Background(), bytes.NewReader(raw))
		require.NoError(t, err)
		clk.Advance(2 * time.Hour)
		return s, clk, account(t, s, "wile", 0), ref.ID
	}
	readable := func(t *testing.T, s *store.Store, d *store.Document, want []byte) bool {
		got, err := blobBytes(t, s, d.BlobID)
		if err != nil {
			require.ErrorIs(t, err, store.ErrNotFound)
			return false
		}
		require.Equal(t, want, got)
		return true
	}
	raw := message("old")
	runs := map[string]hookRun{
		// The writer finds the blob and refers to it after the mark and
		// before the condemnation: the purge finds the pin.
		"between mark and condemnation": func(t *testing.T, off bool) bool {
			s, _, a, blob := setup(t, raw)
			var d *store.Document
			store.SetBlobHooks(s, func(step, id string) {
				if step == store.StepUnreferenced && id == blob {
					var err error
					d, err = s.StoreEmail(context.Background(), a.ID, raw, store.NewEmail{})
					require.NoError(t, err)
				}
			}, off)
			r, err := s.PurgeBlobs(context.Background())
			require.NoError(t, err)
			require.Equal(t, 1, r.Held+r.Removed)
			return readable(t, s, d, raw)
		},
		// The writer pins after the purge read the pin: it finds the blob
		// condemned, waits, and writes the blob again once it is gone.
		"after the pin was read": func(t *testing.T, off bool) bool {
			s, _, a, blob := setup(t, raw)
			waits := make(chan struct{}, 1)
			type result struct {
				d   *store.Document
				err error
			}
			done := make(chan result, 1)
			store.SetBlobHooks(s, func(step, id string) {
				switch {
				case step == store.StepUnpinned && id == blob:
					go func() {
						d, err := s.StoreEmail(context.Background(), a.ID, raw, store.NewEmail{})
						done <- result{d, err}
					}()
					if off {
						r := <-done
						done <- r
						return
					}
					<-waits
				case step == store.StepWriterWaits && id == blob:
					waits <- struct{}{}
				}
			}, off)
			r, err := s.PurgeBlobs(context.Background())
			require.NoError(t, err)
			require.Equal(t, 1, r.Removed, "deleted under the waiting writer")
			got := <-done
			require.NoError(t, got.err)
			return readable(t, s, got.d, raw)
		},
		// A whole purge runs between the writer's look and its pin: the
		// writer looks again after its pin, and writes the blob again.
		"between the writer's look and its pin": func(t *testing.T, off bool) bool {
			s, _, a, blob := setup(t, raw)
			store.SetBlobHooks(s, func(step, id string) {
				if step == store.StepWriterFound && id == blob {
					r, err := s.PurgeBlobs(context.Background())
					require.NoError(t, err)
					require.Equal(t, 1, r.Removed)
				}
			}, off)
			d, err := s.StoreEmail(context.Background(), a.ID, raw, store.NewEmail{})
			require.NoError(t, err)
			return readable(t, s, d, raw)
		},
		// The same for a file that names a blob its account refers to
		// already (FileNode/set): the blob is found gone, and the file
		// not written.
		"a file naming a stored blob between its look and its pin": func(t *testing.T, off bool) bool {
			s, _, a, blob := setup(t, raw)
			store.SetBlobHooks(s, func(step, id string) {
				if step == store.StepWriterFound && id == blob {
					r, err := s.PurgeBlobs(context.Background())
					require.NoError(t, err)
					require.Equal(t, 1, r.Removed)
				}
			}, off)
			ref, err := store.KeepBlob(context.Background(), s, blob)
			if err != nil {
				require.ErrorIs(t, err, store.ErrNotFound)
				return true // no file refers to the removed blob
			}
			d := &store.Document{Account: a.ID, Type: store.FileType, BlobID: ref.ID, Size: ref.Size}
			require.NoError(t, s.CreateDocument(context.Background(), d))
			return readable(t, s, d, raw)
		},
		// The same for a large upload, found stored when its temporary
		// object is renamed: it is renamed again once the blob is gone.
		"a large upload between its look and its pin": func(t *testing.T, off bool) bool {
			big := large(t)
			s, _, a, blob := setup(t, big)
			store.SetBlobHooks(s, func(step, id string) {
				if step == store.StepWriterFound && id == blob {
					r, err := s.PurgeBlobs(context.Background())
					require.NoError(t, err)
					require.Equal(t, 1, r.Removed)
				}
			}, off)
			u, err := s.Upload(context.Background(), a.ID, bytes.NewReader(big), "")
			require.NoError(t, err)
			got, err := blobBytes(t, s, u.ID)
			if err != nil {
				require.ErrorIs(t, err, store.ErrNotFound)
				return false
			}
			require.Equal(t, big, got)
			return true
		},
	}
	for name, run := range runs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.True(t, run(t, false), "with the handshake the writer's blob is there")
			require.False(t, run(t, true), "without it the same interleaving loses the blob")
		})
	}
}

// Two purges at one blob: the second finds it condemned and leaves it to
// the first. A purge too slow between condemning and deleting gives the
// blob up.
func TestPurgeBlobsConcurrentAndSlowPurges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, clk, _ := openBlobs(t, store.Params{})
	_, err := s.PutBlob(ctx, bytes.NewReader([]byte("orphan")))
	require.NoError(t, err)
	clk.Advance(2 * time.Hour)
	var inner store.BlobPurge
	nested := false
	store.SetBlobHooks(s, func(step, _ string) {
		if step == store.StepCondemned && !nested {
			nested = true
			var err error
			inner, err = s.PurgeBlobs(ctx)
			require.NoError(t, err)
		}
	}, false)
	outer, err := s.PurgeBlobs(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, inner.Held, "the other purge's")
	require.Equal(t, 1, outer.Removed)

	s, clk, _ = openBlobs(t, store.Params{})
	ref, err := s.PutBlob(ctx, bytes.NewReader([]byte("orphan")))
	require.NoError(t, err)
	clk.Advance(2 * time.Hour)
	store.SetBlobHooks(s, func(step, _ string) {
		if step == store.StepUnpinned {
			clk.Advance(6 * time.Second) // a stall past the 5 s bound
		}
	}, false)
	r, err := s.PurgeBlobs(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, r.Held)
	_, err = s.BlobInfo(ctx, ref.ID)
	require.NoError(t, err, "given up")
}

// A writer that finds its blob condemned waits for the purge; a
// condemnation a dead purge left is removed once stale, and the write
// goes on.
func TestWriterAndAStaleCondemnation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, clk, js := openBlobs(t, store.Params{})
	raw := message("old")
	ref, err := s.PutBlob(ctx, bytes.NewReader(raw))
	require.NoError(t, err)
	clk.Advance(2 * time.Hour)
	docs, err := js.KeyValue(ctx, store.BucketDocuments)
	require.NoError(t, err)
	_, err = docs.Create(ctx, store.CondemnedKey(ref.ID), []byte(clk.Now().Format(time.RFC3339Nano)))
	require.NoError(t, err)
	a := account(t, s, "wile", 0)
	waits := make(chan struct{}, 1)
	store.SetBlobHooks(s, func(step, _ string) {
		if step == store.StepWriterWaits {
			waits <- struct{}{}
		}
	}, false)
	done := make(chan error, 1)
	var d *store.Document
	go func() {
		var err error
		d, err = s.StoreEmail(ctx, a.ID, raw, store.NewEmail{})
		done <- err
	}()
	<-waits
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, clk.BlockUntilContext(wctx, 1), "the writer waits on its timer")
	select {
	case err := <-done:
		t.Fatalf("the writer went on under a live condemnation: %v", err)
	default:
	}
	pinned := clk.Now().Format(time.RFC3339Nano)
	clk.Advance(31 * time.Second)
	require.NoError(t, <-done)
	_, err = docs.Get(ctx, store.CondemnedKey(ref.ID))
	require.ErrorIs(t, err, jetstream.ErrKeyNotFound, "the stale condemnation removed")
	got, err := blobBytes(t, s, d.BlobID)
	require.NoError(t, err)
	require.Equal(t, raw, got)
	pin, err := docs.Get(ctx, store.PinKey(ref.ID))
	require.NoError(t, err)
	require.Equal(t, pinned, string(pin.Value()), "pinned by the writer")
}

// Writers store emails whose bytes are old unreferenced blobs (found
// stored: a dedup hit each) while purges run one after another: every
// email's blob is there afterwards, the orphans no one wrote are gone, and
// once the pins are stale a purge removes them and keeps the emails'
// blobs, now referenced.
func TestPurgeBlobsWhileWriting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, clk, js := openBlobs(t, store.Params{})
	const orphans, writers = 24, 4
	var raws [][]byte
	var ids []string
	for i := range orphans {
		raw := message(fmt.Sprintf("orphan-%d", i))
		ref, err := s.PutBlob(ctx, bytes.NewReader(raw))
		require.NoError(t, err)
		raws, ids = append(raws, raw), append(ids, ref.ID)
	}
	var accounts []*store.Account
	for w := range writers {
		accounts = append(accounts, account(t, s, fmt.Sprintf("writer%d", w), 0))
	}
	clk.Advance(2 * time.Hour)
	targets := orphans / 2 // the first half are written to; the rest never

	var wg sync.WaitGroup
	var mu sync.Mutex
	var docs []*store.Document
	errs := make(chan error, writers)
	var started sync.WaitGroup // each writer's first email is stored
	for w := range writers {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			for i := range targets {
				if i == 1 {
					started.Done()
				}
				k := (i + w*5) % targets
				d, err := s.StoreEmail(ctx, accounts[w].ID, raws[k], store.NewEmail{})
				if err != nil {
					errs <- err
					if i == 0 {
						started.Done()
					}
					return
				}
				mu.Lock()
				docs = append(docs, d)
				mu.Unlock()
			}
		}()
	}
	started.Wait()
	stop := make(chan struct{})
	go func() { wg.Wait(); close(stop) }()
	purges, removed, held := 0, 0, 0
	for done := false; !done || purges < 3; purges++ {
		select {
		case <-stop:
			done = true
		default:
		}
		r, err := s.PurgeBlobs(ctx)
		require.NoError(t, err)
		removed += r.Removed
		held += r.Held
	}
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, docs, writers*targets)
	for _, d := range docs {
		_, err := blobBytes(t, s, d.BlobID)
		require.NoError(t, err, "email %s/%s's blob", d.Account, d.ID)
	}
	for i, id := range ids {
		_, err := s.BlobInfo(ctx, id)
		if i < targets {
			require.NoError(t, err, "written to: kept")
		} else {
			require.ErrorIs(t, err, store.ErrNotFound, "never written to: removed")
		}
	}
	require.GreaterOrEqual(t, removed, orphans-targets)
	// Without the writers' handshake (SetBlobHooks noHandshake) this test
	// finds emails whose blob is gone in nearly every run; the hook tests
	// above show it in every run.
	t.Logf("%d purges while %d writers stored %d emails; %d blobs removed, %d held for a writer", purges, writers, len(docs), removed, held)

	// A target a purge removed before any writer came to it was written
	// again, young, without a pin; the others have theirs (at least the
	// writers' first, stored before the purges began).
	kv, err := js.KeyValue(ctx, store.BucketDocuments)
	require.NoError(t, err)
	pins := func() int {
		l, err := kv.ListKeysFiltered(ctx, store.PinKey("*"))
		require.NoError(t, err)
		n := 0
		for range l.Keys() {
			n++
		}
		return n
	}
	pinned := pins()
	require.Positive(t, pinned)
	require.LessOrEqual(t, pinned, targets)
	clk.Advance(2 * time.Hour)
	r, err := s.PurgeBlobs(ctx)
	require.NoError(t, err)
	require.Equal(t, pinned, r.StalePins, "the writers' pins, stale")
	require.Zero(t, pins())
	require.Equal(t, targets, r.Referenced)
	require.Zero(t, r.Removed)
}
