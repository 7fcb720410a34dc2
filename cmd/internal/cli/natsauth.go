package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/shared/natsauth"
)

func natsAuthCommand() *cli.Command {
	return &cli.Command{
		Name:  "nats-auth",
		Usage: "write the NATS identities of a cluster: an NKey seed per service and the servers' permission file",
		Description: `Writes into --out one NKey user seed per NATS identity (<identity>.nk, mode
0600) and auth.conf, the nats-server "authorization" block that lets each
identity use only its own subjects, streams and buckets:

   smtp, delivery, scheduler   a node running that one service
   node                        a node running every service
   api-<user>                  calls the admin API over NATS as API user <user>
                               (one per --api-user), and nothing else
   admin                       everything: the nats CLI, jetmail's CLI

Include auth.conf in every NATS server of the cluster (include "auth.conf")
and give each node its seed: jetmail serve smtp --nats-nkey DIR/smtp.nk.
Seeds already in --out are kept, so running it again after adding an API
user changes no one's key.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "`DIR` to write the seeds and auth.conf into, created 0700 (required)"},
			&cli.StringSliceFlag{Name: "api-user", Usage: "API `USER` (api.users.<name>) to make an API caller identity for; repeat for several"},
		},
		Action: func(c *cli.Context) error {
			if _, err := positional(c); err != nil {
				return err
			}
			dir := c.String("out")
			if dir == "" {
				return cli.Exit("give --out DIR (see --help)", ExitUsage)
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return cli.Exit(fmt.Sprintf("--out: %v", err), ExitFailure)
			}
			var users []natsauth.User
			for _, id := range natsauth.Identities(c.StringSlice("api-user")) {
				file := filepath.Join(dir, id.Name+".nk")
				pub, created, err := nkeySeed(file)
				if err != nil {
					return cli.Exit(err.Error(), ExitFailure)
				}
				users = append(users, natsauth.User{Identity: id, PublicKey: pub})
				verb := "kept"
				if created {
					verb = "wrote"
				}
				fmt.Fprintf(c.App.Writer, "%s %s (%s)\n", verb, file, pub)
			}
			conf, err := natsauth.ServerConfig(users)
			if err != nil {
				return cli.Exit(err.Error(), ExitFailure)
			}
			file := filepath.Join(dir, "auth.conf")
			if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
				return cli.Exit(err.Error(), ExitFailure)
			}
			fmt.Fprintf(c.App.Writer, "wrote %s: include it in every NATS server's configuration\n", file)
			return nil
		},
	}
}
