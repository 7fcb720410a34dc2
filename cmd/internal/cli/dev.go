package cli

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/jmap"
)

func devCommand() *cli.Command {
	return &cli.Command{
		Name:      "dev",
		Usage:     "run every service in one process on an embedded NATS server",
		ArgsUsage: " ",
		Description: `Starts a NATS server with JetStream inside the process, keeping its files in
--data-dir, and a node running every service against it. The server also
listens on --nats-listen so that the nats CLI can look inside:

   nats --server nats://127.0.0.1:4222 stream ls
   nats --server nats://127.0.0.1:4222 kv ls

Stop it with Ctrl-C (or SIGTERM): in-flight work drains first. Starting it
again with the same --data-dir keeps all state.`,
		Flags: append(nodeFlags(),
			&cli.StringFlag{Name: "data-dir", Usage: "`DIR` for JetStream files (overrides storage.data-dir; default ./data)", EnvVars: []string{"JETMAIL_DATA_DIR"}},
			&cli.StringFlag{Name: "nats-listen", Value: "127.0.0.1:4222", Usage: "client `ADDR` of the embedded NATS server (empty: in-process only)"},
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
			srv, err := embedded.Start(embedded.Options{
				DataDir: dataDir, Listen: c.String("nats-listen"), ServerName: "jetmail-" + cfg.Cluster.NodeID, SyncAlways: c.Bool("sync-always"),
			})
			if err != nil {
				return err
			}
			defer srv.Stop()
			log.Info("embedded NATS started", "node_id", cfg.Cluster.NodeID, "data_dir", dataDir, "client_url", clientURL(c.String("nats-listen")))
			// Over loopback TCP when the server listens: faster than the
			// in-process pipe, which serializes reads and writes.
			dial := func() (*nats.Conn, error) { return srv.Connect() }
			if listen := c.String("nats-listen"); listen != "" {
				dial = func() (*nats.Conn, error) { return nats.Connect("nats://"+listen, nats.MaxReconnects(-1)) }
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
