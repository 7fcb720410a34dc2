// Package natsconn opens jetmail's connections to an external NATS server or
// cluster, with credentials and TLS from the configuration.
package natsconn

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetmail/jetmail/shared/config"
)

// Connect connects to cfg.URL. name labels the connection in the server's
// monitoring (`nats server report connections`).
func Connect(cfg config.NATS, name string, extra ...nats.Option) (*nats.Conn, error) {
	if cfg.URL == "" {
		return nil, fmt.Errorf("connect to NATS: no URL (set nats.url or --nats-url)")
	}
	opts := append(Options(cfg, name), extra...)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", cfg.URL, err)
	}
	return nc, nil
}

// NKeyFile authenticates with the NKey user seed in file, read when the
// connection is made.
func NKeyFile(file string) nats.Option {
	return func(o *nats.Options) error {
		opt, err := nats.NkeyOptionFromSeed(file)
		if err != nil {
			return fmt.Errorf("nats.nkey %s: %w", file, err)
		}
		return opt(o)
	}
}

// Options are the client options for cfg: authentication, TLS, and
// reconnecting forever, since a mail node should ride out a server restart.
func Options(cfg config.NATS, name string) []nats.Option {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(false),
	}
	if cfg.Creds != "" {
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	}
	if cfg.NKey != "" {
		opts = append(opts, NKeyFile(cfg.NKey))
	}
	if cfg.User != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.Token != "" {
		opts = append(opts, nats.Token(cfg.Token))
	}
	if cfg.TLSCA != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCA))
	}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
	}
	return opts
}
