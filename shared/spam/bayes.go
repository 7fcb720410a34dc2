package spam

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Params tune the Bayesian score; doc.go gives the formulas. The zero
// value of a field takes its default.
type Params struct {
	// Strength is Robinson's s, the weight of Unknown against what was
	// seen of a token (default 1: one message's worth).
	Strength float64
	// Unknown is Robinson's x, the probability given to a token never seen
	// (default 0.5: neutral).
	Unknown float64
	// MinDeviation is how far from 0.5 a token's probability must be for
	// the token to count (default 0.1).
	MinDeviation float64
	// MaxClues is how many of the most significant tokens are combined
	// (default 15).
	MaxClues int
	// MinMessages is how many spam and how many ham messages a model must
	// have been trained on to be used; below it the Bayesian score is 0.5
	// (default 10 of each).
	MinMessages int
	// AccountMinMessages is how many spam and how many ham messages an
	// account's model needs before it joins the global one (default 50 of
	// each).
	AccountMinMessages int
	// AccountWeight is the account model's share, between 0 and 1, of the
	// token frequencies when it joins the global model (default 0.5).
	AccountWeight float64
}

// The defaults of Params.
const (
	DefaultStrength           = 1.0
	DefaultUnknown            = 0.5
	DefaultMinDeviation       = 0.1
	DefaultMaxClues           = 15
	DefaultMinMessages        = 10
	DefaultAccountMinMessages = 50
	DefaultAccountWeight      = 0.5
)

func (p Params) withDefaults() Params {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&p.Strength, DefaultStrength)
	def(&p.Unknown, DefaultUnknown)
	def(&p.MinDeviation, DefaultMinDeviation)
	def(&p.AccountWeight, DefaultAccountWeight)
	if p.MaxClues == 0 {
		p.MaxClues = DefaultMaxClues
	}
	if p.MinMessages == 0 {
		p.MinMessages = DefaultMinMessages
	}
	if p.AccountMinMessages == 0 {
		p.AccountMinMessages = DefaultAccountMinMessages
	}
	return p
}

// Validate reports the first field out of range, by name.
func (p Params) Validate() error {
	p = p.withDefaults()
	switch {
	case p.Strength < 0 || p.Strength > 100:
		return fmt.Errorf("spam: Strength %g: must be between 0 and 100", p.Strength)
	case p.Unknown <= 0 || p.Unknown >= 1:
		return fmt.Errorf("spam: Unknown %g: must be strictly between 0 and 1", p.Unknown)
	case p.MinDeviation < 0 || p.MinDeviation >= 0.5:
		return fmt.Errorf("spam: MinDeviation %g: must be at least 0 and below 0.5", p.MinDeviation)
	case p.MaxClues < 1 || p.MaxClues > 10000:
		return fmt.Errorf("spam: MaxClues %d: must be between 1 and 10000", p.MaxClues)
	case p.MinMessages < 1:
		return fmt.Errorf("spam: MinMessages %d: must be at least 1", p.MinMessages)
	case p.AccountMinMessages < 1:
		return fmt.Errorf("spam: AccountMinMessages %d: must be at least 1", p.AccountMinMessages)
	case p.AccountWeight < 0 || p.AccountWeight > 1:
		return fmt.Errorf("spam: AccountWeight %g: must be between 0 and 1", p.AccountWeight)
	}
	return nil
}

// Clue is one token that counted in a score.
type Clue struct {
	// Token is the token, as doc.go describes them.
	Token string
	// Prob is Robinson's f(w): near 1 the token is spammy, near 0 hammy.
	Prob float64
}

// evidence is the model a score reads: the global model alone, or joined
// by an account's.
type evidence struct {
	global, account *Model
	weight          float64 // of the account
}

// ModelUsed names the models a score came from.
type ModelUsed string

