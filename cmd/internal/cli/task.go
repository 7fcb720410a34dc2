package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/task"
)

// bulkChunk is how many tasks one x:Task/set carries in bulk work.
const bulkChunk = 200

func queryFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "status", Usage: "keep tasks with this `STATUS` (Pending, Retry, Failed); repeatable"},
		&cli.StringSliceFlag{Name: "type", Usage: "keep tasks of this `TYPE` (IndexDocument, ...); repeatable"},
		&cli.StringFlag{Name: "account", Usage: "keep the tasks of account `ID`"},
		&cli.StringFlag{Name: "due-after", Usage: "keep tasks due at or after `TIME` (RFC 3339, now, +10m)"},
		&cli.StringFlag{Name: "due-before", Usage: "keep tasks due before `TIME`"},
	}
}

func taskCommand() *cli.Command {
	return &cli.Command{
		Name:  "task",
		Usage: "see, create, retry, reschedule and destroy background tasks",
		Description: `Talks to the admin API (--api). Statuses: Pending (waiting for its due time),
Retry (failed, will run again), Failed (gave up; stays until retried or
destroyed). Types: ` + strings.Join(variantNames(), ", "),
		Subcommands: []*cli.Command{
			{
				Name: "get", Usage: "show tasks by id", ArgsUsage: "ID...",
				Flags: apiFlags(),
				Action: func(c *cli.Context) error {
					args, err := positional(c)
					if err != nil {
						return err
					}
					if len(args) == 0 {
						return cli.Exit("task get takes at least one ID (see --help)", ExitUsage)
					}
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					list, notFound, err := getTasks(c.Context, cl, args)
					if err != nil {
						return apiError(err)
					}
					if err := printTasks(c, list); err != nil {
						return err
					}
					if len(notFound) > 0 {
						return cli.Exit("not found: "+strings.Join(notFound, ", "), ExitFailure)
					}
					return nil
				},
			},
			{
				Name: "query", Aliases: []string{"ls"}, Usage: "list tasks, soonest due first",
				Flags: append(append(apiFlags(), queryFlags()...),
					&cli.IntFlag{Name: "limit", Value: 50, Usage: "at most `N` tasks (0: all)"},
					&cli.IntFlag{Name: "position", Usage: "skip the first `N`"},
					&cli.BoolFlag{Name: "desc", Usage: "latest due first"},
				),
				Action: func(c *cli.Context) error {
					extra, err := positional(c)
					if err != nil {
						return err
					}
					if len(extra) > 0 {
						return cli.Exit(fmt.Sprintf("task query takes no arguments, got %q (filters are flags: see --help)", extra), ExitUsage)
					}
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					args, err := queryArgs(c)
					if err != nil {
						return err
					}
					args["position"] = c.Int("position")
					if c.Int("limit") > 0 {
						args["limit"] = c.Int("limit")
					}
					if c.Bool("desc") {
						args["sort"] = []any{map[string]any{"property": "due", "isAscending": false}}
					}
					var q struct {
						IDs   []string `json:"ids"`
						Total int      `json:"total"`
					}
					if err := cl.Call(c.Context, "x:Task/query", args, &q); err != nil {
						return apiError(err)
					}
					list, _, err := getTasks(c.Context, cl, q.IDs)
					if err != nil {
						return apiError(err)
					}
					if err := printTasks(c, list); err != nil {
						return err
					}
					if c.String("output") == "table" {
						fmt.Fprintf(c.App.ErrWriter, "%d of %d task(s)\n", len(list), q.Total)
					}
					return nil
				},
			},
			{
				Name: "create", Usage: "create a task", ArgsUsage: "TYPE",
				Description: `Fields are given as --field name=value; lists and sets as a,b,c. The task is
checked here, with the server's rules, before it is sent.

Examples:
   jetmail task create IndexDocument --field accountId=42 --field documentId=7 --field documentType=email
   jetmail task create StoreMaintenance --field maintenanceType=purgeData --due +1h
   jetmail task create DnsManagement --field domainId=example.org --field updateRecords=mx,dkim`,
				Flags: append(apiFlags(),
					&cli.StringSliceFlag{Name: "field", Aliases: []string{"f"}, Usage: "a field as `NAME=VALUE`; repeatable"},
					&cli.StringFlag{Name: "due", Usage: "run at `TIME` (RFC 3339, now, +10m); default now"},
				),
				Action: func(c *cli.Context) error {
					args, err := positional(c)
					if err != nil {
						return err
					}
					if len(args) != 1 {
						return cli.Exit("task create takes one TYPE (see --help)", ExitUsage)
					}
					v, err := task.ParseVariant(args[0])
					if err != nil {
						return cli.Exit(err.Error(), ExitUsage)
					}
					if !task.Creatable(v) {
						return cli.Exit(fmt.Sprintf("%s tasks are created by the server, not by hand", v), ExitUsage)
					}
					fields := map[string]string{}
					for _, f := range c.StringSlice("field") {
						k, val, ok := strings.Cut(f, "=")
						if !ok {
							return cli.Exit(fmt.Sprintf("--field %q: use NAME=VALUE (fields of %s: %s)", f, v, strings.Join(task.FieldNames(v), ", ")), ExitUsage)
						}
						fields[k] = val
					}
					raw, err := task.FromFields(v, fields)
					if err != nil {
						return cli.Exit(err.Error(), ExitUsage)
					}
					if due := c.String("due"); due != "" {
						t, err := parseWhen(due)
						if err != nil {
							return cli.Exit("--due "+err.Error(), ExitUsage)
						}
						var obj map[string]any
						_ = json.Unmarshal(raw, &obj)
						obj["status"] = map[string]any{"@type": "Pending", "due": t.UTC().Format(time.RFC3339Nano)}
						raw, _ = json.Marshal(obj)
					}
					if _, _, errs := task.DecodeCreate(raw); len(errs) > 0 {
						lines := make([]string, len(errs))
						for i, e := range errs {
							lines[i] = "  " + e.Error()
						}
						return cli.Exit(fmt.Sprintf("invalid %s (fields: %s):\n%s", v, strings.Join(task.FieldNames(v), ", "), strings.Join(lines, "\n")), ExitUsage)
					}
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					var r setResult
					if err := cl.Call(c.Context, "x:Task/set", map[string]any{"create": map[string]json.RawMessage{"new": raw}}, &r); err != nil {
						return apiError(err)
					}
					if e, ok := r.NotCreated["new"]; ok {
						return cli.Exit(fmt.Sprintf("not created: %s: %s", e.Type, e.Description), ExitUsage)
					}
					id := r.Created["new"].ID
					if c.String("output") == "json" {
						return json.NewEncoder(c.App.Writer).Encode(r.Created["new"])
					}
					fmt.Fprintln(c.App.Writer, id)
					return nil
				},
			},
			bulkCommand("retry", "put tasks back to Pending with a fresh attempt count (by id, or --all matching the filters)",
				"retried", func(_ *cli.Context) (json.RawMessage, error) {
					return json.RawMessage(`{"status": {"@type": "Pending"}}`), nil
				}),
			{
				Name: "reschedule", Usage: "move a Pending or Retry task to a new due time", ArgsUsage: "ID...",
				Flags: append(apiFlags(), &cli.StringFlag{Name: "due", Required: true, Usage: "the new due `TIME` (RFC 3339, now, +10m)"}),
				Action: func(c *cli.Context) error {
					args, err := positional(c)
					if err != nil {
						return err
					}
					due, err := parseWhen(c.String("due"))
					if err != nil {
						return cli.Exit("--due "+err.Error(), ExitUsage)
					}
					if len(args) == 0 {
						return cli.Exit("task reschedule takes at least one ID", ExitUsage)
					}
					patch, _ := json.Marshal(map[string]string{"status/due": due.UTC().Format(time.RFC3339Nano)})
					return runBulk(c, "rescheduled", args, patch)
				},
			},
			bulkCommand("destroy", "delete tasks and cancel their schedules (by id, or --all matching the filters, with --yes)", "destroyed", nil),
		},
	}
}

