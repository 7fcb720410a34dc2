package taskmanager

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/shard"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/work"
)

// rescueOnce runs on the leader (every RescueInterval): it re-publishes
// the trigger of tasks that are over RescueAfter past due while the
// consumer of their shard has nothing pending or in flight, which means
// their trigger was lost (a crash between writing a task and publishing its
// trigger).
func (m *Manager) rescueOnce(ctx context.Context) {
	cutoff := m.p.Clock.Now().Add(-m.p.RescueAfter)
	idle := map[string]bool{} // consumer name -> idle, cached for this pass
	for _, id := range m.index.overdue(cutoff) {
		t, _, err := m.load(ctx, id)
		if err != nil || !t.Status.Runnable() || t.Status.Due.After(cutoff) {
			continue
		}
		role := task.RoleOf(t.Variant())
		rm, layout, _ := m.n.View.Role(role)
		if !layout.Fits(rm) {
			continue // re-sharding: consumers are being rebuilt
		}
		msg := m.triggerMsg(t)
		part := m.n.Publisher.PartitionOf(triggerItem(t))
		name := work.ConsumerName(role, shard.Owner(part, layout.Shards), layout.Epoch)
		isIdle, ok := idle[name]
		if !ok {
			isIdle = m.consumerIdle(ctx, work.StreamName(role), name)
			idle[name] = isIdle
		}
		if !isIdle {
			continue
		}
		msg.Header.Set(jetstream.MsgIDHeader, t.ID+"/"+t.Token+"/rescue")
		if _, err := m.js.PublishMsg(ctx, msg); err != nil {
			m.log.Warn("rescue task", "task", t.ID, "err", err)
			continue
		}
		m.metrics.rescued.Inc()
		m.log.Warn("task was past due with no trigger; triggered it again", "task", t.ID, "type", t.Variant(), "due", t.Status.Due)
	}
}

func (m *Manager) consumerIdle(ctx context.Context, stream, name string) bool {
	c, err := m.js.Consumer(ctx, stream, name)
	if err != nil {
		return false
	}
	info, err := c.Info(ctx)
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0
}
