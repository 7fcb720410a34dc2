// Package ratelimit counts events per key in fixed windows across the
// cluster: the intake's rate limits (smtp.limits.rate.*).
//
// A window is a counter in KV bucket jetmail-ratelimits, keyed
// <kind>.<hash of the key>.<window start, Unix seconds>, with windows
// aligned on the Unix epoch. Take reads the counter and, if it is below
// the limit, writes it one higher at the revision it read; a node that
// lost the race to another reads again (kvttl.ErrConflict). So every
// event admitted is counted once, and no more than the limit are
// admitted in a window whatever the number of nodes. An event refused is
// not counted: a client that waits for the next window gets in then.
// Each counter lives until its window has ended (per-key TTL), so the
// bucket holds the current windows only; StoreMaintenance
// resetRateLimiters empties it (Reset), and the limits start over.
//
// Fixed windows admit up to twice the limit across a window's edge; the
// limits here are for abuse (a compromised account, a spam run), where
// that is good enough, and a window costs one key.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/kvttl"
)

// Bucket is the KV bucket of the counters.
const Bucket = "jetmail-ratelimits"

// Kind is what a limit counts per; it is the first token of a counter's
// key and the metrics' label.
type Kind string

// The intake's kinds (smtp.limits.rate.ip, .sender and .account).
const (
	KindIP      Kind = "ip"
	KindSender  Kind = "sender"
	KindAccount Kind = "account"
)

// Params configure a Limiter.
type Params struct {
	// JS is where the bucket is.
	JS jetstream.JetStream
	// Replicas is the bucket's replica count (nats.replicas). Default 1.
	Replicas int
	// Clock tells which window it is. Default the system clock.
	Clock clock.Clock
}

// Limiter takes events from the counters.
type Limiter struct {
	b     *kvttl.Bucket
	clock clock.Clock
}

// Open creates the bucket if need be and returns a Limiter on it.
func Open(ctx context.Context, p Params) (*Limiter, error) {
	if p.Clock == nil {
		p.Clock = clock.Real
	}
	b, err := kvttl.Open(ctx, p.JS, Bucket, "jetmail rate limits: one counter per key and window (smtp.limits.rate.*)", p.Replicas)
	if err != nil {
		return nil, err
	}
	return &Limiter{b: b, clock: p.Clock}, nil
}

// Verdict is Take's answer.
type Verdict struct {
	// Allowed says the event was admitted, and counted.
	Allowed bool
	// Count is the window's count, this event included when admitted.
	Count int
	// Reset is when the window ends and the count starts over.
	Reset time.Time
}

// maxConflicts bounds the retries of one Take: each conflict means
// another node admitted an event meanwhile, so this many in a row is a
// key far hotter than any limit here is for.
const maxConflicts = 100

// Take admits one event of kind for key under rate r, and counts it,
// unless the current window has admitted r.Count already. A zero rate
// admits everything and counts nothing.
func (l *Limiter) Take(ctx context.Context, kind Kind, key string, r config.Rate) (Verdict, error) {
	if r.Off() {
		return Verdict{Allowed: true}, nil
	}
	now := l.clock.Now()
	secs := int64(r.Window / time.Second)
	start := now.Unix() / secs * secs
	reset := time.Unix(start+secs, 0).In(now.Location())
	k := counterKey(kind, key, start)
	// The counter outlives its window by a second, the server's clock
	// running a little apart from ours.
	ttl := reset.Sub(now) + time.Second
	for range maxConflicts {
		v, rev, err := l.b.Get(ctx, k)
		if err != nil {
			return Verdict{}, err
		}
		n := 0
		if v != nil {
			if n, err = strconv.Atoi(string(v)); err != nil {
				return Verdict{}, fmt.Errorf("counter %s: %q is not a count", k, v)
			}
		}
		if n >= r.Count {
			return Verdict{Count: n, Reset: reset}, nil
		}
		_, err = l.b.Write(ctx, k, []byte(strconv.Itoa(n+1)), rev, ttl)
		switch {
		case err == nil:
			return Verdict{Allowed: true, Count: n + 1, Reset: reset}, nil
		case !errors.Is(err, kvttl.ErrConflict):
			return Verdict{}, err
		}
	}
	return Verdict{}, fmt.Errorf("counter %s: %d conflicting writes in a row", k, maxConflicts)
}

// counterKey is the key of kind's counter for key in the window starting
// at start. The key is hashed: any string can be a key, and the bucket
// holds no addresses.
func counterKey(kind Kind, key string, start int64) string {
	h := sha256.Sum256([]byte(key))
	return string(kind) + "." + hex.EncodeToString(h[:16]) + "." + strconv.FormatInt(start, 10)
}

// Reset removes every counter (StoreMaintenance resetRateLimiters) and
// returns how many there were: every limit starts its window over. No
// bucket, nothing to remove.
func Reset(ctx context.Context, js jetstream.JetStream) (int, error) {
	return kvttl.Clear(ctx, js, Bucket)
}
