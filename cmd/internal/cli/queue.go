package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
)

func queueFilterFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "queue", Usage: "keep entries of virtual queue `NAME`"},
		&cli.StringFlag{Name: "domain", Usage: "keep entries whose recipient is at `DOMAIN`"},
		&cli.StringFlag{Name: "sender", Usage: "keep entries from `ADDRESS` (or @domain)"},
		&cli.StringFlag{Name: "status", Usage: "queued, retrying or held"},
		&cli.StringFlag{Name: "due-after", Usage: "keep entries due at or after `TIME` (RFC 3339, now, +10m)"},
		&cli.StringFlag{Name: "due-before", Usage: "keep entries due before `TIME`"},
	}
}

func queueFilter(c *cli.Context) (map[string]any, error) {
	f := map[string]any{}
	for flag, prop := range map[string]string{"queue": "queue", "domain": "domain", "sender": "sender", "status": "status"} {
		if v := c.String(flag); v != "" {
			f[prop] = v
		}
	}
	for flag, prop := range map[string]string{"due-after": "dueAfter", "due-before": "dueBefore"} {
		if s := c.String(flag); s != "" {
			t, err := parseWhen(s)
			if err != nil {
				return nil, cli.Exit("--"+flag+" "+err.Error(), ExitUsage)
			}
			f[prop] = t.UTC().Format(time.RFC3339Nano)
		}
	}
	return f, nil
}

// queueIDs returns the entry ids a command works on: its arguments, or with
// --all every entry the filters match.
func queueIDs(c *cli.Context, args []string, name string) ([]string, error) {
	if (len(args) > 0) == c.Bool("all") {
		return nil, cli.Exit(fmt.Sprintf("queue %s takes IDs, or --all with filters (--domain example.com ...; see --help)", name), ExitUsage)
	}
	if !c.Bool("all") {
		return args, nil
	}
	f, err := queueFilter(c)
	if err != nil {
		return nil, err
	}
	cl, err := apiClient(c)
	if err != nil {
		return nil, err
	}
	var q struct {
		IDs []string `json:"ids"`
	}
	if err := cl.Call(c.Context, "x:Queue/query", map[string]any{"filter": f}, &q); err != nil {
		return nil, apiError(err)
	}
	return q.IDs, nil
}

func queueBulk(name, usage, verb string, flags []cli.Flag, patch func(*cli.Context) (json.RawMessage, map[string]any, error)) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: "[ID...]",
		Flags: append(append(append(apiFlags(), queueFilterFlags()...), &cli.BoolFlag{Name: "all", Usage: "every entry the filters match"}), flags...),
		Action: func(c *cli.Context) error {
			args, err := positional(c)
			if err != nil {
				return err
			}
			p, extra, err := patch(c)
			if err != nil {
				return err
			}
			ids, err := queueIDs(c, args, name)
			if err != nil {
				return err
			}
			if p == nil && c.Bool("all") && !c.Bool("yes") {
				return cli.Exit(fmt.Sprintf("%d entries match; add --yes to cancel them", len(ids)), ExitUsage)
			}
			return runBulkSet(c, "x:Queue/set", verb, ids, p, extra)
		},
	}
}

func fixedPatch(p string) func(*cli.Context) (json.RawMessage, map[string]any, error) {
	return func(*cli.Context) (json.RawMessage, map[string]any, error) { return json.RawMessage(p), nil, nil }
}

