package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
)

// The scale benchmarks run each measured party as a process of its own, so
// that a resident set is one party's and the test's own heap (the
// creators, the reports it collects) is in none of them:
//
//   - the NATS server: benchnats (e2e/bench/cmd/benchnats), the embedded
//     server of package embedded in a main of its own;
//   - the jetmail node: bin/jetmail serve, built from ./cmd/jetmail, where
//     the node only needs to hold items; benchnode (e2e/bench/cmd/benchnode),
//     the same node with a reporting IndexTrace handler, where tasks must
//     run (lateness, restart, fail-over).
//
// Items are created by a node in the test process that holds no role, so
// runs no work; it is stopped before what is measured starts.

// benchBins are the binaries the scale benchmarks run.
type benchBins struct{ jetmail, nats, node string }

// buildBins builds the binaries into a temporary directory (the Go build
// cache makes it quick after the first time).
func buildBins(b *testing.B) benchBins {
	b.Helper()
	dir := b.TempDir()
	build := func(name, pkg string) string {
		out := filepath.Join(dir, name)
		res, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput()
		require.NoError(b, err, string(res))
		return out
	}
	return benchBins{
		jetmail: build("jetmail", "github.com/jetmail/jetmail/cmd/jetmail"),
		nats:    build("benchnats", "github.com/jetmail/jetmail/e2e/bench/cmd/benchnats"),
		node:    build("benchnode", "github.com/jetmail/jetmail/e2e/bench/cmd/benchnode"),
	}
}

// child is a process started by a benchmark: its stdout lines go to a
// channel, both outputs to a log file kept in the benchmark's directory.
type child struct {
	b       *testing.B
	name    string
	cmd     *exec.Cmd
	lines   chan string
	done    chan struct{}
	logPath string
	started time.Time
}

func startChild(b *testing.B, name, bin string, args ...string) *child {
	b.Helper()
	logPath := filepath.Join(b.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	require.NoError(b, err)
	c := &child{b: b, name: name, cmd: exec.Command(bin, args...), lines: make(chan string, 64), done: make(chan struct{}), logPath: logPath}
	out, err := c.cmd.StdoutPipe()
	require.NoError(b, err)
	c.cmd.Stderr = logFile
	c.started = time.Now()
	require.NoError(b, c.cmd.Start(), name)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(logFile, sc.Text())
			select {
			case c.lines <- sc.Text():
			default: // nobody waits for this line
			}
		}
	}()
	go func() { _ = c.cmd.Wait(); logFile.Close(); close(c.done) }()
	b.Cleanup(c.kill)
	return c
}

// await waits for a stdout line starting with prefix and returns it.
func (c *child) await(prefix string, within time.Duration) string {
	c.b.Helper()
	deadline := time.After(within)
	for {
		select {
		case l := <-c.lines:
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-c.done:
			c.b.Fatalf("%s exited before printing %q:\n%s", c.name, prefix, c.logs())
		case <-deadline:
			c.b.Fatalf("%s did not print %q within %s:\n%s", c.name, prefix, within, c.logs())
		}
	}
}

func (c *child) logs() string {
	data, _ := os.ReadFile(c.logPath)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop sends SIGTERM and waits for the exit (a kill after a minute).
func (c *child) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(time.Minute):
		c.kill()
	}
}

// kill sends SIGKILL: a crash.
func (c *child) kill() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Kill()
	<-c.done
}

// natsProc is a benchnats process.
type natsProc struct {
	*child
	url string
}

func startNATS(b *testing.B, bins benchBins, dir string, flags ...string) *natsProc {
	b.Helper()
	addr := jetmailtest.FreePort(b)
	c := startChild(b, "benchnats", bins.nats, append([]string{"-dir", dir, "-listen", addr}, flags...)...)
	c.await("ready", time.Minute)
	return &natsProc{child: c, url: "nats://" + addr}
}

// collect makes the server collect garbage and return freed memory to
// the OS (SIGUSR1) and returns its Go heap in use.
func (p *natsProc) collect() uint64 {
	p.b.Helper()
	require.NoError(p.b, p.cmd.Process.Signal(syscall.SIGUSR1))
	l := p.await("gc ", time.Minute)
	v, _ := strconv.ParseUint(strings.TrimPrefix(l, "gc "), 10, 64)
	return v
}

// nodeConfig writes a node's TOML configuration into dir and returns its
// path and its HTTP address. extra is appended to the file.
func nodeConfig(b *testing.B, dir, nodeID, natsURL, extra string) (path, httpAddr string) {
	b.Helper()
	httpAddr = jetmailtest.FreePort(b)
	path = filepath.Join(dir, "node-"+nodeID+".toml")
	require.NoError(b, os.WriteFile(path, []byte(fmt.Sprintf(`
[cluster]
node-id = %q
[nats]
url = %q
[http]
listen = %q
[smtp]
listen = [%q]
%s`, nodeID, natsURL, httpAddr, jetmailtest.FreePort(b), extra)), 0o600))
	return path, httpAddr
}