// bulkCommand is retry or destroy: by ids, or every task a query matches.
func bulkCommand(name, usage, verb string, patch func(*cli.Context) (json.RawMessage, error)) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: "[ID...]",
		Flags: append(append(apiFlags(), queryFlags()...),
			&cli.BoolFlag{Name: "all", Usage: "every task the filters match"},
			&cli.BoolFlag{Name: "yes", Usage: "confirm a bulk destroy"},
		),
		Action: func(c *cli.Context) error {
			args, err := positional(c)
			if err != nil {
				return err
			}
			if (len(args) > 0) == c.Bool("all") {
				return cli.Exit(fmt.Sprintf("task %s takes IDs, or --all with filters (see --help)", name), ExitUsage)
			}
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			ids := args
			if c.Bool("all") {
				qargs, err := queryArgs(c)
				if err != nil {
					return err
				}
				var q struct {
					IDs []string `json:"ids"`
				}
				if err := cl.Call(c.Context, "x:Task/query", qargs, &q); err != nil {
					return apiError(err)
				}
				ids = q.IDs
				if patch == nil && !c.Bool("yes") {
					return cli.Exit(fmt.Sprintf("%d task(s) match; add --yes to destroy them", len(ids)), ExitUsage)
				}
			}
			var p json.RawMessage
			if patch != nil {
				if p, err = patch(c); err != nil {
					return err
				}
			}
			return runBulk(c, verb, ids, p)
		},
	}
}

