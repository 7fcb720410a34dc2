package work_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/shard"
	"github.com/jetmail/jetmail/shared/work"
)

// Our partition function is the server's {{partition(n, 1)}} transform.
func TestPartitionMatchesServerTransform(t *testing.T) {
	t.Parallel()
	s := jetmailtest.Server(t)
	js, err := jetstream.New(jetmailtest.Conn(t, s))
	require.NoError(t, err)
	ctx := context.Background()
	const n = 16
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "hash", Subjects: []string{"in.*"},
		SubjectTransform: &jetstream.SubjectTransformConfig{Source: "in.*", Destination: fmt.Sprintf("out.{{partition(%d,1)}}.{{wildcard(1)}}", n)},
	})
	require.NoError(t, err)
	keys := []string{"acct-1", "acct-2", "u42", "x", "0", "task_9f8e7d", "a-very-long-account-identifier-000000000001"}
	for i := range 200 {
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	for _, k := range keys {
		_, err := js.Publish(ctx, "in."+k, nil)
		require.NoError(t, err)
	}
	stream, err := js.Stream(ctx, "hash")
	require.NoError(t, err)
	for i, k := range keys {
		m, err := stream.GetMsg(ctx, uint64(i+1))
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("out.%d.%s", shard.Partition(k, n), k), m.Subject, k)
	}
}

// For every shard count, each partition has exactly one owner, and
// JetStream accepts the shard consumers side by side on the WorkQueue stream
// (it would refuse overlapping filters, which we show too).
func TestEachPartitionOwnedByExactlyOneShard(t *testing.T) {
	t.Parallel()
	s := jetmailtest.Server(t)
	js, err := jetstream.New(jetmailtest.Conn(t, s))
	require.NoError(t, err)
	ctx := context.Background()
	_, err = work.EnsureStream(ctx, js, roles.PurgeStores, 16, 1)
	require.NoError(t, err)
	for _, shards := range []int{1, 2, 3, 5, 7, 16} {
		owners := map[int]int{}
		for i, parts := range shard.Assign(16, shards) {
			require.NotEmpty(t, parts, "shard %d of %d owns nothing", i, shards)
			subjects := make([]string, len(parts))
			for k, p := range parts {
				owners[p]++
				subjects[k] = work.Subject(roles.PurgeStores, p)
			}
			_, err := js.CreateConsumer(ctx, work.StreamName(roles.PurgeStores), jetstream.ConsumerConfig{
				Durable: fmt.Sprintf("layout%d-shard%d", shards, i), FilterSubjects: subjects, AckPolicy: jetstream.AckExplicitPolicy,
			})
			require.NoError(t, err, "layout %d shard %d", shards, i)
		}
		require.Len(t, owners, 16)
		for p, n := range owners {
			require.Equal(t, 1, n, "partition %d", p)
		}
		// An overlapping consumer is refused by the server.
		_, err := js.CreateConsumer(ctx, work.StreamName(roles.PurgeStores), jetstream.ConsumerConfig{
			Durable: "overlap", FilterSubjects: []string{work.Subject(roles.PurgeStores, 0)}, AckPolicy: jetstream.AckExplicitPolicy,
		})
		require.Error(t, err)
		stream, err := js.Stream(ctx, work.StreamName(roles.PurgeStores))
		require.NoError(t, err)
		for i := range shards {
			require.NoError(t, stream.DeleteConsumer(ctx, fmt.Sprintf("layout%d-shard%d", shards, i)))
		}
	}
}

// recorder is a handler that remembers who handled each key.
type recorder struct {
	mu    sync.Mutex
	seen  map[string][]handled
	total atomic.Int64
	delay time.Duration
}

type handled struct {
	node string
	job  work.Job
}

func newRecorder(delay time.Duration) *recorder {
	return &recorder{seen: map[string][]handled{}, delay: delay}
}

func (r *recorder) handler(node string) work.Handler {
	return func(ctx context.Context, j *work.Job) error {
		if r.delay > 0 {
			time.Sleep(r.delay)
		}
		r.mu.Lock()
		r.seen[j.Key] = append(r.seen[j.Key], handled{node: node, job: *j})
		r.mu.Unlock()
		r.total.Add(1)
		return nil
	}
}

func (r *recorder) byNode() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, hs := range r.seen {
		for _, h := range hs {
			out[h.node]++
		}
	}
	return out
}

func withRole(r roles.Role, shards ...string) func(*config.Config) {
	return func(c *config.Config) {
		ss, err := roles.ParseShards(shards)
		if err != nil {
			panic(err)
		}
		c.Cluster.Roles[r] = ss
	}
}

