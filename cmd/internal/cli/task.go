package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/duration"
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
					args.Position = c.Int("position")
					if limit := c.Int("limit"); limit > 0 {
						args.Limit = &limit
					}
					if c.Bool("desc") {
						ascending := false
						args.Sort = []jmap.Comparator{{Property: "due", IsAscending: &ascending}}
					}
					var q adminapi.TaskQueryResponse
					if err := cl.Call(c.Context, adminapi.MethodTaskQuery, args, &q); err != nil {
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
				Description: `Fields are given as --field name=value; lists and sets as a,b,c, or by
repeating --field (each value is added). The task is checked here, with the
server's rules, before it is sent.

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
					fields := map[string][]string{}
					for _, f := range c.StringSlice("field") {
						k, val, ok := strings.Cut(f, "=")
						if !ok {
							return cli.Exit(fmt.Sprintf("--field %q: use NAME=VALUE (fields of %s: %s)", f, v, strings.Join(task.FieldNames(v), ", ")), ExitUsage)
						}
						fields[k] = append(fields[k], val)
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
						var obj adminapi.Task
						if err := json.Unmarshal(raw, &obj); err != nil {
							return cli.Exit(fmt.Sprintf("build the %s task: %v", v, err), ExitFailure)
						}
						obj.Status = &task.Status{Type: task.Pending, Due: t.UTC()}
						if raw, err = json.Marshal(obj); err != nil {
							return cli.Exit(fmt.Sprintf("build the %s task: %v", v, err), ExitFailure)
						}
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
					var r adminapi.TaskSetResponse
					if err := cl.Call(c.Context, adminapi.MethodTaskSet, jmap.SetArgs{Create: map[string]json.RawMessage{"new": raw}}, &r); err != nil {
						return apiError(err)
					}
					if e, ok := r.NotCreated["new"]; ok {
						return cli.Exit("not created: "+e.Error(), ExitUsage)
					}
					created, ok := r.Created["new"]
					if !ok {
						return cli.Exit("the server neither created the task nor said why", ExitFailure)
					}
					if c.String("output") == "json" {
						return json.NewEncoder(c.App.Writer).Encode(created)
					}
					fmt.Fprintln(c.App.Writer, created.ID)
					return nil
				},
			},
			bulkCommand("retry", "put tasks back to Pending with a fresh attempt count (by id, or --all matching the filters)",
				"retried", func(_ *cli.Context) (jmap.PatchObject, error) {
					return adminapi.TaskRetryPatch(nil), nil
				}),
			{
				Name: "reschedule", Usage: "move a Pending or Retry task to a new due time", ArgsUsage: "ID...",
				Flags: append(apiFlags(), &cli.StringFlag{Name: "due", Usage: "the new due `TIME` (RFC 3339, now, +10m; required)"}),
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
					return runBulk(c, "rescheduled", args, adminapi.TaskReschedulePatch(due))
				},
			},
			bulkCommand("destroy", "delete tasks and cancel their schedules (by id, or --all matching the filters, with --yes)", "destroyed", nil),
		},
	}
}

// bulkCommand is retry or destroy: by ids, or every task a query matches.
func bulkCommand(name, usage, verb string, patch func(*cli.Context) (jmap.PatchObject, error)) *cli.Command {
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
				var q adminapi.TaskQueryResponse
				if err := cl.Call(c.Context, adminapi.MethodTaskQuery, qargs, &q); err != nil {
					return apiError(err)
				}
				ids = q.IDs
				if patch == nil && !c.Bool("yes") {
					return cli.Exit(fmt.Sprintf("%d task(s) match; add --yes to destroy them", len(ids)), ExitUsage)
				}
			}
			var p jmap.PatchObject
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
func runBulk(c *cli.Context, verb string, ids []string, patch jmap.PatchObject) error {
	return runBulkSet(c, adminapi.MethodTaskSet, verb, ids, patch, nil)
}

// runBulkSet does runBulk's work with method. wrap, if not nil, turns the
// standard arguments of each call into the method's own.
func runBulkSet(c *cli.Context, method, verb string, ids []string, patch jmap.PatchObject, wrap func(jmap.SetArgs) any) error {
	cl, err := apiClient(c)
	if err != nil {
		return err
	}
	var rawPatch json.RawMessage
	if patch != nil {
		if rawPatch, err = json.Marshal(patch); err != nil {
			return cli.Exit(fmt.Sprintf("encode the update: %v", err), ExitFailure)
		}
	}
	pr := newProgress(c.App.ErrWriter, verb, len(ids))
	failed := map[string]string{}
	done := 0
	for start := 0; start < len(ids); start += bulkChunk {
		chunk := ids[start:min(start+bulkChunk, len(ids))]
		var args jmap.SetArgs
		if patch != nil {
			args.Update = make(map[string]json.RawMessage, len(chunk))
			for _, id := range chunk {
				args.Update[id] = rawPatch
			}
		} else {
			args.Destroy = chunk
		}
		var callArgs any = args
		if wrap != nil {
			callArgs = wrap(args)
		}
		// Only the failures matter here, whatever the method's objects are.
		var r jmap.SetResponse[jmap.None, jmap.None]
		if err := cl.Call(c.Context, method, callArgs, &r); err != nil {
			return apiError(err)
		}
		for id, why := range r.Failures() {
			failed[id] = why
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

// queryArgs are the x:Task/query arguments the filter flags ask for.
func queryArgs(c *cli.Context) (adminapi.TaskQueryArgs, error) {
	var f adminapi.TaskFilter
	for _, s := range c.StringSlice("status") {
		f.Status = append(f.Status, task.StatusType(s))
	}
	for _, s := range c.StringSlice("type") {
		f.Type = append(f.Type, task.Variant(s))
	}
	f.AccountID = c.String("account")
	if err := timeFlags(c, map[string]**time.Time{"due-after": &f.DueAfter, "due-before": &f.DueBefore}); err != nil {
		return adminapi.TaskQueryArgs{}, err
	}
	return adminapi.TaskQueryArgs{Filter: &f}, nil
}

func getTasks(ctx context.Context, cl *jmap.Client, ids []string) ([]adminapi.Task, []string, error) {
	var list []adminapi.Task
	var notFound []string
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		var r adminapi.TaskGetResponse
		if err := cl.Call(ctx, adminapi.MethodTaskGet, jmap.GetArgs{IDs: &chunk}, &r); err != nil {
			return nil, nil, err
		}
		list = append(list, r.List...)
		notFound = append(notFound, r.NotFound...)
	}
	return list, notFound, nil
}

func printTasks(c *cli.Context, list []adminapi.Task) error {
	switch c.String("output") {
	case "json":
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		if list == nil {
			list = []adminapi.Task{}
		}
		return enc.Encode(list)
	case "table":
	default:
		return cli.Exit(fmt.Sprintf("--output %q: use table or json", c.String("output")), ExitUsage)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tTYPE\tSTATUS\tDUE / FAILED AT\tATTEMPTS\tDETAILS\tLAST ERROR")
	for _, t := range list {
		var st task.Status
		if t.Status != nil {
			st = *t.Status
		}
		when, attempts := formatTime(st.Due), ""
		switch st.Type {
		case task.Retry:
			attempts = fmt.Sprint(st.AttemptNumber)
		case task.Failed:
			when, attempts = formatTime(st.FailedAt), fmt.Sprint(st.FailedAttemptNumber)
		}
		var details []string
		for _, k := range t.FieldNames() {
			details = append(details, k+"="+fieldValue(t.Fields[k]))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Type, st.Type, when, attempts, strings.Join(details, " "), st.FailureReason)
	}
	return w.Flush()
}

// formatTime writes a time as the API does, or nothing for none.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

// fieldValue shows a task field as --field takes it: a string as it is,
// a list or a set as a,b,c (a set sorted), anything else as compact JSON.
func fieldValue(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, ",")
	}
	var set map[string]bool
	if json.Unmarshal(raw, &set) == nil {
		var in []string
		for k, ok := range set {
			if ok {
				in = append(in, k)
			}
		}
		sort.Strings(in)
		return strings.Join(in, ",")
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
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
					return showSettings(c, cl)
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
					patch := jmap.PatchObject{}
					if s := c.String("json"); s != "" {
						if err := json.Unmarshal([]byte(s), &patch); err != nil {
							return cli.Exit("--json: "+err.Error(), ExitUsage)
						}
						if patch == nil {
							return cli.Exit("--json: give a JSON object of properties, such as {\"maxAttempts\": 5}", ExitUsage)
						}
					}
					// Set cannot fail below: every value is a number, a string, a
					// boolean or a struct of them.
					if c.IsSet("max-attempts") {
						_ = patch.Set("maxAttempts", c.Int("max-attempts"))
					}
					if c.IsSet("total-deadline") {
						_ = patch.Set("totalDeadline", c.String("total-deadline"))
					}
					switch c.String("strategy") {
					case "":
						for flag, prop := range map[string]string{"factor": "strategy/factor", "initial-delay": "strategy/initialDelay", "max-delay": "strategy/maxDelay", "jitter": "strategy/jitter", "delay": "strategy/delay"} {
							if c.IsSet(flag) {
								_ = patch.Set(prop, c.Value(flag))
							}
						}
					case "fixed":
						_ = patch.Set("strategy", adminapi.NewFixedDelay(c.String("delay")))
					case "exponential":
						_ = patch.Set("strategy", adminapi.NewExponentialBackoff(c.Float64("factor"), c.String("initial-delay"), c.String("max-delay"), c.Bool("jitter")))
					default:
						return cli.Exit(fmt.Sprintf("--strategy %q: use exponential or fixed", c.String("strategy")), ExitUsage)
					}
					if len(patch) == 0 {
						return cli.Exit("nothing to change (see --help)", ExitUsage)
					}
					raw, err := json.Marshal(patch)
					if err != nil {
						return cli.Exit("encode the update: "+err.Error(), ExitFailure)
					}
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					var r adminapi.TaskManagerSetResponse
					if err := cl.Call(c.Context, adminapi.MethodTaskManagerSet, jmap.SetArgs{Update: map[string]json.RawMessage{task.SingletonID: raw}}, &r); err != nil {
						return apiError(err)
					}
					if e, ok := r.NotUpdated[task.SingletonID]; ok {
						return cli.Exit(fmt.Sprintf("not updated: %s", e.Description), ExitUsage)
					}
					return showSettings(c, cl)
				},
			},
		},
	}
}

// showSettings reads the TaskManager and prints it.
func showSettings(c *cli.Context, cl *jmap.Client) error {
	var r adminapi.TaskManagerGetResponse
	if err := cl.Call(c.Context, adminapi.MethodTaskManagerGet, jmap.GetArgs{IDs: &[]string{task.SingletonID}}, &r); err != nil {
		return apiError(err)
	}
	if len(r.List) != 1 {
		return cli.Exit(fmt.Sprintf("the server returned %d TaskManager objects, not 1", len(r.List)), ExitFailure)
	}
	return printSettings(c, r.List[0])
}

func printSettings(c *cli.Context, s task.Settings) error {
	if c.String("output") == "json" {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	st := s.Strategy
	strategy := string(st.Type)
	if st.Type == task.FixedDelay {
		strategy += " delay=" + duration.Format(st.Delay)
	} else {
		strategy += fmt.Sprintf(" factor=%v initialDelay=%s maxDelay=%s jitter=%v", st.Factor, duration.Format(st.InitialDelay), duration.Format(st.MaxDelay), st.Jitter)
	}
	fmt.Fprintf(c.App.Writer, "maxAttempts    %d\nstrategy       %s\ntotalDeadline  %s\n", s.MaxAttempts, strategy, duration.Format(s.TotalDeadline))
	return nil
}
