package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/natsconn"
)

func devCommand() *cli.Command {
	return &cli.Command{
		Name:      "dev",
		Usage:     "run every service in one process on an embedded NATS server",
		ArgsUsage: " ",
		Description: `Starts a NATS server with JetStream inside the process, keeping its files in
--data-dir, and a node running every service against it. The server also
listens on --nats-listen so that the nats CLI can look inside. Only jetmail
may connect: it lets in the NKey user whose seed it wrote, readable by its
owner only, to DATA_DIR/nats-user.nk:

   nats --server nats://127.0.0.1:4222 --nkey data/nats-user.nk stream ls
   nats --server nats://127.0.0.1:4222 --nkey data/nats-user.nk kv ls

(jetmail's own commands, such as roles show, find that file by themselves
when run from the same folder.)

Stop it with Ctrl-C (or SIGTERM): in-flight work drains first. Starting it
again with the same --data-dir keeps all state.`,
		Flags: append(nodeFlags(),
			&cli.StringFlag{Name: "data-dir", Usage: "`DIR` for JetStream files (overrides storage.data-dir; default ./data)", EnvVars: []string{"JETMAIL_DATA_DIR"}},
			&cli.StringFlag{Name: "nats-listen", Value: "127.0.0.1:4222", Usage: "client `ADDR` of the embedded NATS server (empty: in-process only)", EnvVars: []string{"JETMAIL_NATS_LISTEN"}},
			&cli.BoolFlag{Name: "sync-always", Usage: "fsync every JetStream write (slower; survives power loss)"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("dev takes no arguments, got %q (see --help)", c.Args().Slice()), ExitUsage)
			}
			log, err := logger(c, c.App.ErrWriter)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			if dir := c.String("data-dir"); dir != "" {
				cfg.Storage.DataDir = dir
			}
			dataDir, err := filepath.Abs(cfg.Storage.DataDir)
			if err != nil {
				return err
			}
			seedPath := filepath.Join(dataDir, devNKeyFile)
			user, _, err := nkeySeed(seedPath)
			if err != nil {
				return err
			}
			listen := c.String("nats-listen")
			srv, err := embedded.Start(embedded.Options{
				DataDir: dataDir, Listen: listen, ServerName: "jetmail-" + cfg.Cluster.NodeID, SyncAlways: c.Bool("sync-always"),
				Users: []*server.NkeyUser{{Nkey: user}},
			})
			if err != nil {
				return err
			}
			defer srv.Stop()
			log.Info("embedded NATS started", "node_id", cfg.Cluster.NodeID, "data_dir", dataDir, "client_url", clientURL(listen),
				"inspect", fmt.Sprintf("nats --server %s --nkey %s stream ls", clientURL(listen), seedPath))
			if host, _, err := net.SplitHostPort(listen); err == nil && !isLoopback(host) {
				log.Warn("the embedded NATS server listens beyond this machine, without TLS: the NKey handshake is safe, but messages and bodies cross the network in the clear; use jetmail serve with a TLS NATS cluster in production", "listen", listen)
			}
			auth := natsconn.NKeyFile(seedPath)
			// Over loopback TCP when the server listens: faster than the
			// in-process pipe, which serializes reads and writes.
			dial := func() (*nats.Conn, error) { return srv.Connect(auth) }
			if listen != "" {
				dial = func() (*nats.Conn, error) { return nats.Connect("nats://"+listen, nats.MaxReconnects(-1), auth) }
			}
			nc, err := dial()
			if err != nil {
				return fmt.Errorf("connect to embedded NATS: %w", err)
			}
			defer nc.Close()
			secretPath := filepath.Join(dataDir, devSecretFile)
			secret, err := devSecret(secretPath)
			if err != nil {
				return err
			}
			log.Info("admin API ready for the jetmail CLI", "url", apiURL(cfg.HTTP), "user", "admin", "secret_file", secretPath)
			return runNode(c, cfg, nc, dial, nil, log, jmap.User{Name: "admin", Secret: secret, Permissions: []string{"admin"}})
		},
	}
}

// devSecret reads the admin API secret of a dev data directory, creating it
// (readable by the owner only) on first start.
func devSecret(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	secret := base64.RawURLEncoding.EncodeToString(buf)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write admin secret: %w", err)
	}
	return secret, nil
}

// devNKeyFile is where `jetmail dev` keeps the NKey seed of the one user
// its embedded NATS server lets in.
const devNKeyFile = "nats-user.nk"

// nkeySeed returns the public key of the NKey user seed in path,
// creating the seed file (readable by the owner only) when there is none.
func nkeySeed(path string) (pub string, created bool, err error) {
	seed, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return "", false, err
		}
		if seed, err = kp.Seed(); err != nil {
			return "", false, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", false, err
		}
		if err := os.WriteFile(path, append(seed, '\n'), 0o600); err != nil {
			return "", false, fmt.Errorf("write the NATS user's seed: %w", err)
		}
		created = true
	} else if err != nil {
		return "", false, fmt.Errorf("read the NATS user's seed: %w", err)
	}
	kp, err := nkeys.FromSeed(bytes.TrimSpace(seed))
	if err != nil {
		return "", false, fmt.Errorf("%s holds no NKey seed: %w", path, err)
	}
	pub, err = kp.PublicKey()
	return pub, created, err
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func clientURL(listen string) string {
	if listen == "" {
		return "(in-process only)"
	}
	return "nats://" + listen
}

// apiURL is the admin API's URL on http.listen.
func apiURL(h config.HTTP) string {
	if h.TLSCert != "" {
		return "https://" + h.Listen + "/jmap"
	}
	return "http://" + h.Listen + "/jmap"
}
