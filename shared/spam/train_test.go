package spam_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/mailgen"
	"github.com/jetmail/jetmail/shared/spam"
)

// campaign is message i of one spam campaign: the same offer with the
// details changed, as spam comes.
func campaign(i int) []byte {
	return crlf(fmt.Sprintf(`
Received: from host-%[1]d.dyn.bigisp.example (host-%[1]d.dyn.bigisp.example [203.0.113.%[1]d])
	by mx1.jetmail.example with SMTP id %[1]d; Tue, 1 Apr 2025 10:00:00 +0000
From: "Rx Deals" <offers%[1]d@cheap-meds.top>
To: mei@example.com
Subject: Order %[2]d: discreet pharmacy shipping, %[3]d%% off
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Dear friend, our licensed online pharmacy ships discreet packages
worldwide. Save %[3]d%% on generic pills this week only, no prescription
needed. Order now at http://cheap-meds.top/order?id=%[2]d
`, 1+i%250, 1000+i*37, 10+i%60))
}

func samples(msgs [][]byte, l spam.Label) []spam.Sample {
	s := make([]spam.Sample, len(msgs))
	for i, m := range msgs {
		s[i] = spam.Sample{Raw: m, Label: l}
	}
	return s
}

func hamMail(seed int64, n int) [][]byte {
	g := mailgen.New(mailgen.Options{Seed: seed})
	out := make([][]byte, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

func newClassifier(t testing.TB) *spam.Classifier {
	c, err := spam.NewClassifier(spam.Params{})
	require.NoError(t, err)
	return c
}

// TestJunkTrainingCatchesSimilar: starting from the default model, a new
// message of a campaign is not junk; once 20 of the campaign's messages
// (moved into Junk) and some ham are trained on, it is.
func TestJunkTrainingCatchesSimilar(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clf := newClassifier(t)
	model := spam.NewModel()
	similar := campaign(99)
	hamProbe := hamMail(7, 1)[0]

	before := clf.ClassifyRaw(similar, model, nil)
	require.Less(t, before.Score, spam.DefaultJunkThreshold)
	require.Equal(t, spam.ModelNone, before.Model)

	var junk [][]byte
	for i := range 20 {
		junk = append(junk, campaign(i))
	}
	trained, err := spam.Train(ctx, model, spam.Samples(append(samples(junk, spam.Spam), samples(hamMail(1, 20), spam.Ham)...)...), spam.TrainOptions{})
	require.NoError(t, err)
	s, h := trained.Messages()
	require.Equal(t, [2]int{20, 20}, [2]int{s, h})

	after := clf.ClassifyRaw(similar, trained, nil)
	require.GreaterOrEqual(t, after.Score, spam.DefaultJunkThreshold, "clues %v", after.Clues)
	require.Equal(t, spam.ModelGlobal, after.Model)
	require.NotEmpty(t, after.Clues)
	ham := clf.ClassifyRaw(hamProbe, trained, nil)
	require.Less(t, ham.Score, spam.DefaultJunkThreshold, "clues %v", ham.Clues)

	// The default model did not learn.
	require.Equal(t, 0, model.Len())
	require.Equal(t, before, clf.ClassifyRaw(similar, model, nil))
}

// TestAbortLeavesModelUnchanged: a training stopped midway returns
// context.Canceled and no model, and the model it started from is the
// same, byte for byte.
func TestAbortLeavesModelUnchanged(t *testing.T) {
	t.Parallel()
	c := mailgen.NewCorpus(mailgen.CorpusOptions{Seed: 11})
	corpus := make([]spam.Sample, 2000)
	for i := range corpus {
		m := c.Next()
		corpus[i] = spam.Sample{Raw: m.Raw, Label: label(m.Spam)}
	}
	old, err := spam.Train(context.Background(), nil, spam.Samples(corpus[:200]...), spam.TrainOptions{})
	require.NoError(t, err)
	before := old.Encode()

	for _, from := range []*spam.Model{old, nil} { // a train on old, then a retrain from the start
		ctx, cancel := context.WithCancel(context.Background())
		last := 0
		m, err := spam.Train(ctx, from, spam.Samples(corpus...), spam.TrainOptions{OnSample: func(done int) {
			last = done
			if done == 50 {
				cancel()
			}
		}})
		cancel()
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorContains(t, err, "training stopped after 50 samples")
		require.Nil(t, m)
		require.Equal(t, 50, last, "no sample counted after the cancel")
		require.True(t, bytes.Equal(before, old.Encode()), "the old model changed")
	}

	// Cancelled before it starts.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = spam.Train(ctx, old, spam.Samples(corpus...), spam.TrainOptions{})
	require.ErrorIs(t, err, context.Canceled)
}

func label(isSpam bool) spam.Label {
	if isSpam {
		return spam.Spam
	}
	return spam.Ham
}

// TestTrainDeterministic: the model does not depend on how many workers
// analyzed the samples, nor on map order.
func TestTrainDeterministic(t *testing.T) {
	t.Parallel()
	c := mailgen.NewCorpus(mailgen.CorpusOptions{Seed: 12})
	var s []spam.Sample
	for range 300 {
		m := c.Next()
		s = append(s, spam.Sample{Raw: m.Raw, Label: label(m.Spam)})
	}
	ctx := context.Background()
	one, err := spam.Train(ctx, nil, spam.Samples(s...), spam.TrainOptions{Workers: 1})
	require.NoError(t, err)
	four, err := spam.Train(ctx, nil, spam.Samples(s...), spam.TrainOptions{Workers: 4})
	require.NoError(t, err)
	require.Equal(t, one.Encode(), four.Encode())

	// Pruned: at most the bound, the most seen tokens kept, the same both ways.
	p1, err := spam.Train(ctx, nil, spam.Samples(s...), spam.TrainOptions{Workers: 1, MaxTokens: 500})
	require.NoError(t, err)
	p4, err := spam.Train(ctx, nil, spam.Samples(s...), spam.TrainOptions{Workers: 3, MaxTokens: 500})
	require.NoError(t, err)
	require.Equal(t, p1.Encode(), p4.Encode())
	require.Equal(t, 450, p1.Len(), "pruned to 90% of the bound")
	require.Greater(t, one.Len(), 500)
	sp, hm := p1.Counts("hdr:subject")
	require.Equal(t, 300, sp+hm, "a token of every message stays")
}

// TestTrainForget: forgetting what was trained gives the model back.
func TestTrainForget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base, err := spam.Train(ctx, nil, spam.Samples(samples(hamMail(3, 30), spam.Ham)...), spam.TrainOptions{})
	require.NoError(t, err)
	var junk [][]byte
	for i := range 15 {
		junk = append(junk, campaign(i))
	}
	more, err := spam.Train(ctx, base, spam.Samples(samples(junk, spam.Spam)...), spam.TrainOptions{})
	require.NoError(t, err)
	require.NotEqual(t, base.Encode(), more.Encode())
	forget := samples(junk, spam.Spam)
	for i := range forget {
		forget[i].Forget = true
	}
	back, err := spam.Train(ctx, more, spam.Samples(forget...), spam.TrainOptions{})
	require.NoError(t, err)
	require.Equal(t, base.Encode(), back.Encode())
}

// TestTrainSourceError: an error from the samples stops the training.
func TestTrainSourceError(t *testing.T) {
	t.Parallel()
	boom := errors.New("store unavailable")
	src := iter.Seq2[spam.Sample, error](func(yield func(spam.Sample, error) bool) {
		for i := range 10 {
			if !yield(spam.Sample{Raw: campaign(i), Label: spam.Spam}, nil) {
				return
			}
		}
		yield(spam.Sample{}, boom)
	})
	m, err := spam.Train(context.Background(), nil, src, spam.TrainOptions{})
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "reading samples")
	require.Nil(t, m)
}

