package taskmanager_test

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/roles"
)

func jetstreamFor(t *testing.T, srv *embedded.Server) jetstream.JetStream {
	js, err := jetstream.New(jetmailtest.Conn(t, srv))
	require.NoError(t, err)
	return js
}

func rolesShards(lists ...string) (roles.Shards, error) { return roles.ParseShards(lists) }
