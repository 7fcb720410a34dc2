package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/kvwatch"
	"github.com/jetmail/jetmail/shared/store"
)

// Bucket holds the subscriptions (sub.<account>.<id>) and what was last
// pushed to each (sent.<account>.<id>).
const Bucket = "jetmail-push-subscriptions"

// ErrNotFound is returned for a subscription that does not exist.
var ErrNotFound = errors.New("push subscription not found")

// Subscription is one push subscription (RFC 8620 §7.2) as stored.
type Subscription struct {
	ID             string     `json:"id"`
	Account        string     `json:"account"`
	DeviceClientID string     `json:"deviceClientId"`
	URL            string     `json:"url"`
	Expires        *time.Time `json:"expires,omitempty"`
	// Types are the data types to push; nil for all.
	Types []string `json:"types,omitempty"`
	// Code is the verification code POSTed at creation; Verified is set
	// once the client has echoed it.
	Code     string `json:"code"`
	Verified bool   `json:"verified,omitempty"`
	// Failures counts the POSTs that failed in a row; LastError is the
	// last one's reason.
	Failures  int    `json:"failures,omitempty"`
	LastError string `json:"lastError,omitempty"`
	// Disabled is why nothing more is pushed (push.max-failures reached);
	// empty while active.
	Disabled string    `json:"disabled,omitempty"`
	Created  time.Time `json:"created"`
}

// Active says whether changes are pushed to s at now: verified, not
// disabled, not expired.
func (s *Subscription) Active(now time.Time) bool {
	return s.Verified && s.Disabled == "" && !s.Expired(now)
}

// Expired says whether s's expiry has passed at now.
func (s *Subscription) Expired(now time.Time) bool {
	return s.Expires != nil && !now.Before(*s.Expires)
}

// Wants says whether s asked for changes of data type t.
func (s *Subscription) Wants(t string) bool { return s.Types == nil || slices.Contains(s.Types, t) }

// Sent is what was last pushed to a subscription: the latest state of
// each data type, and the ids of the last alerts, so that a push retried
// after it reached the receiver is not sent again.
type Sent struct {
	States map[string]uint64 `json:"states,omitempty"`
	Alerts []string          `json:"alerts,omitempty"`
	// Claimed is, while a node POSTs to the subscription, until when its
	// claim holds: no other node POSTs meanwhile, so that two nodes
	// working the same state at once (an item handed to another node
	// while its first is still on it) never both send it.
	Claimed time.Time `json:"claimed,omitzero"`
}

// maxSentAlerts bounds the alert ids a Sent remembers.
const maxSentAlerts = 32

// Registry keeps the subscriptions in the KV bucket, and, once Follow has
// run, a copy of them in memory that the senders read.
type Registry struct {
	kv jetstream.KeyValue

	mu        sync.RWMutex
	byAccount map[string]map[string]*Subscription
}

// Open opens (creating it if needed) the bucket with replicas copies.
func Open(ctx context.Context, js jetstream.JetStream, replicas int) (*Registry, error) {
	// Reads go to the stream's leader: a subscription created on one
	// server is read back at once by its verification, maybe on another.
	kv, err := store.ConsistentKV(ctx, js, jetstream.KeyValueConfig{
		Bucket: Bucket, Description: "jetmail push: the push subscriptions, and what was last pushed to each",
		Replicas: max(replicas, 1), Storage: jetstream.FileStorage, History: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", Bucket, err)
	}
	return &Registry{kv: kv, byAccount: map[string]map[string]*Subscription{}}, nil
}

func byID(a, b *Subscription) int { return strings.Compare(a.ID, b.ID) }

func subKey(account, id string) string  { return "sub." + account + "." + id }
func sentKey(account, id string) string { return "sent." + account + "." + id }

// Follow keeps the in-memory copy up to date until bgCtx ends; it returns
// once the copy holds every subscription stored when it began.
func (r *Registry) Follow(ctx, bgCtx context.Context, wg *sync.WaitGroup) error {
	return kvwatch.Follow(ctx, bgCtx, r.kv, "sub.>", wg, func(e jetstream.KeyValueEntry) {
		var s Subscription
		if e.Operation() != jetstream.KeyValuePut {
			r.forget(e.Key())
			return
		}
		if json.Unmarshal(e.Value(), &s) != nil {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		m := r.byAccount[s.Account]
		if m == nil {
			m = map[string]*Subscription{}
			r.byAccount[s.Account] = m
		}
		m[s.ID] = &s
	})
}

// forget drops the copy of the subscription at key (sub.<account>.<id>).
func (r *Registry) forget(key string) {
	account, id, ok := strings.Cut(strings.TrimPrefix(key, "sub."), ".")
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.byAccount[account], id)
	if len(r.byAccount[account]) == 0 {
		delete(r.byAccount, account)
	}
}

// Of is the account's subscriptions as the in-memory copy has them (sorted
// by id); the caller must not change them.
func (r *Registry) Of(account string) []*Subscription {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Subscription, 0, len(r.byAccount[account]))
	for _, s := range r.byAccount[account] {
		out = append(out, s)
	}
	slices.SortFunc(out, byID)
	return out
}

// HasActive says whether the account has a subscription changes are
// pushed to, by the in-memory copy.
func (r *Registry) HasActive(account string, now time.Time) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, s := range r.byAccount[account] {
		if s.Active(now) {
			return true
		}
	}
	return false
}

