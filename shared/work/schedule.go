package work

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/roles"
)

// HeaderJob names the job an item of role work is, for role work that is
// not a task trigger (taskmanager.Params.Jobs).
const HeaderJob = "Jetmail-Job"

// Schedule families: a family's schedules are listed and removed together.
const (
	// FamilyPeriodic are task.periodic's, the scheduler's to keep.
	FamilyPeriodic = "cron"
	// FamilyJobs are the services' own periodic jobs (HeaderJob).
	FamilyJobs = "jobs"
)

// Schedule is a server-side schedule of role work: the stream keeps one
// message per schedule, on jetmail.work.<role>.<family>.<name>, and the server
// publishes Item to its partition at each firing (a message schedule with
// a cron pattern or "@every <duration>"), whatever nodes are up. So a
// periodic job fires once per period in the cluster, never once per node.
type Schedule struct {
	Role   roles.Role
	Family string
	// Name is unique within the role's family.
	Name string
	// Pattern is the schedule ("@every 1m0s", a cron expression).
	Pattern string
	// Item is what each firing publishes (its Key places it; its Data
	// and Header are copied to the firing).
	Item Item
}

// ScheduleSubject is the subject of schedule name of role r's family.
func ScheduleSubject(r roles.Role, family, name string) string {
	return SubjectPrefix(r) + family + "." + name
}

// InstallSchedule makes the server's schedule s as given. It publishes it
// only when it differs from the stored one, so that nodes starting do not
// reset an "@every" phase; it says whether it published.
func (p *Publisher) InstallSchedule(ctx context.Context, s Schedule) (bool, error) {
	subj := ScheduleSubject(s.Role, s.Family, s.Name)
	target := p.Msg(s.Role, s.Item)
	msg := nats.NewMsg(subj)
	for k, v := range s.Item.Header {
		msg.Header[k] = v
	}
	msg.Header.Set(jetstream.ScheduleHeader, s.Pattern)
	msg.Header.Set(jetstream.ScheduleTargetHeader, target.Subject)
	if s.Item.Key != "" {
		msg.Header.Set(HeaderKey, s.Item.Key)
	}
	msg.Data = s.Item.Data
	stream, err := p.js.Stream(ctx, StreamName(s.Role))
	if err != nil {
		return false, fmt.Errorf("open stream %s: %w", StreamName(s.Role), err)
	}
	cur, err := stream.GetLastMsgForSubject(ctx, subj)
	switch {
	case err == nil && sameHeaders(cur.Header, msg.Header) && bytes.Equal(cur.Data, msg.Data):
		return false, nil
	case err != nil && !errors.Is(err, jetstream.ErrMsgNotFound):
		return false, fmt.Errorf("read schedule %s of %s: %w", s.Name, s.Role, err)
	}
	if _, err := p.js.PublishMsg(ctx, msg); err != nil {
		return false, fmt.Errorf("schedule %s of %s: the server refused %q: %w", s.Name, s.Role, s.Pattern, err)
	}
	return true, nil
}

// sameHeaders is whether stored has every header of want, equal.
func sameHeaders(stored, want nats.Header) bool {
	for k := range want {
		if stored.Get(k) != want.Get(k) {
			return false
		}
	}
	return true
}

// Schedules lists the subjects of role r's schedules of family.
func (p *Publisher) Schedules(ctx context.Context, r roles.Role, family string) ([]string, error) {
	stream, err := p.js.Stream(ctx, StreamName(r))
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", StreamName(r), err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(SubjectPrefix(r)+family+".>"))
	if err != nil {
		return nil, fmt.Errorf("list schedules of %s: %w", r, err)
	}
	out := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		out = append(out, subj)
	}
	return out, nil
}

// RemoveSchedule removes the schedule on subject subj of role r.
func (p *Publisher) RemoveSchedule(ctx context.Context, r roles.Role, subj string) error {
	stream, err := p.js.Stream(ctx, StreamName(r))
	if err != nil {
		return fmt.Errorf("open stream %s: %w", StreamName(r), err)
	}
	if err := stream.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
		return fmt.Errorf("remove schedule %s: %w", subj, err)
	}
	return nil
}
