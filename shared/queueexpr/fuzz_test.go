package queueexpr

import "testing"

// FuzzCompile feeds arbitrary strategy expressions to the compiler: it
// must answer with a program or an error, never panic, and a program must
// run against a recipient without panicking.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		"is_local_domain('*', rcpt_domain)", "priority == 1 && matches('corp\\\\.test$', sender)",
		"contains(last_error, 'greylist')", "last_error contains 'greylist'", "'contains(' + rcpt",
		"retry_num > 3 ? 'slow' : 'fast'", "sql_query('db', 'SELECT 1', [rcpt])", "priority ==",
		"matches('[', rcpt)", "size / 0", "queue_age * expires_in", "'", "((((", "is_local_domain(1, 2, 3)",
	} {
		f.Add(seed)
	}
	dir := fakeDirectory{local: map[string]bool{"example.org": true}}
	v := Vars{Rcpt: "bob@example.org", RcptDomain: "example.org", Sender: "a@b.test", Priority: 1, Size: 10}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Compile(src, dir)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("empty error for %q", src)
			}
			return
		}
		_, _ = p.Run(v)
		_, _ = p.Constant()
	})
}
