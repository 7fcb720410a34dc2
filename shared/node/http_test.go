package node_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/node"
)

const secret = "admin-secret-123"

// testNode is a started node on an embedded JetStream, with its NATS
// connection and what it logged.
type testNode struct {
	*node.Node
	nc  *nats.Conn
	log *jetmailtest.LogBuffer
}

func startNode(t *testing.T, timeouts node.HTTPTimeouts, change func(*config.Config)) *testNode {
	t.Helper()
	nc := jetmailtest.Conn(t, jetmailtest.Server(t))
	cfg := jetmailtest.Config(t, "1", func(c *config.Config) {
		c.Task.Periodic = map[string]config.Periodic{}
		c.API.Users = map[string]config.APIUser{"admin": {Secret: secret, Permissions: []string{"admin"}}}
	})
	if change != nil {
		change(cfg)
	}
	logs := &jetmailtest.LogBuffer{}
	n, err := node.New(node.Params{Config: cfg, Conn: nc, Logger: slog.New(slog.NewTextHandler(logs, nil)), Version: "test", HTTPTimeouts: timeouts})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, n.Start(ctx))
	t.Cleanup(func() { jetmailtest.StopNode(n) })
	return &testNode{Node: n, nc: nc, log: logs}
}

// post sends body to /jmap and returns the status and the decoded answer.
func post(t *testing.T, url string, body io.Reader) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(data, &out), string(data))
	return resp.StatusCode, out
}

func request(calls ...string) string {
	return `{"using": ["urn:ietf:params:jmap:core"], "methodCalls": [` + strings.Join(calls, ",") + `]}`
}

// countingMethods registers x:Thing/get and x:Thing/set, which count the
// calls that reach them.
func countingMethods(n *testNode) *atomic.Int64 {
	var calls atomic.Int64
	h := func(context.Context, *jmap.Principal, json.RawMessage) (any, error) {
		calls.Add(1)
		return map[string]any{}, nil
	}
	n.Deps().API.Handle("x:Thing/get", "", h)
	n.Deps().API.Handle("x:Thing/set", "", h)
	return &calls
}

// readUntilClosed reads conn until the server closes it and returns what it
// read and how long that took; it fails after limit.
func readUntilClosed(t *testing.T, conn net.Conn, limit time.Duration) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	require.NoError(t, conn.SetReadDeadline(start.Add(limit)))
	data, err := io.ReadAll(conn)
	var ne net.Error
	if err != nil && (!errorsAs(err, &ne) || ne.Timeout()) {
		require.NoError(t, err, "the server did not close the connection within %s", limit)
	}
	return string(data), time.Since(start)
}

func errorsAs(err error, ne *net.Error) bool {
	e, ok := err.(net.Error)
	if ok {
		*ne = e
	}
	return ok
}

