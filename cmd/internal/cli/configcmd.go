package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/shared/config"
)

func configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "work with configuration files",
		Subcommands: []*cli.Command{{
			Name:      "check",
			Usage:     "validate a configuration file and list every problem",
			ArgsUsage: "FILE",
			Description: `Loads FILE as a node would and prints every problem with its key path and
the reason. Exits 0 when the file is valid, 2 when it is not. A valid file
may still get warnings (such as an admin API on a public address without
TLS): they are printed, and the exit code stays 0.`,
			Action: func(c *cli.Context) error {
				args, err := positional(c)
				if err != nil {
					return err
				}
				if len(args) != 1 {
					return cli.Exit("config check takes one FILE (see --help)", ExitUsage)
				}
				path := args[0]
				cfg, err := config.Load(path)
				out := c.App.Writer
				if err != nil {
					var ps config.Problems
					if errors.As(err, &ps) {
						fmt.Fprintf(out, "%s: %d problem(s)\n", path, len(ps))
						for _, p := range ps {
							fmt.Fprintf(out, "  %s: %s\n", p.Key, p.Reason)
						}
						return cli.Exit("", ExitUsage)
					}
					return cli.Exit(err.Error(), ExitUsage)
				}
				fmt.Fprintf(out, "%s: valid (node %s, %d virtual queues, %d schedules, %d strategy rules)\n",
					path, cfg.Cluster.NodeID, len(cfg.Queue.Virtual), len(cfg.Queue.Schedule), len(cfg.Queue.Strategy.Schedule))
				for _, w := range cfg.Warnings {
					fmt.Fprintf(out, "  warning: %s: %s\n", w.Key, w.Reason)
				}
				if len(cfg.Ignored) > 0 {
					fmt.Fprintf(out, "  note: sections jetmail does not read were ignored: %s\n", strings.Join(cfg.Ignored, ", "))
				}
				return nil
			},
		}},
	}
}
