package smtp

import (
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/jetmail/jetmail/shared/config"
)

// authGuard throttles password guessing (smtp.limits.auth-*): each failed
// AUTH waits before its reply; a connection is closed after
// auth-failures-per-connection failures; an address with
// auth-failures-per-ip failures within auth-lockout may not AUTH again
// until auth-lockout has passed since its last failure.
type authGuard struct {
	lim config.SMTPLimits
	now func() time.Time

	mu     sync.Mutex
	ips    map[string]*ipFailures
	pruned time.Time
}

type ipFailures struct {
	count int
	last  time.Time
}

var (
	errAuthLocked = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
		Message: "Too many authentication failures from your address; try again later"}
	errAuthTooMany = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
		Message: "Too many authentication failures; closing the connection"}
)

func newAuthGuard(lim config.SMTPLimits) *authGuard {
	return &authGuard{lim: lim, now: time.Now, ips: map[string]*ipFailures{}}
}

// locked reports an address that may not authenticate now.
func (g *authGuard) locked(ip string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.ips[ip]
	if f == nil {
		return false
	}
	if g.now().Sub(f.last) >= g.lim.AuthLockout {
		delete(g.ips, ip) // its failures are forgotten
		return false
	}
	return f.count >= g.lim.AuthFailuresPerIP
}

// failed counts a failure from ip, waits the failure delay, and returns the
// reply: errAuthTooMany once the connection has failed too often.
func (g *authGuard) failed(ip string, onConnection int) error {
	g.mu.Lock()
	now := g.now()
	f := g.ips[ip]
	if f == nil || now.Sub(f.last) >= g.lim.AuthLockout {
		f = &ipFailures{}
		g.ips[ip] = f
	}
	f.count++
	f.last = now
	g.prune(now)
	g.mu.Unlock()
	time.Sleep(g.lim.AuthFailureDelay)
	if onConnection >= g.lim.AuthFailuresPerConnection {
		return errAuthTooMany
	}
	return errAuth
}

// prune forgets addresses whose failures are past the lockout, so that the
// table stays as small as the attack is recent.
func (g *authGuard) prune(now time.Time) {
	if len(g.ips) < 1024 || now.Sub(g.pruned) < time.Minute {
		return
	}
	g.pruned = now
	for ip, f := range g.ips {
		if now.Sub(f.last) >= g.lim.AuthLockout {
			delete(g.ips, ip)
		}
	}
}
