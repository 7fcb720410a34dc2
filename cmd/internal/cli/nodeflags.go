package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/services"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/roles"
)

// nodeFlags are the flags of the commands that run a node.
func nodeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "TOML configuration `FILE` (default: built-in defaults)", EnvVars: []string{"JETMAIL_CONFIG"}},
		&cli.StringFlag{Name: "node-id", Usage: "this node's `ID` (overrides cluster.node-id; default \"1\")", EnvVars: []string{"JETMAIL_NODE_ID"}},
		&cli.StringFlag{Name: "node-id-env", Usage: "take the node id from environment variable `NAME` (such as HOST under Marathon)"},
		&cli.StringFlag{Name: "http", Usage: "`ADDR` of /health, /ready and /metrics (overrides http.listen; default 127.0.0.1:8080)", EnvVars: []string{"JETMAIL_HTTP"}},
		&cli.StringFlag{Name: "smtp", Usage: "SMTP intake `ADDR`s, comma-separated (overrides smtp.listen; default 127.0.0.1:2525)", EnvVars: []string{"JETMAIL_SMTP"}},
		&cli.DurationFlag{Name: "shutdown-timeout", Value: 30 * time.Second, Usage: "how long SIGTERM waits for in-flight work before giving up on it"},
	}
}

// loadConfig loads --config and applies the flags that override it. An
// invalid file is a usage error: nothing starts.
func loadConfig(c *cli.Context) (*config.Config, error) {
	cfg, err := config.Load(c.String("config"))
	if err != nil {
		return nil, cli.Exit(err.Error(), ExitUsage)
	}
	id := c.String("node-id")
	if name := c.String("node-id-env"); name != "" {
		if id = os.Getenv(name); id == "" {
			return nil, cli.Exit(fmt.Sprintf("--node-id-env: environment variable %s is empty", name), ExitUsage)
		}
	}
	if id != "" {
		if err := roles.CheckNodeID(id); err != nil {
			return nil, cli.Exit(fmt.Sprintf("--node-id: %v", err), ExitUsage)
		}
		// Roles that took the default single-node shard follow the new id.
		for r, ss := range cfg.Cluster.Roles {
			if !cfg.Cluster.RolesSet[r] && len(ss) == 1 && len(ss[0]) == 1 && ss[0][0] == cfg.Cluster.NodeID {
				cfg.Cluster.Roles[r] = roles.Shards{{id}}
			}
		}
		cfg.Cluster.NodeID = id
	}
	if addr := c.String("http"); addr != "" {
		cfg.HTTP.Listen = addr
	}
	if addrs := c.String("smtp"); addrs != "" {
		cfg.SMTP.Listen = strings.Split(addrs, ",")
	}
	return cfg, nil
}

// runNode runs a node with the named services until SIGINT or SIGTERM, then
// drains and stops it.
func runNode(c *cli.Context, cfg *config.Config, nc *nats.Conn, dial func() (*nats.Conn, error), serviceNames []string, log *slog.Logger, extraUsers ...jmap.User) error {
	svcs, err := services.Build(cfg, serviceNames)
	if err != nil {
		return cli.Exit(err.Error(), ExitUsage)
	}
	n, err := node.New(node.Params{Config: cfg, Conn: nc, Dial: dial, Services: svcs, Version: Version, Logger: log, ExtraUsers: extraUsers})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = n.Start(startCtx)
	cancel()
	if err != nil {
		shutdown(n, c.Duration("shutdown-timeout"))
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return fmt.Errorf("start node: %w", err)
	}
	<-ctx.Done()
	n.Deps().Logger.Info("signal received, draining in-flight work", "timeout", c.Duration("shutdown-timeout"))
	return shutdown(n, c.Duration("shutdown-timeout"))
}

func shutdown(n *node.Node, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return n.Shutdown(ctx)
}