func queueCommand() *cli.Command {
	return &cli.Command{
		Name:  "queue",
		Usage: "see and steer the outbound queue: list, retry, reschedule, hold, cancel, pause, export",
		Description: `Talks to the admin API (--api). Each entry is one recipient of a queued
message; its id is <message id>.<n>. Bulk forms take --all with filters,
for example every entry for one domain:
   jetmail queue retry --all --domain example.com
   jetmail queue cancel --all --domain spam.test --bounce --yes`,
		Subcommands: []*cli.Command{
			{
				Name: "ls", Usage: "list queued recipients, soonest due first",
				Flags: append(append(apiFlags(), queueFilterFlags()...),
					&cli.IntFlag{Name: "limit", Value: 50, Usage: "at most `N` entries (0: all)"},
					&cli.IntFlag{Name: "position", Usage: "skip the first `N`"}),
				Action: func(c *cli.Context) error {
					if _, err := positional(c); err != nil {
						return err
					}
					f, err := queueFilter(c)
					if err != nil {
						return err
					}
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					args := map[string]any{"filter": f, "position": c.Int("position")}
					if c.Int("limit") > 0 {
						args["limit"] = c.Int("limit")
					}
					var q struct {
						IDs   []string `json:"ids"`
						Total int      `json:"total"`
					}
					if err := cl.Call(c.Context, "x:Queue/query", args, &q); err != nil {
						return apiError(err)
					}
					list, err := queueGet(c, q.IDs)
					if err != nil {
						return err
					}
					if err := printEntries(c, list); err != nil {
						return err
					}
					if c.String("output") == "table" {
						fmt.Fprintf(c.App.ErrWriter, "%d of %d entries\n", len(list), q.Total)
					}
					return nil
				},
			},
			{
				Name: "show", Usage: "show queue entries by id", ArgsUsage: "ID...", Flags: apiFlags(),
				Action: func(c *cli.Context) error {
					args, err := positional(c)
					if err != nil {
						return err
					}
					if len(args) == 0 {
						return cli.Exit("queue show takes at least one ID", ExitUsage)
					}
					list, err := queueGet(c, args)
					if err != nil {
						return err
					}
					if c.String("output") == "table" {
						c.Set("output", "json") //nolint:errcheck // a defined flag
					}
					return printEntries(c, list)
				},
			},
			queueBulk("retry", "deliver now (releases held entries)", "retried", nil, fixedPatch(`{"due": null}`)),
			queueBulk("reschedule", "move the next attempt to --due", "rescheduled",
				[]cli.Flag{&cli.StringFlag{Name: "due", Required: true, Usage: "the new `TIME` (RFC 3339, now, +10m)"}},
				func(c *cli.Context) (json.RawMessage, map[string]any, error) {
					t, err := parseWhen(c.String("due"))
					if err != nil {
						return nil, nil, cli.Exit("--due "+err.Error(), ExitUsage)
					}
					p, _ := json.Marshal(map[string]string{"due": t.UTC().Format(time.RFC3339Nano)})
					return p, nil, nil
				}),
			queueBulk("hold", "stop deliveries until released", "held", nil, fixedPatch(`{"held": true}`)),
			queueBulk("release", "let held entries be delivered again", "released", nil, fixedPatch(`{"held": false}`)),
			queueBulk("cancel", "remove entries from the queue (--bounce tells the sender)", "cancelled",
				[]cli.Flag{&cli.BoolFlag{Name: "bounce", Usage: "send the sender a failure DSN"}, &cli.BoolFlag{Name: "yes", Usage: "confirm a bulk cancel"}},
				func(c *cli.Context) (json.RawMessage, map[string]any, error) {
					return nil, map[string]any{"onDestroyBounce": c.Bool("bounce")}, nil
				}),
			vqCommand("pause", "stop deliveries from a virtual queue on every node", true),
			vqCommand("resume", "restart deliveries from a paused virtual queue", false),
			{
				Name: "queues", Usage: "list the virtual queues: threads per node, paused, queued", Flags: apiFlags(),
				Action: func(c *cli.Context) error {
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					var r struct{ List []map[string]any }
					if err := cl.Call(c.Context, "x:VirtualQueue/get", map[string]any{}, &r); err != nil {
						return apiError(err)
					}
					if c.String("output") == "json" {
						return json.NewEncoder(c.App.Writer).Encode(r.List)
					}
					w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "QUEUE\tTHREADS/NODE\tPAUSED\tQUEUED")
					for _, q := range r.List {
						fmt.Fprintf(w, "%v\t%v\t%v\t%v\n", q["id"], q["threadsPerNode"], q["paused"], q["queued"])
					}
					return w.Flush()
				},
			},
			{
				Name: "export", Usage: "write queued messages (all, or --all with filters) to FILE, one JSON line each", ArgsUsage: "FILE",
				Flags: append(append(apiFlags(), queueFilterFlags()...), &cli.BoolFlag{Name: "all", Usage: "ignored: export takes every entry the filters match"}),
				Action: func(c *cli.Context) error {
					args, err := positional(c)
					if err != nil {
						return err
					}
					if len(args) != 1 {
						return cli.Exit("queue export takes one FILE", ExitUsage)
					}
					f, err := queueFilter(c)
					if err != nil {
						return err
					}
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					var q struct {
						IDs []string `json:"ids"`
					}
					if err := cl.Call(c.Context, "x:Queue/query", map[string]any{"filter": f}, &q); err != nil {
						return apiError(err)
					}
					out, err := os.Create(args[0])
					if err != nil {
						return cli.Exit(err.Error(), ExitFailure)
					}
					defer out.Close()
					w := bufio.NewWriter(out)
					pr := newProgress(c.App.ErrWriter, "exported", len(q.IDs))
					n := 0
					for start := 0; start < len(q.IDs); start += bulkChunk {
						chunk := q.IDs[start:min(start+bulkChunk, len(q.IDs))]
						var r struct{ Messages []json.RawMessage }
						if err := cl.Call(c.Context, "x:Queue/export", map[string]any{"ids": chunk}, &r); err != nil {
							return apiError(err)
						}
						for _, m := range r.Messages {
							w.Write(m)          //nolint:errcheck // checked at Flush
							w.WriteString("\n") //nolint:errcheck // checked at Flush
							n++
						}
						pr.update(start + len(chunk))
					}
					if err := w.Flush(); err != nil {
						return cli.Exit(err.Error(), ExitFailure)
					}
					fmt.Fprintf(c.App.ErrWriter, "%d message(s) written to %s; the entries stay queued (cancel them once imported elsewhere)\n", n, args[0])
					return nil
				},
			},
			{
				Name: "import", Usage: "queue the messages of an export FILE", ArgsUsage: "FILE", Flags: apiFlags(),
				Action: func(c *cli.Context) error {
					args, err := positional(c)
					if err != nil {
						return err
					}
					if len(args) != 1 {
						return cli.Exit("queue import takes one FILE", ExitUsage)
					}
					data, err := os.ReadFile(args[0])
					if err != nil {
						return cli.Exit(err.Error(), ExitFailure)
					}
					var msgs []json.RawMessage
					for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
						if strings.TrimSpace(line) == "" {
							continue
						}
						if !json.Valid([]byte(line)) {
							return cli.Exit(fmt.Sprintf("%s line %d is not JSON", args[0], i+1), ExitUsage)
						}
						msgs = append(msgs, json.RawMessage(line))
					}
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					pr := newProgress(c.App.ErrWriter, "imported", len(msgs))
					failed := 0
					for start := 0; start < len(msgs); start += 50 {
						chunk := msgs[start:min(start+50, len(msgs))]
						var r struct {
							NotImported map[string]string `json:"notImported"`
						}
						if err := cl.Call(c.Context, "x:Queue/import", map[string]any{"messages": chunk}, &r); err != nil {
							return apiError(err)
						}
						for i, why := range r.NotImported {
							fmt.Fprintf(c.App.ErrWriter, "message %s: %s\n", i, why)
							failed++
						}
						pr.update(start + len(chunk))
					}
					if failed > 0 {
						return cli.Exit(fmt.Sprintf("%d of %d not imported", failed, len(msgs)), ExitFailure)
					}
					return nil
				},
			},
		},
	}
}

