package indexer_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/delivery"
	"github.com/jetmail/jetmail/services/indexer"
	"github.com/jetmail/jetmail/services/scheduler"
	"github.com/jetmail/jetmail/services/smtp"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/fts"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/mailqueue"
	"github.com/jetmail/jetmail/shared/search"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

const mailConfig = `
[smtp]
listen = ["127.0.0.1:0"]
hostname = "mx.example.org"
local-domains = ["example.org"]
[smtp.users.alice]
secret = "alice-secret"
addresses = ["alice@example.org"]
`

// A message sent by SMTP to a local account is found by search within
// 2 s of its acceptance, on a node running every service.
func TestMailSentBySMTPIsFoundWithinTwoSeconds(t *testing.T) {
	t.Parallel()
	srv := jetmailtest.Server(t)
	cfg, err := config.Parse([]byte(mailConfig))
	require.NoError(t, err)
	base := jetmailtest.Config(t, "1")
	cfg.Cluster, cfg.HTTP = base.Cluster, base.HTTP
	q := mailqueue.New(mailqueue.Params{})
	sc := store.NewComponent(store.Params{})
	in := smtp.New(cfg, q).WithStore(sc)
	idx := indexer.New(cfg, sc, indexer.Params{Dir: t.TempDir()})
	jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, sc, q, in, delivery.New(cfg, q).WithStore(sc), idx,
		scheduler.New(cfg, taskmanager.Params{Roles: schedulerRoles()}))
	st := sc.Store()
	ctx := context.Background()
	alice, err := st.AccountByAddress(ctx, "alice@example.org")
	require.NoError(t, err)
	client := search.Client{Conn: jetmailtest.Conn(t, srv)}
	require.Eventually(t, func() bool {
		r, err := client.Search(ctx, st.Partition(alice.ID), fts.Query{Account: alice.ID, Text: "x"})
		return err == nil && !r.Partial
	}, 10*time.Second, 20*time.Millisecond, "the indexer holds alice's partition")

	body := "From: Carol <carol@remote.test>\r\nTo: alice@example.org\r\nSubject: Invoice 2026-117\r\n\r\nThe zeppelin leaves at noon.\r\n"
	require.NoError(t, jetmailtest.SendMail(in.Addrs()[0], "", "", "carol@remote.test", []string{"alice@example.org"}, body))
	accepted := time.Now()
	var found time.Duration
	require.Eventually(t, func() bool {
		r, err := client.Search(ctx, st.Partition(alice.ID), fts.Query{Account: alice.ID, Text: "zeppelin", From: "carol@remote.test"})
		found = time.Since(accepted)
		return err == nil && len(r.IDs) == 1
	}, 2*time.Second, 10*time.Millisecond, "found by search within 2 s")
	t.Logf("searchable %v after SMTP acceptance", found.Round(time.Millisecond))
}
