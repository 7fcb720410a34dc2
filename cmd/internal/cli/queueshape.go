package cli

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/shared/adminapi"
)

// queueShapeCommand is `jetmail queue shape`: Postfix's qshape for
// jetmail, with each virtual queue's figures.
func queueShapeCommand() *cli.Command {
	return &cli.Command{
		Name:  "shape",
		Usage: "count queued recipients per virtual queue, and per domain by age (as Postfix's qshape)",
		Description: `Each virtual queue's queued, retrying, held and in-flight recipients and
its oldest; then the recipient domains with most entries, counted by time
since the message was received (buckets of 5, 10, 20 ... 1280 minutes).
The filters narrow what is counted, for example one queue:
   jetmail queue shape --queue remote --top 10`,
		Flags: append(append(apiFlags(), queueFilterFlags()...),
			&cli.IntFlag{Name: "top", Value: 20, Usage: "the `N` domains with most entries (1-1000)"}),
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
			var r adminapi.QueueShapeResponse
			if err := cl.Call(c.Context, adminapi.MethodQueueShape, adminapi.QueueShapeArgs{Filter: &f, Top: c.Int("top")}, &r); err != nil {
				return apiError(err)
			}
			return printShape(c, r, "QUEUE\tPAUSED\tQUEUED\tRETRYING\tHELD\tIN FLIGHT\tOLDEST", func(w io.Writer) {
				for _, q := range r.Queues {
					oldest := "-"
					if !q.Oldest.IsZero() {
						oldest = formatTime(q.Oldest)
					}
					fmt.Fprintf(w, "%s\t%t\t%d\t%d\t%d\t%d\t%s\n", q.ID, q.Paused, q.Queued, q.Retrying, q.Held, q.InFlight, oldest)
				}
				fmt.Fprintln(w)
				fmt.Fprint(w, "DOMAIN\tTOTAL")
				for _, b := range r.Buckets {
					fmt.Fprintf(w, "\t<%s", b)
				}
				fmt.Fprintln(w, "\tOLDER")
				for _, d := range r.Domains {
					fmt.Fprintf(w, "%s\t%d", d.Domain, d.Total)
					for _, n := range d.Counts {
						fmt.Fprintf(w, "\t%d", n)
					}
					fmt.Fprintln(w)
				}
			}, func() {
				fmt.Fprintf(c.App.ErrWriter, "%d entries; the %d domain(s) with most shown\n", r.Total, len(r.Domains))
			})
		},
	}
}

// printShape prints r as JSON or as the two tables, then the trailer
// (tables only) on stderr.
func printShape(c *cli.Context, r adminapi.QueueShapeResponse, header string, rows func(w io.Writer), trailer func()) error {
	if err := printList(c, r, header, rows); err != nil {
		return err
	}
	if c.String("output") != "json" {
		trailer()
	}
	return nil
}
