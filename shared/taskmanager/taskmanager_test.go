package taskmanager_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// start runs a node with a task manager on nc.
func start(t *testing.T, nc *nats.Conn, id string, changes ...func(*config.Config)) (*node.Node, *taskmanager.Manager) {
	t.Helper()
	changes = append([]func(*config.Config){func(c *config.Config) { c.Task.Periodic = map[string]config.Periodic{} }}, changes...)
	n := jetmailtest.Node(t, nc, jetmailtest.Config(t, id, changes...))
	m := taskmanager.New(taskmanager.Params{Deps: n.Deps()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, m.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Shutdown(ctx)
	})
	return n, m
}

func fixedRetry(t *testing.T, m *taskmanager.Manager, maxAttempts int, delay string) {
	t.Helper()
	_, perrs, err := m.UpdateSettings(context.Background(), json.RawMessage(fmt.Sprintf(
		`{"maxAttempts": %d, "strategy": {"@type": "FixedDelay", "delay": %q}}`, maxAttempts, delay)))
	require.NoError(t, err)
	require.Empty(t, perrs)
}

func trace(id string) task.Payload { return &task.IndexTraceTask{TraceID: id} }

func TestTaskRunsAtItsDueTime(t *testing.T) {
	t.Parallel()
	_, m := start(t, jetmailtest.Conn(t, jetmailtest.Server(t)), "1")
	ran := make(chan time.Time, 1)
	m.Handle(task.IndexTrace, func(ctx context.Context, tk *task.Task) error { ran <- time.Now(); return nil })
	due := time.Now().Add(2 * time.Second)
	tk, err := m.Create(context.Background(), trace("t1"), &due)
	require.NoError(t, err)
	got, err := m.Get(context.Background(), tk.ID)
	require.NoError(t, err)
	require.Equal(t, task.Pending, got.Status.Type)
	select {
	case at := <-ran:
		late := at.Sub(due)
		t.Logf("ran %s after due", late)
		require.GreaterOrEqual(t, late, time.Duration(0), "ran early")
		require.Less(t, late, 500*time.Millisecond)
	case <-time.After(5 * time.Second):
		t.Fatal("task did not run")
	}
	require.Eventually(t, func() bool {
		_, err := m.Get(context.Background(), tk.ID)
		return errors.Is(err, taskmanager.ErrNotFound)
	},
		2*time.Second, 20*time.Millisecond, "a done task is removed")
}

func TestRescheduleAndDestroy(t *testing.T) {
	t.Parallel()
	_, m := start(t, jetmailtest.Conn(t, jetmailtest.Server(t)), "1")
	var mu sync.Mutex
	ran := map[string]time.Time{}
	m.Handle(task.IndexTrace, func(ctx context.Context, tk *task.Task) error {
		mu.Lock()
		defer mu.Unlock()
		ran[tk.Payload.(*task.IndexTraceTask).TraceID] = time.Now()
		return nil
	})
	ctx := context.Background()
	soon := time.Now().Add(time.Second)
	moved, err := m.Create(ctx, trace("moved"), &soon)
	require.NoError(t, err)
	gone, err := m.Create(ctx, trace("gone"), &soon)
	require.NoError(t, err)
	later := time.Now().Add(2500 * time.Millisecond)
	_, err = m.Reschedule(ctx, moved.ID, later)
	require.NoError(t, err)
	require.NoError(t, m.Destroy(ctx, gone.ID))

	time.Sleep(1800 * time.Millisecond)
	mu.Lock()
	require.Empty(t, ran, "nothing may run at the old due time")
	mu.Unlock()
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); _, ok := ran["moved"]; return ok }, 3*time.Second, 20*time.Millisecond)
	mu.Lock()
	require.GreaterOrEqual(t, ran["moved"].Sub(later), time.Duration(0))
	mu.Unlock()
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	_, ok := ran["gone"]
	require.False(t, ok, "a destroyed task must not run")
	_, err = m.Get(ctx, gone.ID)
	require.ErrorIs(t, err, taskmanager.ErrNotFound)
}

