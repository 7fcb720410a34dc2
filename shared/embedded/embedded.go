// Package embedded runs a NATS server with JetStream inside the jetmail
// process, for `jetmail dev` and for tests.
package embedded

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Options configures an embedded server.
type Options struct {
	// DataDir holds the JetStream files (in DataDir/jetstream). Required.
	DataDir string
	// Listen is the client address, such as "127.0.0.1:4222". Empty means
	// no client port: only in-process connections.
	Listen string
	// ServerName names the server in a cluster. Default "jetmail".
	ServerName string
	// Cluster, when set, joins the server to a NATS cluster.
	Cluster *ClusterOptions
	// SyncAlways makes JetStream fsync every write (sync_interval: always).
	SyncAlways bool
	// Users are the NKey users allowed in, each with its permissions (nil
	// for all); empty lets anyone in (tests). natsauth.Layout builds the
	// users of a cluster.
	Users []*server.NkeyUser
}

// ClusterOptions are a clustered server's route settings.
type ClusterOptions struct {
	// Name is the cluster's name, the same on every server.
	Name string
	// Listen is this server's route address, such as "127.0.0.1:6222".
	Listen string
	// Routes are the route URLs of the other servers ("nats://127.0.0.1:6223").
	Routes []string
}

// Server is a running embedded NATS server.
type Server struct {
	*server.Server
}

// Start starts a server and waits until it accepts connections.
func Start(o Options) (*Server, error) {
	if o.DataDir == "" {
		return nil, fmt.Errorf("embedded nats: a data directory is required")
	}
	name := o.ServerName
	if name == "" {
		name = "jetmail"
	}
	opts := &server.Options{
		ServerName:         name,
		JetStream:          true,
		StoreDir:           filepath.Join(o.DataDir, "jetstream"),
		NoSigs:             true,
		MaxPayload:         8 << 20, // whole messages travel as one payload
		JetStreamMaxMemory: 256 << 20,
	}
	if o.SyncAlways {
		opts.SyncAlways = true
	}
	opts.Nkeys = o.Users
	if o.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := splitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: listen %q: %w", o.Listen, err)
		}
		opts.Host, opts.Port = host, port
	}
	if c := o.Cluster; c != nil {
		host, port, err := splitHostPort(c.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: cluster listen %q: %w", c.Listen, err)
		}
		opts.Cluster = server.ClusterOpts{Name: c.Name, Host: host, Port: port}
		for _, r := range c.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("embedded nats: route %q: %w", r, err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready after 30s (is %s in use?)", o.Listen)
	}
	return &Server{s}, nil
}

// Connect opens a client connection to the server, in-process when it has
// no client port.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.InProcessServer(s.Server)}, opts...)
	return nats.Connect("", opts...)
}

// Stop shuts the server down and waits until it has.
func (s *Server) Stop() {
	s.Shutdown()
	s.WaitForShutdown()
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return host, port, nil
}
