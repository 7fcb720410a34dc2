// Package natsconn opens jetmail's connections to an external NATS server or
// cluster, with credentials and TLS from the configuration.
package natsconn

import (
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

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

// InboxPrefix is the reply inbox of a NATS identity (an NKey public key or
// a user name): replies to a connection's requests come under it, and a
// permission layout (natsauth) lets only that identity subscribe there.
func InboxPrefix(identity string) string { return "_INBOX." + identity }

// Identity is who cfg connects as: the public key of nats.nkey or of the
// user in nats.creds, else nats.user; "" for none (a token or no
// authentication), where replies come under the plain _INBOX.
func Identity(cfg config.NATS) (string, error) {
	var kp nkeys.KeyPair
	switch {
	case cfg.NKey != "":
		seed, err := os.ReadFile(cfg.NKey)
		if err != nil {
			return "", fmt.Errorf("nats.nkey: %w", err)
		}
		if kp, err = nkeys.ParseDecoratedNKey(seed); err != nil {
			return "", fmt.Errorf("nats.nkey %s: %w", cfg.NKey, err)
		}
	case cfg.Creds != "":
		b, err := os.ReadFile(cfg.Creds)
		if err != nil {
			return "", fmt.Errorf("nats.creds: %w", err)
		}
		if kp, err = nkeys.ParseDecoratedNKey(b); err != nil {
			return "", fmt.Errorf("nats.creds %s: %w", cfg.Creds, err)
		}
	default:
		return cfg.User, nil
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return "", fmt.Errorf("nats credentials: %w", err)
	}
	return pub, nil
}

// Options are the client options for cfg: authentication, the identity's
// own reply inbox, TLS, and reconnecting forever, since a mail node should
// ride out a server restart.
func Options(cfg config.NATS, name string) []nats.Option {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(false),
	}
	if id, err := Identity(cfg); err != nil {
		opts = append(opts, func(*nats.Options) error { return err })
	} else if id != "" {
		opts = append(opts, nats.CustomInboxPrefix(InboxPrefix(id)))
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