func TestFailingTaskWalksToFailed(t *testing.T) {
	t.Parallel()
	_, m := start(t, jetmailtest.Conn(t, jetmailtest.Server(t)), "1")
	fixedRetry(t, m, 3, "300ms")
	var attempts atomic.Int32
	m.Handle(task.IndexTrace, func(ctx context.Context, tk *task.Task) error {
		return fmt.Errorf("index unavailable (attempt %d)", attempts.Add(1))
	})
	ctx := context.Background()
	tk, err := m.Create(ctx, trace("x"), nil)
	require.NoError(t, err)

	var seen []task.Status
	require.Eventually(t, func() bool {
		got, err := m.Get(ctx, tk.ID)
		require.NoError(t, err)
		if len(seen) == 0 || seen[len(seen)-1].Type != got.Status.Type || seen[len(seen)-1].Attempts() != got.Status.Attempts() {
			seen = append(seen, got.Status)
		}
		return got.Status.Type == task.Failed
	}, 10*time.Second, 5*time.Millisecond)
	final := seen[len(seen)-1]
	require.Equal(t, 3, final.FailedAttemptNumber)
	require.Equal(t, "index unavailable (attempt 3)", final.FailureReason)
	require.False(t, final.FailedAt.IsZero())
	var retries []task.Status
	for _, s := range seen {
		if s.Type == task.Retry {
			retries = append(retries, s)
		}
	}
	require.Len(t, retries, 2, "%+v", seen)
	require.Equal(t, 1, retries[0].AttemptNumber)
	require.Equal(t, "index unavailable (attempt 1)", retries[0].FailureReason)
	require.Equal(t, 2, retries[1].AttemptNumber)
	require.EqualValues(t, 3, attempts.Load())

	// A failed task stays until retried; a retry starts again from attempt 1.
	m.Handle(task.IndexTrace, func(ctx context.Context, tk *task.Task) error { return nil })
	_, err = m.Retry(ctx, tk.ID, time.Time{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, err := m.Get(ctx, tk.ID); return errors.Is(err, taskmanager.ErrNotFound) }, 5*time.Second, 10*time.Millisecond)
}

func TestNoHandlerIsAClearFailure(t *testing.T) {
	t.Parallel()
	_, m := start(t, jetmailtest.Conn(t, jetmailtest.Server(t)), "1")
	fixedRetry(t, m, 1, "1s")
	ctx := context.Background()
	tk, err := m.Create(ctx, &task.AcmeRenewalTask{DomainID: "example.org"}, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := m.Get(ctx, tk.ID)
		require.NoError(t, err, "the task must not vanish")
		return got.Status.Type == task.Failed && got.Status.FailureReason == "no handler for AcmeRenewal on this node"
	}, 5*time.Second, 10*time.Millisecond)
}

// A node dies in the middle of a task: another node of the role runs it,
// and it completes once.
func TestKilledWorkerMidTask(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	both := func(c *config.Config) {
		ss, _ := rolesShards("a,b")
		c.Cluster.Roles["fts-indexing"] = ss
	}
	// Node a alone takes the task and hangs in it.
	ncA, err := srv.Connect()
	require.NoError(t, err)
	_, mA := start(t, ncA, "a", both)
	started := make(chan struct{})
	var startedOnce sync.Once
	mA.Handle(task.IndexTrace, func(ctx context.Context, tk *task.Task) error {
		startedOnce.Do(func() { close(started) })
		<-ctx.Done()
		return ctx.Err()
	})
	ctx := context.Background()
	tk, err := mA.Create(ctx, trace("long"), nil)
	require.NoError(t, err)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("node a never started the task")
	}

	// Node b joins the shard, then a dies without a word.
	var completions atomic.Int32
	_, mB := start(t, jetmailtest.Conn(t, srv), "b", both)
	mB.Handle(task.IndexTrace, func(ctx context.Context, tk *task.Task) error {
		completions.Add(1)
		return nil
	})
	ncA.Close()
	require.Eventually(t, func() bool { return completions.Load() == 1 }, 15*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { _, err := mB.Get(ctx, tk.ID); return errors.Is(err, taskmanager.ErrNotFound) }, 5*time.Second, 20*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	require.EqualValues(t, 1, completions.Load())
}

