package spam_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/mailgen"
	"github.com/jetmail/jetmail/shared/spam"
)

// BenchmarkClassify measures Analyze plus Classify on one goroutine, on
// mailgen.Corpus mail (about 4.6 KB a message) against a model trained on
// 2,000 messages of it, and reports msg/s: the intake target is 2,000 per
// core.
func BenchmarkClassify(b *testing.B) {
	c := mailgen.NewCorpus(mailgen.CorpusOptions{Seed: 21})
	var train []spam.Sample
	for range 2000 {
		m := c.Next()
		train = append(train, spam.Sample{Raw: m.Raw, Label: label(m.Spam)})
	}
	model, err := spam.Train(context.Background(), nil, spam.Samples(train...), spam.TrainOptions{})
	require.NoError(b, err)
	rules, err := spam.ParseRules([]byte(goodRules))
	require.NoError(b, err)
	clf := newClassifier(b)
	clf.SetRules(rules)
	msgs := make([][]byte, 500)
	size := 0
	for i := range msgs {
		msgs[i] = c.Next().Raw
		size += len(msgs[i])
	}
	b.SetBytes(int64(size / len(msgs)))
	n := 0
	for b.Loop() {
		clf.ClassifyRaw(msgs[n%len(msgs)], model, nil)
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msg/s")
}

// BenchmarkTrain measures training from the start on 2,000 messages.
func BenchmarkTrain(b *testing.B) {
	c := mailgen.NewCorpus(mailgen.CorpusOptions{Seed: 22})
	var train []spam.Sample
	for range 2000 {
		m := c.Next()
		train = append(train, spam.Sample{Raw: m.Raw, Label: label(m.Spam)})
	}
	for b.Loop() {
		_, err := spam.Train(context.Background(), nil, spam.Samples(train...), spam.TrainOptions{})
		require.NoError(b, err)
	}
	b.ReportMetric(float64(len(train)*b.N)/b.Elapsed().Seconds(), "msg/s")
}
