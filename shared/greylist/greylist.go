package greylist

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/kvttl"
)

// Bucket is the KV bucket of triplets and whitelisted clients.
const Bucket = "jetmail-greylist"

// Params configure a Greylist.
type Params struct {
	// JS is where the bucket is.
	JS jetstream.JetStream
	// Replicas is the bucket's replica count (nats.replicas). Default 1.
	Replicas int
	// Config is smtp.greylist (Enable is not read: a Greylist greylists).
	Config config.SMTPGreylist
	// Clock tells the time. Default the system clock.
	Clock clock.Clock
}

// Greylist checks attempts against the triplets.
type Greylist struct {
	b     *kvttl.Bucket
	cfg   config.SMTPGreylist
	clock clock.Clock
}

// Open creates the bucket if need be and returns a Greylist on it.
func Open(ctx context.Context, p Params) (*Greylist, error) {
	if p.Clock == nil {
		p.Clock = clock.Real
	}
	b, err := kvttl.Open(ctx, p.JS, Bucket, "jetmail greylisting (smtp.greylist): triplets and auto-whitelisted client networks", p.Replicas)
	if err != nil {
		return nil, err
	}
	return &Greylist{b: b, cfg: p.Config, clock: p.Clock}, nil
}

// Result is why an attempt passed or not.
type Result string

// The results; they are the metrics' label.
const (
	// Greylisted: the triplet is new, or retried before the delay.
	Greylisted Result = "greylisted"
	// Passed: the triplet was retried after the delay, now or before.
	Passed Result = "passed"
	// Whitelisted: the client network is auto-whitelisted.
	Whitelisted Result = "whitelisted"
)

// Verdict is Check's answer.
type Verdict struct {
	Result Result
	// Wait is, for Greylisted, how long until a retry passes.
	Wait time.Duration
}

// Pass reports whether the attempt may go on.
func (v Verdict) Pass() bool { return v.Result != Greylisted }

// triplet is a triplet's value.
type triplet struct {
	First int64 `json:"first"`
	Last  int64 `json:"last"`
}

// client is an auto-whitelist count's value.
type client struct {
	Count int   `json:"count"`
	Last  int64 `json:"last"`
}

// maxConflicts bounds one Check's retries on a key another node writes.
const maxConflicts = 20

// awlRefresh is how often a whitelisted client's last-seen time is
// written (postgrey: hourly).
const awlRefresh = time.Hour

// Check records an attempt from ip, of mail from sender (empty for the
// null sender) to rcpt, and says whether it passes.
func (g *Greylist) Check(ctx context.Context, ip net.IP, sender, rcpt string) (Verdict, error) {
	network := Network(ip)
	now := g.clock.Now().Unix()
	if g.cfg.AutoWhitelistClients > 0 {
		ok, err := g.whitelisted(ctx, network, now)
		if err != nil {
			return Verdict{}, err
		}
		if ok {
			return Verdict{Result: Whitelisted}, nil
		}
	}
	key := "t." + hash(network+"/"+Sender(sender)+"/"+strings.ToLower(rcpt))
	delay, maxAge, window := seconds(g.cfg.Delay), seconds(g.cfg.MaxAge), seconds(g.cfg.RetryWindow)
	for range maxConflicts {
		v, rev, err := g.b.Get(ctx, key)
		if err != nil {
			return Verdict{}, err
		}
		t := triplet{First: now}
		passedBefore := false
		if v != nil {
			var old triplet
			if err := json.Unmarshal(v, &old); err != nil {
				return Verdict{}, fmt.Errorf("greylist entry %s: %w", key, err)
			}
			passedBefore = old.Last-old.First >= delay
			switch {
			case now-old.Last > maxAge:
				passedBefore = false // forgotten: new again
			case !passedBefore && now-old.Last > window:
				// not retried in time: new again
			default:
				t.First = old.First
			}
		}
		t.Last = now
		left := delay - (now - t.First)
		ttl := g.cfg.RetryWindow
		if left <= 0 {
			ttl = g.cfg.MaxAge
		}
		val, _ := json.Marshal(t)
		_, err = g.b.Write(ctx, key, val, rev, ttl)
		if errors.Is(err, kvttl.ErrConflict) {
			continue
		}
		if err != nil {
			return Verdict{}, err
		}
		if left > 0 {
			return Verdict{Result: Greylisted, Wait: time.Duration(left) * time.Second}, nil
		}
		if !passedBefore && g.cfg.AutoWhitelistClients > 0 {
			if err := g.countPass(ctx, network, now); err != nil {
				return Verdict{Result: Passed}, err
			}
		}
		return Verdict{Result: Passed}, nil
	}
	return Verdict{}, fmt.Errorf("greylist entry %s: %d conflicting writes in a row", key, maxConflicts)
}

