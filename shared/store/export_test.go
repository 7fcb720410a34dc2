package store

import "context"

// The steps of the blob purge's handshake a test may stop at.
const (
	StepWriterFound  = string(stepWriterFound)
	StepWriterWaits  = string(stepWriterWaits)
	StepUnreferenced = string(stepUnreferenced)
	StepCondemned    = string(stepCondemned)
	StepUnpinned     = string(stepUnpinned)
)

// SetBlobHooks calls hook at each step of the blob purge's handshake, and
// with noHandshake turns the writer's side off. Set it before s is used.
func SetBlobHooks(s *Store, hook func(step, blob string), noHandshake bool) {
	s.blobHooks = &blobHooks{noHandshake: noHandshake, hook: func(step blobStep, blob string) {
		if hook != nil {
			hook(string(step), blob)
		}
	}}
}

// CondemnedKey and PinKey are the handshake's keys of a blob.
func CondemnedKey(blob string) string { return condemnedKey(blob) }
func PinKey(blob string) string       { return pinKey(blob) }

// KeepBlob is what FileNode/set does with the blob a file names.
func KeepBlob(ctx context.Context, s *Store, id string) (BlobRef, error) { return s.keepBlob(ctx, id) }