// runBulk updates (patch != nil) or destroys ids with x:Task/set in chunks,
// with progress.
func runBulk(c *cli.Context, verb string, ids []string, patch json.RawMessage) error {
	return runBulkSet(c, "x:Task/set", verb, ids, patch, nil)
}

// runBulkSet does runBulk's work with method, adding extra arguments to
// each call.
func runBulkSet(c *cli.Context, method, verb string, ids []string, patch json.RawMessage, extra map[string]any) error {
	cl, err := apiClient(c)
	if err != nil {
		return err
	}
	pr := newProgress(c.App.ErrWriter, verb, len(ids))
	failed := map[string]string{}
	done := 0
	for start := 0; start < len(ids); start += bulkChunk {
		chunk := ids[start:min(start+bulkChunk, len(ids))]
		args := map[string]any{}
		for k, v := range extra {
			args[k] = v
		}
		if patch != nil {
			upd := map[string]json.RawMessage{}
			for _, id := range chunk {
				upd[id] = patch
			}
			args["update"] = upd
		} else {
			args["destroy"] = chunk
		}
		var r setResult
		if err := cl.Call(c.Context, method, args, &r); err != nil {
			return apiError(err)
		}
		for id, e := range r.NotUpdated {
			failed[id] = e.Type + ": " + e.Description
		}
		for id, e := range r.NotDestroyed {
			failed[id] = e.Type + ": " + e.Description
		}
		done += len(chunk)
		pr.update(done)
	}
	if len(ids) == 0 {
		fmt.Fprintf(c.App.ErrWriter, "nothing matched\n")
	}
	if len(failed) > 0 {
		keys := make([]string, 0, len(failed))
		for id := range failed {
			keys = append(keys, id)
		}
		sort.Strings(keys)
		for _, id := range keys {
			fmt.Fprintf(c.App.ErrWriter, "%s: %s\n", id, failed[id])
		}
		return cli.Exit(fmt.Sprintf("%d of %d not %s", len(failed), len(ids), verb), ExitFailure)
	}
	return nil
}

type setResult struct {
	Created      map[string]struct{ ID string } `json:"created"`
	NotCreated   map[string]jmap.SetError       `json:"notCreated"`
	NotUpdated   map[string]jmap.SetError       `json:"notUpdated"`
	NotDestroyed map[string]jmap.SetError       `json:"notDestroyed"`
}

