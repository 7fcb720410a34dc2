package spamstore

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/jetmail/jetmail/shared/spam"
)

// Filter classifies messages with the stored models and rules, as local
// delivery and intake do: the models and the rule set are read once and
// kept, and dropped when the trainer replaces them (Watch), so a new
// training is used from the next message on, on every node.
type Filter struct {
	st  *Store
	c   *spam.Classifier
	log *slog.Logger

	mu       sync.Mutex
	loaded   map[string]*spam.Model // nil value: none stored
	rulesSet bool
}

// maxCachedModels bounds the account models kept; past it the cache
// starts again (a model is read again when next needed).
const maxCachedModels = 10000

// NewFilter returns a filter on st's models, classifying with p.
func NewFilter(st *Store, p spam.Params, log *slog.Logger) (*Filter, error) {
	c, err := spam.NewClassifier(p)
	if err != nil {
		return nil, err
	}
	return &Filter{st: st, c: c, log: log, loaded: map[string]*spam.Model{}}, nil
}

// Start follows the trainer's changes until ctx ends.
func (f *Filter) Start(ctx context.Context) error {
	return f.st.Watch(ctx, func(name string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if name == RulesName {
			f.rulesSet = false
			return
		}
		delete(f.loaded, name)
	})
}

// model returns a stored model, nil when there is none.
func (f *Filter) model(ctx context.Context, name string) (*spam.Model, error) {
	f.mu.Lock()
	m, ok := f.loaded[name]
	f.mu.Unlock()
	if ok {
		return m, nil
	}
	m, err := f.st.Model(ctx, name)
	if errors.Is(err, ErrNotFound) {
		m, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if len(f.loaded) >= maxCachedModels {
		f.loaded = map[string]*spam.Model{}
	}
	f.loaded[name] = m
	f.mu.Unlock()
	return m, nil
}

// rules loads the stored rule set into the classifier when it changed. A
// stored file that does not parse (it was checked before it was stored,
// so only a newer version's could) leaves the rules in use.
func (f *Filter) rules(ctx context.Context) error {
	f.mu.Lock()
	set := f.rulesSet
	f.mu.Unlock()
	if set {
		return nil
	}
	data, _, err := f.st.Rules(ctx)
	switch {
	case errors.Is(err, ErrNotFound):
		f.c.SetRules(nil)
	case err != nil:
		return err
	default:
		if _, err := f.c.LoadRules(data); err != nil {
			f.log.Error("stored spam rules do not load; keeping those in use", "err", err)
		}
	}
	f.mu.Lock()
	f.rulesSet = true
	f.mu.Unlock()
	return nil
}

// Classify scores raw for account ("" for the global model alone, as at
// intake, before the recipients' accounts are known).
func (f *Filter) Classify(ctx context.Context, account string, raw []byte) (spam.Verdict, error) {
	return f.ClassifyMessage(ctx, account, spam.Analyze(raw))
}

// ClassifyMessage is Classify of a message analysed already (spam.Analyze),
// so that one message to several accounts is analysed once.
func (f *Filter) ClassifyMessage(ctx context.Context, account string, m *spam.Message) (spam.Verdict, error) {
	if err := f.rules(ctx); err != nil {
		return spam.Verdict{}, err
	}
	global, err := f.model(ctx, GlobalModel)
	if err != nil {
		return spam.Verdict{}, err
	}
	var own *spam.Model
	if account != "" {
		if own, err = f.model(ctx, AccountModel(account)); err != nil {
			return spam.Verdict{}, err
		}
	}
	return f.c.Classify(m, global, own), nil
}
