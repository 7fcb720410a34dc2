package queueexpr

import (
	"testing"

	"github.com/stretchr/testify/require"
)

type fakeDirectory struct{ local map[string]bool }

func (f fakeDirectory) IsLocalDomain(dir, domain string) (bool, error) { return f.local[domain], nil }
func (f fakeDirectory) SQLQuery(string, string, []any) (any, error)    { return nil, nil }

func TestCompileAndRun(t *testing.T) {
	t.Parallel()
	dir := fakeDirectory{local: map[string]bool{"example.org": true}}
	v := Vars{Rcpt: "bob@example.org", RcptDomain: "example.org", Sender: "vip@corp.test", Priority: 1, Source: "dsn", LastError: "451 greylisted"}
	for src, want := range map[string]any{
		"is_local_domain('*', rcpt_domain)":                  true,
		"is_local_domain(sender_domain)":                     false,
		"priority == 1":                                      true,
		"source == 'dsn'":                                    true,
		"contains(last_error, 'greylist')":                   true,
		"last_error contains 'greylist'":                     true,
		"!contains(rcpt, 'nobody')":                          true,
		"matches('^vip@', sender)":                           true,
		"priority == 1 && matches('corp\\\\.test$', sender)": true,
		"starts_with(rcpt, 'bob')":                           true,
		"ends_with(rcpt, '.com')":                            false,
		"'contains(' + rcpt":                                 "contains(bob@example.org",
	} {
		p, err := Compile(src, dir)
		require.NoError(t, err, src)
		got, err := p.Run(v)
		require.NoError(t, err, src)
		require.Equal(t, want, got, src)
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	for src, msg := range map[string]string{
		"priority ==":              "unexpected token EOF",
		"nope == 1":                "unknown name nope",
		"contains(rcpt)":           "contains",
		"is_local_domain(1, 2, 3)": "is_local_domain",
	} {
		_, err := Compile(src, nil)
		require.ErrorContains(t, err, msg, src)
		require.NotContains(t, err.Error(), "__", src)
	}
}

func TestConstant(t *testing.T) {
	t.Parallel()
	p, err := Compile("'local'", nil)
	require.NoError(t, err)
	c, ok := p.Constant()
	require.True(t, ok)
	require.Equal(t, "local", c)
	p, err = Compile("priority == 1 ? 'a' : 'b'", nil)
	require.NoError(t, err)
	_, ok = p.Constant()
	require.False(t, ok)
}

func TestTruthy(t *testing.T) {
	t.Parallel()
	require.False(t, Truthy(nil))
	require.False(t, Truthy(int64(0)))
	require.True(t, Truthy(int64(1)))
	require.False(t, Truthy(""))
	require.True(t, Truthy("x"))
}

func TestSQLStores(t *testing.T) {
	t.Parallel()
	p, err := Compile(`sql_query('my-db', 'SELECT 1', [rcpt]) || sql_query("other", 'SELECT 2', []) || sql_query('my-db', 'x', [])`, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"my-db", "other"}, p.SQLStores())
	p, err = Compile(`rcpt_domain == 'example.org'`, nil)
	require.NoError(t, err)
	require.Empty(t, p.SQLStores())
}