// A client that stalls, in its headers, its body or between requests, loses
// its connection when the timeout runs out; a method call still running when
// the response must be written gives up in time to answer.
func TestHTTPTimeouts(t *testing.T) {
	t.Parallel()
	timeouts := node.HTTPTimeouts{ReadHeader: 300 * time.Millisecond, Read: 600 * time.Millisecond, Write: 2 * time.Second, Idle: 400 * time.Millisecond}
	n := startNode(t, timeouts, nil)
	addr := n.HTTPAddr()

	t.Run("headers", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		_, err = io.WriteString(conn, "GET /health HTTP/1.1\r\nHost: x\r\n") // and never the blank line
		require.NoError(t, err)
		out, took := readUntilClosed(t, conn, 5*time.Second)
		require.NotContains(t, out, "200 OK")
		require.GreaterOrEqual(t, took, 250*time.Millisecond)
	})
	t.Run("body", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		_, err = fmt.Fprintf(conn, "POST /jmap HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n{\"using\": [", secret)
		require.NoError(t, err)
		out, took := readUntilClosed(t, conn, 5*time.Second)
		require.NotContains(t, out, "200 OK")
		require.GreaterOrEqual(t, took, 500*time.Millisecond)
	})
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		_, err = io.WriteString(conn, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		r := bufio.NewReader(conn)
		resp, err := http.ReadResponse(r, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		_, _ = io.Copy(io.Discard, resp.Body)
		start := time.Now()
		require.NoError(t, conn.SetReadDeadline(start.Add(5*time.Second)))
		_, err = r.ReadByte()
		require.ErrorIs(t, err, io.EOF, "the server closes an idle keep-alive connection")
		require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	})
	t.Run("method call", func(t *testing.T) {
		t.Parallel()
		n.Deps().API.Handle("x:Slow/get", "", func(ctx context.Context, _ *jmap.Principal, _ json.RawMessage) (any, error) {
			<-ctx.Done() // a call that would run for ever
			return nil, ctx.Err()
		})
		start := time.Now()
		code, out := post(t, n.HTTPURL()+"/jmap", strings.NewReader(request(`["x:Slow/get", {}, "c"]`)))
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, []any{"error", map[string]any{"type": "serverFail", "description": "context deadline exceeded"}, "c"}, out["methodResponses"].([]any)[0])
		require.Less(t, time.Since(start), timeouts.Write, "answered before the write timeout")
	})
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key, and
// returns their paths and a pool that trusts it.
func writeCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jetmail test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// With http.tls set the node serves HTTPS only, health and the admin API
// alike; plain HTTP on that port gets no answer from them.
func TestHTTPServesTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := writeCert(t)
	n := startNode(t, node.HTTPTimeouts{}, func(c *config.Config) { c.HTTP.TLSCert, c.HTTP.TLSKey = certFile, keyFile })
	require.True(t, strings.HasPrefix(n.HTTPURL(), "https://"), n.HTTPURL())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	resp, err := client.Get(n.HTTPURL() + "/health")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotNil(t, resp.TLS)

	api := &jmap.Client{URL: n.HTTPURL() + "/jmap", Authorization: "Bearer " + secret, HTTP: client}
	countingMethods(n)
	require.NoError(t, api.Call(context.Background(), "x:Thing/get", map[string]any{}, nil))

	resp, err = http.Get("http://" + n.HTTPAddr() + "/health")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, string(body), "HTTPS")
	require.NotContains(t, n.log.String(), "admin API without TLS")
}

// A node whose certificate cannot be loaded does not start, and says which
// keys to fix.
func TestHTTPBadCertificateStopsStart(t *testing.T) {
	t.Parallel()
	nc := jetmailtest.Conn(t, jetmailtest.Server(t))
	cfg := jetmailtest.Config(t, "1", func(c *config.Config) {
		c.Task.Periodic = map[string]config.Periodic{}
		c.HTTP.TLSCert, c.HTTP.TLSKey = filepath.Join(t.TempDir(), "missing.pem"), filepath.Join(t.TempDir(), "missing.key")
	})
	n, err := node.New(node.Params{Config: cfg, Conn: nc, Logger: jetmailtest.Logger(), Version: "test"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = n.Start(ctx)
	jetmailtest.StopNode(n)
	require.ErrorContains(t, err, "http.tls.cert and http.tls.key: open ")
}

// A node on a public address without TLS warns in its log, naming the fix.
func TestHTTPWarnsOfPlainTextOnAPublicAddress(t *testing.T) {
	t.Parallel()
	n := startNode(t, node.HTTPTimeouts{}, func(c *config.Config) { c.HTTP.Listen = "0.0.0.0:0" })
	require.Contains(t, n.log.String(), `msg="admin API without TLS on a public address" node_id=1 key=http.listen`)
	require.Contains(t, n.log.String(), "set http.tls.cert and http.tls.key, or listen on 127.0.0.1")

	quiet := startNode(t, node.HTTPTimeouts{}, nil)
	require.NotContains(t, quiet.log.String(), "admin API without TLS")
}
