// Package spamstore keeps the spam filter's state in JetStream: the
// trained models, the samples they are trained from, the rule set, and
// the trainer's place in the change log.
//
// # What lives where
//
//	jetmail-spam-models (object)  global: the global model;
//	                              account.<id>: an account's own model;
//	                              rules: the rule file in use (its SHA-256
//	                              in the object's metadata)
//	jetmail-spam-samples (KV)     s.<partition>.<account>.<email id>: one
//	                              sample (spam or ham, the email's blob);
//	                              state: the trainer's watermark in the
//	                              change log and its last training
//
// A model is replaced whole (an object put), so a reader sees the old
// model or the new one, never half of one; a training that fails or is
// aborted writes nothing. Samples are keyed by account partition, so the
// samples of one partition are one key range.
package spamstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/kvwatch"
	"github.com/jetmail/jetmail/shared/spam"
)

// The buckets.
const (
	BucketModels  = "jetmail-spam-models"
	BucketSamples = "jetmail-spam-samples"
)

// GlobalModel is the global model's name; AccountModel names an
// account's; RulesName is the rule file's.
const (
	GlobalModel = "global"
	RulesName   = "rules"
)

// AbortSubject is where SpamFilterMaintenance abort asks every trainer to
// stop the training it runs (core NATS: a trainer not listening runs
// none).
const AbortSubject = "jetmail.spam.abort"

// AccountModel is the name of an account's own model.
func AccountModel(account string) string { return "account." + account }

// ErrNotFound is returned for a model, rule file or state that is not
// stored.
var ErrNotFound = errors.New("spamstore: not found")

// Store is the spam filter's state.
type Store struct {
	models  jetstream.ObjectStore
	samples jetstream.KeyValue
}

// Open creates the buckets if needed (with replicas copies) and opens
// them: what the trainer needs.
func Open(ctx context.Context, js jetstream.JetStream, replicas int) (*Store, error) {
	s, err := OpenModels(ctx, js, replicas)
	if err != nil {
		return nil, err
	}
	samples, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: BucketSamples, Description: "jetmail spam filter: training samples and the trainer's state", Replicas: replicas,
		Storage: jetstream.FileStorage, History: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", BucketSamples, err)
	}
	s.samples = samples
	return s, nil
}

// OpenModels opens the models and rules only (creating their bucket if
// needed): what a Filter needs. The sample and state methods are the
// trainer's, on a Store from Open.
func OpenModels(ctx context.Context, js jetstream.JetStream, replicas int) (*Store, error) {
	if replicas < 1 {
		replicas = 1
	}
	models, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: BucketModels, Description: "jetmail spam filter: trained models and the rule set", Replicas: replicas,
		Storage: jetstream.FileStorage, Compression: true,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", BucketModels, err)
	}
	return &Store{models: models}, nil
}

// Model reads a model; ErrNotFound when none is stored.
func (s *Store) Model(ctx context.Context, name string) (*spam.Model, error) {
	b, err := s.models.GetBytes(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("model %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read model %s: %w", name, err)
	}
	m, err := spam.DecodeModel(b)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	return m, nil
}

// PutModel stores m under name, replacing the one before.
func (s *Store) PutModel(ctx context.Context, name string, m *spam.Model) error {
	if _, err := s.models.PutBytes(ctx, name, m.Encode()); err != nil {
		return fmt.Errorf("store model %s: %w", name, err)
	}
	return nil
}

// ResetModels removes every model, global and per account: classifying
// goes back to the default (empty) model. It returns how many went.
func (s *Store) ResetModels(ctx context.Context) (int, error) {
	infos, err := s.models.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list models: %w", err)
	}
	n := 0
	for _, info := range infos {
		if info.Name == RulesName {
			continue
		}
		if err := s.models.Delete(ctx, info.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return n, fmt.Errorf("remove model %s: %w", info.Name, err)
		}
		n++
	}
	return n, nil
}