// Get reads one subscription from the bucket.
func (r *Registry) Get(ctx context.Context, account, id string) (*Subscription, uint64, error) {
	e, err := r.kv.Get(ctx, subKey(account, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read push subscription %s: %w", id, err)
	}
	var s Subscription
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		return nil, 0, fmt.Errorf("read push subscription %s: %w", id, err)
	}
	return &s, e.Revision(), nil
}

// List reads the account's subscriptions from the bucket, sorted by id.
func (r *Registry) List(ctx context.Context, account string) ([]*Subscription, error) {
	lister, err := r.kv.ListKeysFiltered(ctx, subKey(account, "*"))
	if err != nil {
		return nil, fmt.Errorf("list push subscriptions of %s: %w", account, err)
	}
	var out []*Subscription
	for key := range lister.Keys() {
		id := key[len(subKey(account, "")):]
		s, _, err := r.Get(ctx, account, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			_ = lister.Stop()
			return nil, err
		}
		out = append(out, s)
	}
	slices.SortFunc(out, byID)
	return out, nil
}

// Create stores a new subscription.
func (r *Registry) Create(ctx context.Context, s *Subscription) error {
	b, _ := json.Marshal(s)
	if _, err := r.kv.Create(ctx, subKey(s.Account, s.ID), b); err != nil {
		return fmt.Errorf("store push subscription %s: %w", s.ID, err)
	}
	return nil
}

// Update changes a stored subscription with fn, retrying on a concurrent
// change; fn returning an error leaves it as it was.
func (r *Registry) Update(ctx context.Context, account, id string, fn func(*Subscription) error) (*Subscription, error) {
	for {
		s, rev, err := r.Get(ctx, account, id)
		if err != nil {
			return nil, err
		}
		if err := fn(s); err != nil {
			return nil, err
		}
		b, _ := json.Marshal(s)
		_, err = r.kv.Update(ctx, subKey(account, id), b, rev)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("update push subscription %s: %w", id, err)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// Delete removes a subscription and what was sent to it.
func (r *Registry) Delete(ctx context.Context, account, id string) error {
	if err := r.kv.Delete(ctx, subKey(account, id)); err != nil {
		return fmt.Errorf("delete push subscription %s: %w", id, err)
	}
	if err := r.kv.Delete(ctx, sentKey(account, id)); err != nil {
		return fmt.Errorf("delete push subscription %s: %w", id, err)
	}
	return nil
}

// Sent reads what was last pushed to a subscription.
func (r *Registry) Sent(ctx context.Context, account, id string) (Sent, error) {
	s, _, err := r.sent(ctx, account, id)
	return s, err
}

func (r *Registry) sent(ctx context.Context, account, id string) (Sent, uint64, error) {
	e, err := r.kv.Get(ctx, sentKey(account, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Sent{}, 0, nil
	}
	if err != nil {
		return Sent{}, 0, fmt.Errorf("read what was pushed to %s: %w", id, err)
	}
	var s Sent
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		return Sent{}, 0, fmt.Errorf("read what was pushed to %s: %w", id, err)
	}
	return s, e.Revision(), nil
}

// Claim claims the subscription for one push until until, and returns
// what was sent to it; ok is false, and nothing claimed, while another
// claim holds at now.
func (r *Registry) Claim(ctx context.Context, account, id string, now, until time.Time) (sent Sent, ok bool, err error) {
	for {
		s, rev, err := r.sent(ctx, account, id)
		if err != nil {
			return Sent{}, false, err
		}
		if s.Claimed.After(now) {
			return s, false, nil
		}
		c := s
		c.Claimed = until
		if err := r.putSent(ctx, account, id, c, rev); err == nil {
			return s, true, nil
		} else if !errors.Is(err, jetstream.ErrKeyExists) {
			return Sent{}, false, err
		}
		if ctx.Err() != nil {
			return Sent{}, false, ctx.Err()
		}
	}
}

// Release ends a claim, adding what the push sent (nothing, when it
// failed): each state only ever moves forward, and alert (when not empty)
// is remembered.
func (r *Registry) Release(ctx context.Context, account, id string, states map[string]uint64, alert string) error {
	for {
		s, rev, err := r.sent(ctx, account, id)
		if err != nil {
			return err
		}
		if s.States == nil {
			s.States = map[string]uint64{}
		}
		for t, v := range states {
			s.States[t] = max(s.States[t], v)
		}
		if alert != "" && !slices.Contains(s.Alerts, alert) {
			s.Alerts = append(s.Alerts, alert)
			if n := len(s.Alerts); n > maxSentAlerts {
				s.Alerts = s.Alerts[n-maxSentAlerts:]
			}
		}
		s.Claimed = time.Time{}
		err = r.putSent(ctx, account, id, s, rev)
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// putSent writes a Sent record by compare-and-set (rev 0: a new one).
func (r *Registry) putSent(ctx context.Context, account, id string, s Sent, rev uint64) error {
	b, _ := json.Marshal(s)
	var err error
	if rev == 0 {
		_, err = r.kv.Create(ctx, sentKey(account, id), b)
	} else {
		_, err = r.kv.Update(ctx, sentKey(account, id), b, rev)
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("record what was pushed to %s: %w", id, err)
	}
	return err
}