func TestRoleMapChangePropagates(t *testing.T) {
	t.Parallel()
	s := jetmailtest.Server(t)
	rec := newRecorder(0)
	var nodes []*node.Node
	for _, id := range []string{"1", "2"} {
		n := jetmailtest.Node(t, jetmailtest.Conn(t, s), jetmailtest.Config(t, id, withRole(roles.FtsIndexing, "1")))
		_, err := n.RunWorker(context.Background(), roles.FtsIndexing, 4, rec.handler(id))
		require.NoError(t, err)
		nodes = append(nodes, n)
	}
	ctx := context.Background()
	submit := func(prefix string, count int) {
		for i := range count {
			require.NoError(t, nodes[0].Deps().Publisher.Submit(ctx, roles.FtsIndexing, work.Item{Key: fmt.Sprintf("%s-%d", prefix, i)}))
		}
	}
	submit("before", 50)
	require.Eventually(t, func() bool { return rec.total.Load() == 50 }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, map[string]int{"1": 50}, rec.byNode(), "node 2 does not hold the role and must not consume")

	// Move the role to node 2 at run time: every node follows within 2s.
	m, err := cluster.SetRole(ctx, nodes[0].Deps().Buckets, roles.FtsIndexing, roles.Shards{{"2"}}, 16, "test")
	require.NoError(t, err)
	for _, n := range nodes {
		require.Eventually(t, func() bool {
			got, _, _ := n.Deps().View.Role(roles.FtsIndexing)
			return got.Revision == m.Revision
		}, 2*time.Second, 10*time.Millisecond, "node %s did not follow", n.Deps().NodeID)
	}
	// Give node 1 a moment to stop its consumer loop, then only node 2 works.
	time.Sleep(300 * time.Millisecond)
	submit("after", 50)
	require.Eventually(t, func() bool { return rec.total.Load() == 100 }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, map[string]int{"1": 50, "2": 50}, rec.byNode())
}

// A shard of two nodes on an R3 cluster keeps its work flowing when one node
// dies, and the node takes work again when it comes back.
func TestShardFailOver(t *testing.T) {
	t.Parallel()
	servers := jetmailtest.Cluster(t, 3)
	url := jetmailtest.URLs(servers)
	rec := newRecorder(5 * time.Millisecond)
	cfg := func(id string) *config.Config {
		return jetmailtest.Config(t, id, withRole(roles.CalendarAlerts, "a,b"), func(c *config.Config) { c.NATS.Replicas = 3 })
	}
	start := func(id string) (*node.Node, func()) {
		nc := jetmailtest.Dial(t, url)
		n := jetmailtest.Node(t, nc, cfg(id))
		_, err := n.RunWorker(context.Background(), roles.CalendarAlerts, 8, rec.handler(id))
		require.NoError(t, err)
		return n, nc.Close
	}
	_, crashA := start("a")
	start("b")
	pjs, err := jetstream.New(jetmailtest.Dial(t, url))
	require.NoError(t, err)
	publisher := work.NewPublisher(pjs, 16)

	// A steady flow of work.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var pubMu sync.Mutex
	var published []string
	go func() {
		for i := 0; ctx.Err() == nil; i++ {
			key := fmt.Sprintf("alarm-%d", i)
			if publisher.Submit(ctx, roles.CalendarAlerts, work.Item{Key: key}) == nil {
				pubMu.Lock()
				published = append(published, key)
				pubMu.Unlock()
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	require.Eventually(t, func() bool { c := rec.byNode(); return c["a"] > 20 && c["b"] > 20 }, 20*time.Second, 50*time.Millisecond)

	// Node a dies without a word: its connection drops, its key ages out.
	crashA()
	crashedAt := time.Now()
	before := rec.byNode()["b"]
	require.Eventually(t, func() bool { return rec.byNode()["b"] > before+50 }, 10*time.Second, 20*time.Millisecond,
		"node b did not keep the shard's work flowing within 10s")
	t.Logf("work flowing on b %s after a died", time.Since(crashedAt).Round(time.Millisecond))

	// Node a comes back and takes work again.
	beforeA := rec.byNode()["a"]
	start("a")
	require.Eventually(t, func() bool { return rec.byNode()["a"] > beforeA+20 }, 20*time.Second, 50*time.Millisecond)

	// Everything published is handled; a crashed node's in-flight items may
	// run twice (at-least-once), nothing is lost.
	stop()
	pubMu.Lock()
	defer pubMu.Unlock()
	require.Eventually(t, func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, key := range published {
			if len(rec.seen[key]) == 0 {
				return false
			}
		}
		return true
	}, 20*time.Second, 50*time.Millisecond, "an acknowledged item was never handled")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	dups := 0
	for _, hs := range rec.seen {
		dups += len(hs) - 1
	}
	// Only what node a held when it died can run twice: at most its pool.
	t.Logf("%d items, %d handled twice", len(published), dups)
	require.LessOrEqual(t, dups, 8)
}

// 10,000 items published while the shard list changes twice are each handled
// exactly once, by a node of the shard that owned the item's partition.
func TestReshardUnderLoad(t *testing.T) {
	t.Parallel()
	s := jetmailtest.Server(t)
	rec := newRecorder(200 * time.Microsecond)
	var nodes []*node.Node
	for _, id := range []string{"1", "2", "3"} {
		n := jetmailtest.Node(t, jetmailtest.Conn(t, s), jetmailtest.Config(t, id, withRole(roles.FtsIndexing, "1,2,3")))
		_, err := n.RunWorker(context.Background(), roles.FtsIndexing, 16, rec.handler(id))
		require.NoError(t, err)
		nodes = append(nodes, n)
	}
	ctx := context.Background()
	first, err := cluster.GetRole(ctx, nodes[0].Deps().Buckets, roles.FtsIndexing)
	require.NoError(t, err)
	mapsByEpoch := map[uint64]roles.Shards{first.Revision: first.Shards}

	const total = 10000
	pub := nodes[0].Deps().Publisher
	publishRange := func(from, to int) {
		for i := from; i < to; i++ {
			_, err := pub.SubmitAsync(roles.FtsIndexing, work.Item{Key: fmt.Sprintf("doc-%05d", i)})
			require.NoError(t, err)
			if i%500 == 0 {
				time.Sleep(20 * time.Millisecond) // spread publishing over the changes
			}
		}
	}
	reshard := func(shards ...string) {
		ss, err := roles.ParseShards(shards)
		require.NoError(t, err)
		m, err := cluster.SetRole(ctx, nodes[0].Deps().Buckets, roles.FtsIndexing, ss, 16, "test")
		require.NoError(t, err)
		mapsByEpoch[m.Revision] = m.Shards
	}
	publishRange(0, 3000)
	reshard("1", "2", "3")
	publishRange(3000, 6500)
	reshard("1,2", "3")
	publishRange(6500, total)
	select {
	case <-nodes[0].Deps().JS().PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		t.Fatal("publishes not acknowledged")
	}

	require.Eventually(t, func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.seen) == total
	}, 120*time.Second, 100*time.Millisecond, "not every item was handled")
	time.Sleep(500 * time.Millisecond) // let any duplicate show up

	rec.mu.Lock()
	defer rec.mu.Unlock()
	epochs := map[uint64]int{}
	for key, hs := range rec.seen {
		require.Len(t, hs, 1, "item %s handled %d times", key, len(hs))
		h := hs[0]
		shards, ok := mapsByEpoch[h.job.Epoch]
		require.True(t, ok, "item %s handled under unknown epoch %d", key, h.job.Epoch)
		require.Equal(t, shard.Partition(key, 16), h.job.Partition)
		require.Equal(t, shard.Owner(h.job.Partition, len(shards)), h.job.Shard, "item %s in the wrong shard", key)
		require.True(t, shards[h.job.Shard].Has(h.node), "item %s handled by node %s outside shard %v", key, h.node, shards[h.job.Shard])
		epochs[h.job.Epoch]++
	}
	t.Logf("items per layout epoch: %v", epochs)
	require.GreaterOrEqual(t, len(epochs), 2, "the layout never changed under load")
}