// TestAccountModel: an account's model joins the global one only past
// AccountMinMessages, and then moves the score its way.
func TestAccountModel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Globally, the campaign is spam.
	var junk [][]byte
	for i := range 60 {
		junk = append(junk, campaign(i))
	}
	global, err := spam.Train(ctx, nil, spam.Samples(append(samples(junk, spam.Spam), samples(hamMail(4, 60), spam.Ham)...)...), spam.TrainOptions{})
	require.NoError(t, err)
	// This account asked for the pharmacy's mail: to it, it is ham.
	var wanted [][]byte
	for i := 100; i < 160; i++ {
		wanted = append(wanted, campaign(i))
	}
	var other [][]byte
	c := mailgen.NewCorpus(mailgen.CorpusOptions{Seed: 5})
	for len(other) < 60 {
		if m := c.Next(); m.Spam && m.Kind == "lottery" {
			other = append(other, m.Raw)
		}
	}
	account, err := spam.Train(ctx, nil, spam.Samples(append(samples(wanted, spam.Ham), samples(other, spam.Spam)...)...), spam.TrainOptions{})
	require.NoError(t, err)
	small, err := spam.Train(ctx, nil, spam.Samples(append(samples(wanted[:20], spam.Ham), samples(other[:20], spam.Spam)...)...), spam.TrainOptions{})
	require.NoError(t, err)

	clf := newClassifier(t)
	probe := campaign(999)
	alone := clf.ClassifyRaw(probe, global, nil)
	require.Equal(t, spam.ModelGlobal, alone.Model)
	require.GreaterOrEqual(t, alone.Score, spam.DefaultJunkThreshold)

	tooFew := clf.ClassifyRaw(probe, global, small)
	require.Equal(t, spam.ModelGlobal, tooFew.Model, "20 of each is below AccountMinMessages")
	require.Equal(t, alone.Score, tooFew.Score)

	joined := clf.ClassifyRaw(probe, global, account)
	require.Equal(t, spam.ModelAccount, joined.Model)
	require.Less(t, joined.Score, spam.DefaultJunkThreshold, "clues %v", joined.Clues)

	// Before the global model is trained enough, the account's is used alone.
	own := clf.ClassifyRaw(probe, spam.NewModel(), account)
	require.Equal(t, spam.ModelAccountAlone, own.Model)
	require.Less(t, own.Score, joined.Score)
}
