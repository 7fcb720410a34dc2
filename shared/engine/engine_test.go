package engine_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/engine"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/work"
)

// job is the item type of these tests.
type job struct {
	Due  time.Time `json:"due"`
	Held bool      `json:"held,omitempty"`
	N    int       `json:"n"`
}

type rig struct {
	e    *engine.Engine[job]
	js   jetstream.JetStream
	s    jetstream.Stream
	cons jetstream.Consumer
}

// newRig starts a server with a trigger stream (each item due on its own
// subject eng.due.<key>, one consumer) and an engine on it.
func newRig(t *testing.T, mod ...func(*engine.Params[job])) *rig {
	t.Helper()
	return newRigOn(t, jetstream.StreamConfig{Name: "eng", Subjects: []string{"eng.>"},
		Retention: jetstream.WorkQueuePolicy, AllowMsgSchedules: true}, mod...)
}

// newRigOn is newRig with the trigger stream's configuration.
func newRigOn(t *testing.T, cfg jetstream.StreamConfig, mod ...func(*engine.Params[job])) *rig {
	t.Helper()
	ctx := context.Background()
	js, err := jetstream.New(jetmailtest.Conn(t, jetmailtest.Server(t)))
	require.NoError(t, err)
	s, err := js.CreateStream(ctx, cfg)
	require.NoError(t, err)
	cons, err := js.CreateConsumer(ctx, "eng", jetstream.ConsumerConfig{Durable: "c", FilterSubject: "eng.due.>",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 5 * time.Second})
	require.NoError(t, err)
	p := engine.Params[job]{
		Bucket: "eng-items", JetStreams: []jetstream.JetStream{js}, Logger: jetmailtest.Logger(),
		Route: func(key string, _ *job) engine.Route {
			return engine.Route{Stream: "eng", Subject: "eng.due." + key, Sched: "eng.sched." + key, Consumer: "c"}
		},
		Due: func(j *job) (time.Time, bool) { return j.Due, !j.Held },
	}
	for _, m := range mod {
		m(&p)
	}
	e, err := engine.New(p)
	require.NoError(t, err)
	require.NoError(t, e.Open(ctx))
	return &rig{e: e, js: js, s: s, cons: cons}
}

// next fetches one trigger, acknowledges it and returns its reference.
func (r *rig) next(t *testing.T, within time.Duration) (engine.Ref, bool) {
	t.Helper()
	batch, err := r.cons.Fetch(1, jetstream.FetchMaxWait(within))
	require.NoError(t, err)
	for msg := range batch.Messages() {
		meta, err := msg.Metadata()
		require.NoError(t, err)
		require.NoError(t, msg.DoubleAck(context.Background()))
		ref, ok := engine.RefOf(msg.Subject(), msg.Headers(), msg.Data(), meta.Timestamp)
		require.True(t, ok, "a trigger has the engine's headers")
		return ref, true
	}
	return engine.Ref{}, false
}

func (r *rig) create(t *testing.T, key string, j *job) *engine.Item[job] {
	t.Helper()
	items, err := r.e.Create(context.Background(), engine.Insert[job]{Key: key, Value: j})
	require.NoError(t, err)
	return items[0]
}

// run checks ref as a worker would and reports whether the handler ran.
func (r *rig) run(t *testing.T, ref engine.Ref) (bool, error) {
	t.Helper()
	ran := false
	err := r.e.Run(context.Background(), ref, func(ctx context.Context, it *engine.Item[job]) error {
		ran = true
		return r.e.Complete(ctx, it)
	})
	return ran, err
}

func TestCreateRunComplete(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.create(t, "a", &job{Due: time.Now(), N: 1})
	ref, ok := r.next(t, 2*time.Second)
	require.True(t, ok)
	require.Equal(t, "a", ref.Key)
	require.EqualValues(t, 1, ref.Gen)
	ran, err := r.run(t, ref)
	require.NoError(t, err)
	require.True(t, ran)
	_, err = r.e.Get(context.Background(), "a")
	require.ErrorIs(t, err, engine.ErrNotFound, "a completed item is removed")

	// Its trigger delivered again (a lost ack) is dropped, not run.
	ref.Published = time.Now().Add(-time.Minute)
	ran, err = r.run(t, ref)
	require.NoError(t, err)
	require.False(t, ran)
}

