package spam

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"strings"
)

// RulesFormat is the value of the "format" key of a rule file this
// version reads.
const RulesFormat = "jetmail-spam-rules/1"

// Bounds of a rule file; a file past them is refused, not cut.
const (
	// MaxRulesBytes is the largest rule file read: 4 MiB.
	MaxRulesBytes = 4 << 20
	// MaxRules is the most rules a file may hold.
	MaxRules = 5000
	// maxPattern bounds one regular expression, in bytes.
	maxPattern = 2048
	// maxRuleScore bounds the score of one rule, either way.
	maxRuleScore = 1.0
)

// Rule targets: what a rule's pattern is matched against.
const (
	// TargetHeader matches each value of the header field named by
	// "header" (Subject decoded, others raw and unfolded); with "absent"
	// it hits when the message has no such field.
	TargetHeader = "header"
	// TargetBody matches the plain text of the body, HTML reduced to
	// text.
	TargetBody = "body"
	// TargetURI matches each URL of the message.
	TargetURI = "uri"
	// TargetToken hits when the message has the token "token" (as doc.go
	// lists them), a way to give one token a fixed weight.
	TargetToken = "token"
)

// ruleFile is the JSON form of a rule file.
type ruleFile struct {
	Format string            `json:"format"`
	Name   string            `json:"name"`
	Rules  []json.RawMessage `json:"rules"`
}

type ruleJSON struct {
	ID          string   `json:"id"`
	Description string   `json:"description"`
	Target      string   `json:"target"`
	Header      string   `json:"header"`
	Pattern     string   `json:"pattern"`
	Absent      bool     `json:"absent"`
	Token       string   `json:"token"`
	Score       *float64 `json:"score"`
}

// RuleSet is a rule file parsed and validated as a whole. It is data
// only: patterns are RE2 regular expressions (Go's regexp, linear in the
// input, no backtracking), and nothing in the file is run. A RuleSet is
// never changed once built, so it is safe for concurrent use.
type RuleSet struct {
	name   string
	sum    string
	rules  []rule
	tokens map[string][]int // token rules by token
}

type rule struct {
	id, target, header, token string
	lower                     string // header, lower-cased
	re                        *regexp.Regexp
	absent                    bool
	score                     float64
}

// RuleHit is one rule that matched a message.
type RuleHit struct {
	// ID is the rule's id.
	ID string
	// Score is what the rule adds to the message's score.
	Score float64
}

// Name is the rule set's name from its file.
func (rs *RuleSet) Name() string { return rs.name }

// SHA256 is the hex SHA-256 of the file the set was parsed from.
func (rs *RuleSet) SHA256() string { return rs.sum }

// Len is the number of rules.
func (rs *RuleSet) Len() int { return len(rs.rules) }

// RuleError says what is wrong in a rule file: which rule, which key, and
// why. Rule is -1 for the file as a whole.
type RuleError struct {
	// Rule is the index of the rule in "rules", from 0; -1 for the file.
	Rule int
	// ID is the rule's id, when it has one.
	ID string
	// Field is the JSON key at fault, or a position ("line 3, column 7")
	// for a syntax error.
	Field string
	// Reason says why.
	Reason string
}