func vqCommand(name, usage string, pause bool) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: "QUEUE", Flags: apiFlags(),
		Action: func(c *cli.Context) error {
			args, err := positional(c)
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return cli.Exit(fmt.Sprintf("queue %s takes one virtual queue name", name), ExitUsage)
			}
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			var r struct {
				NotUpdated map[string]struct{ Description string } `json:"notUpdated"`
			}
			if err := cl.Call(c.Context, "x:VirtualQueue/set", map[string]any{"update": map[string]any{args[0]: map[string]bool{"paused": pause}}}, &r); err != nil {
				return apiError(err)
			}
			if e, ok := r.NotUpdated[args[0]]; ok {
				return cli.Exit(e.Description, ExitUsage)
			}
			fmt.Fprintf(c.App.Writer, "%s: %sd on every node\n", args[0], name)
			return nil
		},
	}
}

func queueGet(c *cli.Context, ids []string) ([]map[string]any, error) {
	cl, err := apiClient(c)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for start := 0; start < len(ids); start += 500 {
		var r struct {
			List []map[string]any `json:"list"`
		}
		if err := cl.Call(c.Context, "x:Queue/get", map[string]any{"ids": ids[start:min(start+500, len(ids))]}, &r); err != nil {
			return nil, apiError(err)
		}
		out = append(out, r.List...)
	}
	return out, nil
}

func printEntries(c *cli.Context, list []map[string]any) error {
	if c.String("output") == "json" {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		if list == nil {
			list = []map[string]any{}
		}
		return enc.Encode(list)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tQUEUE\tRECIPIENT\tSENDER\tDUE\tATTEMPTS\tHELD\tLAST REPLY")
	for _, e := range list {
		last := strings.TrimSpace(fmt.Sprint(valueOr(e["lastStatus"], ""), " ", valueOr(e["lastError"], "")))
		fmt.Fprintf(w, "%v\t%v\t%v\t%v\t%v\t%v\t%v\t%s\n", e["id"], e["queue"], e["rcpt"], valueOr(e["sender"], "<>"), e["due"], e["attempts"], e["held"], last)
	}
	return w.Flush()
}

func valueOr(v any, def string) any {
	if v == nil || v == "" {
		return def
	}
	return v
}
