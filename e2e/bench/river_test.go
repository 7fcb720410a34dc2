package bench

import (
	"bufio"
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// riverJobs is river's job count, the same as jetmail's task count.
const riverJobs = throughputTasks

// startPostgres runs a PostgreSQL server on loopback in a temporary
// directory, as the postgres user, and returns its URL, its major version
// and a stop func. It is shared/sqlstore's test helper (a test file there,
// so not importable) with PostgreSQL at its defaults (fsync on,
// synchronous commits), as river would run in production.
func startPostgres() (url, version string, stop func(), err error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if len(bins) == 0 {
		return "", "", nil, fmt.Errorf("PostgreSQL is not installed (scripts/install-test-deps installs it)")
	}
	bin := bins[len(bins)-1]
	version = filepath.Base(filepath.Dir(bin))
	dir, err := os.MkdirTemp("", "jetmail-bench-pg-")
	if err != nil {
		return "", "", nil, err
	}
	run := func(args ...string) error {
		if os.Geteuid() == 0 { // PostgreSQL refuses to run as root
			args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
		}
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", filepath.Base(args[len(args)-1]), err, out)
		}
		return nil
	}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return "", "", nil, fmt.Errorf("chown: %v: %s", err, out)
		}
	}
	data := filepath.Join(dir, "data")
	if err := run(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return "", "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return "", "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	if err := run(filepath.Join(bin, "pg_ctl"), "-D", data, "-w", "-l", filepath.Join(dir, "log"),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", port, dir), "start"); err != nil {
		os.RemoveAll(dir)
		return "", "", nil, err
	}
	stop = func() {
		_ = run(filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop")
		os.RemoveAll(dir)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), version, stop, nil
}

// riverFigures are what one `river bench` run measured.
type riverFigures struct {
	version     string // river's
	postgres    string // PostgreSQL's major version
	work        figure // river's own "overall job/sec": client start to last job worked
	withInserts figure // the same jobs over the insert phase plus the work phase
}

// riverSummary is river bench's last line, e.g.
// "bench: total jobs worked [ 100000 ], total jobs inserted [ 100000 ], overall job/sec [ 17660.0 ], running 5.66s".
var riverSummary = regexp.MustCompile(`total jobs worked \[\s*(\d+)\s*\].*overall job/sec \[\s*([\d.]+)\s*\], running (\S+)`)

// runRiverBench runs river's own benchmark on a fresh local PostgreSQL:
// `river migrate-up`, then `river bench --num-total-jobs riverJobs`, which
// inserts all the jobs (InsertMany, 5,000 a batch) and then works them with
// a no-op worker. river prints the work phase's jobs/s; the figure
// including inserts divides the same jobs by the insert phase (from its
// "Truncating" log line to "starting iteration", timed here as the lines
// arrive) plus the work phase. Problems are reported in the figures' notes,
// never as a failure: river is the peer, not what is tested.
func runRiverBench(b *testing.B, river string) riverFigures {
	b.Helper()
	f := riverFigures{version: "?"}
	if info, err := buildinfo.ReadFile(river); err == nil {
		for _, d := range info.Deps {
			if d.Path == "github.com/riverqueue/river" {
				f.version = d.Version
			}
		}
	}
	fail := func(format string, args ...any) riverFigures {
		msg := fmt.Sprintf(format, args...)
		b.Logf("river: %s", msg)
		f.work.note, f.withInserts.note = "not measured: "+firstLine(msg), "not measured"
		return f
	}
	url, pgVersion, stop, err := startPostgres()
	if err != nil {
		return fail("start PostgreSQL: %v", err)
	}
	defer stop()
	f.postgres = pgVersion
	if out, err := exec.Command(river, "migrate-up", "--database-url", url).CombinedOutput(); err != nil {
		return fail("river migrate-up: %v: %s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, river, "bench", "--verbose", "--database-url", url, "--num-total-jobs", strconv.Itoa(riverJobs))
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return fail("river bench: %v", err)
	}
	var out strings.Builder
	var truncating, iterating time.Time
	var summary []string
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			now, line := time.Now(), sc.Text()
			out.WriteString(line + "\n")
			switch {
			case truncating.IsZero() && strings.Contains(line, "Truncating and vacuuming"):
				truncating = now
			case iterating.IsZero() && strings.Contains(line, "starting iteration"):
				iterating = now
			}
			if m := riverSummary.FindStringSubmatch(line); m != nil {
				summary = m
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err = cmd.Wait()
	pw.Close()
	<-scanned
	if err != nil {
		return fail("river bench: %v: %s", err, out.String())
	}
	if summary == nil {
		return fail("river bench printed no summary line: %s", out.String())
	}
	worked, _ := strconv.Atoi(summary[1])
	rate, _ := strconv.ParseFloat(summary[2], 64)
	running, err := time.ParseDuration(summary[3])
	if err != nil {
		return fail("river bench summary %q: %v", summary[0], err)
	}
	f.work = figure{rate: rate, took: running}
	if worked != riverJobs {
		f.work.note = fmt.Sprintf("worked %d of %d jobs", worked, riverJobs)
	}
	if truncating.IsZero() || iterating.IsZero() {
		f.withInserts.note = "not measured: river bench --verbose did not log its insert phase"
		return f
	}
	total := iterating.Sub(truncating) + running
	f.withInserts = figure{rate: float64(worked) / total.Seconds(), took: total, note: f.work.note}
	return f
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
