package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/shared/cluster"
	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/natsconn"
	"github.com/jetmail/jetmail/shared/roles"
	"github.com/jetmail/jetmail/shared/shard"
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
					report, err := rolesReport(c.Context, b)
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
					members, err := cluster.LiveMembers(c.Context, b)
					if err != nil {
						return cli.Exit(fmt.Sprintf("read the live nodes: %v", err), ExitFailure)
					}
					if problems := cluster.NodeProblems(r, shards, members); len(problems) > 0 {
						if !c.Bool("force") {
							return cli.Exit(fmt.Sprintf("%s: not changed:\n  %s\n(--force sets it anyway, for a node that starts later)", r, strings.Join(problems, "\n  ")), ExitUsage)
						}
						for _, p := range problems {
							fmt.Fprintf(c.App.ErrWriter, "jetmail: warning: %s: %s\n", r, p)
						}
					}
					partitions := shard.DefaultPartitions
					if l, err := cluster.GetLayout(c.Context, b, r); err == nil && l != nil {
						partitions = l.Partitions
					}
					m, err := cluster.SetRole(c.Context, b, r, shards, partitions, "jetmail roles set")
					if err != nil {
						return cli.Exit(fmt.Sprintf("%s: %v", r, err), ExitUsage)
					}
					fmt.Fprintf(c.App.Writer, "%s: %s (revision %d)\n", r, strings.Join(m.Shards.Strings(), " | "), m.Revision)
					return nil
				},
			},
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

// RoleReport is the JSON form of `roles show`.
type RoleReport struct {
	Roles []RoleEntry      `json:"roles"`
	Nodes []cluster.Member `json:"nodes"`
}

// RoleEntry is one role in a RoleReport.
type RoleEntry struct {
	Role      roles.Role      `json:"role"`
	Revision  uint64          `json:"revision"`
	UpdatedAt time.Time       `json:"updatedAt"`
	UpdatedBy string          `json:"updatedBy,omitempty"`
	Layout    *cluster.Layout `json:"layout,omitempty"`
	Shards    []ShardEntry    `json:"shards"`
}

// ShardEntry is one shard of a RoleEntry.
type ShardEntry struct {
	Shard      int         `json:"shard"`
	Partitions []int       `json:"partitions,omitempty"`
	Nodes      []NodeEntry `json:"nodes"`
	// Warning says why the shard's work waits: no live node of it works
	// the role.
	Warning string `json:"warning,omitempty"`
}

// NodeEntry is one node of a ShardEntry.
type NodeEntry struct {
	ID   string `json:"id"`
	Live bool   `json:"live"`
}

func rolesReport(ctx context.Context, b *cluster.Buckets) (*RoleReport, error) {
	members, err := cluster.LiveMembers(ctx, b)
	if err != nil {
		return nil, err
	}
	live := map[string]bool{}
	for _, m := range members {
		live[m.ID] = true
	}
	rep := &RoleReport{Nodes: members}
	for _, r := range roles.All {
		m, err := cluster.GetRole(ctx, b, r)
		if err != nil {
			continue // not seeded yet
		}
		l, err := cluster.GetLayout(ctx, b, r)
		if err != nil {
			return nil, err
		}
		e := RoleEntry{Role: r, Revision: m.Revision, UpdatedAt: m.UpdatedAt, UpdatedBy: m.UpdatedBy, Layout: l}
		var owned [][]int
		if l.Fits(m) {
			owned = shard.Assign(l.Partitions, l.Shards)
		}
		idle := cluster.Idle(r, m.Shards, members)
		for i, s := range m.Shards {
			se := ShardEntry{Shard: i + 1}
			if slices.Contains(idle, i) {
				se.Warning = fmt.Sprintf("no live node of this shard runs the service that works %s: its work waits", r)
			}
			if owned != nil {
				se.Partitions = owned[i]
			}
			for _, id := range s {
				se.Nodes = append(se.Nodes, NodeEntry{ID: id, Live: live[id]})
			}
			e.Shards = append(e.Shards, se)
		}
		rep.Roles = append(rep.Roles, e)
	}
	return rep, nil
}

func printRoles(c *cli.Context, rep *RoleReport) error {
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
