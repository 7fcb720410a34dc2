package spamtrainer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"time"

	"github.com/jetmail/jetmail/shared/spam"
	"github.com/jetmail/jetmail/shared/spamstore"
	"github.com/jetmail/jetmail/shared/store"
)

// training runs train (all false: the samples since the last training,
// onto the models) or retrain (all: every kept sample, from the default
// model). It can be aborted: its models are then not written.
func (s *Service) training(ctx context.Context, all bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	if s.running != nil {
		s.mu.Unlock()
		return errors.New("a training is running on this node already")
	}
	s.running, s.aborted = cancel, false
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = nil
		s.mu.Unlock()
	}()

	err := s.train(ctx, all)
	s.mu.Lock()
	aborted := s.aborted
	s.mu.Unlock()
	if aborted && errors.Is(err, context.Canceled) {
		s.log.Info("spam training aborted: the models are as they were", "retrain", all)
		return nil
	}
	return err
}

func (s *Service) train(ctx context.Context, all bool) error {
	started := s.d.Clock.Now()
	state, err := s.spam.State(ctx)
	if err != nil {
		return err
	}
	found, err := s.collect(ctx, &state)
	if err != nil {
		return err
	}
	var samples []spamstore.Sample
	if err := s.spam.Samples(ctx, func(x spamstore.Sample) error {
		if all || x.At.After(state.TrainedAt) {
			samples = append(samples, x)
		}
		return nil
	}); err != nil {
		return err
	}
	if len(samples) == 0 {
		if err := s.spam.PutState(ctx, state); err != nil {
			return err
		}
		s.log.Info("spam training: no new samples, the models stay", "moves_read", found)
		return nil
	}
	slices.SortFunc(samples, func(a, b spamstore.Sample) int { return a.At.Compare(b.At) })

	// The global model, then each account's own, all trained before any is
	// written: an abort or a failure leaves every model as it was.
	global, err := s.oldModel(ctx, spamstore.GlobalModel, all)
	if err != nil {
		return err
	}
	done := 0
	progress := func(int) {
		done++
		if s.p.Progress != nil {
			s.p.Progress(done)
		}
		if done%1000 == 0 {
			s.log.Info("spam training", "samples_learnt", done, "of", 2*len(samples))
		}
	}
	newGlobal, err := spam.Train(ctx, global, s.raw(ctx, samples), spam.TrainOptions{OnSample: progress})
	if err != nil {
		return fmt.Errorf("train the global model: %w", err)
	}
	byAccount := map[string][]spamstore.Sample{}
	for _, x := range samples {
		byAccount[x.Account] = append(byAccount[x.Account], x)
	}
	models := map[string]*spam.Model{spamstore.GlobalModel: newGlobal}
	for account, mine := range byAccount {
		name := spamstore.AccountModel(account)
		old, err := s.oldModel(ctx, name, all)
		if err != nil {
			return err
		}
		if models[name], err = spam.Train(ctx, old, s.raw(ctx, mine), spam.TrainOptions{OnSample: progress}); err != nil {
			return fmt.Errorf("train the model of %s: %w", account, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for name, m := range models {
		if err := s.spam.PutModel(ctx, name, m); err != nil {
			return err
		}
	}
	state.TrainedAt, state.Trained = samples[len(samples)-1].At, len(samples)
	if err := s.spam.PutState(ctx, state); err != nil {
		return err
	}
	spamN, hamN := newGlobal.Messages()
	s.log.Info("spam filter trained", "retrain", all, "samples", len(samples), "accounts", len(byAccount),
		"global_spam", spamN, "global_ham", hamN, "tokens", newGlobal.Len(), "took", s.d.Clock.Since(started).Round(time.Millisecond))
	return nil
}

// oldModel is the model a training starts from: the stored one for a
// train, none (the default) for a retrain.
func (s *Service) oldModel(ctx context.Context, name string, all bool) (*spam.Model, error) {
	if all {
		return nil, nil
	}
	m, err := s.spam.Model(ctx, name)
	if errors.Is(err, spamstore.ErrNotFound) {
		return nil, nil
	}
	return m, err
}

// raw reads the samples' messages from the blob store, in order; one whose
// blob is gone (its email destroyed and purged) is skipped.
func (s *Service) raw(ctx context.Context, samples []spamstore.Sample) iter.Seq2[spam.Sample, error] {
	return func(yield func(spam.Sample, error) bool) {
		for _, x := range samples {
			r, err := s.st.Blob(ctx, x.BlobID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				yield(spam.Sample{}, err)
				return
			}
			b, err := io.ReadAll(r)
			_ = r.Close()
			if err != nil {
				yield(spam.Sample{}, fmt.Errorf("read the sample %s of %s: %w", x.EmailID, x.Account, err))
				return
			}
			if !yield(spam.Sample{Raw: b, Label: x.Label}, nil) {
				return
			}
		}
	}
}

// collect reads the change log of every partition from the watermark to
// its end, records the samples the moves into and out of Junk make, and
// moves the watermark. It returns how many moves it found.
func (s *Service) collect(ctx context.Context, state *spamstore.State) (int, error) {
	found := 0
	max := s.cfg.Spam.MaxSamplesPerAccount
	for p := range s.d.Config.Cluster.Partitions {
		spamFrom := map[string]time.Time{} // accounts with new spam: the first move's time
		last, err := s.st.PartitionChanges(ctx, p, state.Watermark[p]+1, func(c store.Change) error {
			if c.Type != store.EmailType || c.Op != store.Updated {
				return nil
			}
			label, ok := spam.Ham, false
			switch {
			case slices.Contains(c.Into, "junk"):
				label, ok = spam.Spam, true
			case slices.Contains(c.OutOf, "junk"):
				ok = true
			}
			if !ok {
				return nil
			}
			d, err := s.st.Document(ctx, c.Account, store.EmailType, c.ID)
			if errors.Is(err, store.ErrNotFound) {
				return nil // destroyed since
			}
			if err != nil {
				return err
			}
			found++
			if label == spam.Spam {
				if _, seen := spamFrom[c.Account]; !seen {
					spamFrom[c.Account] = c.At
				}
			}
			return s.spam.AddSample(ctx, p, spamstore.Sample{Account: c.Account, EmailID: c.ID, BlobID: d.BlobID, Label: label, At: c.At}, max)
		})
		if err != nil {
			return found, fmt.Errorf("read the moves of partition %d: %w", p, err)
		}
		for account, at := range spamFrom {
			if err := s.inboxHam(ctx, p, account, at, max); err != nil {
				return found, err
			}
		}
		state.Watermark[p] = last
	}
	return found, nil
}

// inboxHam takes, for an account that gave new spam samples, as many of
// its newest Inbox emails as ham (what it kept), up to the spam samples it
// has, so that its model learns both sides.
func (s *Service) inboxHam(ctx context.Context, p int, account string, at time.Time, max int) error {
	spamN, hamN := 0, 0
	sampled := map[string]bool{}
	if err := s.spam.Samples(ctx, func(x spamstore.Sample) error {
		if x.Account == account {
			sampled[x.EmailID] = true
			if x.Label == spam.Spam {
				spamN++
			} else {
				hamN++
			}
		}
		return nil
	}); err != nil {
		return err
	}
	want := spamN - hamN
	if want <= 0 {
		return nil
	}
	type kept struct {
		id, blob string
		at       time.Time
	}
	var inbox []kept
	if err := s.st.Documents(ctx, account, store.EmailType, func(d *store.Document) bool {
		var e store.Email
		if d.Decode(&e) == nil && e.MailboxIDs["inbox"] && !sampled[d.ID] {
			inbox = append(inbox, kept{d.ID, d.BlobID, e.ReceivedAt})
		}
		return true
	}); err != nil {
		return fmt.Errorf("the Inbox of %s: %w", account, err)
	}
	slices.SortFunc(inbox, func(a, b kept) int { return b.at.Compare(a.at) })
	for _, k := range inbox[:min(want, len(inbox))] {
		if err := s.spam.AddSample(ctx, p, spamstore.Sample{Account: account, EmailID: k.id, BlobID: k.blob, Label: spam.Ham, At: at}, max); err != nil {
			return err
		}
	}
	return nil
}
