package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/kvttl"
)

// SessionBucket is the KV bucket of console sessions.
const SessionBucket = "jetmail-console-sessions"

// SessionIdle is how long a session lasts without use: 8 hours.
const SessionIdle = 8 * time.Hour

// sessionRenew is how often a session in use has its time to live renewed.
const sessionRenew = 5 * time.Minute

// cookieName is the session cookie.
const cookieName = "jetmail_console"

// session is what the bucket keeps of a logged-in user.
type session struct {
	User string `json:"user"`
	// CSRF is the token every form of the session carries.
	CSRF    string    `json:"csrf"`
	Created time.Time `json:"created"`
	// Renewed is when the entry's time to live was last renewed.
	Renewed time.Time `json:"renewed"`

	key string
	rev uint64
}

// sessions are the console's sessions, in the KV bucket.
type sessions struct {
	b   *kvttl.Bucket
	now func() time.Time
}

func openSessions(b *kvttl.Bucket, now func() time.Time) *sessions {
	return &sessions{b: b, now: now}
}

// randomToken is 32 random bytes, URL-safe.
func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// keyOf is the bucket key of a session token: its SHA-256, so that the
// bucket's contents let nobody in.
func keyOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// create starts a session for user and returns its token.
func (s *sessions) create(ctx context.Context, user string) (string, *session, error) {
	token, err := randomToken()
	if err != nil {
		return "", nil, err
	}
	csrf, err := randomToken()
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	se := &session{User: user, CSRF: csrf, Created: now, Renewed: now, key: keyOf(token)}
	data, err := json.Marshal(se)
	if err != nil {
		return "", nil, fmt.Errorf("encode session: %w", err)
	}
	if se.rev, err = s.b.Write(ctx, se.key, data, 0, SessionIdle); err != nil {
		return "", nil, fmt.Errorf("save session: %w", err)
	}
	return token, se, nil
}

// get returns the session of token, renewing it when due; nil when there
// is none (never was, expired, or logged out).
func (s *sessions) get(ctx context.Context, token string) (*session, error) {
	key := keyOf(token)
	data, rev, err := s.b.Get(ctx, key)
	if err != nil || data == nil {
		return nil, err
	}
	var se session
	if err := json.Unmarshal(data, &se); err != nil {
		return nil, nil // not a session of ours: log in again
	}
	se.key, se.rev = key, rev
	if now := s.now(); now.Sub(se.Renewed) > sessionRenew {
		se.Renewed = now
		if data, err := json.Marshal(se); err == nil {
			// A lost race is another request renewing it: fine.
			if next, err := s.b.Write(ctx, key, data, rev, SessionIdle); err == nil {
				se.rev = next
			}
		}
	}
	return &se, nil
}

// remove ends a session.
func (s *sessions) remove(ctx context.Context, se *session) error {
	return s.b.Delete(ctx, se.key, se.rev)
}

// setCookie gives the browser the session token: HttpOnly, SameSite
// Strict, and Secure when the console is served over TLS.
func setCookie(w http.ResponseWriter, r *http.Request, token string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: token, Path: "/ui/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// sameOrigin reports whether a POST comes from this console: an Origin
// header, when the browser sends one, names this host.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return origin == ""
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// csrfOK reports whether a form carries the session's CSRF token.
func csrfOK(r *http.Request, se *session) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(se.CSRF)) == 1
}

// user is the logged-in user of a request: the session, and the API
// principal as the configuration has it now.
type user struct {
	*session
	p *jmap.Principal
}
