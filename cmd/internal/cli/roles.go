package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/natsconn"
	"github.com/jetmail/jetmail/shared/roles"
)

const defaultAdminURL = "nats://127.0.0.1:4222"

func outputFlag() cli.Flag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "table or json"}
}

func rolesCommand() *cli.Command {
	return &cli.Command{
		Name:  "roles",
		Usage: "show and change which nodes hold which roles",
		Subcommands: []*cli.Command{
			{
				Name:  "show",
				Usage: "print each role's shards and nodes, with each node's liveness",
				Flags: append(natsFlags(defaultAdminURL), outputFlag(), devDirFlag()),
				Action: func(c *cli.Context) error {
					b, done, err := openCluster(c)
					if err != nil {
						return err
					}
					defer done()
					report, err := cluster.Report(c.Context, b)
					if err != nil {
						return err
					}
					return printRoles(c, report)
				},
			},
			{
				Name:      "set",
				Usage:     "change a role's shards at run time",
				ArgsUsage: "ROLE SHARD...",
				Description: `Each SHARD is a comma-separated list of node ids. Every node follows within
seconds, without a restart. Changing the number of shards moves partitions:
pending work is neither lost nor worked twice.

Every node named must be live and run the role's service; otherwise the
change is refused, since the work of its shard would wait. --force sets it
anyway, for a node planned but not started yet.

Examples:
   jetmail roles set fts-indexing "1,4" "2,3"     two shards
   jetmail roles set acme.renew 5                  one node
   jetmail roles set acme.renew 5 --force          node 5 starts later`,
				Flags: append(natsFlags(defaultAdminURL), devDirFlag(),
					&cli.BoolFlag{Name: "force", Usage: "set the shards even if a node named is down, unknown, or does not run the role's service"}),
				Action: func(c *cli.Context) error {
					args, err := positional(c)
					if err != nil {
						return err
					}
					if len(args) < 2 {
						return cli.Exit("roles set takes a ROLE and at least one SHARD (see --help)", ExitUsage)
					}
					r, err := roles.Parse(args[0])
					if err != nil {
						return cli.Exit(err.Error(), ExitUsage)
					}
					shards, err := roles.ParseShards(args[1:])
					if err == nil {
						err = roles.Check(r, shards)
					}
					if err != nil {
						return cli.Exit(fmt.Sprintf("%s: %v", r, err), ExitUsage)
					}
					b, done, err := openCluster(c)
					if err != nil {
						return err
					}
					defer done()
					plan, err := cluster.PlanRoles(c.Context, b, map[roles.Role]roles.Shards{r: shards})
					if err != nil {
						return cli.Exit(err.Error(), ExitFailure)
					}
					if len(plan.Changes) == 0 {
						m, err := cluster.GetRole(c.Context, b, r)
						if err != nil {
							return cli.Exit(err.Error(), ExitFailure)
						}
						fmt.Fprintf(c.App.Writer, "%s: %s (revision %d, unchanged)\n", r, strings.Join(m.Shards.Strings(), " | "), m.Revision)
						return nil
					}
					if problems := plan.Changes[0].Problems; len(problems) > 0 {
						if !c.Bool("force") {
							return cli.Exit(fmt.Sprintf("%s: not changed:\n  %s\n(--force sets it anyway, for a node that starts later)", r, strings.Join(problems, "\n  ")), ExitUsage)
						}
						for _, p := range problems {
							fmt.Fprintf(c.App.ErrWriter, "jetmail: warning: %s: %s\n", r, p)
						}
					}
					if err := plan.Apply(c.Context, b, "jetmail roles set"); err != nil {
						return cli.Exit(err.Error(), ExitUsage)
					}
					ch := plan.Changes[0]
					fmt.Fprintf(c.App.Writer, "%s: %s (revision %d)\n", r, strings.Join(ch.To.Strings(), " | "), ch.Revision)
					return nil
				},
			},
			rolesApplyCommand(),
		},
	}
}