// whitelisted reports a client network auto-whitelisted, refreshing its
// last-seen time when an hour old.
func (g *Greylist) whitelisted(ctx context.Context, network string, now int64) (bool, error) {
	key := "c." + hash(network)
	v, rev, err := g.b.Get(ctx, key)
	if err != nil || v == nil {
		return false, err
	}
	var c client
	if err := json.Unmarshal(v, &c); err != nil {
		return false, fmt.Errorf("greylist client %s: %w", key, err)
	}
	if c.Count < g.cfg.AutoWhitelistClients || now-c.Last > seconds(g.cfg.MaxAge) {
		return false, nil
	}
	if now-c.Last >= seconds(awlRefresh) {
		c.Last = now
		val, _ := json.Marshal(c)
		// Another node refreshing it at once is as good.
		if _, err := g.b.Write(ctx, key, val, rev, g.cfg.MaxAge); err != nil && !errors.Is(err, kvttl.ErrConflict) {
			return true, err
		}
	}
	return true, nil
}

// countPass counts a triplet's first pass for its client network.
func (g *Greylist) countPass(ctx context.Context, network string, now int64) error {
	key := "c." + hash(network)
	for range maxConflicts {
		v, rev, err := g.b.Get(ctx, key)
		if err != nil {
			return err
		}
		var c client
		if v != nil {
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("greylist client %s: %w", key, err)
			}
			if now-c.Last > seconds(g.cfg.MaxAge) {
				c = client{} // forgotten: counting starts over
			}
		}
		c.Count++
		c.Last = now
		val, _ := json.Marshal(c)
		_, err = g.b.Write(ctx, key, val, rev, g.cfg.MaxAge)
		if !errors.Is(err, kvttl.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("greylist client %s: %d conflicting writes in a row", key, maxConflicts)
}

// Network is the client network of a triplet: an IPv4 address's /24, an
// IPv6 address's /64, as postgrey's defaults.
func Network(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return (&net.IPNet{IP: v4.Mask(net.CIDRMask(24, 32)), Mask: net.CIDRMask(24, 32)}).String()
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}

// loneNumber is a number standing alone in a sender's local part, as
// postgrey's s/\b\d+\b/#/g finds them.
var loneNumber = regexp.MustCompile(`\b\d+\b`)

// Sender is the sender of a triplet, as postgrey's sender substitutions
// make it: lower-cased, the local part's +extension cut, and its lone
// numbers replaced by '#' ("bounce-1234-x+y@lists.example" is
// "bounce-#-x@lists.example").
func Sender(addr string) string {
	addr = strings.ToLower(addr)
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	user, domain := addr[:at], addr[at:]
	if i := strings.IndexByte(user, '+'); i >= 0 {
		user = user[:i]
	}
	return loneNumber.ReplaceAllString(user, "#") + domain
}

func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// Clear removes every triplet and whitelisted client (StoreMaintenance
// removeGreylist) and returns how many entries there were. No bucket,
// nothing to remove.
func Clear(ctx context.Context, js jetstream.JetStream) (int, error) {
	return kvttl.Clear(ctx, js, Bucket)
}
