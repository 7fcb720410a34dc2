package cli

import (
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/shared/config"
)

// natsFlags are the flags that reach an external NATS server. def is the
// default URL ("" for none).
func natsFlags(def string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "nats-url", Value: def, Usage: "NATS server `URL`s, comma-separated (overrides nats.url)", EnvVars: []string{"JETMAIL_NATS_URL", "NATS_URL"}},
		&cli.StringFlag{Name: "nats-creds", Usage: "NATS credentials `FILE`", EnvVars: []string{"JETMAIL_NATS_CREDS"}},
		&cli.StringFlag{Name: "nats-nkey", Usage: "NATS NKey user seed `FILE` (jetmail dev writes DATA_DIR/nats-user.nk)", EnvVars: []string{"JETMAIL_NATS_NKEY"}},
		&cli.StringFlag{Name: "nats-user", Usage: "NATS user", EnvVars: []string{"JETMAIL_NATS_USER"}},
		&cli.StringFlag{Name: "nats-password", Usage: "NATS password", EnvVars: []string{"JETMAIL_NATS_PASSWORD"}},
		&cli.StringFlag{Name: "nats-token", Usage: "NATS token", EnvVars: []string{"JETMAIL_NATS_TOKEN"}},
		&cli.StringFlag{Name: "tls-ca", Usage: "CA `FILE` to verify the NATS server"},
		&cli.StringFlag{Name: "tls-cert", Usage: "client certificate `FILE` for NATS"},
		&cli.StringFlag{Name: "tls-key", Usage: "client key `FILE` for NATS"},
	}
}

// applyNATSFlags overrides n with the flags that were given.
func applyNATSFlags(c *cli.Context, n *config.NATS) {
	set := func(flag string, dst *string) {
		if v := c.String(flag); v != "" {
			*dst = v
		}
	}
	set("nats-url", &n.URL)
	set("nats-creds", &n.Creds)
	set("nats-nkey", &n.NKey)
	set("nats-user", &n.User)
	set("nats-password", &n.Password)
	set("nats-token", &n.Token)
	set("tls-ca", &n.TLSCA)
	set("tls-cert", &n.TLSCert)
	set("tls-key", &n.TLSKey)
	if n.Creds == "" && n.NKey == "" && n.User == "" && n.Token == "" {
		// A jetmail dev node's NATS user (--data-dir, or ./data).
		if seed := filepath.Join(devDir(c), devNKeyFile); fileExists(seed) {
			n.NKey = seed
		}
	}
}

// devDirFlag is --data-dir of the admin commands: where a jetmail dev
// node keeps the credentials they use by default.
func devDirFlag() cli.Flag {
	return &cli.StringFlag{Name: "data-dir", Usage: "`DIR` of a jetmail dev node, whose admin.secret and nats-user.nk are the default credentials (default ./data)", EnvVars: []string{"JETMAIL_DATA_DIR"}}
}

// devDir is the jetmail dev data folder the admin command looks in.
func devDir(c *cli.Context) string {
	dir := c.String("data-dir")
	if dir == "" {
		dir = os.Getenv("JETMAIL_DATA_DIR")
	}
	if dir == "" {
		dir = "data"
	}
	return dir
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