// Rules reads the rule file in use and its SHA-256; ErrNotFound when
// there is none.
func (s *Store) Rules(ctx context.Context) ([]byte, string, error) {
	r, err := s.models.Get(ctx, RulesName)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, "", fmt.Errorf("rules: %w", ErrNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("read the rules: %w", err)
	}
	defer r.Close()
	info, err := r.Info()
	if err != nil {
		return nil, "", fmt.Errorf("read the rules: %w", err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, "", fmt.Errorf("read the rules: %w", err)
	}
	return b, info.Headers.Get("Jetmail-Sha256"), nil
}

// PutRules stores a rule file (checked and parsed by the caller) for
// every node to load; it replaces the one before at once.
func (s *Store) PutRules(ctx context.Context, data []byte, sha256 string) error {
	meta := jetstream.ObjectMeta{Name: RulesName, Description: "spam rules, SHA-256 " + sha256}
	meta.Headers = map[string][]string{"Jetmail-Sha256": {sha256}}
	if _, err := s.models.Put(ctx, meta, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("store the rules: %w", err)
	}
	return nil
}

// Watch reports each change of a model or of the rules, by name, until
// ctx ends; the delivery side drops its cached copy then.
func (s *Store) Watch(ctx context.Context, changed func(name string)) error {
	w, err := s.models.Watch(ctx, jetstream.UpdatesOnly())
	if err != nil {
		return fmt.Errorf("watch %s: %w", BucketModels, err)
	}
	go func() {
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case info, ok := <-w.Updates():
				if !ok {
					return
				}
				if info != nil {
					changed(info.Name)
				}
			}
		}
	}()
	return nil
}

// Sample is one message to learn from: an email an account's user moved
// into Junk (spam) or out of it (ham).
type Sample struct {
	Account string     `json:"account"`
	EmailID string     `json:"emailId"`
	BlobID  string     `json:"blobId"`
	Label   spam.Label `json:"label"`
	At      time.Time  `json:"at"`
}

func sampleKey(partition int, account, emailID string) string {
	return fmt.Sprintf("s.%d.%s.%s", partition, account, emailID)
}

// AddSample records a sample, replacing one of the same email (a message
// moved into Junk and back out is ham). An account keeps at most max
// samples (0: no bound): past it the oldest go.
func (s *Store) AddSample(ctx context.Context, partition int, smp Sample, max int) error {
	if _, err := s.samples.Put(ctx, sampleKey(partition, smp.Account, smp.EmailID), mustJSON(smp)); err != nil {
		return fmt.Errorf("record a sample of %s: %w", smp.Account, err)
	}
	if max <= 0 {
		return nil
	}
	var mine []Sample
	if err := s.scan(ctx, fmt.Sprintf("s.%d.%s.*", partition, smp.Account), func(x Sample) error {
		mine = append(mine, x)
		return nil
	}); err != nil {
		return err
	}
	if len(mine) <= max {
		return nil
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].At.Before(mine[j].At) })
	for _, old := range mine[:len(mine)-max] {
		if err := s.samples.Purge(ctx, sampleKey(partition, old.Account, old.EmailID)); err != nil {
			return fmt.Errorf("drop an old sample of %s: %w", old.Account, err)
		}
	}
	return nil
}

// Samples calls fn for each sample, streaming.
func (s *Store) Samples(ctx context.Context, fn func(Sample) error) error {
	return s.scan(ctx, "s.>", fn)
}

func (s *Store) scan(ctx context.Context, filter string, fn func(Sample) error) error {
	err := kvwatch.Scan(ctx, s.samples, []string{filter}, func(e jetstream.KeyValueEntry) error {
		var x Sample
		if json.Unmarshal(e.Value(), &x) != nil {
			return nil // not a sample of this version: skipped
		}
		return fn(x)
	})
	if err != nil {
		return fmt.Errorf("read the samples: %w", err)
	}
	return nil
}

// State is the trainer's: where it is in the change log, and its last
// training.
type State struct {
	// Watermark is the change log sequence, per partition, up to which
	// moves have been taken as samples.
	Watermark map[int]uint64 `json:"watermark"`
	// TrainedAt is when the last training ended, and Trained how many
	// samples it learnt from.
	TrainedAt time.Time `json:"trainedAt,omitzero"`
	Trained   int       `json:"trained"`
}

// State reads the trainer's state; a zero State before the first
// training.
func (s *Store) State(ctx context.Context) (State, error) {
	e, err := s.samples.Get(ctx, "state")
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return State{Watermark: map[int]uint64{}}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("read the trainer's state: %w", err)
	}
	var st State
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return State{}, fmt.Errorf("the trainer's state: %w", err)
	}
	if st.Watermark == nil {
		st.Watermark = map[int]uint64{}
	}
	return st, nil
}

// PutState stores the trainer's state.
func (s *Store) PutState(ctx context.Context, st State) error {
	if _, err := s.samples.Put(ctx, "state", mustJSON(st)); err != nil {
		return fmt.Errorf("store the trainer's state: %w", err)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
