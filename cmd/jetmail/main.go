// Command jetmail runs jetmail nodes and administers a jetmail cluster.
// Run `jetmail --help` for the commands.
package main

import (
	"os"

	"github.com/jetmail/jetmail/cmd/internal/cli"
)

func main() {
	_ = cli.App().Run(os.Args)
}