// jetmailProc is a bin/jetmail serve process.
type jetmailProc struct {
	*child
	http string
}

// startJetmail runs `jetmail serve` with the services against natsURL as
// node 1 and waits until it is ready.
func startJetmail(b *testing.B, bins benchBins, natsURL string, services ...string) *jetmailProc {
	b.Helper()
	return startJetmailWith(b, bins, natsURL, "", services...)
}

// startJetmailWith is startJetmail with extra configuration.
func startJetmailWith(b *testing.B, bins benchBins, natsURL, extra string, services ...string) *jetmailProc {
	b.Helper()
	cfg, httpAddr := nodeConfig(b, b.TempDir(), "1", natsURL, extra)
	c := startChild(b, "jetmail", bins.jetmail, append([]string{"--log-level", "warn", "serve", "--config", cfg}, services...)...)
	p := &jetmailProc{child: c, http: httpAddr}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + httpAddr + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-c.done:
			b.Fatalf("jetmail exited early:\n%s", c.logs())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("jetmail not ready at %s after a minute:\n%s", httpAddr, c.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startBenchNode runs benchnode as nodeID against natsURL with extra
// configuration and flags, and waits until it has started.
func startBenchNode(b *testing.B, bins benchBins, nodeID, natsURL, extraConfig string, flags ...string) *child {
	b.Helper()
	cfg, _ := nodeConfig(b, b.TempDir(), nodeID, natsURL, extraConfig)
	c := startChild(b, "benchnode-"+nodeID, bins.node, append([]string{"-config", cfg}, flags...)...)
	c.await("started", 2*time.Minute)
	return c
}

// vmRSS reads VmRSS of process pid from /proc, in bytes.
func vmRSS(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// cpuTime is the CPU time (user and system) process pid has used, read
// from /proc/<pid>/stat in clock ticks of 10 ms.
func cpuTime(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: the fields start after its ")".
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// rssPeak samples the VmRSS of pids every 100 ms until stop is called,
// which returns the highest sum seen and each one's highest.
func rssPeak(pids ...int) (stop func() (sum uint64, each []uint64)) {
	done := make(chan struct{})
	var mu sync.Mutex
	var sum uint64
	each := make([]uint64, len(pids))
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			var s uint64
			mu.Lock()
			for i, pid := range pids {
				v, _ := vmRSS(pid)
				s += v
				each[i] = max(each[i], v)
			}
			sum = max(sum, s)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() (uint64, []uint64) {
		close(done)
		mu.Lock()
		defer mu.Unlock()
		return sum, append([]uint64(nil), each...)
	}
}

// nodeRun is one handler run reported by benchnode.
type nodeRun struct {
	Trace string `json:"t"`
	Start int64  `json:"s"`
	End   int64  `json:"e"`
	Due   int64  `json:"d"`
	Node  string `json:"-"`
}

// runLog collects the runs benchnode processes report over NATS.
type runLog struct {
	mu   sync.Mutex
	runs []nodeRun
	seen map[string]bool
	sub  *nats.Subscription
	nc   *nats.Conn
}

// collectRuns subscribes to the runs reported on the server at url.
func collectRuns(b *testing.B, url string) *runLog {
	b.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	require.NoError(b, err)
	l := &runLog{seen: map[string]bool{}, nc: nc}
	l.sub, err = nc.Subscribe("jetmail-bench.runs", func(m *nats.Msg) {
		var batch struct {
			Node string    `json:"node"`
			Runs []nodeRun `json:"runs"`
		}
		if json.Unmarshal(m.Data, &batch) != nil {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, r := range batch.Runs {
			r.Node = batch.Node
			l.runs = append(l.runs, r)
			if r.End != 0 {
				l.seen[r.Trace] = true
			}
		}
	})
	require.NoError(b, err)
	require.NoError(b, l.sub.SetPendingLimits(-1, -1))
	require.NoError(b, nc.Flush())
	b.Cleanup(l.close)
	return l
}

func (l *runLog) close() { l.nc.Close() }

// done counts the distinct traces with prefix that finished a run.
func (l *runLog) done(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for t := range l.seen {
		if strings.HasPrefix(t, prefix) {
			n++
		}
	}
	return n
}

// snapshot returns a copy of the runs so far.
func (l *runLog) snapshot() []nodeRun {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]nodeRun(nil), l.runs...)
}

// waitDone waits until want distinct traces with prefix have finished, or
// patience has passed; it reports whether they all did.
func (l *runLog) waitDone(prefix string, want int, patience time.Duration) bool {
	deadline := time.Now().Add(patience)
	for l.done(prefix) < want {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// cpuProfile fetches a CPU profile of seconds from a benchnode's pprof
// address into dir/name.
func cpuProfile(addr string, seconds int, path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+30)*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
