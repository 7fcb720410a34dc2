package taskmanager

import (
	"context"
	"slices"
	"time"

	"github.com/jetmail/jetmail/shared/engine"
	"github.com/jetmail/jetmail/shared/task"
)

// Query selects and orders tasks.
type Query struct {
	// Status keeps tasks with one of these statuses; empty keeps all.
	Status []task.StatusType
	// Types keeps tasks of these variants; empty keeps all.
	Types []task.Variant
	// AccountID keeps the tasks of one account.
	AccountID string
	// DueAfter and DueBefore bound the due time (the failure time of Failed
	// tasks): DueAfter <= when < DueBefore.
	DueAfter, DueBefore *time.Time
	// Descending sorts latest first; the default is soonest first.
	Descending bool
	// Position is the index of the first result; Limit caps the results
	// (0: no cap).
	Position, Limit int
}

// when is the time a listing sorts a task by: the due time of Pending and
// Retry tasks, the failure time of Failed ones.
func when(t *task.Task) time.Time {
	if t.Status.Type == task.Failed {
		return t.Status.FailedAt
	}
	return t.Status.Due
}

func (q Query) match(t *task.Task) bool {
	w := when(t)
	return (len(q.Status) == 0 || slices.Contains(q.Status, t.Status.Type)) &&
		(len(q.Types) == 0 || slices.Contains(q.Types, t.Variant())) &&
		(q.AccountID == "" || q.AccountID == task.AccountOf(t.Payload)) &&
		(q.DueAfter == nil || !w.Before(*q.DueAfter)) &&
		(q.DueBefore == nil || w.Before(*q.DueBefore))
}

// Query returns the ids of the tasks that match q, in order, and how many
// matched in all. It pages through the task bucket, keeping in memory only
// the page asked for.
func (m *Manager) Query(ctx context.Context, q Query) ([]string, int, error) {
	page := engine.NewPage[string](q.Position, q.Limit, q.Descending)
	err := m.eng.Scan(ctx, func(it *engine.Item[task.Task]) bool {
		if q.match(it.Value) {
			page.Add(it.Key, when(it.Value), it.Key)
		}
		return true
	})
	if err != nil {
		return nil, 0, err
	}
	ids, total := page.Result()
	return ids, total, nil
}