// An item that takes longer than AckWait stays leased (InProgress
// heartbeats) and is not given to another node.
func TestLongItemKeepsItsLease(t *testing.T) {
	t.Parallel()
	s := jetmailtest.Server(t)
	var runs atomic.Int32
	for _, id := range []string{"1", "2"} {
		n := jetmailtest.Node(t, jetmailtest.Conn(t, s), jetmailtest.Config(t, id, withRole(roles.AcmeRenew, "1,2")))
		_, err := n.RunWorker(context.Background(), roles.AcmeRenew, 2, func(ctx context.Context, j *work.Job) error {
			runs.Add(1)
			time.Sleep(7 * time.Second) // AckWait is 3s in tests
			return nil
		})
		require.NoError(t, err)
		if id == "1" {
			require.NoError(t, n.Deps().Publisher.Submit(context.Background(), roles.AcmeRenew, work.Item{Key: "example.org"}))
		}
	}
	time.Sleep(9 * time.Second)
	require.EqualValues(t, 1, runs.Load(), "the item was redelivered while its handler was still running")
}

// A role's stream keeps one anchor message, whatever the number of nodes
// that ensure the stream, and no shard consumer gets it.
func TestStreamKeepsOneAnchor(t *testing.T) {
	t.Parallel()
	js, err := jetstream.New(jetmailtest.Conn(t, jetmailtest.Server(t)))
	require.NoError(t, err)
	ctx := context.Background()
	role := roles.FtsIndexing
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := work.EnsureStream(ctx, js, role, 4, 1)
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	s, err := work.EnsureStream(ctx, js, role, 4, 1)
	require.NoError(t, err)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(work.AnchorSubject(role)))
	require.NoError(t, err)
	require.Equal(t, map[string]uint64{work.AnchorSubject(role): 1}, info.State.Subjects)
	require.EqualValues(t, 1, info.State.Msgs)
}