// The models a score may come from.
const (
	// ModelNone: the global model has not been trained enough
	// (Params.MinMessages); the Bayesian score is 0.5.
	ModelNone ModelUsed = "none"
	// ModelGlobal: the global model alone.
	ModelGlobal ModelUsed = "global"
	// ModelAccount: the account's model joined with the global one.
	ModelAccount ModelUsed = "account+global"
	// ModelAccountAlone: the account's model alone, the global one not
	// being trained enough yet.
	ModelAccountAlone ModelUsed = "account"
)

// choose picks the models to score with.
func (p Params) choose(global, account *Model) (evidence, ModelUsed) {
	usable := func(m *Model, min int) bool {
		return m != nil && int(m.spam) >= min && int(m.ham) >= min
	}
	accountOK := usable(account, p.AccountMinMessages)
	switch {
	case usable(global, p.MinMessages) && accountOK:
		return evidence{global: global, account: account, weight: p.AccountWeight}, ModelAccount
	case usable(global, p.MinMessages):
		return evidence{global: global}, ModelGlobal
	case accountOK:
		return evidence{global: account}, ModelAccountAlone
	}
	return evidence{}, ModelNone
}

// freq returns a token's frequency among spam and among ham messages, and
// the number of messages it was seen in.
func (e evidence) freq(tok string) (b, g, n float64) {
	c, ok := e.global.tokens[tok]
	if ok {
		b = math.Min(float64(c.spam)/float64(e.global.spam), 1)
		g = math.Min(float64(c.ham)/float64(e.global.ham), 1)
		n = float64(c.spam) + float64(c.ham)
	}
	if e.account == nil {
		return b, g, n
	}
	w := e.weight
	ca, okA := e.account.tokens[tok]
	if !ok && !okA {
		return 0, 0, 0
	}
	ba := math.Min(float64(ca.spam)/float64(e.account.spam), 1)
	ga := math.Min(float64(ca.ham)/float64(e.account.ham), 1)
	return w*ba + (1-w)*b, w*ga + (1-w)*g, n + float64(ca.spam) + float64(ca.ham)
}

// bayes scores tokens with Fisher's method over Robinson's f(w); it
// returns the score, 0.5 with no clues, and the clues, most significant
// first.
func (p Params) bayes(e evidence, tokens []string) (float64, []Clue) {
	if e.global == nil {
		return 0.5, nil
	}
	s, x := p.Strength, p.Unknown
	clues := make([]Clue, 0, len(tokens)/2)
	for _, tok := range tokens {
		b, g, n := e.freq(tok)
		if n == 0 {
			continue // f(w) = x
		}
		pw := 0.5
		if b+g > 0 {
			pw = b / (b + g)
		}
		f := (s*x + n*pw) / (s + n)
		if math.Abs(f-0.5) < p.MinDeviation {
			continue
		}
		clues = append(clues, Clue{Token: tok, Prob: f})
	}
	if len(clues) == 0 {
		return 0.5, nil
	}
	slices.SortFunc(clues, func(a, b Clue) int {
		if c := cmp.Compare(math.Abs(b.Prob-0.5), math.Abs(a.Prob-0.5)); c != 0 {
			return c
		}
		return cmp.Compare(a.Token, b.Token)
	})
	if len(clues) > p.MaxClues {
		clues = clues[:p.MaxClues]
	}
	var lnF, ln1F float64
	for _, c := range clues {
		lnF += math.Log(c.Prob)
		ln1F += math.Log1p(-c.Prob)
	}
	df := 2 * len(clues)
	h := chi2Q(-2*lnF, df)
	sp := chi2Q(-2*ln1F, df)
	return (1 + h - sp) / 2, clues
}

// chi2Q is the probability that a chi-square variable with df (even)
// degrees of freedom is at least x2: e^-m Σ_{i<df/2} m^i/i! with m = x2/2,
// summed in logarithms so that a long message does not underflow.
func chi2Q(x2 float64, df int) float64 {
	m := x2 / 2
	if m <= 0 {
		return 1
	}
	lnM := math.Log(m)
	term := -m
	sum := math.Exp(term)
	for i := 1; i < df/2; i++ {
		term += lnM - math.Log(float64(i))
		sum += math.Exp(term)
	}
	return math.Min(sum, 1)
}