func TestPeriodicFiresOncePerTickWithThreeNodes(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	periodic := func(c *config.Config) {
		c.Task.Periodic = map[string]config.Periodic{"purge": {Schedule: "@every 1s",
			Task: json.RawMessage(`{"@type":"StoreMaintenance","maintenanceType":"purgeData"}`)}}
		ss, _ := rolesShards("1,2,3")
		c.Cluster.Roles["purge.stores"] = ss
	}
	var mu sync.Mutex
	runs := map[string]int{}
	for _, id := range []string{"1", "2", "3"} {
		n := jetmailtest.Node(t, jetmailtest.Conn(t, srv), jetmailtest.Config(t, id, periodic))
		m := taskmanager.New(taskmanager.Params{Deps: n.Deps()})
		m.Handle(task.StoreMaintenance, func(ctx context.Context, tk *task.Task) error {
			mu.Lock()
			defer mu.Unlock()
			runs[tk.ID]++
			return nil
		})
		require.NoError(t, m.Start(context.Background()))
		t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	}
	time.Sleep(5500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("firings: %v", runs)
	require.GreaterOrEqual(t, len(runs), 4, "about one firing a second")
	require.LessOrEqual(t, len(runs), 7)
	for id, n := range runs {
		require.Equal(t, 1, n, "firing %s ran %d times", id, n)
	}
}

// A task written without its trigger (a crash between the two) is found by
// the leader's rescuer and runs.
func TestRescuerTriggersLostTask(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	n := jetmailtest.Node(t, jetmailtest.Conn(t, srv), jetmailtest.Config(t, "1", func(c *config.Config) { c.Task.Periodic = map[string]config.Periodic{} }))
	m := taskmanager.New(taskmanager.Params{Deps: n.Deps(), RescueAfter: time.Second, RescueInterval: 200 * time.Millisecond})
	require.NoError(t, m.Start(context.Background()))
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	ran := make(chan string, 1)
	m.Handle(task.IndexTrace, func(ctx context.Context, tk *task.Task) error { ran <- tk.ID; return nil })
	lost := writeWithoutTrigger(t, srv, trace("lost"))
	select {
	case id := <-ran:
		require.Equal(t, lost, id)
	case <-time.After(10 * time.Second):
		t.Fatal("the rescuer did not trigger the lost task")
	}
}

// Settings apply from the next retry, without a restart.
func TestSettingsApplyFromNextRetry(t *testing.T) {
	t.Parallel()
	_, m := start(t, jetmailtest.Conn(t, jetmailtest.Server(t)), "1")
	fixedRetry(t, m, 5, "1h")
	fail := func(ctx context.Context, tk *task.Task) error { return errors.New("nope") }
	m.Handle(task.IndexTrace, fail)
	ctx := context.Background()
	tk, err := m.Create(ctx, trace("s"), nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { g, _ := m.Get(ctx, tk.ID); return g != nil && g.Status.Type == task.Retry }, 5*time.Second, 10*time.Millisecond)
	g, _ := m.Get(ctx, tk.ID)
	require.WithinDuration(t, time.Now().Add(time.Hour), g.Status.Due, 5*time.Second)

	fixedRetry(t, m, 5, "200ms")
	_, err = m.Reschedule(ctx, tk.ID, time.Now())
	require.NoError(t, err)
	require.Eventually(t, func() bool { g, _ := m.Get(ctx, tk.ID); return g != nil && g.Status.Attempts() >= 3 }, 5*time.Second, 10*time.Millisecond,
		"with the new 200ms delay the task retries at once")
}

func TestQuery(t *testing.T) {
	t.Parallel()
	_, m := start(t, jetmailtest.Conn(t, jetmailtest.Server(t)), "1")
	ctx := context.Background()
	base := time.Now().Add(time.Hour).Truncate(time.Second)
	var ids []string
	for i := range 5 {
		due := base.Add(time.Duration(i) * time.Minute)
		acct := "a1"
		if i%2 == 1 {
			acct = "a2"
		}
		tk, err := m.Create(ctx, &task.IndexDocumentTask{AccountID: acct, DocumentID: fmt.Sprint(i), DocumentType: "email"}, &due)
		require.NoError(t, err)
		ids = append(ids, tk.ID)
	}
	_, err := m.Create(ctx, &task.AcmeRenewalTask{DomainID: "d"}, &base)
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, total := query(t, m, taskmanager.Query{}); return total == 6 }, 2*time.Second, 10*time.Millisecond)

	got, total := query(t, m, taskmanager.Query{Types: []task.Variant{task.IndexDocument}})
	require.Equal(t, 5, total)
	require.Equal(t, ids, got, "sorted by due")
	got, total = query(t, m, taskmanager.Query{AccountID: "a2"})
	require.Equal(t, 2, total)
	require.Equal(t, []string{ids[1], ids[3]}, got)
	after, before := base.Add(time.Minute), base.Add(3*time.Minute)
	got, _ = query(t, m, taskmanager.Query{DueAfter: &after, DueBefore: &before})
	require.Equal(t, []string{ids[1], ids[2]}, got)
	got, total = query(t, m, taskmanager.Query{Types: []task.Variant{task.IndexDocument}, Descending: true, Position: 1, Limit: 2})
	require.Equal(t, 5, total)
	require.Equal(t, []string{ids[3], ids[2]}, got)
	got, _ = query(t, m, taskmanager.Query{Status: []task.StatusType{task.Failed}})
	require.Empty(t, got)
}

