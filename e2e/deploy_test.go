package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/jetmail/jetmail/shared/config"
)

// No container engine runs here, so the deployment files are checked by
// parsing them and checking what jetmail depends on: the command, the
// health path, the configuration they mount.

func repo(parts ...string) string { return filepath.Join(append([]string{".."}, parts...)...) }

func TestDeployConfigLoads(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(repo("deploy", "jetmail.toml"))
	require.NoError(t, err)
	require.Equal(t, 3, cfg.NATS.Replicas)
}

func TestComposeFile(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(repo("compose", "docker-compose.yml"))
	require.NoError(t, err)
	var doc struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
			Build   struct {
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal(data, &doc))
	nodes := 0
	for name, svc := range doc.Services {
		if name == "nats-auth" {
			require.Equal(t, "nats-auth", svc.Command[0])
			out, code := run(t, append(svc.Command, "--help")...)
			require.Equal(t, 0, code, "%s: %s", name, out)
			continue
		}
		if !strings.HasPrefix(name, "jetmail-") {
			require.Contains(t, svc.Command, "/auth/auth.conf", "%s must let in jetmail's identities only", name)
			require.Contains(t, svc.Command, "-js", "%s must run JetStream", name)
			continue
		}
		nodes++
		require.Equal(t, "serve", svc.Command[0], name)
		require.FileExists(t, repo(svc.Build.Dockerfile))
		for _, v := range svc.Volumes {
			if src := strings.SplitN(v, ":", 2)[0]; strings.HasPrefix(src, ".") {
				require.FileExists(t, filepath.Join(repo("compose"), src))
			}
		}
		require.Contains(t, svc.Command, "/auth/node.nk", "%s must connect as its NATS identity", name)
		out, code := run(t, append(svc.Command, "--help")...)
		require.Equal(t, 0, code, "%s: %s", name, out)
	}
	require.Equal(t, 2, nodes)
}

func TestNomadJobs(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(repo("deploy", "nomad", "*.nomad.hcl"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		file, diags := hclparse.NewParser().ParseHCLFile(f)
		require.False(t, diags.HasErrors(), "%s: %s", f, diags.Error())
		body := file.Body.(*hclsyntax.Body)
		require.Len(t, body.Blocks, 1)
		job := body.Blocks[0]
		require.Equal(t, "job", job.Type, f)
		var paths []string
		var args string
		walk(job.Body, func(b *hclsyntax.Block) {
			if b.Type == "check" {
				v, _ := b.Body.Attributes["path"].Expr.Value(nil)
				paths = append(paths, v.AsString())
			}
			if b.Type == "config" {
				args = string(b.Body.Attributes["args"].SrcRange.SliceBytes(readFile(t, f)))
			}
		})
		require.Contains(t, paths, "/health", f)
		require.Contains(t, args, `"serve"`, f)
		// Each job connects as its own NATS identity (jetmail nats-auth).
		src := string(readFile(t, f))
		require.Contains(t, src, `nkey = "/secrets/nats.nk"`, f)
		require.Contains(t, src, ".jetmail_nats_"+identityOf(args), f)
	}
}

// identityOf is the NATS identity (jetmail nats-auth) of a node that runs
// the services named in its serve arguments: the one service's, or
// "node" for all of them.
func identityOf(args string) string {
	m := regexp.MustCompile(`"serve",\s*"([a-z]+)"`).FindStringSubmatch(args)
	if m == nil {
		return "node"
	}
	return m[1]
}

func walk(b *hclsyntax.Body, f func(*hclsyntax.Block)) {
	for _, blk := range b.Blocks {
		f(blk)
		walk(blk.Body, f)
	}
}

func readFile(t *testing.T, path string) []byte {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return data
}

func TestMarathonApps(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(repo("deploy", "marathon", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		var app struct {
			ID           string   `json:"id"`
			Args         []string `json:"args"`
			HealthChecks []struct {
				Path string `json:"path"`
			} `json:"healthChecks"`
		}
		require.NoError(t, json.Unmarshal(readFile(t, f), &app), f)
		require.NotEmpty(t, app.ID)
		require.Equal(t, "serve", app.Args[0])
		require.Equal(t, "/health", app.HealthChecks[0].Path)
		require.Contains(t, strings.Join(app.Args, " "), "--nats-nkey /etc/jetmail/nats/"+identityOf(`"`+strings.Join(app.Args, `", "`)+`"`)+".nk", f)
		out, code := run(t, append(app.Args, "--help")...)
		require.Equal(t, 0, code, "%s: %s", f, out)
	}
}