func TestCreateRefusesTakenKey(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.create(t, "a", &job{Due: time.Now()})
	_, err := r.e.Create(context.Background(), engine.Insert[job]{Key: "b", Value: &job{}}, engine.Insert[job]{Key: "a", Value: &job{}})
	require.ErrorIs(t, err, engine.ErrExists)
	_, err = r.e.Get(context.Background(), "b")
	require.ErrorIs(t, err, engine.ErrNotFound, "a failed create takes back what it stored")
}

// A batch larger than one window of pipelined writes is stored whole; a
// taken key in a later window fails the whole batch, names the insert, and
// takes back what the earlier windows stored. (Inline items are due now
// here: an inline item due later is a schedule, which replaces another on
// its subject rather than being refused.)
func TestCreateBatchInWindows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, inline := range []bool{false, true} {
		t.Run(fmt.Sprint("inline=", inline), func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			if inline {
				r = newInlineRig(t)
			}
			const n = 2500
			due := time.Now().Add(time.Hour)
			if inline {
				due = time.Now()
			}
			batch := func(prefix string) []engine.Insert[job] {
				ins := make([]engine.Insert[job], n)
				for i := range ins {
					ins[i] = engine.Insert[job]{Key: fmt.Sprintf("%s%d", prefix, i), Value: &job{Due: due, N: i}}
				}
				return ins
			}
			items, err := r.e.Create(ctx, batch("a")...)
			require.NoError(t, err)
			require.Len(t, items, n)
			for _, i := range []int{0, 1023, 1024, 2048, n - 1} {
				require.Equal(t, fmt.Sprint("a", i), items[i].Key, "in the order given")
				got, err := r.e.Get(ctx, items[i].Key)
				require.NoError(t, err)
				require.Equal(t, i, got.Value.N)
			}

			r.create(t, "b2100", &job{Due: due})
			_, err = r.e.Create(ctx, batch("b")...)
			require.ErrorIs(t, err, engine.ErrExists)
			var ie *engine.InsertError
			require.ErrorAs(t, err, &ie)
			require.Equal(t, 2100, ie.Index)
			require.Equal(t, "b2100", ie.Key)
			for _, k := range []string{"b0", "b1500", "b2099"} {
				_, err := r.e.Get(ctx, k)
				require.ErrorIs(t, err, engine.ErrNotFound, "%s is taken back", k)
			}
		})
	}
}

// A trigger with a gen older than its record's is stale; one with a newer
// gen means the record read is behind and is handed back, never dropped;
// a missing record is waited for while the trigger is young.
func TestTriggerChecks(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	it := r.create(t, "a", &job{Due: time.Now()})
	old := it.Ref()
	_, err := r.e.Update(context.Background(), "a", func(j *job) error { j.N = 2; return nil })
	require.NoError(t, err)

	ran, err := r.run(t, old)
	require.NoError(t, err)
	require.False(t, ran, "superseded gen")

	same := old
	same.Gen, same.Token = 2, "another writer"
	ran, err = r.run(t, same)
	require.NoError(t, err)
	require.False(t, ran, "same gen, another token")

	ahead := old
	ahead.Gen = 3
	ran, err = r.run(t, ahead)
	require.Error(t, err, "a trigger ahead of its record is handed back")
	require.False(t, ran)

	missing := engine.Ref{Key: "nope", Gen: 1, Token: "x", Published: time.Now()}
	ran, err = r.run(t, missing)
	require.Error(t, err, "a young trigger whose record is not visible is handed back")
	require.False(t, ran)
	missing.Published = time.Now().Add(-time.Minute)
	ran, err = r.run(t, missing)
	require.NoError(t, err, "an old trigger whose record is gone is dropped")
	require.False(t, ran)
}