// query runs a query that must succeed.
func query(t *testing.T, m *taskmanager.Manager, q taskmanager.Query) ([]string, int) {
	t.Helper()
	ids, total, err := m.Query(context.Background(), q)
	require.NoError(t, err)
	return ids, total
}

// writeWithoutTrigger stores a due task as Create does but publishes no
// trigger, as a crash between the two would leave it.
func writeWithoutTrigger(t *testing.T, srv *embedded.Server, p task.Payload) string {
	t.Helper()
	js := jetstreamFor(t, srv)
	kv, err := js.KeyValue(context.Background(), taskmanager.BucketTasks)
	require.NoError(t, err)
	now := time.Now().UTC()
	tk := &task.Task{ID: "lost1", Payload: p, CreatedAt: now, ActiveSince: now, Status: task.Status{Type: task.Pending, Due: now}}
	value, err := tk.Encode()
	require.NoError(t, err)
	// The engine's stored form (package engine): the task with its trigger's gen and token.
	data, err := json.Marshal(map[string]any{"gen": 1, "token": "tok", "value": json.RawMessage(value)})
	require.NoError(t, err)
	_, err = kv.Create(context.Background(), tk.ID, data)
	require.NoError(t, err)
	return tk.ID
}

// CreateMany stores a batch, tasks due now and later, in the order given;
// every task runs once.
func TestCreateMany(t *testing.T) {
	t.Parallel()
	_, m := start(t, jetmailtest.Conn(t, jetmailtest.Server(t)), "1")
	ctx := context.Background()
	var mu sync.Mutex
	ran := map[string]int{}
	m.Handle(task.IndexTrace, func(ctx context.Context, tk *task.Task) error {
		mu.Lock()
		defer mu.Unlock()
		ran[tk.ID]++
		return nil
	})
	const n = 3000 // more than one pipelined window of the engine
	soon := time.Now().Add(1500 * time.Millisecond)
	news := make([]taskmanager.NewTask, n)
	for i := range news {
		news[i].Payload = trace(fmt.Sprint("t", i))
		if i%3 == 0 {
			news[i].Due = &soon
		}
	}
	tasks, err := m.CreateMany(ctx, news)
	require.NoError(t, err)
	require.Len(t, tasks, n)
	for i, tk := range tasks {
		require.Equal(t, fmt.Sprint("t", i), tk.Payload.(*task.IndexTraceTask).TraceID, "in the order given")
		if i%3 == 0 {
			require.True(t, tk.Status.Due.Equal(soon))
		}
	}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ran) == n
	}, 20*time.Second, 20*time.Millisecond, "every task runs")
	mu.Lock()
	for id, times := range ran {
		require.Equal(t, 1, times, "task %s ran once", id)
	}
	mu.Unlock()
	require.Eventually(t, func() bool { _, total := query(t, m, taskmanager.Query{}); return total == 0 }, 5*time.Second, 20*time.Millisecond)
}

// An invalid task fails the whole batch before anything is written, and
// the error names every invalid task by its index.
func TestCreateManyNamesInvalidTasks(t *testing.T) {
	t.Parallel()
	_, m := start(t, jetmailtest.Conn(t, jetmailtest.Server(t)), "1")
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	_, err := m.CreateMany(ctx, []taskmanager.NewTask{
		{Payload: trace("ok"), Due: &later},
		{Payload: &task.IndexDocumentTask{}, Due: &later},
		{Payload: trace("ok too"), Due: &later},
		{Payload: nil},
	})
	require.Error(t, err)
	var indexes []int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *taskmanager.CreateError
		require.ErrorAs(t, e, &ce)
		indexes = append(indexes, ce.Index)
	}
	require.Equal(t, []int{1, 3}, indexes)
	require.ErrorContains(t, err, "create task 1 of the batch: IndexDocument")
	_, total := query(t, m, taskmanager.Query{})
	require.Zero(t, total, "nothing stored")

	// Create is CreateMany with one task, with the cause as its error.
	_, err = m.Create(ctx, &task.IndexDocumentTask{}, nil)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "batch")
}
