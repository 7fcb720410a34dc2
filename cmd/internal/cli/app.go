// Package cli is the jetmail command line: running nodes (dev, serve) and
// the admin commands (config, roles).
//
// Exit codes: 0 success; 1 a runtime failure; 2 bad usage or an invalid
// configuration (nothing was started).
package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// Version is set at build time with -ldflags "-X .../cli.Version=...".
var Version = "dev"

// Exit codes.
const (
	ExitFailure = 1
	ExitUsage   = 2
)

// App returns the jetmail application.
func App() *cli.App {
	return &cli.App{
		Name:    "jetmail",
		Usage:   "the background work of a clustered mail platform, on NATS JetStream",
		Version: Version,
		Description: `jetmail runs mail queue delivery, background tasks and cluster roles on NATS
JetStream. Each process is a node of the cluster; roles and shards decide
which node does which work.

Start here:
   jetmail dev                 all services in one process on an embedded NATS
   jetmail config check FILE   validate a configuration before you deploy it
   jetmail roles show          which nodes hold which roles, and who is alive`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: []string{"JETMAIL_LOG_LEVEL"}},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json", EnvVars: []string{"JETMAIL_LOG_FORMAT"}},
		},
		Commands: []*cli.Command{
			devCommand(),
			serveCommand(),
			configCommand(),
			rolesCommand(),
			healthCommand(),
		},
		ExitErrHandler: func(c *cli.Context, err error) {
			if err == nil {
				return
			}
			if ec, ok := err.(cli.ExitCoder); ok {
				if msg := err.Error(); msg != "" {
					fmt.Fprintln(c.App.ErrWriter, "jetmail:", msg)
				}
				os.Exit(ec.ExitCode())
			}
			fmt.Fprintln(c.App.ErrWriter, "jetmail:", err)
			os.Exit(ExitFailure)
		},
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return cli.Exit(fmt.Sprintf("%v (see --help)", err), ExitUsage)
		},
	}
}

// argsOnly refuses arguments that look like flags: flags must come before
// the arguments, and a misplaced one would otherwise be read as a value.
func argsOnly(c *cli.Context) error {
	for _, a := range c.Args().Slice() {
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			return cli.Exit(fmt.Sprintf("%q looks like a flag: put flags before the arguments (jetmail %s [flags] args...)", a, c.Command.FullName()), ExitUsage)
		}
	}
	return nil
}

// logger builds the process logger from the global flags.
func logger(c *cli.Context, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, cli.Exit(fmt.Sprintf("--log-level %q: use debug, info, warn or error", c.String("log-level")), ExitUsage)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(c.String("log-format")) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, cli.Exit(fmt.Sprintf("--log-format %q: use text or json", c.String("log-format")), ExitUsage)
	}
}
