package task

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jetmail/jetmail/shared/duration"
)

// StrategyType is the "@type" of a retry strategy.
type StrategyType string

// The retry strategies of the reference.
const (
	ExponentialBackoff StrategyType = "ExponentialBackoff"
	FixedDelay         StrategyType = "FixedDelay"
)

// Strategy is a retry strategy. ExponentialBackoff uses Factor,
// InitialDelay, MaxDelay and Jitter; FixedDelay uses Delay.
type Strategy struct {
	Type         StrategyType
	Factor       float64
	InitialDelay time.Duration
	MaxDelay     time.Duration
	// Jitter spreads each delay uniformly over [delay/2, delay] so that
	// tasks that failed together do not retry together.
	Jitter bool
	Delay  time.Duration
}

// MarshalJSON writes the fields of the strategy's type only.
func (s Strategy) MarshalJSON() ([]byte, error) {
	if s.Type == FixedDelay {
		return json.Marshal(map[string]any{"@type": s.Type, "delay": duration.Format(s.Delay)})
	}
	return json.Marshal(map[string]any{"@type": s.Type, "factor": s.Factor,
		"initialDelay": duration.Format(s.InitialDelay), "maxDelay": duration.Format(s.MaxDelay), "jitter": s.Jitter})
}

// Settings are the TaskManager singleton's fields.
type Settings struct {
	// MaxAttempts is the number of attempts before a task fails for good.
	// Default 3, minimum 1.
	MaxAttempts int
	// Strategy decides the delay before each retry. Default
	// ExponentialBackoff{factor 2, initialDelay 1m, maxDelay 30m, jitter true}.
	Strategy Strategy
	// TotalDeadline is the time budget across all attempts, from
	// activeSince. Default 6h.
	TotalDeadline time.Duration
}

// DefaultSettings are the TaskManager's settings until changed.
var DefaultSettings = Settings{
	MaxAttempts:   3,
	Strategy:      Strategy{Type: ExponentialBackoff, Factor: 2, InitialDelay: time.Minute, MaxDelay: 30 * time.Minute, Jitter: true},
	TotalDeadline: 6 * time.Hour,
}

// SingletonID is the id of the TaskManager object.
const SingletonID = "singleton"

// MarshalJSON writes the TaskManager object.
func (s Settings) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"id": SingletonID, "maxAttempts": s.MaxAttempts, "strategy": s.Strategy,
		"totalDeadline": duration.Format(s.TotalDeadline)})
}

// UnmarshalJSON reads a stored TaskManager object.
func (s *Settings) UnmarshalJSON(b []byte) error {
	out, errs := ApplySettings(DefaultSettings, b)
	if len(errs) > 0 {
		return fmt.Errorf("task manager settings: %v", errs)
	}
	*s = out
	return nil
}

// ApplySettings applies a JMAP update patch to cur: an object whose keys
// are properties ("maxAttempts", "strategy") or paths into them
// ("strategy/initialDelay"). It returns the new settings, or every invalid
// property. The reference's whole-object form is a patch too.
func ApplySettings(cur Settings, patch json.RawMessage) (Settings, []PropertyError) {
	var p map[string]json.RawMessage
	if err := json.Unmarshal(patch, &p); err != nil || p == nil {
		return cur, []PropertyError{{"", "the update must be a JSON object of properties"}}
	}
	// Start from the current object as JSON, then apply each key.
	curJSON, _ := json.Marshal(cur)
	var obj map[string]json.RawMessage
	_ = json.Unmarshal(curJSON, &obj)
	var strat map[string]json.RawMessage
	_ = json.Unmarshal(obj["strategy"], &strat)
	var errs []PropertyError
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	strategyReplaced := false
	for _, k := range keys {
		v := p[k]
		switch {
		case k == "id":
			var id string
			if json.Unmarshal(v, &id) != nil || id != SingletonID {
				errs = append(errs, PropertyError{"id", "is immutable"})
			}
		case k == "maxAttempts" || k == "totalDeadline":
			obj[k] = v
		case k == "strategy":
			strat = nil
			if err := json.Unmarshal(v, &strat); err != nil || strat == nil {
				errs = append(errs, PropertyError{"strategy", "must be an object with an @type of ExponentialBackoff or FixedDelay"})
			}
			strategyReplaced = true
		case strings.HasPrefix(k, "strategy/"):
			if strat == nil {
				strat = map[string]json.RawMessage{}
			}
			strat[strings.TrimPrefix(k, "strategy/")] = v
		default:
			errs = append(errs, PropertyError{k, "is not a property of TaskManager (maxAttempts, strategy, totalDeadline)"})
		}
	}
	if len(errs) > 0 {
		return cur, errs
	}
	out := cur
	if raw, ok := obj["maxAttempts"]; ok {
		var f float64
		if json.Unmarshal(raw, &f) != nil || f != math.Trunc(f) {
			errs = append(errs, PropertyError{"maxAttempts", fmt.Sprintf("must be a whole number, got %s", raw)})
		} else if f < 1 {
			errs = append(errs, PropertyError{"maxAttempts", fmt.Sprintf("must be at least 1, got %s", raw)})
		} else {
			out.MaxAttempts = int(f)
		}
	}
	if d, ok := durationProp(&errs, "totalDeadline", obj["totalDeadline"]); ok {
		out.TotalDeadline = d
	}
	if s, ok := strategyFrom(&errs, strat, strategyReplaced); ok {
		out.Strategy = s
	}
	return out, errs
}

