package spam

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"maps"
	"math"
	"runtime"
	"slices"
	"sync"
)

// Sample is one message to learn from.
type Sample struct {
	// Raw is the message, RFC 5322.
	Raw []byte
	// Label says what it is.
	Label Label
	// Forget undoes an earlier training of the same message with the same
	// label (bogofilter's -S and -N), as when a user takes a message back
	// out of Junk: its counts are taken away, never below zero.
	Forget bool
}

// TrainOptions control Train. The zero value takes the defaults.
type TrainOptions struct {
	// MaxTokens bounds the model (default 500,000 tokens, an encoded model
	// of a few MB). Past it the least seen tokens are dropped until
	// 90% of the bound is left; doc.go says which.
	MaxTokens int
	// Workers is how many samples are analyzed at once (default
	// GOMAXPROCS, at most 4).
	Workers int
	// OnSample, when set, is called after each sample is counted, with the
	// number counted so far, from one goroutine: for progress reports.
	OnSample func(done int)
}

// DefaultMaxTokens is the default of TrainOptions.MaxTokens.
const DefaultMaxTokens = 500_000

// Samples is an iterator over samples in memory, for Train.
func Samples(s ...Sample) iter.Seq2[Sample, error] {
	return func(yield func(Sample, error) bool) {
		for _, x := range s {
			if !yield(x, nil) {
				return
			}
		}
	}
}

// Train returns a new model: old (nil for the default, empty model) plus
// the samples. old is never changed, so a training that fails or is
// stopped leaves it as it was. A retrain is Train from nil over all the
// samples. Train checks ctx before each sample and returns ctx's error,
// wrapped, once it is done; an error from samples stops the training
// too, and no model is returned then.
func Train(ctx context.Context, old *Model, samples iter.Seq2[Sample, error], o TrainOptions) (*Model, error) {
	if old == nil {
		old = NewModel()
	}
	if o.MaxTokens <= 0 {
		o.MaxTokens = DefaultMaxTokens
	}
	if o.Workers <= 0 {
		o.Workers = min(runtime.GOMAXPROCS(0), 4)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("spam: training not started: %w", err)
	}

	// Workers analyze; this goroutine counts, so the counts need no lock
	// and their sum does not depend on the order.
	parent := ctx
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	type analyzed struct {
		tokens []string
		s      Sample
	}
	in := make(chan Sample, o.Workers)
	out := make(chan analyzed, o.Workers)
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Go(func() {
			for s := range in {
				a := analyzed{tokens: Analyze(s.Raw).Tokens, s: s}
				select {
				case out <- a:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	var srcErr error
	go func() {
		defer func() {
			close(in)
			wg.Wait()
			close(out)
		}()
		for s, err := range samples {
			if err != nil {
				srcErr = err
				cancel()
				return
			}
			select {
			case in <- s:
			case <-ctx.Done():
				return
			}
		}
	}()

	m := &Model{spam: old.spam, ham: old.ham, tokens: maps.Clone(old.tokens)}
	done := 0
	for a := range out {
		if ctx.Err() != nil {
			continue // drain, so that the goroutines end
		}
		m.count(a.tokens, a.s.Label, a.s.Forget)
		done++
		if o.OnSample != nil {
			o.OnSample(done)
		}
	}
	// out is closed only after the feeding goroutine has returned, so
	// srcErr is settled.
	if srcErr != nil {
		return nil, fmt.Errorf("spam: training stopped after %d samples: reading samples: %w", done, srcErr)
	}
	if err := parent.Err(); err != nil {
		return nil, fmt.Errorf("spam: training stopped after %d samples: %w", done, err)
	}
	m.prune(o.MaxTokens)
	return m, nil
}

// count adds (or, to forget, takes away) one message's tokens.
func (m *Model) count(tokens []string, l Label, forget bool) {
	step := func(v *uint32) {
		switch {
		case !forget:
			if *v < math.MaxUint32 {
				*v++
			}
		case *v > 0:
			*v--
		}
	}
	if l == Spam {
		step(&m.spam)
	} else {
		step(&m.ham)
	}
	for _, tok := range tokens {
		c, ok := m.tokens[tok]
		if !ok && forget {
			continue
		}
		if l == Spam {
			step(&c.spam)
		} else {
			step(&c.ham)
		}
		if c.spam == 0 && c.ham == 0 {
			delete(m.tokens, tok)
			continue
		}
		m.tokens[tok] = c
	}
}

// prune drops tokens once there are more than limit, down to 90% of it:
// those seen in the fewest messages first and, among as many sightings,
// those whose spam and ham frequencies are the closest (the least
// telling), then by token, so that the result does not depend on map
// order.
func (m *Model) prune(limit int) {
	if len(m.tokens) <= limit {
		return
	}
	drop := len(m.tokens) - limit*9/10
	// Most tokens are seen once or twice: find the sighting count below
	// which everything goes, and sort only the tokens at that count.
	hist := map[uint64]int{}
	for _, c := range m.tokens {
		hist[uint64(c.spam)+uint64(c.ham)]++
	}
	levels := slices.Sorted(maps.Keys(hist))
	cut, below := uint64(0), 0
	for _, l := range levels {
		if below+hist[l] >= drop {
			cut = l
			break
		}
		below += hist[l]
	}
	type cand struct {
		tok string
		dev float64
	}
	var atCut []cand
	for tok, c := range m.tokens {
		n := uint64(c.spam) + uint64(c.ham)
		switch {
		case n < cut:
			delete(m.tokens, tok)
		case n == cut:
			atCut = append(atCut, cand{tok, m.deviation(c)})
		}
	}
	slices.SortFunc(atCut, func(a, b cand) int {
		if c := cmp.Compare(a.dev, b.dev); c != 0 {
			return c
		}
		return cmp.Compare(a.tok, b.tok)
	})
	for _, c := range atCut[:drop-below] {
		delete(m.tokens, c.tok)
	}
}

// deviation is how far from 0.5 a token's spam probability is.
func (m *Model) deviation(c counts) float64 {
	var b, g float64
	if m.spam > 0 {
		b = float64(c.spam) / float64(m.spam)
	}
	if m.ham > 0 {
		g = float64(c.ham) / float64(m.ham)
	}
	if b+g == 0 {
		return 0
	}
	return math.Abs(b/(b+g) - 0.5)
}
