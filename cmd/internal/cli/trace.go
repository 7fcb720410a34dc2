package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/trace"
)

func traceCommand() *cli.Command {
	return &cli.Command{
		Name:  "trace",
		Usage: "where is my mail: find a message by sender, recipient or Message-ID and show its history",
		Description: `Every message the queue accepts leaves a trace: received, each delivery
attempt (the host tried and its reply), deferred, delivered, bounced,
expired, the DSNs sent, and what operators did. Traces are kept for
queue.trace.retention (default 7d) and searched on the indexer nodes.
   jetmail trace search --rcpt bob@example.com
   jetmail trace search --sender @example.org --after -1h --summary
   jetmail trace search --message-id '<1234@mail.example.org>'
   jetmail trace show TRACE-ID`,
		Subcommands: []*cli.Command{
			{
				Name: "search", Usage: "find traces, the most recently received first, and show each one's history",
				Flags: append(apiFlags(),
					&cli.StringFlag{Name: "sender", Usage: "the envelope sender `ADDRESS`, a domain (@example.org), or <> for bounces"},
					&cli.StringFlag{Name: "rcpt", Usage: "a recipient `ADDRESS`, or a domain (@example.org)"},
					&cli.StringFlag{Name: "message-id", Usage: "the Message-ID `HEADER`, with or without <>"},
					&cli.StringFlag{Name: "after", Usage: "received at or after `TIME` (RFC 3339, now, -1h)"},
					&cli.StringFlag{Name: "before", Usage: "received before `TIME`"},
					&cli.IntFlag{Name: "limit", Value: 20, Usage: fmt.Sprintf("at most `N` traces (at most %d)", trace.MaxLimit)},
					&cli.BoolFlag{Name: "summary", Usage: "one line per trace, without its history"}),
				Action: func(c *cli.Context) error {
					if _, err := positional(c); err != nil {
						return err
					}
					f := adminapi.TraceFilter{Sender: c.String("sender"), Rcpt: c.String("rcpt"), MessageID: c.String("message-id")}
					if err := timeFlags(c, map[string]**time.Time{"after": &f.After, "before": &f.Before}); err != nil {
						return err
					}
					limit := c.Int("limit")
					if limit < 1 || limit > trace.MaxLimit {
						return cli.Exit(fmt.Sprintf("--limit is 1 to %d", trace.MaxLimit), ExitUsage)
					}
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					var q adminapi.TraceQueryResponse
					if err := cl.Call(c.Context, adminapi.MethodTraceQuery, adminapi.TraceQueryArgs{Filter: &f, Limit: &limit}, &q); err != nil {
						return apiError(err)
					}
					if q.Partial {
						fmt.Fprintln(c.App.ErrWriter, "partial answer: an indexer node is still reading some partitions' traces, or none holds them")
					}
					list, err := traceGet(c, q.IDs)
					if err != nil {
						return err
					}
					if err := printTraces(c, list, !c.Bool("summary")); err != nil {
						return err
					}
					if c.String("output") == "table" {
						fmt.Fprintf(c.App.ErrWriter, "%d traces\n", len(list))
					}
					return nil
				},
			},
			{
				Name: "show", Usage: "show the history of traces by id (the queue's message id)", ArgsUsage: "ID...", Flags: apiFlags(),
				Action: func(c *cli.Context) error {
					args, err := positional(c)
					if err != nil {
						return err
					}
					if len(args) == 0 {
						return cli.Exit("trace show takes at least one ID", ExitUsage)
					}
					list, err := traceGet(c, args)
					if err != nil {
						return err
					}
					return printTraces(c, list, true)
				},
			},
		},
	}
}

// traceGet reads traces by id, in the order of ids, at most 100 per call.
func traceGet(c *cli.Context, ids []string) ([]adminapi.Trace, error) {
	cl, err := apiClient(c)
	if err != nil {
		return nil, err
	}
	var out []adminapi.Trace
	for len(ids) > 0 {
		n := min(len(ids), 100)
		var r adminapi.TraceGetResponse
		if err := cl.Call(c.Context, adminapi.MethodTraceGet, map[string]any{"ids": ids[:n]}, &r); err != nil {
			return nil, apiError(err)
		}
		for _, id := range r.NotFound {
			fmt.Fprintf(c.App.ErrWriter, "trace %s: not found (unknown, or past queue.trace.retention)\n", id)
		}
		out = append(out, r.List...)
		ids = ids[n:]
	}
	return out, nil
}

func printTraces(c *cli.Context, list []adminapi.Trace, history bool) error {
	if c.String("output") == "json" {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		if list == nil {
			list = []adminapi.Trace{}
		}
		return enc.Encode(list)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	if !history {
		fmt.Fprintln(w, "TRACE\tRECEIVED\tSENDER\tRECIPIENTS\tLAST\tLAST REPLY")
	}
	for i, t := range list {
		sender := t.Sender
		if sender == "" {
			sender = "<>"
		}
		if !history {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, formatTime(t.Received), sender, recipients(t.Recipients), t.LastKind, t.LastReply)
			continue
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "trace %s  from %s  to %s\n", t.ID, sender, recipients(t.Recipients))
		if t.MessageID != "" {
			fmt.Fprintf(w, "message-id %s\n", t.MessageID)
		}
		for _, e := range t.Events {
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", formatTime(e.At), e.Kind, e.Recipient, eventDetail(e))
		}
	}
	return w.Flush()
}

// recipients lists a few recipients and counts the rest.
func recipients(rs []string) string {
	if len(rs) <= 3 {
		return strings.Join(rs, ",")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(rs[:3], ","), len(rs)-3)
}

// eventDetail is what an event adds: the host and its reply, the next
// attempt, the node that recorded it.
func eventDetail(e trace.Event) string {
	var parts []string
	if e.Kind == trace.KindReceived && len(e.Recipients) > 0 {
		parts = append(parts, "for "+recipients(e.Recipients))
	}
	if e.Attempt > 0 {
		parts = append(parts, fmt.Sprintf("attempt %d", e.Attempt))
	}
	if e.RemoteHost != "" {
		parts = append(parts, "host "+e.RemoteHost)
	}
	if e.Reply != "" {
		parts = append(parts, fmt.Sprintf("%q", e.Reply))
	}
	if !e.Due.IsZero() {
		parts = append(parts, "next "+formatTime(e.Due))
	}
	if e.Node != "" {
		parts = append(parts, "node "+e.Node)
	}
	return strings.Join(parts, "  ")
}
