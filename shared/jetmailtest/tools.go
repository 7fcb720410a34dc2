package jetmailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// Tool returns the path of a program a test runs as an independent peer
// (python3, Postfix's smtp-sink): the test is skipped when it is missing,
// or fails when JETMAIL_REQUIRE_TOOLS=1 (as in CI, where
// scripts/install-test-deps installs it from package).
func Tool(t testing.TB, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("JETMAIL_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is required (scripts/install-test-deps installs %s)", name, pkg)
		}
		t.Skipf("%s not installed", name)
	}
	return path
}

// SMTPSink runs Postfix's smtp-sink on addr with extra options, until the
// test ends or stop is called; it dumps what it accepts to the returned
// file, each message after its envelope (X-Mail-Args, X-Rcpt-Args...).
func SMTPSink(t testing.TB, addr string, extra ...string) (dump string, stop func()) {
	t.Helper()
	bin := "/usr/sbin/smtp-sink"
	if _, err := os.Stat(bin); err != nil {
		bin = Tool(t, "smtp-sink", "postfix")
	}
	// smtp-sink drops to nobody, who must reach the dump file: not under
	// t.TempDir(), whose parent is private.
	dir, err := os.MkdirTemp("", "jetmail-smtp-sink-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o777))
	dump = filepath.Join(dir, "dump.txt")
	args := append([]string{"-u", "nobody", "-D", dump}, extra...)
	cmd := exec.Command(bin, append(args, addr, "256")...)
	require.NoError(t, cmd.Start())
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_, _ = cmd.Process.Wait()
		}
	}
	t.Cleanup(stop)
	WaitListening(t, addr)
	return dump, stop
}

// KnotKey is the TSIG key a Knot server started by Knot accepts updates
// signed with.
type KnotKey struct{ Name, Algorithm, Secret string }

// Knot runs Knot DNS (knotd) on a free loopback port until the test ends,
// authoritative for each zone (name -> zone file text), which accepts
// dynamic updates signed with key; it returns the server's host:port.
func Knot(t testing.TB, key KnotKey, zones map[string]string) string {
	t.Helper()
	return startKnot(t, key, zones, false)
}

// KnotSigned is Knot with every zone DNSSEC-signed by knotd (an ECDSA
// P-256 key per zone, made at start): ask it for a zone's DNSKEY to
// anchor a validating resolver (Unbound).
func KnotSigned(t testing.TB, key KnotKey, zones map[string]string) string {
	t.Helper()
	return startKnot(t, key, zones, true)
}

func startKnot(t testing.TB, key KnotKey, zones map[string]string, signed bool) string {
	t.Helper()
	bin := "/usr/sbin/knotd"
	if _, err := os.Stat(bin); err != nil {
		bin = Tool(t, "knotd", "knot")
	}
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "db"), 0o700)) // the journal of updates
	addr := FreePort(t)
	host, port, _ := net.SplitHostPort(addr)
	var conf strings.Builder
	fmt.Fprintf(&conf, "server:\n    rundir: %q\n    listen: %s@%s\n\n", dir, host, port)
	fmt.Fprintf(&conf, "database:\n    storage: %q\n\n", filepath.Join(dir, "db"))
	fmt.Fprintf(&conf, "key:\n  - id: %s\n    algorithm: %s\n    secret: %s\n\n", key.Name, key.Algorithm, key.Secret)
	fmt.Fprintf(&conf, "acl:\n  - id: update\n    key: %s\n    action: update\n\n", key.Name)
	if signed {
		fmt.Fprintf(&conf, "policy:\n  - id: signed\n    algorithm: ecdsap256sha256\n\n")
	}
	fmt.Fprintf(&conf, "template:\n  - id: default\n    storage: %q\n    file: \"%%s.zone\"\n    acl: update\n", dir)
	if signed {
		fmt.Fprintf(&conf, "    dnssec-signing: on\n    dnssec-policy: signed\n")
	}
	fmt.Fprintf(&conf, "\nzone:\n")
	for name, text := range zones {
		require.NoError(t, os.WriteFile(filepath.Join(dir, strings.TrimSuffix(name, ".")+".zone"), []byte(text), 0o600))
		fmt.Fprintf(&conf, "  - domain: %s\n", name)
	}
	confPath := filepath.Join(dir, "knot.conf")
	require.NoError(t, os.WriteFile(confPath, []byte(conf.String()), 0o600))
	runPeer(t, "knotd", addr, exec.Command(bin, "-c", confPath))
	return addr
}

