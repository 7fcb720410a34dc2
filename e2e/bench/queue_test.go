package bench

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
)

const (
	relayMessages = 20_000
	relaySessions = 20
	relaySize     = 1024
	// relayPatience bounds one run; a slower one is reported, not failed.
	relayPatience = 10 * time.Minute
)

// countingSink runs smtp-sink -c and follows its running message count.
type countingSink struct {
	addr string
	n    atomic.Int64
}

func startCountingSink(b *testing.B) *countingSink {
	b.Helper()
	s := &countingSink{addr: jetmailtest.FreePort(b)}
	cmd := exec.Command("/usr/sbin/smtp-sink", "-u", "nobody", "-c", s.addr, "1024")
	out, err := cmd.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start(), "smtp-sink (make tools installs postfix)")
	b.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	mesg := regexp.MustCompile(`mesg=(\d+)`)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
			for i, c := range data {
				if c == '\r' || c == '\n' {
					return i + 1, data[:i], nil
				}
			}
			if atEOF && len(data) > 0 {
				return len(data), data, nil
			}
			return 0, nil, nil
		})
		for sc.Scan() {
			if m := mesg.FindStringSubmatch(sc.Text()); m != nil {
				v, _ := strconv.ParseInt(m[1], 10, 64)
				s.n.Store(v)
			}
		}
	}()
	jetmailtest.WaitListening(b, s.addr)
	return s
}

// relayRun sends the load to smtpAddr with smtp-source and returns the
// rate from the first byte to the last message counted at the sink. The
// sessions are persistent (-d: the next message goes over the same
// connection, as a submitting MTA's would) and every recipient is different
// (-N prepends a sequence number), so no peer gains from a one-address cache.
//
// It does not gate on time: if the messages have not all arrived after
// relayPatience, the rate of those that did is reported with a note.
func relayRun(b *testing.B, sink *countingSink, smtpAddr string) figure {
	b.Helper()
	base := sink.n.Load()
	start := time.Now()
	src := exec.Command("/usr/sbin/smtp-source", "-d", "-N", "-s", fmt.Sprint(relaySessions), "-m", fmt.Sprint(relayMessages),
		"-l", fmt.Sprint(relaySize), "-f", "load@source.test", "-t", "sink@remote.test", smtpAddr)
	out, err := src.CombinedOutput()
	require.NoError(b, err, string(out))
	deadline := time.Now().Add(relayPatience)
	for sink.n.Load()-base < relayMessages {
		if time.Now().After(deadline) {
			got := sink.n.Load() - base
			d := time.Since(start)
			return figure{rate: float64(got) / d.Seconds(), took: d,
				note: fmt.Sprintf("only %d of %d messages arrived within %s", got, relayMessages, relayPatience)}
		}
		time.Sleep(10 * time.Millisecond)
	}
	d := time.Since(start)
	return figure{rate: relayMessages / d.Seconds(), took: d}
}

func buildJetmail(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "jetmail")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/jetmail/jetmail/cmd/jetmail").CombinedOutput()
	require.NoError(b, err, string(out))
	return bin
}

