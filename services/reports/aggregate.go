package reports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/aggreport"
	"github.com/jetmail/jetmail/shared/engine"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
	"github.com/jetmail/jetmail/shared/work"
)

// JobClose is the job (work.HeaderJob) that closes the report windows.
const JobClose = "report.close"

// closeEvery is how often the windows are looked at: a minute, or a
// quarter of a shorter window (tests).
func closeEvery(window time.Duration) time.Duration {
	return max(min(time.Minute, window/4), time.Second)
}

// grace is how long after a window's end it closes, for the events
// stamped just before the end to be stored.
func grace(window time.Duration) time.Duration { return min(5*time.Second, window/4) }

// reporter is who the reports say they are from.
func (s *Service) reporter() aggreport.Reporter {
	host := mailqueue.Hostname(s.cfg)
	r := aggreport.Reporter{OrgName: s.cfg.Report.OrgName, Email: s.cfg.Report.Address}
	if r.OrgName == "" {
		r.OrgName = host
	}
	if r.Email == "" {
		r.Email = "noreply-reports@" + host
	}
	return r
}

// closeWindows works one firing of the close schedule: every window of
// each kind that ended becomes one report per reporting domain, stored
// in jetmail-reports and sent by a DmarcReport or TlsReport task, then
// the kind's cursor moves past it. A crash before the cursor moves makes
// the next firing redo the window: its reports have the same ids, so the
// tasks are not made twice and a report already sent is not sent again.
func (s *Service) closeWindows(ctx context.Context, _ *work.Job) error {
	for _, kind := range []aggreport.Kind{aggreport.KindDMARC, aggreport.KindTLS} {
		if err := s.closeKind(ctx, kind); err != nil {
			return fmt.Errorf("close %s report windows: %w", kind, err)
		}
	}
	return nil
}

func (s *Service) closeKind(ctx context.Context, kind aggreport.Kind) error {
	size := s.cfg.Report.Window
	now := s.d.Clock.Now().UTC()
	key := "cursor." + string(kind)
	var cursor time.Time
	var rev uint64
	e, err := s.reportKV.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		// A new cluster reports from the window before this one on.
		cursor = aggreport.WindowAt(now, size).Start.Add(-size)
	case err != nil:
		return err
	default:
		if cursor, err = time.Parse(time.RFC3339, string(e.Value())); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		rev = e.Revision()
	}
	// Events older than the stream keeps are gone: skip their windows.
	if oldest := now.Add(-aggreport.MaxAge + size); cursor.Before(oldest) {
		cursor = aggreport.WindowAt(oldest, size).Start
	}
	for w := (aggreport.Window{Start: cursor, End: cursor.Add(size)}); !now.Before(w.End.Add(grace(size))); w = (aggreport.Window{Start: w.End, End: w.End.Add(size)}) {
		aggs, err := aggreport.Collect(ctx, s.d.JS(), kind, w)
		if err != nil {
			return err
		}
		for _, a := range aggs {
			if err := s.queueReport(ctx, a); err != nil {
				return err
			}
		}
		next := []byte(w.End.Format(time.RFC3339))
		if rev == 0 {
			rev, err = s.reportKV.Create(ctx, key, next)
		} else {
			rev, err = s.reportKV.Update(ctx, key, next, rev)
		}
		if err != nil {
			return fmt.Errorf("move %s past %s: %w", key, w.Start, err)
		}
		if len(aggs) > 0 {
			s.log.Info("report window closed", "kind", kind, "start", w.Start, "end", w.End, "reports", len(aggs))
		}
	}
	return nil
}

// queueReport stores a and makes its task, unless it was sent already.
func (s *Service) queueReport(ctx context.Context, a *aggreport.Aggregate) error {
	id := a.ID()
	if _, err := s.reportKV.Get(ctx, "sent."+id); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return err
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if _, err := s.reportKV.Put(ctx, "report."+id, b); err != nil {
		return fmt.Errorf("store report %s: %w", id, err)
	}
	var p task.Payload = &task.DmarcReportTask{ReportID: id}
	if a.Kind == aggreport.KindTLS {
		p = &task.TlsReportTask{ReportID: id}
	}
	if _, err := s.mgr.CreateMany(ctx, []taskmanager.NewTask{{ID: "report-" + id, Payload: p}}); err != nil && !errors.Is(err, engine.ErrExists) {
		return fmt.Errorf("create the task of report %s: %w", id, err)
	}
	return nil
}

// sendReport is the DmarcReport and TlsReport handler: it queues the
// report to each of its domain's rua mailboxes, with source report,
// then marks it sent.
func (s *Service) sendReport(ctx context.Context, t *task.Task) error {
	var id string
	switch p := t.Payload.(type) {
	case *task.DmarcReportTask:
		id = p.ReportID
	case *task.TlsReportTask:
		id = p.ReportID
	}
	e, err := s.reportKV.Get(ctx, "report."+id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		if _, err := s.reportKV.Get(ctx, "sent."+id); err == nil {
			return nil // sent by an earlier run that ended before its task did
		}
		return fmt.Errorf("report %s: not in %s (expired or never made)", id, aggreport.Bucket)
	}
	if err != nil {
		return fmt.Errorf("report %s: %w", id, err)
	}
	var a aggreport.Aggregate
	if err := json.Unmarshal(e.Value(), &a); err != nil {
		return fmt.Errorf("report %s: %w", id, err)
	}
	r := s.reporter()
	host := mailqueue.Hostname(s.cfg)
	var rcpts []mailqueue.RcptIn
	for _, u := range a.RUA {
		addr, err := mail.ParseAddress(strings.SplitN(strings.TrimPrefix(strings.TrimPrefix(u, "mailto:"), "MAILTO:"), "!", 2)[0])
		if err != nil {
			s.log.Warn("report address skipped", "report", id, "rua", u, "err", err)
			continue
		}
		rcpts = append(rcpts, mailqueue.RcptIn{Address: addr.Address})
	}
	if len(rcpts) == 0 {
		return fmt.Errorf("report %s: no mailto: address in rua %v", id, a.RUA)
	}
	for _, rc := range rcpts {
		msg, err := a.Message(r, host, rc.Address, s.d.Clock.Now())
		if err != nil {
			return err
		}
		if _, err := s.queue.Enqueue(ctx, mailqueue.Envelope{Sender: r.Email, Source: mailqueue.SourceReport}, []mailqueue.RcptIn{rc}, msg); err != nil {
			return fmt.Errorf("queue report %s to %s: %w", id, rc.Address, err)
		}
	}
	if _, err := s.reportKV.Put(ctx, "sent."+id, []byte(s.d.Clock.Now().UTC().Format(time.RFC3339))); err != nil {
		return fmt.Errorf("report %s: %w", id, err)
	}
	_ = s.reportKV.Delete(ctx, "report."+id)
	s.log.Info("report sent", "report", id, "kind", a.Kind, "domain", a.Domain, "rcpts", len(rcpts))
	return nil
}