func TestScheduleRescheduleAndPark(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	r.create(t, "a", &job{Due: time.Now().Add(time.Hour)})
	_, ok := r.next(t, 300*time.Millisecond)
	require.False(t, ok, "due in an hour: no trigger yet")
	sched, err := r.s.GetLastMsgForSubject(ctx, "eng.sched.a")
	require.NoError(t, err)
	require.Equal(t, "eng.due.a", sched.Header.Get(jetstream.ScheduleTargetHeader))

	// Reschedule to now: the trigger comes and the hour-long schedule is gone.
	_, err = r.e.Update(ctx, "a", func(j *job) error { j.Due = time.Now(); return nil })
	require.NoError(t, err)
	ref, ok := r.next(t, 2*time.Second)
	require.True(t, ok)
	require.EqualValues(t, 2, ref.Gen)
	_, err = r.s.GetLastMsgForSubject(ctx, "eng.sched.a")
	require.ErrorIs(t, err, jetstream.ErrMsgNotFound)

	// Parked: no trigger, and a trigger from before is dropped.
	_, err = r.e.Update(ctx, "a", func(j *job) error { j.Held = true; return nil })
	require.NoError(t, err)
	cur, err := r.e.Get(ctx, "a")
	require.NoError(t, err)
	ran, err := r.run(t, cur.Ref())
	require.NoError(t, err)
	require.False(t, ran, "a parked item does not run")

	// Scheduled shortly: the server fires it.
	_, err = r.e.Update(ctx, "a", func(j *job) error { j.Held, j.Due = false, time.Now().Add(500*time.Millisecond); return nil })
	require.NoError(t, err)
	ref, ok = r.next(t, 3*time.Second)
	require.True(t, ok, "the schedule fired")
	ran, err = r.run(t, ref)
	require.NoError(t, err)
	require.True(t, ran)
}

// Save without retrigger keeps the trigger valid (a claim); with it, the
// earlier trigger becomes stale.
func TestSaveKeepsOrReplacesTrigger(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	it := r.create(t, "a", &job{Due: time.Now()})
	ref, _ := r.next(t, 2*time.Second)
	it.Value.N = 5
	require.NoError(t, r.e.Save(ctx, it, false))
	require.Equal(t, ref.Gen, it.Gen)
	stale := *it
	stale.Rev--
	require.ErrorIs(t, r.e.Save(ctx, &stale, false), engine.ErrConflict, "a write on an old revision is refused")

	it.Value.Due = time.Now()
	require.NoError(t, r.e.Save(ctx, it, true))
	ran, err := r.run(t, ref)
	require.NoError(t, err)
	require.False(t, ran, "retriggered: the old trigger is stale")
	ref2, ok := r.next(t, 2*time.Second)
	require.True(t, ok)
	ran, err = r.run(t, ref2)
	require.NoError(t, err)
	require.True(t, ran)
}

// Complete counts a removal that already went through as done, keeps a
// change made meanwhile, and retries past a revision moved by a claim.
func TestCompleteIsIdempotent(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	it := r.create(t, "a", &job{Due: time.Now()})
	claim := *it
	claimVal := *it.Value
	claim.Value = &claimVal
	require.NoError(t, r.e.Save(ctx, &claim, false)) // the revision moves, the gen stays
	require.NoError(t, r.e.Complete(ctx, it), "a claim does not make the item someone else's")
	require.NoError(t, r.e.Complete(ctx, it), "done twice is done")

	it = r.create(t, "b", &job{Due: time.Now()})
	_, err := r.e.Update(ctx, "b", func(j *job) error { j.Due = time.Now().Add(time.Hour); return nil })
	require.NoError(t, err)
	require.ErrorIs(t, r.e.Complete(ctx, it), engine.ErrConflict)
	_, err = r.e.Get(ctx, "b")
	require.NoError(t, err, "the change made meanwhile stands")
}

