package console

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jmap"
)

func TestSessionCookieIsSecureOverTLS(t *testing.T) {
	t.Parallel()
	for _, tls := range []bool{false, true} {
		r := httptest.NewRequest(http.MethodPost, "https://mx.example.org/ui/login", nil)
		if !tls {
			r.TLS = nil
		}
		w := httptest.NewRecorder()
		setCookie(w, r, "token", 60)
		ck := w.Result().Cookies()
		require.Len(t, ck, 1)
		require.True(t, ck[0].HttpOnly)
		require.Equal(t, http.SameSiteStrictMode, ck[0].SameSite)
		require.Equal(t, "/ui/", ck[0].Path)
		require.Equal(t, tls, ck[0].Secure, "Secure exactly when served over TLS")
	}
}

func TestSameOrigin(t *testing.T) {
	t.Parallel()
	for origin, ok := range map[string]bool{"": true, "http://mx.example.org:8080": true, "http://evil.example": false, "null": false, "http://mx.example.org": false} {
		r := httptest.NewRequest(http.MethodPost, "http://mx.example.org:8080/ui/queue/pause", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		require.Equal(t, ok, sameOrigin(r), origin)
	}
}

func TestSafeNextStaysInTheConsole(t *testing.T) {
	t.Parallel()
	for next, want := range map[string]string{"/ui/tasks/failed?type=X": "/ui/tasks/failed?type=X", "https://evil.example/": "/ui/queue",
		"//evil.example/ui/": "/ui/queue", "/ui/\\evil": "/ui/queue", "": "/ui/queue", "/jmap": "/ui/queue"} {
		require.Equal(t, want, safeNext(next), next)
	}
}

func TestParseDue(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2030-01-02T03:04": time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC), "2030-01-02T03:04:05Z": time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		"+10m": now.Add(10 * time.Minute), "2h": now.Add(2 * time.Hour),
	} {
		got, err := parseDue(in, now)
		require.NoError(t, err, in)
		require.True(t, want.Equal(got), "%s: %s", in, got)
	}
	_, err := parseDue("tomorrow-ish", now)
	require.ErrorContains(t, err, `"tomorrow-ish" is not a date and time`)
	_, err = parseDue(" ", now)
	require.Error(t, err)
}

func TestFieldErrorsSpreadOverTheForm(t *testing.T) {
	t.Parallel()
	out := map[string]string{}
	fieldErrors(&jmap.SetError{Type: "invalidProperties", Properties: []string{"maxAttempts", "strategy/initialDelay"},
		Description: "maxAttempts: must be at least 1, got 0; strategy/initialDelay: duration \"x\": bad"}, out)
	require.Equal(t, map[string]string{"maxAttempts": "must be at least 1, got 0", "initialDelay": `duration "x": bad`}, out)
}

func TestDescribeNamesAMethodThisNodeDoesNotServe(t *testing.T) {
	t.Parallel()
	require.Equal(t, `not available on this node: unknown method "x:Queue/shape" (the service that serves it does not run here)`,
		describe(&jmap.MethodError{Type: "unknownMethod", Description: `unknown method "x:Queue/shape" (methods: x:Task/get, x:Task/query)`}))
	require.Equal(t, "not allowed: needs sysQueueUpdate", describe(&jmap.MethodError{Type: "forbidden", Description: "needs sysQueueUpdate"}))
}

func TestPagesParse(t *testing.T) {
	t.Parallel()
	pages, err := parsePages()
	require.NoError(t, err)
	for _, name := range []string{"login", "error", "confirm", "tasks", "manager", "queue", "entry", "cluster", "accounts", "account"} {
		require.Contains(t, pages, name)
	}
}
