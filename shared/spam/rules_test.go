package spam_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/spam"
)

const goodRules = `{
  "format": "jetmail-spam-rules/1",
  "name": "test rules",
  "rules": [
    {"id": "SUBJ_PHARMACY", "target": "header", "header": "Subject", "pattern": "(?i)pharmacy", "score": 0.3},
    {"id": "NO_DATE", "description": "no Date field", "target": "header", "header": "Date", "absent": true, "score": 0.1},
    {"id": "BODY_DISCREET", "target": "body", "pattern": "(?i)discreet\\s+packages", "score": 0.2},
    {"id": "URI_TOP", "target": "uri", "pattern": "\\.top/", "score": 0.15},
    {"id": "TOK_DYN", "target": "token", "token": "rcvd:w:dyn", "score": 0.05},
    {"id": "FROM_PARTNER", "target": "header", "header": "From", "pattern": "@partner\\.example>?$", "score": -0.9}
  ]
}
`

// TestRules: each target matches what it should, and the scores add to
// the Bayesian one, clamped to [0, 1].
func TestRules(t *testing.T) {
	t.Parallel()
	rs, err := spam.ParseRules([]byte(goodRules))
	require.NoError(t, err)
	require.Equal(t, "test rules", rs.Name())
	require.Equal(t, 6, rs.Len())
	require.Len(t, rs.SHA256(), 64)

	clf := newClassifier(t)
	clf.SetRules(rs)
	v := clf.ClassifyRaw(campaign(1), spam.NewModel(), nil)
	require.Equal(t, 0.5, v.Bayes)
	var ids []string
	for _, h := range v.Rules {
		ids = append(ids, h.ID)
	}
	// Token rules come first, then the others in file order.
	require.Equal(t, []string{"TOK_DYN", "SUBJ_PHARMACY", "NO_DATE", "BODY_DISCREET", "URI_TOP"}, ids)
	require.Equal(t, 1.0, v.Score, "0.5 + 0.8, clamped")

	partner := crlf(`
From: Partner <news@partner.example>
Date: Tue, 1 Apr 2025 10:00:00 +0000
Subject: quarterly figures

See the figures.
`)
	v = clf.ClassifyRaw(partner, spam.NewModel(), nil)
	require.Equal(t, []spam.RuleHit{{ID: "FROM_PARTNER", Score: -0.9}}, v.Rules)
	require.Equal(t, 0.0, v.Score, "0.5 - 0.9, clamped")

	clf.SetRules(nil)
	require.Empty(t, clf.ClassifyRaw(campaign(1), spam.NewModel(), nil).Rules)
}

