package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jmap"
)

func accountCommand() *cli.Command {
	return &cli.Command{
		Name:  "account",
		Usage: "create, list, show, change and destroy the mail store's accounts",
		Description: `Accounts own mail and documents, with a quota and the secrets they
authenticate with (SMTP AUTH, the API). smtp.users seed them once; after
that, the store is where they change.

Examples:
   jetmail account create fred --domain shop.test --address fred@shop.test --secret 'a-long-secret' --quota 1073741824
   jetmail account ls --domain shop.test
   jetmail account update fred --quota 0
   jetmail account destroy fred --yes`,
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "create an account (its domain must exist: jetmail domain create)", ArgsUsage: "NAME",
				Flags: append(apiFlags(),
					&cli.StringFlag{Name: "domain", Usage: "the account's `DOMAIN` (required)"},
					&cli.StringSliceFlag{Name: "address", Usage: "an `ADDRESS` it receives mail for; repeat for several (the first is the primary)"},
					&cli.Int64Flag{Name: "quota", Usage: "quota in `BYTES` (0: none)"},
					&cli.StringFlag{Name: "secret", Usage: "its `SECRET` for SMTP AUTH and the API (12 characters or more)", EnvVars: []string{"JETMAIL_ACCOUNT_SECRET"}},
					&cli.BoolFlag{Name: "group", Usage: "a group's account, not a person's"},
				),
				Action: func(c *cli.Context) error {
					name, cl, err := oneArg(c, "NAME")
					if err != nil {
						return err
					}
					if c.String("domain") == "" {
						return cli.Exit("give the account's --domain (see --help)", ExitUsage)
					}
					create := adminapi.AccountCreate{Name: name, Domain: c.String("domain"), Addresses: c.StringSlice("address"), Quota: c.Int64("quota")}
					if s := c.String("secret"); s != "" {
						create.Secrets = []string{s}
					}
					if c.Bool("group") {
						create.Type = "group"
					}
					var r adminapi.AccountSetResponse
					if err := cl.Call(c.Context, adminapi.MethodAccountSet, jmap.SetArgs{Create: map[string]json.RawMessage{"new": mustJSON(create)}}, &r); err != nil {
						return apiError(err)
					}
					if e := r.NotCreated["new"]; e != nil {
						return cli.Exit(fmt.Sprintf("%s: %s", e.Type, e.Description), ExitUsage)
					}
					fmt.Fprintln(c.App.Writer, r.Created["new"].ID)
					return nil
				},
			},
			{
				Name: "ls", Usage: "list accounts", Flags: append(apiFlags(),
					&cli.StringFlag{Name: "domain", Usage: "only those of `DOMAIN`"},
					&cli.StringFlag{Name: "state", Usage: "only active or deleted ones"}),
				Action: func(c *cli.Context) error {
					if _, err := positional(c); err != nil {
						return err
					}
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					accounts, err := queryAccounts(c.Context, cl, adminapi.AccountFilter{Domain: c.String("domain"), State: c.String("state")})
					if err != nil {
						return apiError(err)
					}
					return printAccounts(c, accounts)
				},
			},
			{
				Name: "show", Usage: "show accounts by name or id", ArgsUsage: "NAME|ID...", Flags: apiFlags(),
				Action: func(c *cli.Context) error {
					args, err := positional(c)
					if err != nil {
						return err
					}
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					var out []adminapi.Account
					for _, a := range args {
						acc, err := findAccount(c.Context, cl, a)
						if err != nil {
							return err
						}
						out = append(out, *acc)
					}
					return printAccounts(c, out)
				},
			},
			{
				Name: "update", Usage: "change an account's quota or secret", ArgsUsage: "NAME|ID",
				Flags: append(apiFlags(),
					&cli.Int64Flag{Name: "quota", Usage: "the new quota in `BYTES` (0: none)"},
					&cli.StringFlag{Name: "secret", Usage: "the new `SECRET` (replaces the old ones)", EnvVars: []string{"JETMAIL_ACCOUNT_SECRET"}}),
				Action: func(c *cli.Context) error {
					ref, cl, err := oneArg(c, "NAME|ID")
					if err != nil {
						return err
					}
					acc, err := findAccount(c.Context, cl, ref)
					if err != nil {
						return err
					}
					var patch adminapi.AccountPatch
					if c.IsSet("quota") {
						q := c.Int64("quota")
						patch.Quota = &q
					}
					if s := c.String("secret"); s != "" {
						patch.Secrets = []string{s}
					}
					if patch.Quota == nil && patch.Secrets == nil {
						return cli.Exit("nothing to change: give --quota or --secret", ExitUsage)
					}
					return setAccount(c, cl, jmap.SetArgs{Update: map[string]json.RawMessage{acc.ID: mustJSON(patch)}}, acc.ID, "updated")
				},
			},
			{
				Name: "destroy", Usage: "destroy an account: its mail is kept for store.archive.retention, its addresses freed", ArgsUsage: "NAME|ID",
				Flags: append(apiFlags(), &cli.BoolFlag{Name: "yes", Usage: "do it (without it, say what would be destroyed)"}),
				Action: func(c *cli.Context) error {
					ref, cl, err := oneArg(c, "NAME|ID")
					if err != nil {
						return err
					}
					acc, err := findAccount(c.Context, cl, ref)
					if err != nil {
						return err
					}
					if !c.Bool("yes") {
						return cli.Exit(fmt.Sprintf("would destroy account %s (%s, %d bytes used); run again with --yes", acc.Name, strings.Join(acc.Addresses, ", "), acc.Used), ExitUsage)
					}
					return setAccount(c, cl, jmap.SetArgs{Destroy: []string{acc.ID}}, acc.ID, "destroyed")
				},
			},
		},
	}
}