func openCluster(c *cli.Context) (*cluster.Buckets, func(), error) {
	var n config.NATS
	applyNATSFlags(c, &n)
	nc, err := natsconn.Connect(n, "jetmail admin")
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
	defer cancel()
	b, err := cluster.OpenBuckets(ctx, js)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return b, nc.Close, nil
}

func printRoles(c *cli.Context, rep *cluster.RoleReport) error {
	switch c.String("output") {
	case "json":
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "table":
	default:
		return cli.Exit(fmt.Sprintf("--output %q: use table or json", c.String("output")), ExitUsage)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ROLE\tSHARD\tNODES\tPARTITIONS")
	for _, e := range rep.Roles {
		for _, s := range e.Shards {
			var nodes []string
			for _, n := range s.Nodes {
				state := "down"
				if n.Live {
					state = "live"
				}
				nodes = append(nodes, fmt.Sprintf("%s (%s)", n.ID, state))
			}
			parts := "(re-sharding)"
			if s.Partitions != nil {
				parts = strings.Trim(strings.Join(strings.Fields(fmt.Sprint(s.Partitions)), ","), "[]")
			}
			if s.Warning != "" {
				parts += "  WARNING: " + s.Warning
			}
			fmt.Fprintf(w, "%s\t%d/%d\t%s\t%s\n", e.Role, s.Shard, len(e.Shards), strings.Join(nodes, ", "), parts)
		}
	}
	var drift []string
	for _, e := range rep.Roles {
		for _, d := range e.ConfigDrift {
			drift = append(drift, fmt.Sprintf("%s\t%s\t%s\t%s", e.Role, d.Node, strings.Join(d.Shards.Strings(), " | "), shardsOf(e)))
		}
	}
	if len(drift) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "CONFIG DRIFT\tNODE\tITS CONFIG SAYS\tTHE CLUSTER HAS")
		for _, d := range drift {
			fmt.Fprintln(w, d)
		}
		fmt.Fprintln(w, "(the cluster's map wins; jetmail roles apply --config FILE makes the cluster match a file)")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "NODE\tHOST\tPID\tUP SINCE\tWORKS")
	for _, m := range rep.Nodes {
		works := "-"
		if len(m.Workers) > 0 {
			ws := make([]string, len(m.Workers))
			for i, r := range m.Workers {
				ws[i] = string(r)
			}
			works = strings.Join(ws, ",")
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", m.ID, m.Host, m.PID, m.StartedAt.Format(time.RFC3339), works)
	}
	return w.Flush()
}

// shardsOf writes a role entry's shards as roles set takes them: "1,4 | 2".
func shardsOf(e cluster.RoleEntry) string {
	parts := make([]string, len(e.Shards))
	for i, s := range e.Shards {
		ids := make([]string, len(s.Nodes))
		for j, n := range s.Nodes {
			ids[j] = n.ID
		}
		parts[i] = strings.Join(ids, ",")
	}
	return strings.Join(parts, " | ")
}

// rolesApplyResult is the JSON form of `roles apply`.
type rolesApplyResult struct {
	Changes []cluster.RoleChange `json:"changes"`
	// Applied is true once the changes are stored.
	Applied bool `json:"applied"`
}

