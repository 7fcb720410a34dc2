package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jmap"
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

// queueFilter is the x:Queue/query filter the filter flags ask for.
func queueFilter(c *cli.Context) (adminapi.QueueFilter, error) {
	f := adminapi.QueueFilter{Queue: c.String("queue"), Domain: c.String("domain"), Sender: c.String("sender"), Status: adminapi.QueueStatus(c.String("status"))}
	return f, timeFlags(c, map[string]**time.Time{"due-after": &f.DueAfter, "due-before": &f.DueBefore})
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
	var q adminapi.QueueQueryResponse
	if err := cl.Call(c.Context, adminapi.MethodQueueQuery, adminapi.QueueQueryArgs{Filter: &f}, &q); err != nil {
		return nil, apiError(err)
	}
	return q.IDs, nil
}

// queueBulk is a command that updates or cancels entries by id or by
// filter. patch returns the update for each entry (nil to cancel them) and,
// if not nil, what turns the standard /set arguments into x:Queue/set's.
func queueBulk(name, usage, verb string, flags []cli.Flag, patch func(*cli.Context) (jmap.PatchObject, func(jmap.SetArgs) any, error)) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: "[ID...]",
		Flags: append(append(append(apiFlags(), queueFilterFlags()...), &cli.BoolFlag{Name: "all", Usage: "every entry the filters match"}), flags...),
		Action: func(c *cli.Context) error {
			args, err := positional(c)
			if err != nil {
				return err
			}
			p, wrap, err := patch(c)
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
			return runBulkSet(c, adminapi.MethodQueueSet, verb, ids, p, wrap)
		},
	}
}

func fixedPatch(p adminapi.QueuePatch) func(*cli.Context) (jmap.PatchObject, func(jmap.SetArgs) any, error) {
	return func(*cli.Context) (jmap.PatchObject, func(jmap.SetArgs) any, error) { return p.PatchObject(), nil, nil }
}