func TestScanAndPage(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	base := time.Now().Add(time.Hour).Truncate(time.Second)
	var inserts []engine.Insert[job]
	for i := range 300 {
		inserts = append(inserts, engine.Insert[job]{Key: fmt.Sprintf("k%03d", i), Value: &job{Due: base.Add(time.Duration(299-i) * time.Second), N: i}})
	}
	_, err := r.e.Create(ctx, inserts...)
	require.NoError(t, err)
	page := engine.NewPage[int](10, 5, false)
	seen := 0
	require.NoError(t, r.e.Scan(ctx, func(it *engine.Item[job]) bool {
		seen++
		if it.Value.N%2 == 0 {
			page.Add(it.Value.N, it.Value.Due, it.Key)
		}
		return true
	}))
	require.Equal(t, 300, seen)
	got, total := page.Result()
	require.Equal(t, 150, total)
	require.Equal(t, []int{278, 276, 274, 272, 270}, got, "soonest due first, from position 10")
	desc := engine.NewPage[int](0, 2, true)
	for _, n := range []int{3, 1, 2} {
		desc.Add(n, base.Add(time.Duration(n)*time.Second), strconv.Itoa(n))
	}
	got, _ = desc.Result()
	require.Equal(t, []int{3, 2}, got)

	// A key offered twice (seen inline, then as the record it got
	// meanwhile) is listed once, as offered last, and counted once.
	dup := engine.NewPage[int](0, 0, false)
	dup.Add(1, base, "a")
	dup.Add(2, base.Add(time.Second), "b")
	dup.Add(3, base.Add(2*time.Second), "a")
	got, total = dup.Result()
	require.Equal(t, []int{2, 3}, got)
	require.Equal(t, 2, total)
}

// An item stored without its trigger (a crash between the two) is found by
// Rescue once past due with its consumer idle, and only once.
func TestRescue(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Now())
	r := newRig(t, func(p *engine.Params[job]) { p.Clock, p.RescueAfter = clk, time.Minute })
	ctx := context.Background()
	_, err := r.e.Create(ctx, engine.Insert[job]{Key: "lost", Value: &job{Due: time.Now()}, NoTrigger: true})
	require.NoError(t, err)
	_, err = r.e.Create(ctx, engine.Insert[job]{Key: "parked", Value: &job{Due: time.Now(), Held: true}})
	require.NoError(t, err)
	n, err := r.e.Rescue(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "not yet past RescueAfter")
	clk.Advance(2 * time.Minute)
	n, err = r.e.Rescue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = r.e.Rescue(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, n, "its trigger waits now")
	ref, ok := r.next(t, 2*time.Second)
	require.True(t, ok)
	require.Equal(t, "lost", ref.Key)
	ran, err := r.run(t, ref)
	require.NoError(t, err)
	require.True(t, ran)
}

// The rescuer finds a lost trigger under load: with other items' triggers
// waiting (a busy consumer), the item without one is triggered, and only it.
func TestRescueUnderLoad(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Now())
	r := newRig(t, func(p *engine.Params[job]) { p.Clock, p.RescueAfter = clk, time.Minute })
	ctx := context.Background()
	var inserts []engine.Insert[job]
	for i := range 200 {
		inserts = append(inserts, engine.Insert[job]{Key: fmt.Sprintf("busy%03d", i), Value: &job{Due: time.Now()}})
	}
	inserts = append(inserts, engine.Insert[job]{Key: "lost", Value: &job{Due: time.Now()}, NoTrigger: true})
	_, err := r.e.Create(ctx, inserts...)
	require.NoError(t, err)
	// One trigger is in flight: fetched, not acknowledged.
	batch, err := r.cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	require.NoError(t, err)
	for range batch.Messages() {
	}
	clk.Advance(2 * time.Minute)
	n, err := r.e.Rescue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the lost one only: the others' triggers wait or are in flight")
	info, err := r.cons.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 200, info.NumPending, "199 waiting and the rescued one")
}

// A rescue pass checks RescueChecks items at most, and the next goes on
// from there: with more items waiting with their triggers than one pass
// checks, the one without is still found, within a bounded number of
// passes, and the passes then start over.
func TestRescueGoesOnWhereThePassStopped(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Now())
	r := newRig(t, func(p *engine.Params[job]) { p.Clock, p.RescueAfter, p.RescueChecks = clk, time.Minute, 5 })
	ctx := context.Background()
	var inserts []engine.Insert[job]
	for i := range 20 {
		inserts = append(inserts, engine.Insert[job]{Key: fmt.Sprintf("busy%03d", i), Value: &job{Due: time.Now()}})
	}
	_, err := r.e.Create(ctx, inserts...)
	require.NoError(t, err)
	// The lost one is written last: a pass that always started from the
	// beginning would never reach it.
	_, err = r.e.Create(ctx, engine.Insert[job]{Key: "lost", Value: &job{Due: time.Now()}, NoTrigger: true})
	require.NoError(t, err)
	clk.Advance(2 * time.Minute)
	passes, rescued := 0, 0
	for rescued == 0 {
		require.Less(t, passes, 5, "21 items at 5 a pass: found by the fifth pass")
		n, err := r.e.Rescue(ctx)
		require.NoError(t, err)
		passes++
		rescued += n
	}
	require.Equal(t, 1, rescued)
	require.Equal(t, 5, passes)
	// Having reached the end, the next pass starts over and finds nothing
	// more to do.
	for range 5 {
		n, err := r.e.Rescue(ctx)
		require.NoError(t, err)
		require.Zero(t, n)
	}
}

