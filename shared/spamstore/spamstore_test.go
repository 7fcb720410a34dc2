package spamstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/spam"
	"github.com/jetmail/jetmail/shared/spamstore"
)

func open(t *testing.T) *spamstore.Store {
	t.Helper()
	js, err := jetstream.New(jetmailtest.Conn(t, jetmailtest.Server(t)))
	require.NoError(t, err)
	st, err := spamstore.Open(context.Background(), js, 1)
	require.NoError(t, err)
	return st
}

// An account keeps at most max samples, the newest; a sample of an email
// sampled before replaces it.
func TestSamplesCappedPerAccount(t *testing.T) {
	t.Parallel()
	st := open(t)
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 8 {
		require.NoError(t, st.AddSample(ctx, 3, spamstore.Sample{Account: "a", EmailID: fmt.Sprint("e", i), BlobID: "b", Label: spam.Spam, At: base.Add(time.Duration(i) * time.Minute)}, 5))
	}
	require.NoError(t, st.AddSample(ctx, 4, spamstore.Sample{Account: "other", EmailID: "x", Label: spam.Ham, At: base}, 5))
	require.NoError(t, st.AddSample(ctx, 3, spamstore.Sample{Account: "a", EmailID: "e7", Label: spam.Ham, At: base.Add(time.Hour)}, 5))
	got := map[string]spam.Label{}
	require.NoError(t, st.Samples(ctx, func(x spamstore.Sample) error {
		got[x.Account+"/"+x.EmailID] = x.Label
		return nil
	}))
	require.Equal(t, map[string]spam.Label{"a/e3": spam.Spam, "a/e4": spam.Spam, "a/e5": spam.Spam, "a/e6": spam.Spam, "a/e7": spam.Ham, "other/x": spam.Ham}, got)
}

// Models and rules round-trip; reset removes the models, not the rules.
func TestModelsAndRules(t *testing.T) {
	t.Parallel()
	st := open(t)
	ctx := context.Background()
	_, err := st.Model(ctx, spamstore.GlobalModel)
	require.ErrorIs(t, err, spamstore.ErrNotFound)
	m, err := spam.Train(ctx, nil, spam.Samples(spam.Sample{Raw: []byte("Subject: cheap pills\r\n\r\nbuy now\r\n"), Label: spam.Spam}), spam.TrainOptions{})
	require.NoError(t, err)
	require.NoError(t, st.PutModel(ctx, spamstore.GlobalModel, m))
	require.NoError(t, st.PutModel(ctx, spamstore.AccountModel("a"), m))
	back, err := st.Model(ctx, spamstore.GlobalModel)
	require.NoError(t, err)
	require.Equal(t, m.Encode(), back.Encode())
	require.NoError(t, st.PutRules(ctx, []byte(`{"x":1}`), "abc"))
	n, err := st.ResetModels(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	_, err = st.Model(ctx, spamstore.AccountModel("a"))
	require.ErrorIs(t, err, spamstore.ErrNotFound)
	data, sum, err := st.Rules(ctx)
	require.NoError(t, err)
	require.Equal(t, `{"x":1}`, string(data))
	require.Equal(t, "abc", sum)
}
