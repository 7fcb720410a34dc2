package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	ucli "github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/store"
)

// storeNode starts a node serving the store's API with account fred. It
// returns a runner of jetmail commands against it (stdout, stderr, exit
// code), an admin client and fred's id.
func storeNode(t *testing.T) (func(args ...string) (string, string, int), *jmap.Client, string) {
	t.Helper()
	cfg := jetmailtest.Config(t, "1", func(c *config.Config) {
		c.API.Users = map[string]config.APIUser{"admin": {Secret: "admin-secret-123", Permissions: []string{"admin"}}}
	})
	n := jetmailtest.Node(t, jetmailtest.Conn(t, jetmailtest.Server(t)), cfg, store.NewComponent(store.Params{}))
	api := n.HTTPURL() + "/jmap"
	admin := &jmap.Client{URL: api, Authorization: "Bearer admin-secret-123"}
	ctx := context.Background()
	require.NoError(t, admin.Call(ctx, adminapi.MethodDomainSet, jmap.SetArgs{Create: map[string]json.RawMessage{
		"d": mustJSON(adminapi.DomainCreate{Name: "shop.test"})}}, nil))
	var r adminapi.AccountSetResponse
	require.NoError(t, admin.Call(ctx, adminapi.MethodAccountSet, jmap.SetArgs{Create: map[string]json.RawMessage{
		"f": mustJSON(adminapi.AccountCreate{Name: "fred", Domain: "shop.test", Addresses: []string{"fred@shop.test"}})}}, &r))
	require.Empty(t, r.NotCreated)
	run := func(args ...string) (string, string, int) {
		t.Helper()
		var out, errOut bytes.Buffer
		app := App()
		app.Writer, app.ErrWriter = &out, &errOut
		app.ExitErrHandler = func(*ucli.Context, error) {} // Run returns it: no os.Exit in a test
		if !slices.Contains(args, "--help") {
			args = append(args, "--api", api, "--token", "admin-secret-123")
		}
		err := app.Run(append([]string{"jetmail"}, args...))
		code := 0
		var ec ucli.ExitCoder
		if errors.As(err, &ec) {
			code = ec.ExitCode()
			if msg := err.Error(); msg != "" {
				errOut.WriteString(msg + "\n")
			}
		} else if err != nil {
			code = ExitFailure
			errOut.WriteString(err.Error() + "\n")
		}
		return out.String(), errOut.String(), code
	}
	return run, admin, r.Created["f"].ID
}

const mboxText = "From ann@shop.test Thu Jan  1 10:00:00 2026\n" +
	"Message-ID: <a1@shop.test>\nFrom: ann@shop.test\nSubject: first\n\n>From the start, a quoted line\n\n" +
	"From bo@shop.test Thu Jan  1 11:00:00 2026\n" +
	"Message-ID: <b1@shop.test>\nFrom: bo@shop.test\nSubject: second\n\nhi\n\n" +
	"From junk@shop.test Thu Jan  1 12:00:00 2026\n" +
	"\x00\x01 not a message\n\n" +
	"From ann@shop.test Thu Jan  1 10:00:00 2026\n" +
	"Message-ID: <a1@shop.test>\nFrom: ann@shop.test\nSubject: first\n\n>From the start, a quoted line\n"

// jetmail import mbox streams an mbox file into a mailbox with keywords:
// the same message twice is imported once, a bad one is named and makes
// the exit code 1; running it again skips what is there.
func TestImportMbox(t *testing.T) {
	t.Parallel()
	run, admin, fred := storeNode(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "old.mbox")
	require.NoError(t, os.WriteFile(file, []byte(mboxText), 0o600))

	_, errOut, code := run("import", "mbox", file, "fred", "--mailbox", "archive", "--keyword", "$seen", "--batch", "2")
	require.Equal(t, ExitFailure, code, errOut)
	require.Contains(t, errOut, "imported 2 (")
	require.Contains(t, errOut, "1 skipped, 1 failed")
	require.Contains(t, errOut, "message 3 (line 15, From junk@shop.test Thu Jan  1 12:00:00 2026): invalidEmail")
	require.Contains(t, errOut, "1 of 4 message(s) not imported")

	ctx := context.Background()
	var q jmap.QueryResponse
	require.NoError(t, admin.Call(ctx, adminapi.MethodEmailQuery, adminapi.EmailQueryArgs{AccountID: &fred, Filter: &adminapi.EmailFilter{InMailbox: "archive"}}, &q))
	require.Equal(t, 2, q.Total)
	var g adminapi.EmailGetResponse
	require.NoError(t, admin.Call(ctx, adminapi.MethodEmailGet, jmap.GetArgs{AccountID: &fred, IDs: &q.IDs}, &g))
	subjects := map[string]adminapi.Email{}
	for _, e := range g.List {
		subjects[e.Subject] = e
		require.Equal(t, map[string]bool{"$seen": true}, e.Keywords)
	}
	require.Contains(t, subjects, "second")
	rc, err := admin.Download(ctx, fred, subjects["first"].BlobID)
	require.NoError(t, err)
	raw, _ := io.ReadAll(rc)
	rc.Close()
	require.Equal(t, "Message-ID: <a1@shop.test>\r\nFrom: ann@shop.test\r\nSubject: first\r\n\r\nFrom the start, a quoted line\r\n", string(raw))

	// Again, from standard input's stand-in: the good ones are there.
	good := filepath.Join(dir, "good.mbox")
	require.NoError(t, os.WriteFile(good, []byte(strings.Split(mboxText, "From junk")[0]), 0o600))
	_, errOut, code = run("import", "mbox", good, fred)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, errOut, "imported 0 (")
	require.Contains(t, errOut, "2 skipped, 0 failed")

	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"no such mailbox", []string{"import", "mbox", good, "fred", "--mailbox", "Nope"}, ExitUsage, `no mailbox "Nope" (it has Archive, Inbox, Junk, Sent, Trash)`},
		{"no such account", []string{"import", "mbox", good, "nobody"}, ExitFailure, `no active account named or with id "nobody"`},
		{"no such file", []string{"import", "mbox", filepath.Join(dir, "none"), "fred"}, ExitUsage, "no such file"},
		{"not mbox", []string{"import", "mbox", filepath.Join(dir, "notmbox"), "fred"}, ExitFailure, "not an mbox file"},
		{"one argument", []string{"import", "mbox", good}, ExitUsage, "give FILE and ACCOUNT"},
		{"bad batch", []string{"import", "mbox", good, "fred", "--batch", "0"}, ExitUsage, "--batch 0"},
	} {
		if tc.name == "not mbox" {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "notmbox"), []byte("Subject: x\n\nhi\n"), 0o600))
		}
		_, errOut, code := run(tc.args...)
		require.Equal(t, tc.code, code, "%s: %s", tc.name, errOut)
		require.Contains(t, errOut, tc.says, tc.name)
	}

	out, _, code := run("import", "mbox", "--help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "Examples:")
	require.Contains(t, out, "--keyword")
}