// A work handler made by the engine refuses messages that are not
// triggers, for good.
func TestWorkHandlerRejectsNonTriggers(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	h := r.e.WorkHandler(func(context.Context, *engine.Item[job]) error { return nil })
	err := h(context.Background(), &work.Job{Header: map[string][]string{}})
	require.ErrorContains(t, err, "not a trigger")
}

// newInlineRig is a rig whose items created due now live in their trigger
// alone, on eng.due.0.<key> (a partition, then the key).
func newInlineRig(t *testing.T) *rig {
	t.Helper()
	return newInlineRigOn(t, jetstream.StreamConfig{Name: "eng", Subjects: []string{"eng.>"},
		Retention: jetstream.WorkQueuePolicy, AllowMsgSchedules: true})
}

// newInlineRigOn is newInlineRig with the trigger stream's configuration.
func newInlineRigOn(t *testing.T, cfg jetstream.StreamConfig) *rig {
	t.Helper()
	r := newRigOn(t, cfg, func(p *engine.Params[job]) {
		p.Inline = func(key string, _ *job) string { return "eng.due.0." + key }
		p.InlinePlaces = func(key string) []engine.Place {
			return []engine.Place{{Stream: "eng", Subject: "eng.due.*." + key}, {Stream: "eng", Subject: "eng.sched." + key}}
		}
	})
	_, err := r.js.UpdateConsumer(context.Background(), "eng", jetstream.ConsumerConfig{Durable: "c", FilterSubjects: []string{"eng.due", "eng.due.>"},
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 5 * time.Second})
	require.NoError(t, err)
	return r
}

func (r *rig) hasRecord(t *testing.T, key string) bool {
	t.Helper()
	kv, err := r.js.KeyValue(context.Background(), "eng-items")
	require.NoError(t, err)
	_, err = kv.Get(context.Background(), key)
	return err == nil
}

// An item due now is its trigger: one write, found by Get and Scan, run
// from the trigger's data, gone with the trigger's ack.
func TestInlineItemLivesInItsTrigger(t *testing.T) {
	t.Parallel()
	r := newInlineRig(t)
	ctx := context.Background()
	it := r.create(t, "a", &job{Due: time.Now(), N: 7})
	require.True(t, it.Inline())
	require.False(t, r.hasRecord(t, "a"), "no record")
	got, err := r.e.Get(ctx, "a")
	require.NoError(t, err)
	require.True(t, got.Inline())
	require.Equal(t, 7, got.Value.N)
	r.create(t, "later", &job{Due: time.Now().Add(time.Hour)})
	require.False(t, r.hasRecord(t, "later"), "an item due later is its schedule")
	r.create(t, "changed", &job{Due: time.Now().Add(time.Hour)})
	_, err = r.e.Update(ctx, "changed", func(j *job) error { j.N = 1; return nil })
	require.NoError(t, err)
	keys := map[string]bool{}
	require.NoError(t, r.e.Scan(ctx, func(it *engine.Item[job]) bool { keys[it.Key] = it.Inline(); return true }))
	require.Equal(t, map[string]bool{"a": true, "later": true, "changed": false}, keys)

	ref, ok := r.next(t, 2*time.Second)
	require.True(t, ok)
	require.NotNil(t, ref.Inline, "the trigger carries the item")
	ran := 0
	require.NoError(t, r.e.Run(ctx, ref, func(ctx context.Context, it *engine.Item[job]) error {
		ran = it.Value.N
		return r.e.Complete(ctx, it)
	}))
	require.Equal(t, 7, ran)
	_, err = r.e.Get(ctx, "a")
	require.ErrorIs(t, err, engine.ErrNotFound, "acknowledged: gone")
}