func ptr[T any](v T) *T { return &v }

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
					args := adminapi.QueueQueryArgs{Filter: &f, Position: c.Int("position")}
					if limit := c.Int("limit"); limit > 0 {
						args.Limit = &limit
					}
					var q adminapi.QueueQueryResponse
					if err := cl.Call(c.Context, adminapi.MethodQueueQuery, args, &q); err != nil {
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
			queueBulk("retry", "deliver now (releases held entries)", "retried", nil, fixedPatch(adminapi.QueuePatch{RetryNow: true})),
			queueBulk("reschedule", "move the next attempt to --due", "rescheduled",
				[]cli.Flag{&cli.StringFlag{Name: "due", Usage: "the new `TIME` (RFC 3339, now, +10m; required)"}},
				func(c *cli.Context) (jmap.PatchObject, func(jmap.SetArgs) any, error) {
					t, err := parseWhen(c.String("due"))
					if err != nil {
						return nil, nil, cli.Exit("--due "+err.Error(), ExitUsage)
					}
					return adminapi.QueuePatch{Due: &t}.PatchObject(), nil, nil
				}),
			queueBulk("hold", "stop deliveries until released", "held", nil, fixedPatch(adminapi.QueuePatch{Held: ptr(true)})),
			queueBulk("release", "let held entries be delivered again", "released", nil, fixedPatch(adminapi.QueuePatch{Held: ptr(false)})),
			queueBulk("cancel", "remove entries from the queue (--bounce tells the sender)", "cancelled",
				[]cli.Flag{&cli.BoolFlag{Name: "bounce", Usage: "send the sender a failure DSN"}, &cli.BoolFlag{Name: "yes", Usage: "confirm a bulk cancel"}},
				func(c *cli.Context) (jmap.PatchObject, func(jmap.SetArgs) any, error) {
					bounce := c.Bool("bounce")
					return nil, func(a jmap.SetArgs) any { return adminapi.QueueSetArgs{SetArgs: a, OnDestroyBounce: bounce} }, nil
				}),
			queueShapeCommand(),
			vqCommand("pause", "stop deliveries from a virtual queue on every node", true),
			vqCommand("resume", "restart deliveries from a paused virtual queue", false),
			{
				Name: "queues", Usage: "list the virtual queues: threads per node, paused, queued", Flags: apiFlags(),
				Action: func(c *cli.Context) error {
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					var r adminapi.VirtualQueueGetResponse
					if err := cl.Call(c.Context, adminapi.MethodVirtualQueueGet, jmap.GetArgs{}, &r); err != nil {
						return apiError(err)
					}
					return printList(c, r.List, "QUEUE\tTHREADS/NODE\tPAUSED\tQUEUED", func(w io.Writer) {
						for _, q := range r.List {
							fmt.Fprintf(w, "%s\t%d\t%t\t%d\n", q.ID, q.ThreadsPerNode, q.Paused, q.Queued)
						}
					})
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
					var q adminapi.QueueQueryResponse
					if err := cl.Call(c.Context, adminapi.MethodQueueQuery, adminapi.QueueQueryArgs{Filter: &f}, &q); err != nil {
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
						var r adminapi.QueueExportResponse
						if err := cl.Call(c.Context, adminapi.MethodQueueExport, adminapi.QueueExportArgs{IDs: chunk}, &r); err != nil {
							return apiError(err)
						}
						for _, m := range r.Messages {
							line, err := json.Marshal(m)
							if err != nil {
								return cli.Exit(fmt.Sprintf("encode message %s: %v", m.Envelope.MessageID, err), ExitFailure)
							}
							w.Write(line)       //nolint:errcheck // checked at Flush
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
					var msgs []adminapi.QueueMessage
					var lines []int // the line of each message, for errors
					for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
						if strings.TrimSpace(line) == "" {
							continue
						}
						dec := json.NewDecoder(strings.NewReader(line))
						dec.DisallowUnknownFields()
						var m adminapi.QueueMessage
						if err := dec.Decode(&m); err != nil {
							return cli.Exit(fmt.Sprintf("%s line %d is not an exported message: %v", args[0], i+1, err), ExitUsage)
						}
						msgs = append(msgs, m)
						lines = append(lines, i+1)
					}
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					pr := newProgress(c.App.ErrWriter, "imported", len(msgs))
					failed := 0
					for start := 0; start < len(msgs); start += 50 {
						chunk := msgs[start:min(start+50, len(msgs))]
						var r adminapi.QueueImportResponse
						if err := cl.Call(c.Context, adminapi.MethodQueueImport, adminapi.QueueImportArgs{Messages: chunk}, &r); err != nil {
							return apiError(err)
						}
						for i, why := range r.NotImported {
							line := "?"
							if i >= 0 && start+i < len(lines) {
								line = fmt.Sprint(lines[start+i])
							}
							fmt.Fprintf(c.App.ErrWriter, "%s line %s: not imported: %s\n", args[0], line, why)
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
			patch, err := json.Marshal(adminapi.VirtualQueuePatch{Paused: &pause})
			if err != nil {
				return cli.Exit("encode the update: "+err.Error(), ExitFailure)
			}
			var r adminapi.VirtualQueueSetResponse
			if err := cl.Call(c.Context, adminapi.MethodVirtualQueueSet, jmap.SetArgs{Update: map[string]json.RawMessage{args[0]: patch}}, &r); err != nil {
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

func queueGet(c *cli.Context, ids []string) ([]adminapi.QueueEntry, error) {
	cl, err := apiClient(c)
	if err != nil {
		return nil, err
	}
	var out []adminapi.QueueEntry
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		var r adminapi.QueueGetResponse
		if err := cl.Call(c.Context, adminapi.MethodQueueGet, jmap.GetArgs{IDs: &chunk}, &r); err != nil {
			return nil, apiError(err)
		}
		out = append(out, r.List...)
	}
	return out, nil
}

func printEntries(c *cli.Context, list []adminapi.QueueEntry) error {
	if c.String("output") == "json" {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		if list == nil {
			list = []adminapi.QueueEntry{}
		}
		return enc.Encode(list)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tQUEUE\tRECIPIENT\tSENDER\tDUE\tATTEMPTS\tHELD\tLAST REPLY")
	for _, e := range list {
		sender := e.Sender
		if sender == "" {
			sender = "<>"
		}
		last := strings.TrimSpace(e.LastStatus + " " + e.LastError)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%t\t%s\n", e.ID, e.Queue, e.Rcpt, sender, formatTime(e.Due), e.Attempts, e.Held, last)
	}
	return w.Flush()
}
