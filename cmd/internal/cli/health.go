package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

func healthCommand() *cli.Command {
	return &cli.Command{
		Name:  "health",
		Usage: "probe a node's /health (or /ready) endpoint; exit 0 when it answers 200",
		Description: `For container health checks where no HTTP client is installed:
   jetmail health --http 127.0.0.1:8080 --ready
Add --tls for a node that serves HTTPS (http.tls.cert and http.tls.key).`,
		Flags: []cli.Flag{
			// JETMAIL_HTTP is where the node listens (dev and serve read it), so a
			// container that sets it probes the right port with a bare
			// "jetmail health".
			&cli.StringFlag{Name: "http", Value: "127.0.0.1:8080", Usage: "the node's HTTP `ADDR` (as the node's --http)", EnvVars: []string{"JETMAIL_HTTP"}},
			&cli.BoolFlag{Name: "ready", Usage: "probe /ready (serving work) instead of /health (process up)"},
			&cli.BoolFlag{Name: "tls", Usage: "probe over HTTPS, for a node with http.tls set; the certificate is not verified, as a probe sends no secret", EnvVars: []string{"JETMAIL_HEALTH_TLS"}},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Second, Usage: "give up after this long"},
		},
		Action: func(c *cli.Context) error {
			path := "/health"
			if c.Bool("ready") {
				path = "/ready"
			}
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			scheme, client := "http://", http.DefaultClient
			if c.Bool("tls") {
				scheme = "https://"
				client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // a probe sends no secret and reads only a status
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+c.String("http")+path, nil)
			if err != nil {
				return cli.Exit(err.Error(), ExitUsage)
			}
			resp, err := client.Do(req)
			if err != nil {
				return cli.Exit(fmt.Sprintf("%s: %v", path, err), ExitFailure)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			fmt.Fprintln(c.App.Writer, strings.TrimSpace(string(body)))
			if resp.StatusCode != http.StatusOK {
				return cli.Exit("", ExitFailure)
			}
			return nil
		},
	}
}