func strategyFrom(errs *[]PropertyError, m map[string]json.RawMessage, replaced bool) (Strategy, bool) {
	var typ StrategyType
	if json.Unmarshal(m["@type"], &typ) != nil || (typ != ExponentialBackoff && typ != FixedDelay) {
		*errs = append(*errs, PropertyError{"strategy/@type", fmt.Sprintf("unknown strategy %s: use ExponentialBackoff or FixedDelay", m["@type"])})
		return Strategy{}, false
	}
	allowed := []string{"@type", "delay"}
	if typ == ExponentialBackoff {
		allowed = []string{"@type", "factor", "initialDelay", "maxDelay", "jitter"}
	}
	n := len(*errs)
	for k := range m {
		if !slices.Contains(allowed, k) {
			if replaced || !isStrategyField(k) {
				*errs = append(*errs, PropertyError{"strategy/" + k, fmt.Sprintf("is not a property of %s (%s)", typ, strings.Join(allowed[1:], ", "))})
			} else {
				delete(m, k) // left over from the other type when only @type changed
			}
		}
	}
	s := Strategy{Type: typ}
	if typ == FixedDelay {
		if d, ok := durationProp(errs, "strategy/delay", m["delay"]); ok {
			s.Delay = d
		}
		return s, len(*errs) == n
	}
	if raw, ok := m["factor"]; !ok || json.Unmarshal(raw, &s.Factor) != nil {
		*errs = append(*errs, PropertyError{"strategy/factor", fmt.Sprintf("must be a number of at least 1, got %s", orMissing(raw))})
	} else if s.Factor < 1 {
		*errs = append(*errs, PropertyError{"strategy/factor", fmt.Sprintf("must be at least 1, got %s", raw)})
	}
	s.InitialDelay, _ = durationProp(errs, "strategy/initialDelay", m["initialDelay"])
	s.MaxDelay, _ = durationProp(errs, "strategy/maxDelay", m["maxDelay"])
	if s.InitialDelay > 0 && s.MaxDelay > 0 && s.MaxDelay < s.InitialDelay {
		*errs = append(*errs, PropertyError{"strategy/maxDelay", "must not be shorter than initialDelay"})
	}
	if raw, ok := m["jitter"]; ok && json.Unmarshal(raw, &s.Jitter) != nil {
		*errs = append(*errs, PropertyError{"strategy/jitter", fmt.Sprintf("must be true or false, got %s", raw)})
	}
	return s, len(*errs) == n
}

func isStrategyField(k string) bool {
	return slices.Contains([]string{"factor", "initialDelay", "maxDelay", "jitter", "delay"}, k)
}

func durationProp(errs *[]PropertyError, prop string, raw json.RawMessage) (time.Duration, bool) {
	var s string
	if raw == nil || json.Unmarshal(raw, &s) != nil {
		*errs = append(*errs, PropertyError{prop, fmt.Sprintf("must be a duration string such as \"1m\" or \"6h\", got %s", orMissing(raw))})
		return 0, false
	}
	d, err := duration.Parse(s)
	if err != nil {
		*errs = append(*errs, PropertyError{prop, err.Error()})
		return 0, false
	}
	if d <= 0 {
		*errs = append(*errs, PropertyError{prop, "must be longer than zero"})
		return 0, false
	}
	return d, true
}

func orMissing(raw json.RawMessage) string {
	if raw == nil {
		return "nothing"
	}
	return string(raw)
}

// Delay is the wait before the retry that follows failed attempt n (from
// 1). rnd returns a number in [0, 1) and is used only with jitter.
func (s Settings) Delay(n int, rnd func() float64) time.Duration {
	st := s.Strategy
	if st.Type == FixedDelay {
		return st.Delay
	}
	d := float64(st.InitialDelay) * math.Pow(st.Factor, float64(n-1))
	if d > float64(st.MaxDelay) || math.IsInf(d, 0) {
		d = float64(st.MaxDelay)
	}
	if st.Jitter {
		d = d/2 + rnd()*d/2
	}
	return time.Duration(d)
}

// AfterFailure returns the status of t after its attempt n failed at now
// with reason: Retry at now + Delay(n), or Failed when n reached
// MaxAttempts or the retry would start after ActiveSince + TotalDeadline.
func (s Settings) AfterFailure(t *Task, n int, now time.Time, reason string, rnd func() float64) Status {
	failed := Status{Type: Failed, FailedAt: now, FailedAttemptNumber: n, FailureReason: reason}
	if n >= s.MaxAttempts {
		return failed
	}
	due := now.Add(s.Delay(n, rnd))
	if due.After(t.ActiveSince.Add(s.TotalDeadline)) {
		return failed
	}
	return Status{Type: Retry, Due: due, AttemptNumber: n, FailureReason: reason}
}
