package push_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/push"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	for url, ok := range map[string]bool{
		"https://push.example.com/x": true,
		"http://127.0.0.1:8080/x":    true,
		"http://[::1]/x":             true,
		"http://localhost/x":         true,
		"http://push.example.com/x":  false,
		"http://10.0.0.1/x":          false,
		"ftp://push.example.com/x":   false,
		"https:///x":                 false,
		"https://u:p@example.com/x":  false,
		"not a url":                  false,
	} {
		require.Equal(t, ok, push.CheckURL(url) == nil, url)
	}
}

// A receiver's answer other than 2xx is an error that says it; a Push-Id
// travels with the POST.
func TestSenderPost(t *testing.T) {
	t.Parallel()
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get(push.HeaderPushID)
		if r.URL.Path == "/bad" {
			http.Error(w, "no", http.StatusGone)
		}
	}))
	defer srv.Close()
	s := &push.Sender{Timeout: time.Second}
	require.NoError(t, s.Post(context.Background(), srv.URL+"/ok", "sub-1-42", push.StateChange{Type: "StateChange"}))
	require.Equal(t, "sub-1-42", got)
	err := s.Post(context.Background(), srv.URL+"/bad", "x", push.StateChange{})
	require.ErrorIs(t, err, push.ErrRefused)
	require.Contains(t, err.Error(), "410 Gone")
}

// A claim keeps other nodes off a subscription until it is released or
// lapses; a release only moves states forward.
func TestClaimAndRelease(t *testing.T) {
	t.Parallel()
	js, err := jetstream.New(jetmailtest.Conn(t, jetmailtest.Server(t)))
	require.NoError(t, err)
	ctx := context.Background()
	reg, err := push.Open(ctx, js, 1)
	require.NoError(t, err)
	now := time.Now()
	_, ok, err := reg.Claim(ctx, "acc", "sub", now, now.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	_, ok, err = reg.Claim(ctx, "acc", "sub", now, now.Add(time.Minute))
	require.NoError(t, err)
	require.False(t, ok, "claimed already")
	require.NoError(t, reg.Release(ctx, "acc", "sub", map[string]uint64{"Email": 7}, ""))
	sent, ok, err := reg.Claim(ctx, "acc", "sub", now, now.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint64(7), sent.States["Email"])
	require.NoError(t, reg.Release(ctx, "acc", "sub", map[string]uint64{"Email": 5, "Mailbox": 2}, "alert-1"))
	// A claim that lapsed (its node died) is taken over.
	_, ok, err = reg.Claim(ctx, "acc", "sub", now, now.Add(time.Second))
	require.NoError(t, err)
	require.True(t, ok)
	sent, ok, err = reg.Claim(ctx, "acc", "sub", now.Add(2*time.Second), now.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, map[string]uint64{"Email": 7, "Mailbox": 2}, sent.States)
	require.Equal(t, []string{"alert-1"}, sent.Alerts)
}
