// Package jetmailtest starts real jetmail pieces for tests in one line: an
// embedded JetStream server or a three-server cluster on loopback, client
// connections, and started nodes. Everything is torn down by t.Cleanup.
//
// Logs are discarded unless JETMAIL_TEST_LOG=1.
package jetmailtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/embedded"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/work"
)

// Logger returns a logger for tests.
func Logger() *slog.Logger {
	if os.Getenv("JETMAIL_TEST_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Server starts an in-process JetStream server with its files in a
// temporary directory.
func Server(t testing.TB) *embedded.Server {
	t.Helper()
	s, err := embedded.Start(embedded.Options{DataDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	return s
}

// FreePort returns a loopback address with a port that was free a moment
// ago and that no earlier call in this process returned: the kernel may
// hand the same free port to two calls in a row, and a test that asks for
// two ports must get two.
func FreePort(t testing.TB) string {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		_ = ln.Close()
		if _, taken := handedOut.LoadOrStore(addr, true); !taken {
			return addr
		}
	}
}

var handedOut sync.Map // address -> true, the ports FreePort returned

// ClusterServer is one server of a test cluster; it can be stopped and
// started again with the same identity and files.
type ClusterServer struct {
	*embedded.Server
	Opts embedded.Options
	URL  string
}

// Restart starts a stopped server again.
func (c *ClusterServer) Restart(t testing.TB) {
	t.Helper()
	s, err := embedded.Start(c.Opts)
	require.NoError(t, err)
	c.Server = s
	t.Cleanup(s.Stop)
}

// Cluster starts n servers routed to each other on loopback and waits until
// JetStream has a meta leader.
func Cluster(t testing.TB, n int) []*ClusterServer {
	t.Helper()
	clients, routes := make([]string, n), make([]string, n)
	for i := range n {
		clients[i], routes[i] = FreePort(t), FreePort(t)
	}
	out := make([]*ClusterServer, n)
	errs := make(chan error, n)
	for i := range n {
		var others []string
		for j := range n {
			if j != i {
				others = append(others, "nats://"+routes[j])
			}
		}
		opts := embedded.Options{
			DataDir: t.TempDir(), Listen: clients[i], ServerName: fmt.Sprintf("s%d", i+1),
			Cluster: &embedded.ClusterOptions{Name: "jetmail-test", Listen: routes[i], Routes: others},
		}
		out[i] = &ClusterServer{Opts: opts, URL: "nats://" + clients[i]}
		go func() {
			s, err := embedded.Start(opts)
			if err == nil {
				out[i].Server = s
			}
			errs <- err
		}()
	}
	for range n {
		require.NoError(t, <-errs)
	}
	for _, s := range out {
		t.Cleanup(func() {
			if s.Server != nil {
				s.Stop()
			}
		})
	}
	nc := Dial(t, out[0].URL)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	// Ready means an asset with one replica per server can be placed.
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "cluster-ready", Subjects: []string{"cluster-ready"}, Replicas: n})
		return err == nil
	}, 60*time.Second, 250*time.Millisecond, "JetStream cluster never became ready")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, js.DeleteStream(ctx, "cluster-ready"))
	return out
}

// URLs joins the client URLs of a cluster, for nats.Connect.
func URLs(servers []*ClusterServer) string {
	s := ""
	for i, c := range servers {
		if i > 0 {
			s += ","
		}
		s += c.URL
	}
	return s
}

// Conn connects in-process to s.
func Conn(t testing.TB, s *embedded.Server) *nats.Conn {
	t.Helper()
	nc, err := s.Connect()
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// Dial connects to url (several servers may be comma-separated), retrying
// reconnects forever.
func Dial(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// Config returns the default configuration for node id with the timings
// shortened for tests, then applies the changes.
func Config(t testing.TB, nodeID string, changes ...func(*config.Config)) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf("[cluster]\nnode-id = %q\nheartbeat-interval = \"200ms\"\nnode-timeout = \"2s\"\n[http]\nlisten = \"127.0.0.1:0\"\n", nodeID)))
	require.NoError(t, err)
	for _, c := range changes {
		c(cfg)
	}
	return cfg
}

// Node starts a node on nc with cfg and the services, and shuts it down
// at cleanup. AckWait is shortened to 3s so that fail-over tests are quick.
func Node(t testing.TB, nc *nats.Conn, cfg *config.Config, services ...node.Service) *node.Node {
	t.Helper()
	return NodeWithDial(t, nc, nil, cfg, services...)
}

// NodeWithDial is Node with a way to open more connections, so that the
// node keeps nats.connections of them.
func NodeWithDial(t testing.TB, nc *nats.Conn, dial func() (*nats.Conn, error), cfg *config.Config, services ...node.Service) *node.Node {
	t.Helper()
	n, err := node.New(node.Params{Config: cfg, Conn: nc, Dial: dial, Services: services, Logger: FailureLogger(t, cfg.Cluster.NodeID), Version: "test",
		Work: work.Params{AckWait: 3 * time.Second, DrainTimeout: 15 * time.Second}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, n.Start(ctx))
	t.Cleanup(func() { StopNode(n) })
	return n
}

// StopNode shuts a node down, giving in-flight work 10 seconds. Calling it
// twice is harmless.
func StopNode(n *node.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.Shutdown(ctx)
}

// WaitListening waits until something accepts connections on addr.
func WaitListening(t testing.TB, addr string) {
	t.Helper()
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 30*time.Second, 20*time.Millisecond, "nothing listens on %s", addr)
}

// SendMail sends body from one SMTP client session to addr: EHLO, AUTH
// PLAIN when user is set, MAIL FROM from, RCPT TO each of to, DATA. The
// first refusal is returned as is (a *smtp.SMTPError for a reply).
func SendMail(addr, user, secret, from string, to []string, body string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return err
	}
	if user != "" {
		if err := c.Auth(sasl.NewPlainClient("", user, secret)); err != nil {
			return err
		}
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, body); err != nil {
		return err
	}
	return w.Close()
}

// SharedPort is a port free on both 127.0.0.1 and 127.0.0.2 a moment
// ago: two peers on one port (MX hosts, which are dialled on
// queue.mx-port) at two addresses.
func SharedPort(t testing.TB) string {
	t.Helper()
	for {
		_, port, _ := net.SplitHostPort(FreePort(t))
		if ln, err := net.Listen("tcp", "127.0.0.2:"+port); err == nil {
			_ = ln.Close()
			return port
		}
	}
}
