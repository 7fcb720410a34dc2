package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTPTimeouts bound each connection of the node's HTTP server, so that a
// slow or stalled client cannot hold a connection (and its goroutine and
// buffers) for ever. Zero fields take the defaults.
type HTTPTimeouts struct {
	// ReadHeader is how long a client has to send a request's headers.
	// Default 10s.
	ReadHeader time.Duration
	// Read is how long a client has to send a whole request, body included:
	// the largest admin API request (jmap.MaxSizeRequest, 10 MiB) at about
	// 170 KiB/s. Default 1m.
	Read time.Duration
	// Write is how long the server may take from the end of a request's
	// headers to the end of its response. A method call's context ends
	// a little earlier (see callBudget), so that the call gives up and the
	// client still gets an answer. Default 5m: 16 calls of 1000 objects.
	Write time.Duration
	// Idle is how long a kept-alive connection waits for its next request.
	// Default 2m.
	Idle time.Duration
}

// maxHeaderBytes bounds a request's headers (Go's default is 1 MiB).
const maxHeaderBytes = 64 << 10

func (t HTTPTimeouts) withDefaults() HTTPTimeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.ReadHeader, 10*time.Second)
	def(&t.Read, time.Minute)
	def(&t.Write, 5*time.Minute)
	def(&t.Idle, 2*time.Minute)
	return t
}

// callBudget is how long the admin API's method calls of one HTTP request
// may run: the write timeout less the time to send the response.
func (t HTTPTimeouts) callBudget() time.Duration {
	if t.Write > 20*time.Second {
		return t.Write - 10*time.Second
	}
	return t.Write / 2
}

func (n *Node) startHTTP() error {
	addr := n.cfg.HTTP.Listen
	if addr == "" {
		return nil
	}
	var tlsConfig *tls.Config
	if n.cfg.HTTP.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(n.cfg.HTTP.TLSCert, n.cfg.HTTP.TLSKey)
		if err != nil {
			return fmt.Errorf("http.tls.cert and http.tls.key: %w", err)
		}
		// acme-tls/1: a CA validating a name by TLS-ALPN-01 (the
		// certificate comes from SetHTTPCertificate's, package certs).
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1", "acme-tls/1"}, GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if get := n.httpCert.Load(); get != nil {
				c, err := (*get)(hello)
				if err == nil && c != nil {
					return c, nil
				}
				if slices.Contains(hello.SupportedProtos, "acme-tls/1") {
					return nil, err // a challenge has its certificate, or none
				}
			}
			return &cert, nil
		}}
	}
	if w := n.cfg.HTTP.PlainTextExposure(); w != "" {
		n.log.Warn("admin API without TLS on a public address", "key", "http.listen", "reason", w)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listen on %s (http.listen): %w", addr, err)
	}
	n.httpAddr = ln.Addr().String()
	timeouts := n.p.HTTPTimeouts.withDefaults()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "node": n.id})
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		status, code := "ready", http.StatusOK
		var reasons []string
		if !n.ready.Load() {
			reasons = append(reasons, "starting or stopping")
		}
		if !n.conn.IsConnected() {
			reasons = append(reasons, "NATS disconnected: "+n.conn.Status().String())
		}
		if len(reasons) > 0 {
			status, code = "not ready", http.StatusServiceUnavailable
		}
		body := map[string]any{"status": status, "node": n.id, "leader": n.IsLeader(), "reasons": reasons}
		// A configuration that disagrees with the role maps is said, not
		// a reason to be unready: the maps win and the node works them.
		if drift := n.ConfigDrift(); len(drift) > 0 {
			body["configDrift"] = drift
		}
		writeJSON(w, code, body)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.registry, promhttp.HandlerOpts{}))
	budget := timeouts.callBudget()
	mux.Handle("/jmap", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), budget)
		defer cancel()
		n.api.ServeHTTP(w, r.WithContext(ctx))
	}))
	n.http = &http.Server{
		Handler:           mux,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: timeouts.ReadHeader,
		ReadTimeout:       timeouts.Read,
		WriteTimeout:      timeouts.Write,
		IdleTimeout:       timeouts.Idle,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	go func() {
		var err error
		if tlsConfig != nil {
			err = n.http.ServeTLS(ln, "", "")
		} else {
			err = n.http.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server", "err", err)
		}
	}()
	return nil
}
