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
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"
)

// Version is the build's version: set at build time with -ldflags
// "-X github.com/jetmail/jetmail/cmd/internal/cli.Version=..." (make build
// passes git describe), else taken from the build information (see
// buildVersion). The node reports it in its membership record, in
// jetmail_node_info and as the version of every NATS micro service.
var Version = "dev"

// unsetVersion is Version's value when -ldflags did not set it.
const unsetVersion = "dev"

func init() {
	if Version == unsetVersion {
		info, _ := debug.ReadBuildInfo()
		Version = buildVersion(info)
	}
}

// buildVersion is the version the Go toolchain recorded: the main
// module's (go install ...@v1.2.3), else the VCS revision, short, with
// "-dirty" when the work tree had changes; "dev" when neither is known
// (a build with -buildvcs=false, or outside a repository).
func buildVersion(info *debug.BuildInfo) string {
	if info == nil {
		return unsetVersion
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	var dirty bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return unsetVersion
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

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
		// A value such as --field updateRecords=mx,dkim holds commas: a
		// repeatable flag is repeated, never split.
		DisableSliceFlagSeparator: true,
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
			taskCommand(),
			taskManagerCommand(),
			queueCommand(),
			traceCommand(),
			accountCommand(),
			domainCommand(),
			mailCommand(),
			importCommand(),
			healthCommand(),
			natsAuthCommand(),
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

// positional returns a command's arguments, accepting flags among them:
// urfave/cli stops reading flags at the first argument, so the flags that
// follow ("task create IndexDocument --field a=b") are set here. "--" ends
// flags.
func positional(c *cli.Context) ([]string, error) {
	bools := map[string]bool{}
	names := map[string][]string{} // any name -> the names of its flag to set
	for _, f := range c.Command.Flags {
		_, isBool := f.(*cli.BoolFlag)
		set := f.Names()
		if sf, ok := f.(cli.DocGenerationSliceFlag); ok && sf.IsSliceFlag() {
			// A repeatable flag's names share one value: set once, or a
			// value given once would count twice.
			set = set[:1]
		}
		for _, n := range f.Names() {
			names[n] = set
			bools[n] = isBool
		}
	}
	args := c.Args().Slice()
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i+1:]...), nil
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			out = append(out, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "help" || name == "h" {
			if parent := c.Lineage(); len(parent) > 1 {
				_ = cli.ShowCommandHelp(parent[1], c.Command.Name)
			}
			return nil, cli.Exit("", 0)
		}
		if names[name] == nil {
			return nil, cli.Exit(fmt.Sprintf("unknown flag %s (see %s --help)", a, commandPath(c)), ExitUsage)
		}
		if !hasValue {
			if bools[name] {
				value = "true"
			} else if i+1 < len(args) {
				i++
				value = args[i]
			} else {
				return nil, cli.Exit(fmt.Sprintf("flag %s needs a value", a), ExitUsage)
			}
		}
		// Each name of a single-valued flag holds its own value; set them all.
		for _, n := range names[name] {
			if err := c.Set(n, value); err != nil {
				return nil, cli.Exit(fmt.Sprintf("flag %s: %v", a, err), ExitUsage)
			}
		}
	}
	return out, nil
}

// commandPath is the command as typed: "jetmail task create".
func commandPath(c *cli.Context) string {
	var names []string
	for _, l := range c.Lineage() {
		if l.Command != nil && l.Command.Name != "" {
			names = append([]string{l.Command.Name}, names...)
		}
	}
	return strings.Join(names, " ")
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
