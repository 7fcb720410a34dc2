package natsauth_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/natsauth"
)

// The configuration block a nats-server reads gives the same users and
// permissions as the embedded server takes (what the deploy files ship is
// what the tests run).
func TestServerConfigMatchesNkeyUsers(t *testing.T) {
	t.Parallel()
	var users []natsauth.User
	for _, id := range natsauth.Identities([]string{"ops"}) {
		kp, err := nkeys.CreateUser()
		require.NoError(t, err)
		pub, err := kp.PublicKey()
		require.NoError(t, err)
		users = append(users, natsauth.User{Identity: id, PublicKey: pub})
	}
	conf, err := natsauth.ServerConfig(users)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "auth.conf")
	require.NoError(t, os.WriteFile(file, []byte(conf), 0o600))
	opts, err := server.ProcessConfigFile(file)
	require.NoError(t, err, conf)

	want, err := natsauth.NkeyUsers(users)
	require.NoError(t, err)
	require.Len(t, opts.Nkeys, len(want))
	for i, u := range opts.Nkeys {
		require.Equal(t, want[i].Nkey, u.Nkey)
		require.Equal(t, want[i].Permissions, u.Permissions, "identity %s", users[i].Name)
	}
}

// The identities and what sets them apart.
func TestIdentities(t *testing.T) {
	t.Parallel()
	var names []string
	for _, id := range natsauth.Identities([]string{"ops"}) {
		names = append(names, id.Name)
	}
	require.Equal(t, []string{"acme", "calendar", "delivery", "indexer", "maintenance", "push", "reports", "scheduler", "smtp", "spam-trainer", "node", "api-ops", "admin"}, names)

	smtp, err := natsauth.ForServices("UPUB", []string{natsauth.SMTP})
	require.NoError(t, err)
	require.Contains(t, smtp.Subscribe.Allow, "_INBOX.UPUB.>")
	require.NotContains(t, smtp.Subscribe.Allow, "jetmail.api.x-task.*")
	require.NotContains(t, smtp.Publish.Allow, "$JS.API.CONSUMER.MSG.NEXT.KV_jetmail-tasks.>")

	// smtp and delivery record traces, and may not read them.
	delivery, err := natsauth.ForServices("UPUB", []string{natsauth.Delivery})
	require.NoError(t, err)
	for _, p := range []*server.Permissions{smtp, delivery} {
		require.Contains(t, p.Publish.Allow, "jetmail.traces.>")
		require.Contains(t, p.Publish.Allow, "$JS.API.STREAM.CREATE.jetmail-traces")
		require.NotContains(t, p.Publish.Allow, "$JS.API.CONSUMER.CREATE.jetmail-traces")
		require.NotContains(t, p.Publish.Allow, "$JS.API.DIRECT.GET.jetmail-traces.>")
	}
	scheduler, err := natsauth.ForServices("UPUB", []string{natsauth.Scheduler})
	require.NoError(t, err)
	require.NotContains(t, scheduler.Publish.Allow, "jetmail.traces.>")

	api := natsauth.ForAPIUser("UAPI", "ops")
	require.Equal(t, []string{"jetmail.api.*.ops"}, api.Publish.Allow)
	require.Equal(t, []string{"_INBOX.UAPI.>"}, api.Subscribe.Allow)

	_, err = natsauth.ForServices("U", []string{"imap"})
	require.ErrorContains(t, err, `no NATS identity for service "imap"`)
}
