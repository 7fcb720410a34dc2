package cli

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jmap"
)

// mailSetCommands change emails with Email/set: mv, flag and rm.
func mailSetCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name: "mv", Usage: "move emails to a mailbox (out of those they are in)", ArgsUsage: "ACCOUNT EMAIL-ID...",
			Description: `Examples:
   jetmail mail mv fred Jd2kQ1 Jd2kQ2 --to Archive
   jetmail mail ls fred -o json | jq -r '.[].id' | xargs jetmail mail mv fred --to Trash`,
			Flags: append(apiFlags(), &cli.StringFlag{Name: "to", Usage: "the `MAILBOX` (name or id) to move them to (required)"}),
			Action: func(c *cli.Context) error {
				return setEmails(c, "moved", func(acc *adminapi.Account, cl *jmap.Client) (jmap.PatchObject, error) {
					if c.String("to") == "" {
						return nil, cli.Exit("give the mailbox to move them --to (see --help)", ExitUsage)
					}
					box, err := findMailbox(c.Context, cl, acc, c.String("to"))
					if err != nil {
						return nil, err
					}
					return adminapi.EmailPatch([]string{box}, nil, nil), nil
				})
			},
		},
		{
			Name: "flag", Usage: "add and remove emails' keywords", ArgsUsage: "ACCOUNT EMAIL-ID...",
			Description: `Keywords are RFC 8621's: $seen, $flagged, $answered, $draft, or your own.

Examples:
   jetmail mail flag fred Jd2kQ1 --add '$seen'
   jetmail mail flag fred Jd2kQ1 Jd2kQ2 --add '$flagged' --remove '$seen'`,
			Flags: append(apiFlags(),
				&cli.StringSliceFlag{Name: "add", Usage: "a `KEYWORD` to add; repeat for several"},
				&cli.StringSliceFlag{Name: "remove", Usage: "a `KEYWORD` to remove; repeat for several"}),
			Action: func(c *cli.Context) error {
				return setEmails(c, "flagged", func(*adminapi.Account, *jmap.Client) (jmap.PatchObject, error) {
					if len(c.StringSlice("add"))+len(c.StringSlice("remove")) == 0 {
						return nil, cli.Exit("nothing to change: give --add or --remove (see --help)", ExitUsage)
					}
					return adminapi.EmailPatch(nil, c.StringSlice("add"), c.StringSlice("remove")), nil
				})
			},
		},
		{
			Name: "rm", Usage: "destroy emails: each is kept for store.archive.retention, its bytes given back to the quota", ArgsUsage: "ACCOUNT EMAIL-ID...",
			Description: `Examples:
   jetmail mail rm fred Jd2kQ1 --yes`,
			Flags: append(apiFlags(), &cli.BoolFlag{Name: "yes", Usage: "do it (without it, say what would be destroyed)"}),
			Action: func(c *cli.Context) error {
				return setEmails(c, "destroyed", nil)
			},
		},
	}
}

// setEmails runs Email/set on the emails named after the account: patch
// each with what patch builds, or destroy them when patch is nil.
func setEmails(c *cli.Context, verb string, patch func(*adminapi.Account, *jmap.Client) (jmap.PatchObject, error)) error {
	args, err := positional(c)
	if err != nil {
		return err
	}
	if len(args) < 2 {
		return cli.Exit("give ACCOUNT and one EMAIL-ID or more (see --help)", ExitUsage)
	}
	cl, err := apiClient(c)
	if err != nil {
		return err
	}
	acc, err := findAccount(c.Context, cl, args[0])
	if err != nil {
		return err
	}
	ids := args[1:]
	var p jmap.PatchObject
	if patch != nil {
		if p, err = patch(acc, cl); err != nil {
			return err
		}
	} else if !c.Bool("yes") {
		return cli.Exit(fmt.Sprintf("would destroy %d email(s) of account %s; run again with --yes", len(ids), acc.Name), ExitUsage)
	}
	done, failed := 0, map[string]string{}
	pr := newProgress(c.App.ErrWriter, verb, len(ids))
	for start := 0; start < len(ids); start += jmap.MaxObjectsInSet {
		chunk := ids[start:min(start+jmap.MaxObjectsInSet, len(ids))]
		args := jmap.SetArgs{AccountID: &acc.ID}
		if p == nil {
			args.Destroy = chunk
		} else {
			args.Update = map[string]json.RawMessage{}
			for _, id := range chunk {
				args.Update[id] = mustJSON(p)
			}
		}
		var r adminapi.EmailSetResponse
		if err := cl.Call(c.Context, adminapi.MethodEmailSet, args, &r); err != nil {
			return apiError(err)
		}
		done += len(r.Updated) + len(r.Destroyed)
		for id, why := range r.Failures() {
			failed[id] = why
		}
		if len(ids) > 1 {
			pr.update(start + len(chunk))
		}
	}
	fmt.Fprintf(c.App.Writer, "%s %d email(s)\n", verb, done)
	if len(failed) == 0 {
		return nil
	}
	bad := make([]string, 0, len(failed))
	for id := range failed {
		bad = append(bad, id)
	}
	sort.Strings(bad)
	for _, id := range bad {
		fmt.Fprintf(c.App.ErrWriter, "%s: %s\n", id, failed[id])
	}
	return cli.Exit(fmt.Sprintf("%d email(s) not %s", len(failed), verb), ExitFailure)
}
