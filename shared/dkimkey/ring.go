package dkimkey

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/kvwatch"
	"github.com/jetmail/jetmail/shared/store"
)

// Bucket holds each domain's rotated DKIM keys (<domain>: State).
const Bucket = "jetmail-dkim"

// Key is one DKIM key of a domain's rotation.
type Key struct {
	Selector string `json:"selector"`
	// KeyPEM is the private key (PKCS #8); empty for the configured key
	// (dkim.<domain>.private-key), which stays in its file.
	KeyPEM []byte `json:"key,omitempty"`
	// Record is its DNS TXT record's text.
	Record    string    `json:"record"`
	Published time.Time `json:"published"`
	// ActiveAt is when a published key may sign (its record visible and
	// the TTL passed); RemoveAt when a retired one is unpublished.
	ActiveAt time.Time `json:"activeAt,omitzero"`
	RemoveAt time.Time `json:"removeAt,omitzero"`
}

// State is a domain's rotation:
//
//	no state           the configured key signs
//	Next set           a new key is published; it signs from ActiveAt on
//	Active set         that key signs
//	Retired            keys that signed before, still published until
//	                   their RemoveAt, so that mail in flight verifies
type State struct {
	Domain  string `json:"domain"`
	Active  *Key   `json:"active,omitempty"`
	Next    *Key   `json:"next,omitempty"`
	Retired []Key  `json:"retired,omitempty"`
}

// Published are the keys whose records the zone must hold.
func (s *State) Published() []Key {
	var out []Key
	for _, k := range []*Key{s.Active, s.Next} {
		if k != nil {
			out = append(out, *k)
		}
	}
	return append(out, s.Retired...)
}

// Generate makes a key of algorithm ("rsa": 2048 bits, or "ed25519").
func Generate(algorithm string) (crypto.Signer, []byte, error) {
	var key crypto.Signer
	var err error
	switch algorithm {
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "rsa", "":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, nil, fmt.Errorf("unknown DKIM algorithm %q (rsa, ed25519)", algorithm)
	}
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Ring is the bucket, and once Follow runs, each domain's active key in
// memory: what every node signs with.
type Ring struct {
	kv jetstream.KeyValue

	mu     sync.RWMutex
	active map[string]activeKey
}

type activeKey struct {
	selector string
	key      crypto.Signer
}

// OpenRing opens (creating it if needed) the bucket with replicas copies.
func OpenRing(ctx context.Context, js jetstream.JetStream, replicas int) (*Ring, error) {
	kv, err := store.ConsistentKV(ctx, js, jetstream.KeyValueConfig{
		Bucket: Bucket, Description: "jetmail: each domain's DKIM keys, as DkimManagement rotates them",
		Replicas: max(replicas, 1), Storage: jetstream.FileStorage, History: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", Bucket, err)
	}
	return &Ring{kv: kv, active: map[string]activeKey{}}, nil
}

// Follow keeps the active keys in memory until bgCtx ends; it returns
// once those stored when it began are loaded.
func (r *Ring) Follow(ctx, bgCtx context.Context, wg *sync.WaitGroup) error {
	return kvwatch.Follow(ctx, bgCtx, r.kv, "", wg, func(e jetstream.KeyValueEntry) {
		var s State
		if e.Operation() != jetstream.KeyValuePut || json.Unmarshal(e.Value(), &s) != nil || s.Active == nil || len(s.Active.KeyPEM) == 0 {
			return
		}
		key, err := parse(s.Active.KeyPEM)
		if err != nil {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.active[s.Domain] = activeKey{s.Active.Selector, key}
	})
}

// Active is the domain's rotated key that signs now, if any.
func (r *Ring) Active(domain string) (selector string, key crypto.Signer, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.active[domain]
	return a.selector, a.key, ok
}

// ErrNoState is returned for a domain never rotated.
var ErrNoState = errors.New("no DKIM rotation")

// State reads a domain's rotation and its revision.
func (r *Ring) State(ctx context.Context, domain string) (*State, uint64, error) {
	e, err := r.kv.Get(ctx, domain)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return &State{Domain: domain}, 0, ErrNoState
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read the DKIM keys of %s: %w", domain, err)
	}
	var s State
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		return nil, 0, fmt.Errorf("read the DKIM keys of %s: %w", domain, err)
	}
	return &s, e.Revision(), nil
}

// Put stores a domain's rotation if it is still at revision rev (0: new).
func (r *Ring) Put(ctx context.Context, s *State, rev uint64) error {
	b, _ := json.Marshal(s)
	var err error
	if rev == 0 {
		_, err = r.kv.Create(ctx, s.Domain, b)
	} else {
		_, err = r.kv.Update(ctx, s.Domain, b, rev)
	}
	if err != nil {
		return fmt.Errorf("store the DKIM keys of %s: %w", s.Domain, err)
	}
	return nil
}