// TestRulesCorrupt: a broken rule file is refused whole, with which rule,
// which key and why.
func TestRulesCorrupt(t *testing.T) {
	t.Parallel()
	head := `{"format": "jetmail-spam-rules/1", "rules": [`
	rule := `{"id": "A", "target": "body", "pattern": "x", "score": 0.1}`
	for _, tc := range []struct {
		file, want string
	}{
		{"", "spam rules: empty file"},
		{head + rule, "spam rules: the JSON ends early (file truncated?)"},
		{goodRules[:len(goodRules)/2], "spam rules: the JSON ends early (file truncated?)"},
		{"\x00\x01binary", "spam rules: line 1, column 1: invalid JSON: invalid character '\\x00' looking for beginning of value"},
		{"{\n  \"format\": \"jetmail-spam-rules/1\",,\n}", "spam rules: line 2, column 36: invalid JSON: invalid character ',' looking for beginning of object key string"},
		{`{"rules": []}`, `spam rules: format: missing; want "jetmail-spam-rules/1"`},
		{`{"format": "other/2", "rules": []}`, `spam rules: format: "other/2"; this version reads "jetmail-spam-rules/1"`},
		{`{"format": "jetmail-spam-rules/1", "rules": [], "run": "rm -rf /"}`, `spam rules: unknown key "run"`},
		{head + rule + `]} {"more": 1}`, "spam rules: data after the rule set's closing brace"},
		{`{"format": "jetmail-spam-rules/1", "rules": {}}`, "spam rules: rules: a JSON object where an array is expected (line 1, column 45)"},
		{head + rule + `, {"id": "B", "target": "body", "pattern": "(free", "score": 0.2}]}`, "spam rules: rules[1] (B): pattern: error parsing regexp: missing closing ): `(free`"},
		{head + rule + `, {"id": "B", "target": "body", "pattern": "a(?=b)", "score": 0.2}]}`, "spam rules: rules[1] (B): pattern: error parsing regexp: invalid or unsupported Perl syntax: `(?=`"},
		{head + rule + `, ` + rule + `]}`, "spam rules: rules[1] (A): id: the same as rules[0]'s"},
		{head + `{"id": "A", "target": "body", "pattern": "x"}]}`, "spam rules: rules[0] (A): score: missing"},
		{head + `{"id": "A", "target": "body", "pattern": "x", "score": 5}]}`, "spam rules: rules[0] (A): score: 5: must be between -1 and 1, and not 0"},
		{head + `{"id": "A", "target": "body", "pattern": "x", "score": "high"}]}`, "spam rules: rules[0] (A): score: a JSON string where a number is expected"},
		{head + `{"id": "A", "target": "body", "pattern": "x", "score": 0.1, "exec": "/bin/sh"}]}`, `spam rules: rules[0] (A): unknown key "exec"`},
		{head + `{"id": "bad id!", "target": "body", "pattern": "x", "score": 0.1}]}`, `spam rules: rules[0]: id: "bad id!": 1 to 64 letters, digits and underscores`},
		{head + `{"id": "A", "pattern": "x", "score": 0.1}]}`, "spam rules: rules[0] (A): target: missing; one of header, body, uri, token"},
		{head + `{"id": "A", "target": "raw", "pattern": "x", "score": 0.1}]}`, `spam rules: rules[0] (A): target: "raw": one of header, body, uri, token`},
		{head + `{"id": "A", "target": "header", "pattern": "x", "score": 0.1}]}`, `spam rules: rules[0] (A): header: "": a header field name is needed`},
		{head + `{"id": "A", "target": "header", "header": "Date", "absent": true, "pattern": "x", "score": 0.1}]}`, "spam rules: rules[0] (A): pattern: not allowed with absent"},
		{head + `{"id": "A", "target": "token", "score": 0.1}]}`, `spam rules: rules[0] (A): token: "": a token of 1 to 255 bytes is needed`},
		{head + `{"id": "A", "target": "body", "header": "Subject", "pattern": "x", "score": 0.1}]}`, `spam rules: rules[0] (A): header: only with target "header"`},
		{head + `{"id": "A", "target": "uri", "score": 0.1}]}`, "spam rules: rules[0] (A): pattern: missing"},
		{head + `{"id": "A", "target": "uri", "pattern": "` + strings.Repeat("a", 3000) + `", "score": 0.1}]}`, "spam rules: rules[0] (A): pattern: 3000 bytes, more than 2048"},
	} {
		rs, err := spam.ParseRules([]byte(tc.file))
		require.Nil(t, rs, tc.want)
		var re *spam.RuleError
		require.True(t, errors.As(err, &re), "%q: %v", tc.file, err)
		require.EqualError(t, err, tc.want)
	}
	big := make([]byte, spam.MaxRulesBytes+1)
	_, err := spam.ParseRules(big)
	require.EqualError(t, err, "spam rules: 4194305 bytes, more than the 4194304 allowed")
}

// TestLoadRulesKeepsOld: a corrupted file leaves the rules in use as they
// were.
func TestLoadRulesKeepsOld(t *testing.T) {
	t.Parallel()
	clf := newClassifier(t)
	old, err := clf.LoadRules([]byte(goodRules))
	require.NoError(t, err)
	require.Same(t, old, clf.Rules())

	corrupt := strings.Replace(goodRules, `"(?i)pharmacy"`, `"(?i)pharmacy["`, 1)
	rs, err := clf.LoadRules([]byte(corrupt))
	require.Nil(t, rs)
	var re *spam.RuleError
	require.ErrorAs(t, err, &re)
	require.Equal(t, 0, re.Rule)
	require.Equal(t, "SUBJ_PHARMACY", re.ID)
	require.Equal(t, "pattern", re.Field)
	require.Contains(t, re.Reason, "missing closing ]")
	require.Same(t, old, clf.Rules(), "the old rules stay")
	require.NotEmpty(t, clf.ClassifyRaw(campaign(1), nil, nil).Rules)
}