func queryArgs(c *cli.Context) (map[string]any, error) {
	filter := map[string]any{}
	if s := c.StringSlice("status"); len(s) > 0 {
		filter["status"] = s
	}
	if s := c.StringSlice("type"); len(s) > 0 {
		filter["type"] = s
	}
	if s := c.String("account"); s != "" {
		filter["accountId"] = s
	}
	for flag, prop := range map[string]string{"due-after": "dueAfter", "due-before": "dueBefore"} {
		if s := c.String(flag); s != "" {
			t, err := parseWhen(s)
			if err != nil {
				return nil, cli.Exit("--"+flag+" "+err.Error(), ExitUsage)
			}
			filter[prop] = t.UTC().Format(time.RFC3339Nano)
		}
	}
	return map[string]any{"filter": filter}, nil
}

func getTasks(ctx context.Context, cl *jmap.Client, ids []string) ([]map[string]any, []string, error) {
	var list []map[string]any
	var notFound []string
	for start := 0; start < len(ids); start += 500 {
		var r struct {
			List     []map[string]any `json:"list"`
			NotFound []string         `json:"notFound"`
		}
		if err := cl.Call(ctx, "x:Task/get", map[string]any{"ids": ids[start:min(start+500, len(ids))]}, &r); err != nil {
			return nil, nil, err
		}
		list = append(list, r.List...)
		notFound = append(notFound, r.NotFound...)
	}
	return list, notFound, nil
}

func printTasks(c *cli.Context, list []map[string]any) error {
	switch c.String("output") {
	case "json":
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		if list == nil {
			list = []map[string]any{}
		}
		return enc.Encode(list)
	case "table":
	default:
		return cli.Exit(fmt.Sprintf("--output %q: use table or json", c.String("output")), ExitUsage)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tTYPE\tSTATUS\tDUE / FAILED AT\tATTEMPTS\tDETAILS\tLAST ERROR")
	for _, t := range list {
		st, _ := t["status"].(map[string]any)
		when, attempts := fmt.Sprint(st["due"]), ""
		switch st["@type"] {
		case "Retry":
			attempts = fmt.Sprint(st["attemptNumber"])
		case "Failed":
			when, attempts = fmt.Sprint(st["failedAt"]), fmt.Sprint(st["failedAttemptNumber"])
		}
		var details []string
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k != "id" && k != "@type" && k != "status" {
				details = append(details, fmt.Sprintf("%s=%v", k, t[k]))
			}
		}
		reason, _ := st["failureReason"].(string)
		fmt.Fprintf(w, "%v\t%v\t%v\t%s\t%s\t%s\t%s\n", t["id"], t["@type"], st["@type"], when, attempts, strings.Join(details, " "), reason)
	}
	return w.Flush()
}

func variantNames() []string {
	var out []string
	for _, v := range task.Variants() {
		out = append(out, string(v))
	}
	return out
}