func domainCommand() *cli.Command {
	return &cli.Command{
		Name:  "domain",
		Usage: "create and list the mail store's domains",
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "create a domain", ArgsUsage: "DOMAIN", Flags: apiFlags(),
				Action: func(c *cli.Context) error {
					name, cl, err := oneArg(c, "DOMAIN")
					if err != nil {
						return err
					}
					var r adminapi.DomainSetResponse
					if err := cl.Call(c.Context, adminapi.MethodDomainSet, jmap.SetArgs{Create: map[string]json.RawMessage{"new": mustJSON(adminapi.DomainCreate{Name: name})}}, &r); err != nil {
						return apiError(err)
					}
					if e := r.NotCreated["new"]; e != nil {
						return cli.Exit(fmt.Sprintf("%s: %s", e.Type, e.Description), ExitUsage)
					}
					fmt.Fprintln(c.App.Writer, r.Created["new"].ID)
					return nil
				},
			},
			{
				Name: "ls", Usage: "list domains", Flags: apiFlags(),
				Action: func(c *cli.Context) error {
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					var r adminapi.DomainGetResponse
					if err := cl.Call(c.Context, adminapi.MethodDomainGet, jmap.GetArgs{}, &r); err != nil {
						return apiError(err)
					}
					return printList(c, r.List, "DOMAIN\tTENANT\tCREATED", func(w io.Writer) {
						for _, d := range r.List {
							fmt.Fprintf(w, "%s\t%s\t%s\n", d.ID, d.Tenant, d.Created.Format(time.RFC3339))
						}
					})
				},
			},
		},
	}
}

func mailCommand() *cli.Command {
	return &cli.Command{
		Name:  "mail",
		Usage: "list, print, move, flag and destroy an account's mail",
		Description: `ACCOUNT is a login name or an account id; EMAIL-ID is an id mail ls lists.
To bring mail in, see jetmail import mbox.

Examples:
   jetmail mail ls fred --mailbox archive
   jetmail mail show fred Jd2kQ1
   jetmail mail mv fred Jd2kQ1 --to Trash
   jetmail mail flag fred Jd2kQ1 --add '$seen'
   jetmail mail rm fred Jd2kQ1 --yes`,
		Subcommands: append([]*cli.Command{
			{
				Name: "show", Usage: "print an email as it was received (the raw message)", ArgsUsage: "ACCOUNT EMAIL-ID",
				Flags: apiFlags(),
				Action: func(c *cli.Context) error {
					args, err := positional(c)
					if err != nil {
						return err
					}
					if len(args) != 2 {
						return cli.Exit("give ACCOUNT and EMAIL-ID (see --help)", ExitUsage)
					}
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					acc, err := findAccount(c.Context, cl, args[0])
					if err != nil {
						return err
					}
					var r adminapi.EmailGetResponse
					if err := cl.Call(c.Context, adminapi.MethodEmailGet, jmap.GetArgs{AccountID: &acc.ID, IDs: &[]string{args[1]}}, &r); err != nil {
						return apiError(err)
					}
					if len(r.List) == 0 {
						return cli.Exit(fmt.Sprintf("account %s has no email %s", acc.Name, args[1]), ExitFailure)
					}
					rc, err := cl.Download(c.Context, acc.ID, r.List[0].BlobID)
					if err != nil {
						return apiError(err)
					}
					defer rc.Close()
					_, err = io.Copy(c.App.Writer, rc)
					return err
				},
			},
			{
				Name: "ls", Usage: "list an account's emails, newest first", ArgsUsage: "ACCOUNT",
				Flags: append(apiFlags(),
					&cli.StringFlag{Name: "mailbox", Value: "inbox", Usage: "the mailbox `ID` (inbox, junk, sent, trash, archive, or a user mailbox's)"},
					&cli.IntFlag{Name: "limit", Value: 50, Usage: "at most `N` emails"}),
				Action: func(c *cli.Context) error {
					ref, cl, err := oneArg(c, "ACCOUNT")
					if err != nil {
						return err
					}
					acc, err := findAccount(c.Context, cl, ref)
					if err != nil {
						return err
					}
					limit := c.Int("limit")
					var q jmap.QueryResponse
					if err := cl.Call(c.Context, adminapi.MethodEmailQuery, adminapi.EmailQueryArgs{AccountID: &acc.ID,
						Filter: &adminapi.EmailFilter{InMailbox: c.String("mailbox")}, Limit: &limit}, &q); err != nil {
						return apiError(err)
					}
					return printEmails(c, cl, acc, q)
				},
			},
			mailSearchCommand(),
		}, mailSetCommands()...),
	}
}

