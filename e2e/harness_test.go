package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// jetmailBin is the binary built once for the whole package.
var jetmailBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jetmail-e2e-")
	if err != nil {
		panic(err)
	}
	jetmailBin = filepath.Join(dir, "jetmail")
	build := exec.Command("go", "build", "-o", jetmailBin, "github.com/jetmail/jetmail/cmd/jetmail")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building jetmail failed:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running jetmail process.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
	err  error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.Write(b)
}

// Logs returns what the process printed so far.
func (p *proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// start runs jetmail with args in dir; it is killed at cleanup if still running.
func start(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, done: make(chan struct{})}
	if (slices.Contains(args, "dev") || slices.Contains(args, "serve")) && !slices.Contains(args, "--smtp") {
		args = append(args, "--smtp", "127.0.0.1:0") // parallel nodes must not share a port
	}
	p.cmd = exec.Command(jetmailBin, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p, p
	require.NoError(t, p.cmd.Start())
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("logs of jetmail %s:\n%s", strings.Join(args, " "), p.Logs())
		}
	})
	return p
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop(timeout time.Duration) int {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(syscall.SIGTERM))
	return p.wait(timeout)
}

func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("jetmail did not exit within %s", timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// kill sends SIGKILL: a crash.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// waitReady polls http://addr/ready until it answers 200.
func waitReady(t *testing.T, p *proc, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("jetmail exited early: %v\n%s", p.err, p.Logs())
		default:
		}
		resp, err := http.Get("http://" + addr + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("jetmail not ready at %s after 30s:\n%s", addr, p.Logs())
}

// run runs a short jetmail command and returns its output and exit code.
func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return runIn(t, "", args...)
}

// runIn runs a short jetmail command in dir.
func runIn(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, jetmailBin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("run jetmail %v: %v", args, err)
		}
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// rolesJSON runs `roles show -o json` against url, with the extra flags.
func rolesJSON(t *testing.T, url string, extra ...string) rolesReport {
	t.Helper()
	out, code := run(t, append([]string{"roles", "show", "-o", "json", "--nats-url", url}, extra...)...)
	require.Equal(t, 0, code, out)
	var rep rolesReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	return rep
}

type rolesReport struct {
	Roles []struct {
		Role   string `json:"role"`
		Shards []struct {
			Shard int `json:"shard"`
			Nodes []struct {
				ID   string `json:"id"`
				Live bool   `json:"live"`
			} `json:"nodes"`
		} `json:"shards"`
	} `json:"roles"`
	Nodes []struct {
		ID string `json:"id"`
	} `json:"nodes"`
}

func (r rolesReport) liveNodes() []string {
	var out []string
	for _, n := range r.Nodes {
		out = append(out, n.ID)
	}
	return out
}

func (r rolesReport) shards(role string) []string {
	for _, e := range r.Roles {
		if e.Role != role {
			continue
		}
		var out []string
		for _, s := range e.Shards {
			var ids []string
			for _, n := range s.Nodes {
				ids = append(ids, n.ID)
			}
			out = append(out, strings.Join(ids, ","))
		}
		return out
	}
	return nil
}