func taskManagerCommand() *cli.Command {
	return &cli.Command{
		Name:  "task-manager",
		Usage: "see and change the retry policy of tasks (the TaskManager settings)",
		Subcommands: []*cli.Command{
			{
				Name: "get", Usage: "show maxAttempts, strategy and totalDeadline",
				Flags: apiFlags(),
				Action: func(c *cli.Context) error {
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					var r struct{ List []map[string]any }
					if err := cl.Call(c.Context, "x:TaskManager/get", map[string]any{"ids": []string{task.SingletonID}}, &r); err != nil {
						return apiError(err)
					}
					return printSettings(c, r.List[0])
				},
			},
			{
				Name: "update", Usage: "change settings; each applies from the next retry, with no restart",
				Description: `Examples:
   jetmail task-manager update --max-attempts 5
   jetmail task-manager update --strategy fixed --delay 10m
   jetmail task-manager update --strategy exponential --factor 2 --initial-delay 1m --max-delay 30m --jitter
   jetmail task-manager update --json '{"totalDeadline": "12h"}'`,
				Flags: append(apiFlags(),
					&cli.IntFlag{Name: "max-attempts", Usage: "attempts before a task fails for good (at least 1)"},
					&cli.StringFlag{Name: "strategy", Usage: "exponential or fixed"},
					&cli.Float64Flag{Name: "factor", Usage: "exponential: delay growth per attempt"},
					&cli.StringFlag{Name: "initial-delay", Usage: "exponential: first delay (1m)"},
					&cli.StringFlag{Name: "max-delay", Usage: "exponential: longest delay (30m)"},
					&cli.BoolFlag{Name: "jitter", Usage: "exponential: spread delays over [delay/2, delay]"},
					&cli.StringFlag{Name: "delay", Usage: "fixed: the delay (5m)"},
					&cli.StringFlag{Name: "total-deadline", Usage: "time budget across attempts (6h)"},
					&cli.StringFlag{Name: "json", Usage: "a raw JMAP `PATCH` object"},
				),
				Action: func(c *cli.Context) error {
					patch := map[string]any{}
					if s := c.String("json"); s != "" {
						if err := json.Unmarshal([]byte(s), &patch); err != nil {
							return cli.Exit("--json: "+err.Error(), ExitUsage)
						}
					}
					if c.IsSet("max-attempts") {
						patch["maxAttempts"] = c.Int("max-attempts")
					}
					if c.IsSet("total-deadline") {
						patch["totalDeadline"] = c.String("total-deadline")
					}
					switch c.String("strategy") {
					case "":
					case "fixed":
						patch["strategy"] = map[string]any{"@type": "FixedDelay", "delay": c.String("delay")}
					case "exponential":
						patch["strategy"] = map[string]any{"@type": "ExponentialBackoff", "factor": c.Float64("factor"),
							"initialDelay": c.String("initial-delay"), "maxDelay": c.String("max-delay"), "jitter": c.Bool("jitter")}
					default:
						return cli.Exit(fmt.Sprintf("--strategy %q: use exponential or fixed", c.String("strategy")), ExitUsage)
					}
					if c.String("strategy") == "" {
						for flag, prop := range map[string]string{"factor": "strategy/factor", "initial-delay": "strategy/initialDelay", "max-delay": "strategy/maxDelay", "jitter": "strategy/jitter", "delay": "strategy/delay"} {
							if c.IsSet(flag) {
								patch[prop] = c.Value(flag)
							}
						}
					}
					if len(patch) == 0 {
						return cli.Exit("nothing to change (see --help)", ExitUsage)
					}
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					var r struct {
						NotUpdated map[string]jmap.SetError `json:"notUpdated"`
					}
					if err := cl.Call(c.Context, "x:TaskManager/set", map[string]any{"update": map[string]any{task.SingletonID: patch}}, &r); err != nil {
						return apiError(err)
					}
					if e, ok := r.NotUpdated[task.SingletonID]; ok {
						return cli.Exit(fmt.Sprintf("not updated: %s", e.Description), ExitUsage)
					}
					var g struct{ List []map[string]any }
					if err := cl.Call(c.Context, "x:TaskManager/get", map[string]any{}, &g); err != nil {
						return apiError(err)
					}
					return printSettings(c, g.List[0])
				},
			},
		},
	}
}

func printSettings(c *cli.Context, s map[string]any) error {
	if c.String("output") == "json" {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	st, _ := s["strategy"].(map[string]any)
	strategy := fmt.Sprint(st["@type"])
	if st["@type"] == "FixedDelay" {
		strategy += fmt.Sprintf(" delay=%v", st["delay"])
	} else {
		strategy += fmt.Sprintf(" factor=%v initialDelay=%v maxDelay=%v jitter=%v", st["factor"], st["initialDelay"], st["maxDelay"], st["jitter"])
	}
	fmt.Fprintf(c.App.Writer, "maxAttempts    %v\nstrategy       %s\ntotalDeadline  %v\n", s["maxAttempts"], strategy, s["totalDeadline"])
	return nil
}
