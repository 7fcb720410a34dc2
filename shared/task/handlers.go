package task

import (
	"context"
	"sync"
)

// Handler runs one attempt of a task. A nil error completes it; an error
// fails the attempt (the retry policy decides what follows).
type Handler func(ctx context.Context, t *Task) error

// Handlers maps variants to the handlers this node has for them. Services
// register theirs when they start; a variant with no handler fails with
// "no handler for <variant> on this node" and nothing vanishes.
type Handlers struct {
	mu sync.RWMutex
	m  map[Variant]Handler
}

// NewHandlers returns an empty registry.
func NewHandlers() *Handlers { return &Handlers{m: map[Variant]Handler{}} }

// Handle registers fn for v, replacing any handler before it.
func (h *Handlers) Handle(v Variant, fn Handler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.m[v] = fn
}

// Lookup returns v's handler.
func (h *Handlers) Lookup(v Variant) (Handler, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	fn, ok := h.m[v]
	return fn, ok
}