// jetmail mail mv, flag and rm change emails with Email/set and name the
// ones they could not change.
func TestMailSetCommands(t *testing.T) {
	t.Parallel()
	run, admin, fred := storeNode(t)
	file := filepath.Join(t.TempDir(), "in.mbox")
	require.NoError(t, os.WriteFile(file, []byte(strings.Split(mboxText, "From junk")[0]), 0o600))
	out, errOut, code := run("import", "mbox", file, "fred")
	require.Equal(t, 0, code, "%q %q", out, errOut)
	ctx := context.Background()
	var q jmap.QueryResponse
	require.NoError(t, admin.Call(ctx, adminapi.MethodEmailQuery, adminapi.EmailQueryArgs{AccountID: &fred, Filter: &adminapi.EmailFilter{InMailbox: "inbox"}}, &q))
	require.Len(t, q.IDs, 2)
	a, b := q.IDs[0], q.IDs[1]
	get := func(id string) adminapi.Email {
		var g adminapi.EmailGetResponse
		require.NoError(t, admin.Call(ctx, adminapi.MethodEmailGet, jmap.GetArgs{AccountID: &fred, IDs: &[]string{id}}, &g))
		require.Len(t, g.List, 1)
		return g.List[0]
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"mv", []string{"mail", "mv", "fred", a, b, "--to", "Trash"}, 0, "moved 2 email(s)"},
		{"mv nowhere", []string{"mail", "mv", "fred", a}, ExitUsage, "--to"},
		{"mv to no mailbox", []string{"mail", "mv", "fred", a, "--to", "Nope"}, ExitUsage, `no mailbox "Nope"`},
		{"flag", []string{"mail", "flag", "fred", a, "--add", "$flagged", "--add", "$seen"}, 0, "flagged 1 email(s)"},
		{"unflag", []string{"mail", "flag", "fred", a, "--remove", "$seen"}, 0, "flagged 1 email(s)"},
		{"bad keyword", []string{"mail", "flag", "fred", a, "--add", "a(b"}, ExitFailure, "invalidProperties"},
		{"flag nothing", []string{"mail", "flag", "fred", a}, ExitUsage, "give --add or --remove"},
		{"rm without --yes", []string{"mail", "rm", "fred", b}, ExitUsage, "would destroy 1 email(s) of account fred"},
		{"rm", []string{"mail", "rm", "fred", b, "nosuch", "--yes"}, ExitFailure, "nosuch: notFound"},
	} {
		out, errOut, code := run(tc.args...)
		require.Equal(t, tc.code, code, "%s: %s %s", tc.name, out, errOut)
		require.Contains(t, out+errOut, tc.says, tc.name)
	}
	e := get(a)
	require.Equal(t, map[string]bool{"trash": true}, e.MailboxIDs)
	require.Equal(t, map[string]bool{"$flagged": true}, e.Keywords)
	var g adminapi.EmailGetResponse
	require.NoError(t, admin.Call(ctx, adminapi.MethodEmailGet, jmap.GetArgs{AccountID: &fred, IDs: &[]string{b}}, &g))
	require.Equal(t, []string{b}, g.NotFound)

	out, _, code = run("mail", "--help")
	require.Equal(t, 0, code)
	for _, cmd := range []string{"mv", "flag", "rm", "jetmail import mbox"} {
		require.Contains(t, out, cmd)
	}
}