// printEmails prints the emails of a query's page, with the count on
// stderr.
func printEmails(c *cli.Context, cl *jmap.Client, acc *adminapi.Account, q jmap.QueryResponse) error {
	var r adminapi.EmailGetResponse
	if len(q.IDs) > 0 {
		if err := cl.Call(c.Context, adminapi.MethodEmailGet, jmap.GetArgs{AccountID: &acc.ID, IDs: &q.IDs}, &r); err != nil {
			return apiError(err)
		}
	}
	if r.List == nil {
		r.List = []adminapi.Email{}
	}
	err := printList(c, r.List, "RECEIVED\tFROM\tSUBJECT\tSIZE\tID", func(w io.Writer) {
		for _, e := range r.List {
			from := ""
			if len(e.From) > 0 {
				from = e.From[0].Email
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", e.ReceivedAt.Format(time.RFC3339), from, e.Subject, e.Size, e.ID)
		}
	})
	if err == nil && c.String("output") != "json" {
		partial := ""
		if q.Partial {
			partial = " (partial: the account's index is still being built)"
		}
		fmt.Fprintf(c.App.ErrWriter, "%d of %d email(s)%s\n", len(r.List), q.Total, partial)
	}
	return err
}

// oneArg reads a command's one argument and makes its API client.
func oneArg(c *cli.Context, what string) (string, *jmap.Client, error) {
	args, err := positional(c)
	if err != nil {
		return "", nil, err
	}
	if len(args) != 1 {
		return "", nil, cli.Exit(fmt.Sprintf("give one %s (see --help)", what), ExitUsage)
	}
	cl, err := apiClient(c)
	return args[0], cl, err
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func queryAccounts(ctx context.Context, cl *jmap.Client, f adminapi.AccountFilter) ([]adminapi.Account, error) {
	var q jmap.QueryResponse
	if err := cl.Call(ctx, adminapi.MethodAccountQuery, adminapi.AccountQueryArgs{Filter: &f}, &q); err != nil {
		return nil, err
	}
	if len(q.IDs) == 0 {
		return nil, nil
	}
	var r adminapi.AccountGetResponse
	if err := cl.Call(ctx, adminapi.MethodAccountGet, jmap.GetArgs{IDs: &q.IDs}, &r); err != nil {
		return nil, err
	}
	return r.List, nil
}

// findAccount finds an account by id, or by its exact login name.
func findAccount(ctx context.Context, cl *jmap.Client, ref string) (*adminapi.Account, error) {
	var r adminapi.AccountGetResponse
	if err := cl.Call(ctx, adminapi.MethodAccountGet, jmap.GetArgs{IDs: &[]string{ref}}, &r); err != nil {
		return nil, apiError(err)
	}
	if len(r.List) == 1 {
		return &r.List[0], nil
	}
	list, err := queryAccounts(ctx, cl, adminapi.AccountFilter{Name: ref, State: "active"})
	if err != nil {
		return nil, apiError(err)
	}
	for i := range list {
		if strings.EqualFold(list[i].Name, ref) {
			return &list[i], nil
		}
	}
	return nil, cli.Exit(fmt.Sprintf("no active account named or with id %q", ref), ExitFailure)
}

func setAccount(c *cli.Context, cl *jmap.Client, args jmap.SetArgs, id, verb string) error {
	var r adminapi.AccountSetResponse
	if err := cl.Call(c.Context, adminapi.MethodAccountSet, args, &r); err != nil {
		return apiError(err)
	}
	for _, e := range []*jmap.SetError{r.NotUpdated[id], r.NotDestroyed[id]} {
		if e != nil {
			return cli.Exit(fmt.Sprintf("%s: %s", e.Type, e.Description), ExitUsage)
		}
	}
	fmt.Fprintf(c.App.Writer, "%s %s\n", verb, id)
	return nil
}

func printAccounts(c *cli.Context, list []adminapi.Account) error {
	if list == nil {
		list = []adminapi.Account{}
	}
	return printList(c, list, "NAME\tDOMAIN\tADDRESSES\tUSED\tQUOTA\tSTATE\tID", func(w io.Writer) {
		for _, a := range list {
			quota := "none"
			if a.Quota > 0 {
				quota = fmt.Sprint(a.Quota)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", a.Name, a.Domain, strings.Join(a.Addresses, ","), a.Used, quota, a.State, a.ID)
		}
	})
}

// printList writes list as JSON with -o json, else as a table: the header
// line, then the rows.
func printList(c *cli.Context, list any, header string, rows func(w io.Writer)) error {
	if c.String("output") == "json" {
		return json.NewEncoder(c.App.Writer).Encode(list)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, header)
	rows(w)
	return w.Flush()
}
