// Package lifecycle is the one start/stop shape of jetmail's services and
// background components: Start runs once, a failed Start rolls back what it
// had started, and Stop runs once, only after a Start that succeeded, so
// that stopping twice, or stopping what never started, is safe.
//
//	new --Start ok--> started --Stop--> stopped
//	new --Start fails--> new (what it started is undone; Start may be tried again)
//	started --Start--> started (nothing happens)
//	new, stopped --Stop--> unchanged (nothing happens)
package lifecycle

import (
	"context"
	"errors"
	"sync"
)

// Undo collects what a Start has started, to be undone in reverse order if
// the Start fails, or by Stop.
type Undo struct{ fns []func(context.Context) error }

// Add registers fn to undo a step that succeeded.
func (u *Undo) Add(fn func(ctx context.Context) error) { u.fns = append(u.fns, fn) }

func (u *Undo) run(ctx context.Context) error {
	var errs []error
	for i := len(u.fns) - 1; i >= 0; i-- {
		if err := u.fns[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	u.fns = nil
	return errors.Join(errs...)
}

// Lifecycle is embedded in a component to give it the shape above. The zero
// value is ready.
type Lifecycle struct {
	mu      sync.Mutex
	started bool
	stopped bool
	undo    Undo
}

// Start runs start once. start registers an undo for each step it takes;
// if it fails, those are undone (newest first) and its error is returned.
// Once started, Start does nothing.
func (l *Lifecycle) Start(ctx context.Context, start func(ctx context.Context, undo *Undo) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.stopped {
		return nil
	}
	if err := start(ctx, &l.undo); err != nil {
		return errors.Join(err, l.undo.run(ctx))
	}
	l.started = true
	return nil
}

// Stop undoes what Start started, newest first, once; it does nothing
// before a successful Start or after a Stop.
func (l *Lifecycle) Stop(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.started || l.stopped {
		return nil
	}
	l.stopped = true
	return l.undo.run(ctx)
}

// Started reports whether the component is running.
func (l *Lifecycle) Started() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.started && !l.stopped
}