// Unbound runs Debian's unbound on a free loopback port until the test
// ends: a validating resolver that asks the authoritative server auth
// for zone, which it trusts by anchor (the zone's DNSKEY record, as
// text), and sets AD on the answers it validated. It returns its
// host:port.
func Unbound(t testing.TB, auth, zone, anchor string) string {
	t.Helper()
	bin := "/usr/sbin/unbound"
	if _, err := os.Stat(bin); err != nil {
		bin = Tool(t, "unbound", "unbound")
	}
	dir := t.TempDir()
	addr := FreePort(t)
	host, port, _ := net.SplitHostPort(addr)
	ahost, aport, _ := net.SplitHostPort(auth)
	// Unbound answers the special-use names (RFC 6761: .test, ...) itself
	// unless told not to.
	labels := strings.Split(strings.TrimSuffix(zone, "."), ".")
	tld := labels[len(labels)-1]
	conf := fmt.Sprintf(`server:
  interface: %s
  port: %s
  do-ip6: no
  do-not-query-localhost: no
  username: ""
  chroot: ""
  directory: %q
  pidfile: %q
  use-syslog: no
  logfile: ""
  verbosity: 1
  access-control: 127.0.0.0/8 allow
  module-config: "validator iterator"
  trust-anchor: %q
  val-log-level: 2
  local-zone: "%s." nodefault
stub-zone:
  name: %q
  stub-addr: %s@%s
`, host, port, dir, filepath.Join(dir, "unbound.pid"), anchor, tld, zone, ahost, aport)
	confPath := filepath.Join(dir, "unbound.conf")
	require.NoError(t, os.WriteFile(confPath, []byte(conf), 0o600))
	runPeer(t, "unbound", addr, exec.Command(bin, "-d", "-c", confPath))
	return addr
}

// runPeer starts a peer server until the test ends, and waits until it
// listens on addr; its output is logged when the test fails.
func runPeer(t testing.TB, name, addr string, cmd *exec.Cmd) {
	t.Helper()
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s:\n%s", name, logs.String())
		}
	})
	WaitListening(t, addr)
}

// Pebble is a running pebble, Let's Encrypt's ACME test server.
type Pebble struct {
	// Directory is its ACME directory URL; CAFile the PEM file its HTTPS
	// is verified with.
	Directory, CAFile string
}

// StartPebble runs pebble until the test ends, resolving names with the
// DNS server dnsAddr and validating HTTP-01 challenges on httpPort of
// the address a name resolves to; certificates are valid for validity.
func StartPebble(t testing.TB, dnsAddr string, httpPort int, validity time.Duration) *Pebble {
	t.Helper()
	return StartPebbleTLS(t, dnsAddr, httpPort, 5001, validity)
}

// StartPebbleTLS is StartPebble validating TLS-ALPN-01 challenges on
// tlsPort.
func StartPebbleTLS(t testing.TB, dnsAddr string, httpPort, tlsPort int, validity time.Duration) *Pebble {
	t.Helper()
	bin := Tool(t, "pebble", "pebble (go install github.com/letsencrypt/pebble/v2/cmd/pebble)")
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebble"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	addr, mgmt := FreePort(t), FreePort(t)
	conf := fmt.Sprintf(`{"pebble": {"listenAddress": %q, "managementListenAddress": %q, "certificate": %q, "privateKey": %q,
  "httpPort": %d, "tlsPort": %d, "ocspResponderURL": "", "externalAccountBindingRequired": false,
  "profiles": {"default": {"description": "jetmail tests", "validityPeriod": %d}}}}`,
		addr, mgmt, certPath, keyPath, httpPort, tlsPort, int(validity.Seconds()))
	confPath := filepath.Join(dir, "pebble.json")
	require.NoError(t, os.WriteFile(confPath, []byte(conf), 0o600))
	cmd := exec.Command(bin, "-config", confPath, "-dnsserver", dnsAddr)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	runPeer(t, "pebble", addr, cmd)
	return &Pebble{Directory: "https://" + addr + "/dir", CAFile: certPath}
}

// Pushgateway runs Debian's prometheus-pushgateway on a free loopback port
// until the test ends and returns its URL. With a user and secret it
// takes only pushes with that HTTP basic auth (its web config holds the
// secret's bcrypt hash).
func Pushgateway(t testing.TB, user, secret string) string {
	t.Helper()
	bin := "/usr/bin/prometheus-pushgateway"
	if _, err := os.Stat(bin); err != nil {
		bin = Tool(t, "prometheus-pushgateway", "prometheus-pushgateway")
	}
	addr := FreePort(t)
	args := []string{"--web.listen-address=" + addr, "--persistence.file=" + filepath.Join(t.TempDir(), "pushgateway.data")}
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.MinCost)
		require.NoError(t, err)
		conf := filepath.Join(t.TempDir(), "web.yml")
		require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, "basic_auth_users:\n  %s: %s\n", user, hash), 0o600))
		args = append(args, "--web.config.file="+conf)
	}
	runPeer(t, "pushgateway", addr, exec.Command(bin, args...))
	return "http://" + addr
}

// SelfSigned is a TLS server configuration with a self-signed P-256
// certificate for 127.0.0.1 (and names), valid for an hour around now:
// a peer that offers STARTTLS.
func SelfSigned(t testing.TB, names ...string) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// Zone is a zone file for origin (no trailing dot) as Knot serves it in
// tests: its SOA, NS and the name server's address (127.0.0.1), TTL 300,
// then records, one per line, with names relative to origin.
func Zone(origin string, records ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %[1]s.\n$TTL 300\n@ SOA ns1.%[1]s. hostmaster.%[1]s. 1 3600 900 604800 300\n@ NS ns1.%[1]s.\nns1 A 127.0.0.1\n", origin)
	for _, r := range records {
		b.WriteString(r + "\n")
	}
	return b.String()
}