// runJetmail starts `jetmail dev` relaying to sink; extra flags are added.
// It returns jetmail's SMTP address and a stop func.
func runJetmail(b *testing.B, bin string, sink *countingSink, extra ...string) (string, func()) {
	b.Helper()
	dir := b.TempDir()
	host, port, _ := net.SplitHostPort(sink.addr)
	cfg := filepath.Join(dir, "jetmail.toml")
	require.NoError(b, os.WriteFile(cfg, []byte(fmt.Sprintf(`
[smtp]
hostname = "bench-jetmail.test"
relay-networks = ["127.0.0.0/8"]
[queue.route.sink]
type = "relay"
address = %q
port = %s
tls = "none"
[queue.strategy]
route = [ { else = "'sink'" } ]
schedule = [ { else = "'remote'" } ]
[queue.schedule.remote]
queue-name = "remote"
[queue.virtual.remote]
threads-per-node = 64
[queue.limits]
per-host = 64
`, host, port)), 0o600))
	smtpAddr, httpAddr, natsAddr := jetmailtest.FreePort(b), jetmailtest.FreePort(b), jetmailtest.FreePort(b)
	args := append([]string{"--log-level", "warn", "dev", "--config", cfg, "--data-dir", filepath.Join(dir, "data"),
		"--nats-listen", natsAddr, "--http", httpAddr, "--smtp", smtpAddr}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	logFile, _ := os.Create(filepath.Join(dir, "jetmail.log"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(b, cmd.Start())
	stop := stopOnce(b, func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait(); logFile.Close() })
	require.Eventually(b, func() bool {
		resp, err := http.Get("http://" + httpAddr + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 60*time.Second, 50*time.Millisecond)
	return smtpAddr, stop
}

// runPostfix starts a private Postfix instance relaying everything to sink,
// as the architecture notes describe, and returns its SMTP address, its
// version and a stop func. It needs root (Postfix only accepts a private
// configuration directory that the system main.cf lists in
// alternate_config_directories); without it, it returns no address.
func runPostfix(b *testing.B, sink *countingSink) (addr, version string, stop func()) {
	b.Helper()
	if os.Geteuid() != 0 {
		return "", "", nil
	}
	v, _ := exec.Command("postconf", "-h", "mail_version").Output()
	version = strings.TrimSpace(string(v))
	dir, err := os.MkdirTemp("/tmp", "jetmail-bench-postfix-")
	require.NoError(b, err)
	require.NoError(b, os.Chmod(dir, 0o755)) // Postfix's daemons run as postfix
	conf, queue, data := filepath.Join(dir, "conf"), filepath.Join(dir, "queue"), filepath.Join(dir, "data")
	for _, d := range []string{conf, queue, data} {
		require.NoError(b, os.MkdirAll(d, 0o755))
	}
	out, err := exec.Command("chown", "postfix", data).CombinedOutput()
	require.NoError(b, err, string(out))
	smtpAddr := jetmailtest.FreePort(b)
	master, err := os.ReadFile("/etc/postfix/master.cf")
	require.NoError(b, err)
	lines := strings.Split(string(master), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "smtp ") && strings.Contains(l, "inet") {
			lines[i] = smtpAddr + " inet n - n - - smtpd"
		}
	}
	require.NoError(b, os.WriteFile(filepath.Join(conf, "master.cf"), []byte(strings.Join(lines, "\n")), 0o644))
	host, port, _ := net.SplitHostPort(sink.addr)
	require.NoError(b, os.WriteFile(filepath.Join(conf, "main.cf"), []byte(fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %s
data_directory = %s
myhostname = bench-postfix.test
mydestination =
relay_domains =
mynetworks = 127.0.0.0/8
relayhost = [%s]:%s
smtp_host_lookup = native
smtp_dns_support_level = disabled
smtpd_tls_security_level = none
smtp_tls_security_level = none
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
maillog_file_prefixes = %s
maillog_file = %s/maillog
alias_maps =
alias_database =
`, queue, data, host, port, dir, dir)), 0o644))
	cur, _ := exec.Command("postconf", "-h", "alternate_config_directories").Output()
	if !strings.Contains(string(cur), conf) {
		val := strings.TrimSpace(strings.TrimSpace(string(cur)) + " " + conf)
		out, err := exec.Command("postconf", "-e", "alternate_config_directories = "+val).CombinedOutput()
		require.NoError(b, err, string(out))
	}
	out, err = exec.Command("postfix", "-c", conf, "start").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
		b.Fatalf("start Postfix: %v: %s\n%s", err, out, log)
	}
	stop = stopOnce(b, func() {
		_ = exec.Command("postfix", "-c", conf, "stop").Run()
		time.Sleep(time.Second)
		os.RemoveAll(dir)
	})
	jetmailtest.WaitListening(b, smtpAddr)
	return smtpAddr, version, stop
}

// BenchmarkRelay measures messages/s from SMTP intake to arrival at
// smtp-sink, 20,000 1 KB messages over 20 persistent smtp-source sessions
// with unique recipients, through jetmail (JetStream file storage at its
// defaults, then with an fsync on every write) and through its peers on the
// same machine in the same run: Postfix and maddy, each at its defaults as
// a relay (both fsync each message's queue files before the 250). Each
// server is stopped once measured, so the next one has the machine alone.
func BenchmarkRelay(b *testing.B) {
	for _, bin := range []string{"/usr/sbin/smtp-sink", "/usr/sbin/smtp-source"} {
		if _, err := os.Stat(bin); err != nil {
			b.Fatalf("%s is needed (make tools installs postfix)", bin)
		}
	}
	sink := startCountingSink(b)
	jm := buildJetmail(b)

	b.ResetTimer()
	measure := func(addr string, stop func()) figure {
		defer stop()
		return relayRun(b, sink, addr)
	}
	jet := measure(runJetmail(b, jm, sink))
	syncAlways := measure(runJetmail(b, jm, sink, "--sync-always"))
	pf := figure{note: "not measured: the Postfix comparison needs root"}
	pfAddr, pfVersion, pfStop := runPostfix(b, sink)
	if pfAddr != "" {
		pf = measure(pfAddr, pfStop)
	}
	md, mdVersion := figure{note: "not measured: maddy is not installed (scripts/install-bench-peers)"}, ""
	if maddy, ok := peerTool(b, "maddy"); ok {
		var addr string
		var stop func()
		addr, mdVersion, stop = runMaddy(b, maddy, sink)
		md = measure(addr, stop)
	}
	b.StopTimer()

	b.ReportMetric(jet.rate, "jetmail_msgs/s")
	b.ReportMetric(syncAlways.rate, "jetmail_sync_msgs/s")
	b.ReportMetric(pf.rate, "postfix_msgs/s")
	b.ReportMetric(md.rate, "maddy_msgs/s")
	row := func(label string, f figure) string { return fmt.Sprintf("  %-68s %s\n", label, f) }
	fmt.Fprint(os.Stdout, "\n"+fmt.Sprintf("relay benchmark: %d messages of %d B from smtp-source, %d persistent sessions (-d), unique recipients (-N),\n",
		relayMessages, relaySize, relaySessions)+
		"intake to arrival at smtp-sink; each server on this machine in this run, one at a time\n"+
		fmt.Sprintf("  %-68s %8s\n", "", "msg/s")+
		row("jetmail (JetStream file storage, default sync: flush every 2 min)", jet)+
		row("jetmail --sync-always (fsync every JetStream write before the 250)", syncAlways)+
		row("Postfix "+pfVersion+" (defaults; fsyncs each queue file before the 250)", pf)+
		row("maddy "+mdVersion+" (defaults; fsyncs its queue files before the 250)", md)+
		fmt.Sprintf("  %-34s %16s %16s\n", "ratios", "jetmail/Postfix", "jetmail/maddy")+
		fmt.Sprintf("  %-34s %16s %16s\n", "  jetmail at defaults", ratio(jet, pf), ratio(jet, md))+
		fmt.Sprintf("  %-34s %16s %16s\n", "  jetmail --sync-always", ratio(syncAlways, pf), ratio(syncAlways, md)))
}
