package smtp_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailgen"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/spam"
	"github.com/jetmail/jetmail/shared/spamstore"
)

// With spam.threshold.reject set, a message the global model scores past
// it is refused at DATA with 550 5.7.1 and not queued; ham is accepted.
func TestSpamRefusedAtData(t *testing.T) {
	t.Parallel()
	corpus := mailgen.NewCorpus(mailgen.CorpusOptions{Seed: 21, Difficulty: -1})
	var samples []spam.Sample
	for len(samples) < 200 {
		m := corpus.Next()
		samples = append(samples, spam.Sample{Raw: m.Raw, Label: map[bool]spam.Label{true: spam.Spam, false: spam.Ham}[m.Spam]})
	}
	model, err := spam.Train(context.Background(), nil, spam.Samples(samples...), spam.TrainOptions{})
	require.NoError(t, err)
	var spamMsg, hamMsg string
	for spamMsg == "" || hamMsg == "" {
		m := corpus.Next()
		if m.Spam && spamMsg == "" {
			spamMsg = string(m.Raw)
		} else if !m.Spam && hamMsg == "" {
			hamMsg = string(m.Raw)
		}
	}

	in := startIntakeWith(t, intakeConfig+"[spam.threshold]\nreject = 0.95\n")
	js, err := jetstream.New(jetmailtest.Conn(t, in.srv))
	require.NoError(t, err)
	ctx := context.Background()
	st, err := spamstore.OpenModels(ctx, js, 1)
	require.NoError(t, err)
	require.NoError(t, st.PutModel(ctx, spamstore.GlobalModel, model))

	addr := in.smtp.Addrs()[0]
	require.Eventually(t, func() bool {
		err := jetmailtest.SendMail(addr, "alice", "alice-secret-long", "alice@example.org", []string{"bob@remote.test"}, spamMsg)
		var se *gosmtp.SMTPError
		return errors.As(err, &se) && se.Code == 550 && se.EnhancedCode == gosmtp.EnhancedCode{5, 7, 1} && strings.Contains(se.Message, "refused as spam")
	}, 10*time.Second, 100*time.Millisecond, "refused once the filter has the model")
	keys, _, err := in.q.List(ctx, mailqueue.Filter{})
	require.NoError(t, err)
	require.Empty(t, keys, "nothing refused is queued")
	require.NoError(t, jetmailtest.SendMail(addr, "alice", "alice-secret-long", "alice@example.org", []string{"bob@remote.test"}, hamMsg))
	keys, _, err = in.q.List(ctx, mailqueue.Filter{})
	require.NoError(t, err)
	require.Len(t, keys, 1, "ham is accepted")
}
