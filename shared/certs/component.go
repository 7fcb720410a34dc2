package certs

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/jetmail/jetmail/shared/dnsmanage"
	"github.com/jetmail/jetmail/shared/lifecycle"
	"github.com/jetmail/jetmail/shared/node"
)

// Name is the component's name among a node's services.
const Name = "certs"

// Component opens the certificates on a node, for its TLS listeners and
// to answer HTTP-01 challenges on its HTTP listener: built once per node,
// started before the services that use it.
type Component struct {
	life lifecycle.Lifecycle
	s    *Store
	wg   sync.WaitGroup
}

// NewComponent returns the component.
func NewComponent() *Component { return &Component{} }

// Name implements node.Service.
func (c *Component) Name() string { return Name }

// WithoutRoleWork implements node.WithoutRoleWork.
func (*Component) WithoutRoleWork() {}

// Start implements node.Service: it opens the bucket, loads the
// certificates and follows their changes, and answers challenges.
func (c *Component) Start(ctx context.Context, d node.Deps) error {
	return c.life.Start(ctx, func(ctx context.Context, undo *lifecycle.Undo) error {
		s, err := Open(ctx, d.JS(), d.Config.NATS.Replicas)
		if err != nil {
			return err
		}
		bg, cancel := context.WithCancel(context.Background())
		undo.Add(func(context.Context) error { cancel(); c.wg.Wait(); return nil })
		if err := s.Follow(ctx, bg, &c.wg); err != nil {
			return err
		}
		c.s = s
		if d.HTTP != nil {
			d.HTTP.HandleHTTP(ChallengePath, s.HTTPHandler())
			d.HTTP.HandleHTTP(MTASTSPath, MTASTSHandler(d.Config.SMTP.Hostname))
			if d.Config.ACME.Directory != "" {
				// The HTTPS listener (http.tls) serves what ACME obtained
				// for the name asked, or for the mail host.
				d.HTTP.SetHTTPCertificate(s.GetCertificate(d.Config.SMTP.Hostname, nil))
			}
		}
		return nil
	})
}

// MTASTSPath is where a domain's MTA-STS policy is served (RFC 8461
// §3.3), at https://mta-sts.<domain>/: the record DnsManagement
// publishes (mtaSts) points mta-sts.<domain> at the mail host.
const MTASTSPath = "/.well-known/mta-sts.txt"

// MTASTSHandler serves the MTA-STS policy of every domain the node's
// mail host receives for (dnsmanage.MTASTSPolicy: enforce, mx the host),
// to requests for an mta-sts.<domain> host; others get 404.
func MTASTSHandler(hostname string) http.Handler {
	policy := dnsmanage.MTASTSPolicy(hostname)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := strings.ToLower(r.Host)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !strings.HasPrefix(host, "mta-sts.") || hostname == "" || r.URL.Path != MTASTSPath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, policy)
	})
}

// Shutdown implements node.Service.
func (c *Component) Shutdown(ctx context.Context) error { return c.life.Stop(ctx) }

// Store is the open store; nil before Start.
func (c *Component) Store() *Store { return c.s }