// An inline item due shortly is its schedule; the server fires it with the
// item, which runs with no record.
func TestInlineScheduleFires(t *testing.T) {
	t.Parallel()
	r := newInlineRig(t)
	ctx := context.Background()
	r.create(t, "soon", &job{Due: time.Now().Add(300 * time.Millisecond), N: 3})
	_, ok := r.next(t, 100*time.Millisecond)
	require.False(t, ok, "not yet")
	ref, ok := r.next(t, 3*time.Second)
	require.True(t, ok, "the schedule fired")
	require.NotNil(t, ref.Inline, "the fired trigger carries the item")
	ran := 0
	require.NoError(t, r.e.Run(ctx, ref, func(_ context.Context, it *engine.Item[job]) error { ran = it.Value.N; return nil }))
	require.Equal(t, 3, ran)
	_, err := r.e.Get(ctx, "soon")
	require.ErrorIs(t, err, engine.ErrNotFound)
}

// A change gives an inline item a record and removes its inline trigger;
// so does a failure that retries it; Destroy removes the trigger.
func TestInlineItemChanges(t *testing.T) {
	t.Parallel()
	r := newInlineRig(t)
	ctx := context.Background()
	r.create(t, "moved", &job{Due: time.Now()})
	it, err := r.e.Update(ctx, "moved", func(j *job) error { j.Due = time.Now().Add(time.Hour); return nil })
	require.NoError(t, err)
	require.False(t, it.Inline())
	require.EqualValues(t, 2, it.Gen)
	require.True(t, r.hasRecord(t, "moved"))
	_, err = r.s.GetLastMsgForSubject(ctx, "eng.due.0.moved")
	require.ErrorIs(t, err, jetstream.ErrMsgNotFound, "the inline trigger is gone")
	_, err = r.s.GetLastMsgForSubject(ctx, "eng.sched.moved")
	require.NoError(t, err, "its schedule replaces it")

	r.create(t, "fails", &job{Due: time.Now()})
	ref, ok := r.next(t, 2*time.Second)
	require.True(t, ok)
	require.NoError(t, r.e.Run(ctx, ref, func(ctx context.Context, it *engine.Item[job]) error {
		it.Value.Due = time.Now().Add(time.Hour)
		return r.e.Save(ctx, it, true)
	}))
	failed, err := r.e.Get(ctx, "fails")
	require.NoError(t, err)
	require.False(t, failed.Inline(), "a retry has a record")
	require.EqualValues(t, 2, failed.Gen)

	r.create(t, "gone", &job{Due: time.Now().Add(-time.Second)})
	_, err = r.e.Destroy(ctx, "gone")
	require.NoError(t, err)
	_, err = r.e.Get(ctx, "gone")
	require.ErrorIs(t, err, engine.ErrNotFound)
}

// Scan reads inline items in batches from a stream that allows direct
// gets, one by one from another: both see every item once, across batch
// boundaries, and stop when told.
func TestScanInlineItems(t *testing.T) {
	t.Parallel()
	for _, direct := range []bool{true, false} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			t.Parallel()
			r := newInlineRigOn(t, jetstream.StreamConfig{Name: "eng", Subjects: []string{"eng.>"},
				Retention: jetstream.WorkQueuePolicy, AllowMsgSchedules: true, AllowDirect: direct})
			ctx := context.Background()
			const n = 2345 // more than two batches
			ins := make([]engine.Insert[job], n)
			for i := range ins {
				ins[i] = engine.Insert[job]{Key: fmt.Sprintf("k%04d", i), Value: &job{Due: time.Now().Add(time.Hour), N: i}}
			}
			_, err := r.e.Create(ctx, ins...)
			require.NoError(t, err)
			seen := map[string]int{}
			require.NoError(t, r.e.Scan(ctx, func(it *engine.Item[job]) bool {
				require.True(t, it.Inline())
				seen[it.Key]++
				return true
			}))
			require.Len(t, seen, n)
			for k, c := range seen {
				require.Equal(t, 1, c, "%s seen once", k)
			}
			calls := 0
			require.NoError(t, r.e.Scan(ctx, func(*engine.Item[job]) bool { calls++; return calls < 1500 }))
			require.Equal(t, 1500, calls, "the scan stops when fn says so")
		})
	}
}
