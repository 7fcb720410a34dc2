package cli

import (
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jmap"
)

func mailSearchCommand() *cli.Command {
	return &cli.Command{
		Name: "search", Usage: "search an account's mail (full text, answered by the indexer)", ArgsUsage: "ACCOUNT [WORDS...]",
		Description: `WORDS are looked for in the subject, the addresses, the text of the body and
the attachment names; every word must match, and "a quoted phrase" matches
as a phrase. Words are stemmed in the message's language where it is known.
The flags narrow the search to one field or a time. The answer comes from
the indexer node that holds the account's partition: with none live, the
command fails (serverUnavailable) rather than print nothing.

Examples:
   jetmail mail search alice invoice 2026
   jetmail mail search alice --from bob@example.org --after 2026-11-01
   jetmail mail search alice '"quarterly report"' --mailbox archive -o json`,
		Flags: append(apiFlags(),
			&cli.StringFlag{Name: "from", Usage: "words or an `ADDRESS` in From"},
			&cli.StringFlag{Name: "to", Usage: "words or an `ADDRESS` in To or Cc"},
			&cli.StringFlag{Name: "subject", Usage: "`WORDS` in the subject"},
			&cli.StringFlag{Name: "body", Usage: "`WORDS` in the body text"},
			&cli.StringFlag{Name: "mailbox", Usage: "only in the mailbox of this `ID` (inbox, junk, sent, trash, archive, ...)"},
			&cli.StringFlag{Name: "keyword", Usage: "only emails with this `KEYWORD` ($seen, $flagged, ...)"},
			&cli.TimestampFlag{Name: "after", Layout: time.DateOnly, Usage: "received on or after this `DATE` (YYYY-MM-DD)"},
			&cli.TimestampFlag{Name: "before", Layout: time.DateOnly, Usage: "received before this `DATE` (YYYY-MM-DD)"},
			&cli.BoolFlag{Name: "oldest-first", Usage: "oldest first (default newest first)"},
			&cli.IntFlag{Name: "limit", Value: 50, Usage: "at most `N` emails"},
			&cli.IntFlag{Name: "position", Usage: "skip the first `N` matches (paging)"}),
		Action: func(c *cli.Context) error {
			args, err := positional(c)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				return cli.Exit("give the ACCOUNT to search (see --help)", ExitUsage)
			}
			f := adminapi.EmailFilter{Text: strings.Join(args[1:], " "), From: c.String("from"), To: c.String("to"),
				Subject: c.String("subject"), Body: c.String("body"), InMailbox: c.String("mailbox"), HasKeyword: c.String("keyword")}
			if t := c.Timestamp("after"); t != nil {
				f.After = *t
			}
			if t := c.Timestamp("before"); t != nil {
				f.Before = *t
			}
			if !f.FullText() {
				return cli.Exit("give words to search for, or --from, --to, --subject, --body or --keyword (see --help); jetmail mail ls lists a mailbox", ExitUsage)
			}
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			acc, err := findAccount(c.Context, cl, args[0])
			if err != nil {
				return err
			}
			limit, asc := c.Int("limit"), c.Bool("oldest-first")
			var q jmap.QueryResponse
			if err := cl.Call(c.Context, adminapi.MethodEmailQuery, adminapi.EmailQueryArgs{AccountID: &acc.ID, Filter: &f,
				Sort: []jmap.Comparator{{Property: "receivedAt", IsAscending: &asc}}, Position: c.Int("position"), Limit: &limit}, &q); err != nil {
				return apiError(err)
			}
			return printEmails(c, cl, acc, q)
		},
	}
}