func (e *RuleError) Error() string {
	var b strings.Builder
	b.WriteString("spam rules: ")
	if e.Rule >= 0 {
		fmt.Fprintf(&b, "rules[%d]", e.Rule)
		if e.ID != "" {
			fmt.Fprintf(&b, " (%s)", e.ID)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// ParseRules parses and validates a whole rule file, compiling every
// pattern, and returns the set only if all of it is right; otherwise a
// *RuleError for the first problem. The caller swaps the set in only on
// success (Classifier.LoadRules), so a bad file leaves the old rules.
func ParseRules(data []byte) (*RuleSet, error) {
	fileErr := func(field, format string, args ...any) error {
		return &RuleError{Rule: -1, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if len(data) > MaxRulesBytes {
		return nil, fileErr("", "%d bytes, more than the %d allowed", len(data), MaxRulesBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f ruleFile
	if err := dec.Decode(&f); err != nil {
		return nil, jsonError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fileErr("", "data after the rule set's closing brace")
	}
	switch {
	case f.Format == "":
		return nil, fileErr("format", "missing; want %q", RulesFormat)
	case f.Format != RulesFormat:
		return nil, fileErr("format", "%q; this version reads %q", f.Format, RulesFormat)
	case len(f.Rules) > MaxRules:
		return nil, fileErr("rules", "%d rules, more than the %d allowed", len(f.Rules), MaxRules)
	}
	sum := sha256.Sum256(data)
	rs := &RuleSet{name: f.Name, sum: hex.EncodeToString(sum[:]), tokens: map[string][]int{}}
	ids := map[string]int{}
	for i, raw := range f.Rules {
		// Each rule apart, so that an unknown key or a wrong type names it.
		var rj ruleJSON
		rd := json.NewDecoder(bytes.NewReader(raw))
		rd.DisallowUnknownFields()
		if err := rd.Decode(&rj); err != nil {
			re := jsonError(nil, err)
			re.Rule, re.ID = i, ruleIDOf(raw)
			return nil, re
		}
		r, err := compileRule(rj)
		if err != nil {
			err.Rule = i
			if ruleID.MatchString(rj.ID) {
				err.ID = rj.ID
			}
			return nil, err
		}
		if j, dup := ids[r.id]; dup {
			return nil, &RuleError{Rule: i, ID: r.id, Field: "id", Reason: fmt.Sprintf("the same as rules[%d]'s", j)}
		}
		ids[r.id] = i
		if r.target == TargetToken {
			rs.tokens[r.token] = append(rs.tokens[r.token], len(rs.rules))
		}
		rs.rules = append(rs.rules, r)
	}
	return rs, nil
}

// ruleIDOf reads the id of a rule that did not decode, for its error.
func ruleIDOf(raw json.RawMessage) string {
	var v struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(raw, &v) == nil {
		if id, ok := v.ID.(string); ok && ruleID.MatchString(id) {
			return id
		}
	}
	return ""
}

// jsonError turns a decoding error into a RuleError that says where:
// the line and column in data (nil for a rule, which is named instead).
func jsonError(data []byte, err error) *RuleError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return &RuleError{Rule: -1, Field: position(data, syn.Offset-1), Reason: "invalid JSON: " + syn.Error()}
	case errors.As(err, &typ):
		reason := fmt.Sprintf("a JSON %s where %s is expected", typ.Value, jsonKind(typ.Type.Kind()))
		if data != nil {
			reason += " (" + position(data, typ.Offset-1) + ")"
		}
		return &RuleError{Rule: -1, Field: typ.Field, Reason: reason}
	case errors.Is(err, io.EOF):
		return &RuleError{Rule: -1, Reason: "empty file"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &RuleError{Rule: -1, Reason: "the JSON ends early (file truncated?)"}
	}
	// Unknown fields: "json: unknown field \"x\"".
	return &RuleError{Rule: -1, Reason: strings.Replace(strings.TrimPrefix(err.Error(), "json: "), "field", "key", 1)}
}

// jsonKind names a Go kind as JSON does.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float64, reflect.Float32, reflect.Int, reflect.Int64, reflect.Uint32:
		return "a number"
	case reflect.Slice:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return k.String()
}

// position renders a byte offset as a line and column, from 1.
func position(data []byte, off int64) string {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}

var ruleID = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

func compileRule(rj ruleJSON) (rule, *RuleError) {
	bad := func(field, format string, args ...any) (rule, *RuleError) {
		return rule{}, &RuleError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case rj.ID == "":
		return bad("id", "missing")
	case !ruleID.MatchString(rj.ID):
		return bad("id", "%q: 1 to 64 letters, digits and underscores", rj.ID)
	case len(rj.Description) > 500:
		return bad("description", "%d bytes, more than 500", len(rj.Description))
	case rj.Score == nil:
		return bad("score", "missing")
	case math.IsNaN(*rj.Score) || math.Abs(*rj.Score) > maxRuleScore || *rj.Score == 0:
		return bad("score", "%g: must be between -%g and %g, and not 0", *rj.Score, maxRuleScore, maxRuleScore)
	}
	r := rule{id: rj.ID, target: rj.Target, score: *rj.Score}
	needPattern := true
	switch rj.Target {
	case TargetHeader:
		if rj.Header == "" || strings.ContainsAny(rj.Header, ": \t\r\n") {
			return bad("header", "%q: a header field name is needed", rj.Header)
		}
		r.header, r.lower = rj.Header, strings.ToLower(rj.Header)
		if rj.Absent {
			if rj.Pattern != "" {
				return bad("pattern", "not allowed with absent")
			}
			r.absent, needPattern = true, false
		}
	case TargetBody, TargetURI:
	case TargetToken:
		if rj.Token == "" || len(rj.Token) > maxStoredToken {
			return bad("token", "%q: a token of 1 to %d bytes is needed", rj.Token, maxStoredToken)
		}
		if rj.Pattern != "" {
			return bad("pattern", "not allowed with target %q", TargetToken)
		}
		r.token, needPattern = rj.Token, false
	case "":
		return bad("target", "missing; one of header, body, uri, token")
	default:
		return bad("target", "%q: one of header, body, uri, token", rj.Target)
	}
	if rj.Target != TargetHeader && (rj.Header != "" || rj.Absent) {
		return bad("header", "only with target %q", TargetHeader)
	}
	if rj.Target != TargetToken && rj.Token != "" {
		return bad("token", "only with target %q", TargetToken)
	}
	if !needPattern {
		return r, nil
	}
	switch {
	case rj.Pattern == "":
		return bad("pattern", "missing")
	case len(rj.Pattern) > maxPattern:
		return bad("pattern", "%d bytes, more than %d", len(rj.Pattern), maxPattern)
	}
	re, err := regexp.Compile(rj.Pattern)
	if err != nil {
		return bad("pattern", "%v", err)
	}
	r.re = re
	return r, nil
}

// match returns the rules that hit m and the sum of their scores.
func (rs *RuleSet) match(m *Message) ([]RuleHit, float64) {
	if rs == nil || len(rs.rules) == 0 {
		return nil, 0
	}
	var hits []RuleHit
	var sum float64
	hit := func(r *rule) {
		hits = append(hits, RuleHit{ID: r.id, Score: r.score})
		sum += r.score
	}
	if len(rs.tokens) > 0 {
		for _, tok := range m.Tokens {
			for _, i := range rs.tokens[tok] {
				hit(&rs.rules[i])
			}
		}
	}
	var byName map[string][]string // the header's values by lower-case name, once
	for i := range rs.rules {
		r := &rs.rules[i]
		switch r.target {
		case TargetHeader:
			if byName == nil {
				byName = make(map[string][]string, len(m.Header))
				for _, f := range m.Header {
					k := strings.ToLower(f.Name)
					byName[k] = append(byName[k], f.Value)
				}
			}
			values := byName[r.lower]
			if r.lower == "subject" && len(values) > 0 {
				values = []string{m.Subject}
			}
			if r.absent {
				if len(values) == 0 {
					hit(r)
				}
				continue
			}
			for _, v := range values {
				if r.re.MatchString(v) {
					hit(r)
					break
				}
			}
		case TargetBody:
			if r.re.MatchString(m.Text) {
				hit(r)
			}
		case TargetURI:
			for _, u := range m.URLs {
				if r.re.MatchString(u) {
					hit(r)
					break
				}
			}
		}
	}
	return hits, sum
}
