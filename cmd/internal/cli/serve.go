package cli

import (
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/services"
	"github.com/jetmail/jetmail/shared/natsconn"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "run chosen services against an external NATS server or cluster",
		ArgsUsage: "[SERVICE...]",
		Description: fmt.Sprintf(`Runs a node with the named services (all of them when none is named)
against the NATS server or cluster at --nats-url. Every node, whatever its
services, joins the cluster membership and can become leader.

Services: %s

Example:
   jetmail serve --nats-url nats://n1:4222,nats://n2:4222 --config /etc/jetmail.toml --node-id 3`, servicesList()),
		Flags: append(nodeFlags(), natsFlags("")...),
		Action: func(c *cli.Context) error {
			args, err := positional(c)
			if err != nil {
				return err
			}
			log, err := logger(c, c.App.ErrWriter)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			applyNATSFlags(c, &cfg.NATS)
			if cfg.NATS.URL == "" {
				return cli.Exit("serve needs a NATS server: set --nats-url or nats.url (or use `jetmail dev` for an embedded one)", ExitUsage)
			}
			nc, err := natsconn.Connect(cfg.NATS, "jetmail node "+cfg.Cluster.NodeID)
			if err != nil {
				return err
			}
			defer nc.Close()
			log.Info("connected to NATS", "node_id", cfg.Cluster.NodeID, "url", nc.ConnectedUrlRedacted())
			dial := func() (*nats.Conn, error) { return natsconn.Connect(cfg.NATS, "jetmail node "+cfg.Cluster.NodeID) }
			return runNode(c, cfg, nc, dial, args, log)
		},
	}
}

func servicesList() string {
	names := services.Names()
	if len(names) == 0 {
		return "(none yet: a node runs membership, roles and leader duties only)"
	}
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}