func rolesApplyCommand() *cli.Command {
	return &cli.Command{
		Name:  "apply",
		Usage: "make the cluster's role maps match a configuration file's cluster.roles",
		Description: `Loads FILE as a node would (every problem is reported with its key path) and
compares each role the file sets (cluster.roles.*) with the cluster's map.
It prints the plan: per role whose shards differ, the cluster's shards and
the file's, and the problems of the file's shards (a node down, unknown, or
not running the role's service). Roles the file does not set are left as
they are.

Nothing changes without --yes. A plan with problems is refused, even with
--yes, unless --force is given too (for nodes planned but not started yet).

A node's cluster.roles only seeds a role that has no map yet: once the
cluster has a map, the map wins, and a node whose file disagrees says so
(roles show, /ready, a warning at start). This command is how a changed
file reaches a running cluster.

Examples:
   jetmail roles apply --config jetmail.toml          print the plan
   jetmail roles apply --config jetmail.toml --yes    apply it`,
		Flags: append(natsFlags(defaultAdminURL), devDirFlag(), outputFlag(),
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "TOML configuration `FILE` whose cluster.roles.* the cluster is to have"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "apply the plan (without it, the plan is only printed)"},
			&cli.BoolFlag{Name: "force", Usage: "with --yes, apply even if a node named is down, unknown, or does not run the role's service"}),
		Action: func(c *cli.Context) error {
			args, err := positional(c)
			if err != nil {
				return err
			}
			if len(args) > 0 {
				return cli.Exit("roles apply takes no arguments: the file is --config FILE (see --help)", ExitUsage)
			}
			path := c.String("config")
			if path == "" {
				return cli.Exit("roles apply needs --config FILE (see --help)", ExitUsage)
			}
			asJSON := false
			switch c.String("output") {
			case "json":
				asJSON = true
			case "table":
			default:
				return cli.Exit(fmt.Sprintf("--output %q: use table or json", c.String("output")), ExitUsage)
			}
			cfg, err := config.Load(path)
			if err != nil {
				return cli.Exit(err.Error(), ExitUsage)
			}
			desired := map[roles.Role]roles.Shards{}
			for r, ss := range cfg.Cluster.Roles {
				if cfg.Cluster.RolesSet[r] {
					desired[r] = ss
				}
			}
			out := c.App.Writer
			if len(desired) == 0 && !asJSON {
				fmt.Fprintf(out, "%s sets no cluster.roles.*: nothing to change\n", path)
				return nil
			}
			b, done, err := openCluster(c)
			if err != nil {
				return err
			}
			defer done()
			plan, err := cluster.PlanRoles(c.Context, b, desired)
			if err != nil {
				return cli.Exit(err.Error(), ExitFailure)
			}
			problems := plan.Problems()
			res := rolesApplyResult{Changes: plan.Changes}
			printResult := func() error {
				if !asJSON {
					return nil
				}
				res.Changes = plan.Changes
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			if len(plan.Changes) == 0 {
				if !asJSON {
					fmt.Fprintf(out, "nothing to change: the cluster's role maps match %s (%d roles)\n", path, len(desired))
				}
				return printResult()
			}
			if !asJSON {
				fmt.Fprint(out, plan.String())
			}
			if !c.Bool("yes") {
				hint := "re-run with --yes to apply"
				if len(problems) > 0 {
					hint = "re-run with --yes --force to apply it despite the problems"
				}
				if asJSON {
					fmt.Fprintln(c.App.ErrWriter, "jetmail:", hint)
				} else {
					fmt.Fprintln(out, hint)
				}
				return printResult()
			}
			if len(problems) > 0 {
				if !c.Bool("force") {
					return cli.Exit(fmt.Sprintf("not applied: %d problem(s):\n  %s\n(--force applies it anyway, for a node that starts later)", len(problems), strings.Join(problems, "\n  ")), ExitUsage)
				}
				for _, p := range problems {
					fmt.Fprintf(c.App.ErrWriter, "jetmail: warning: %s\n", p)
				}
			}
			if err := plan.Apply(c.Context, b, "jetmail roles apply "+filepath.Base(path)); err != nil {
				if errors.Is(err, cluster.ErrPlanStale) {
					return cli.Exit(err.Error(), ExitFailure)
				}
				return cli.Exit(err.Error(), ExitUsage)
			}
			res.Applied = true
			if asJSON {
				return printResult()
			}
			for _, ch := range plan.Changes {
				fmt.Fprintf(out, "%s: %s (revision %d)\n", ch.Role, strings.Join(ch.To.Strings(), " | "), ch.Revision)
			}
			fmt.Fprintf(out, "applied: %d role(s) changed\n", len(plan.Changes))
			return nil
		},
	}
}
