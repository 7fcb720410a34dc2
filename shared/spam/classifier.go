package spam

import (
	"sync/atomic"
)

// Default thresholds on Verdict.Score, for the spam.threshold.junk and
// spam.threshold.reject settings: a message scoring at least the junk
// threshold goes into Junk; one scoring at least the reject threshold may
// be refused at DATA (off unless configured).
const (
	DefaultJunkThreshold   = 0.9
	DefaultRejectThreshold = 0.99
)

// Verdict is the outcome of classifying one message.
type Verdict struct {
	// Score is the spam score, from 0 (ham) to 1 (spam): Bayes plus the
	// scores of the rules that hit, clamped to [0, 1].
	Score float64
	// Bayes is the Bayesian score alone; 0.5 when no model was usable or
	// no token was telling.
	Bayes float64
	// Model says which models gave Bayes.
	Model ModelUsed
	// Clues are the tokens that counted, most significant first, at most
	// Params.MaxClues.
	Clues []Clue
	// Rules are the rules that hit, in the order of the rule file (token
	// rules first).
	Rules []RuleHit
}

// Classifier scores messages with a global model, an account's model and
// the current rule set. It holds only the parameters and the rules; the
// models are the caller's, passed in each call, so that a newly trained
// model is used from the next message on. It is safe for concurrent use.
type Classifier struct {
	params Params
	rules  atomic.Pointer[RuleSet]
}

// NewClassifier returns a classifier with p (zero fields take their
// defaults) and no rules.
func NewClassifier(p Params) (*Classifier, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Classifier{params: p.withDefaults()}, nil
}

// Params returns the parameters in use, defaults filled in.
func (c *Classifier) Params() Params { return c.params }

// Rules returns the rule set in use; nil when there is none.
func (c *Classifier) Rules() *RuleSet { return c.rules.Load() }

// SetRules puts rs in use from the next message on, at once for every
// caller; nil removes the rules.
func (c *Classifier) SetRules(rs *RuleSet) { c.rules.Store(rs) }

// LoadRules parses a rule file and puts it in use only if all of it is
// valid; on an error the rules in use stay as they were.
func (c *Classifier) LoadRules(data []byte) (*RuleSet, error) {
	rs, err := ParseRules(data)
	if err != nil {
		return nil, err
	}
	c.rules.Store(rs)
	return rs, nil
}

// Classify scores a message. global is the global model and account the
// recipient's own; either may be nil. The account's model joins the
// global one once it has Params.AccountMinMessages of each label.
func (c *Classifier) Classify(m *Message, global, account *Model) Verdict {
	e, used := c.params.choose(global, account)
	bayes, clues := c.params.bayes(e, m.Tokens)
	hits, ruleScore := c.rules.Load().match(m)
	return Verdict{
		Score: min(max(bayes+ruleScore, 0), 1),
		Bayes: bayes,
		Model: used,
		Clues: clues,
		Rules: hits,
	}
}

// ClassifyRaw analyzes and scores a raw message.
func (c *Classifier) ClassifyRaw(raw []byte, global, account *Model) Verdict {
	return c.Classify(Analyze(raw), global, account)
}
