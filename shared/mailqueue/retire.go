package mailqueue

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/engine"
)

// errMoved is what a move finds when another node moved the entry first.
var errMoved = errors.New("moved meanwhile")

// retireRemoved retires each virtual queue that has consumers on the queue
// stream but is gone from the configuration: its entries are given to the
// queues the strategy now picks, and then its consumers and the triggers
// it had left are deleted. A queue whose entries cannot all be moved keeps
// its consumers, so that nothing is lost, and is tried again at the next
// start. A delivery node runs it as it starts; it is idempotent, so two
// nodes starting at once do no harm.
func (q *Queue) retireRemoved(ctx context.Context) {
	gone, err := q.removedQueues(ctx)
	if err != nil {
		q.log.Warn("look for virtual queues removed from the configuration", "err", err)
		return
	}
	names := make([]string, 0, len(gone))
	for name := range gone {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := q.retire(ctx, name, gone[name]); err != nil && ctx.Err() == nil {
			q.log.Warn("retire virtual queue removed from the configuration; its consumers stay", "queue", name, "err", err)
		}
	}
}

// removedQueues finds the virtual queues that have consumers but no
// queue.virtual.<name>, with their consumers' names. Consumers are told by
// their filter (a queue's due or schedule subjects), not their names.
func (q *Queue) removedQueues(ctx context.Context) (map[string][]string, error) {
	s, err := q.js.Stream(ctx, Stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", Stream, err)
	}
	out := map[string][]string{}
	lister := s.ListConsumers(ctx)
	for info := range lister.Info() {
		name, ok := queueOfFilter(info.Config.FilterSubject)
		if _, configured := q.d.Config.Queue.Virtual[name]; ok && !configured {
			out[name] = append(out[name], info.Name)
		}
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("list the consumers of %s: %w", Stream, err)
	}
	return out, nil
}

// queueOfFilter is the virtual queue whose due or schedule subjects a
// consumer's filter covers.
func queueOfFilter(filter string) (string, bool) {
	for _, prefix := range []string{"jetmail.queue.due.", "jetmail.queue.sched."} {
		if rest, ok := strings.CutPrefix(filter, prefix); ok {
			if name, ok := strings.CutSuffix(rest, ".>"); ok && name != "" && !strings.Contains(name, ".") {
				return name, true
			}
		}
	}
	return "", false
}

// retire moves the entries of removed virtual queue name and deletes its
// consumers; see retireRemoved.
func (q *Queue) retire(ctx context.Context, name string, consumers []string) error {
	// A node still configured with the queue delivers it: leave it to them.
	members, err := cluster.LiveMembers(ctx, q.d.Buckets)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return fmt.Errorf("list live nodes: %w", err)
	}
	for _, m := range members {
		if m.ID != q.d.NodeID && m.ConsumerSlots[Stream+"/"+consumerName(name)] > 0 {
			q.log.Info("virtual queue is not in this node's configuration but another node still delivers it; it is retired by a delivery node started once none does",
				"queue", name, "node", m.ID)
			return nil
		}
	}
	// Twice: the second pass finds what was queued there during the first.
	moved, to, notify := 0, map[string]int{}, map[string]bool{}
	var left []string
	for range 2 {
		var keys []string
		if err := q.eng.Scan(ctx, func(it *entry) bool {
			if it.Value.Queue == name {
				keys = append(keys, it.Key)
			}
			return true
		}); err != nil {
			return fmt.Errorf("list its entries: %w", err)
		}
		left = left[:0]
		for _, key := range keys {
			r, err := q.move(ctx, key, name)
			switch {
			case errors.Is(err, errMoved) || errors.Is(err, engine.ErrNotFound):
				continue
			case err != nil:
				q.log.Warn("entry of a virtual queue removed from the configuration could not be moved; it waits there", "queue", name, "entry", key, "err", err)
				left = append(left, key)
				continue
			}
			moved++
			to[r.Queue]++
			if !r.NextNotify.IsZero() {
				notify[r.MessageID] = true
			}
			// Its trigger or schedule in the old queue is stale now, and no
			// consumer would ever take it.
			q.purge(ctx, dueSubject(name)+"."+key, schedSubject(name, key))
		}
	}
	// Delayed DSNs scheduled before they had their own consumer fire in
	// the queue of their message's first entry: schedule them anew.
	for id := range notify {
		if entries, err := q.eng.Match(ctx, id+".*"); err == nil {
			values := make([]*Recipient, len(entries))
			for i, it := range entries {
				values[i] = it.Value
			}
			if err := q.scheduleNotify(ctx, id, values); err != nil {
				q.log.Warn("schedule a moved message's delayed DSN", "message", id, "err", err)
			}
		}
		q.purge(ctx, dueSubject(name)+".notify."+id)
	}
	if len(left) > 0 {
		q.log.Warn("virtual queue was removed from the configuration but some of its entries could not be moved (see above); its consumers stay, and it is tried again at the next start",
			"queue", name, "moved", moved, "left", len(left), "entries", strings.Join(left, ","))
		return nil
	}
	for _, c := range consumers {
		if err := q.js.DeleteConsumer(ctx, Stream, c); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("delete consumer %s: %w", c, err)
		}
	}
	q.log.Info("virtual queue removed from the configuration: its entries moved and its consumers deleted",
		"queue", name, "moved", moved, "to", countsOf(to), "consumers", strings.Join(consumers, ","))
	return nil
}

// move gives an entry of removed queue from to the schedule and queue the
// strategy picks now, as an attempt's deferral does (its expiry and
// notify times stay). Its due time stays: due now, it is triggered in its
// new queue at once; held, it stays held there.
func (q *Queue) move(ctx context.Context, key, from string) (*Recipient, error) {
	var err error
	for range 4 {
		var it *entry
		it, err = q.eng.Update(ctx, key, func(r *Recipient) error {
			if r.Queue != from {
				return errMoved
			}
			id, sched, err := q.strategy.Schedule(Vars(r, q.p.Clock.Now()))
			if err != nil {
				return err
			}
			if _, ok := q.d.Config.Queue.Virtual[sched.QueueName]; !ok {
				return fmt.Errorf("the strategy chose schedule %s, of virtual queue %s, which is not defined either", id, sched.QueueName)
			}
			r.Schedule, r.Queue, r.MaxAttempts = id, sched.QueueName, sched.MaxAttempts
			return nil
		})
		if !errors.Is(err, engine.ErrConflict) {
			if err != nil {
				return nil, err
			}
			return it.Value, nil
		}
	}
	return nil, err
}

// purge removes what is left on subjects of the queue stream, logging a
// failure: a stale trigger left behind stays in the stream, unread.
func (q *Queue) purge(ctx context.Context, subjects ...string) {
	s, serr := q.js.Stream(ctx, Stream)
	for _, subject := range subjects {
		err := serr
		if err == nil {
			err = s.Purge(ctx, jetstream.WithPurgeSubject(subject))
		}
		if err != nil {
			q.log.Warn("remove a stale trigger of a removed virtual queue", "subject", subject, "err", err)
		}
	}
}

// countsOf writes per-queue counts as "a=3,b=1", sorted.
func countsOf(m map[string]int) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%d", n, m[n])
	}
	return strings.Join(parts, ",")
}
