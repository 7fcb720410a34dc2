// Command jetmail runs jetmail nodes and administers a jetmail cluster.
// Run `jetmail --help` for the commands.
package main

import (
	"fmt"
	"os"

	"github.com/jetmail/jetmail/cmd/internal/cli"
)

func main() {
	// Exit codes and messages of the commands come from the app's
	// ExitErrHandler; what reaches here is urfave/cli's own (a flag it
	// could not parse), a usage error.
	if err := cli.App().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "jetmail:", err)
		os.Exit(cli.ExitUsage)
	}
}
