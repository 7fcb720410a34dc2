package config

import (
	"fmt"
	"net"
	"strings"
)

func (l *loader) http(f *file) {
	h, fh := &l.cfg.HTTP, &f.HTTP
	fh.Listen.to(&h.Listen)
	fh.TLS.Cert.to(&h.TLSCert)
	fh.TLS.Key.to(&h.TLSKey)
	if (h.TLSCert == "") != (h.TLSKey == "") {
		l.fail("http.tls", "cert and key go together")
	}
	if h.Listen != "" {
		if _, _, err := net.SplitHostPort(h.Listen); err != nil {
			l.fail("http.listen", "%q is not a host:port address such as 127.0.0.1:8080", h.Listen)
			return
		}
	}
	if w := h.PlainTextExposure(); w != "" {
		l.cfg.Warnings = append(l.cfg.Warnings, Problem{Key: "http.listen", Reason: w})
	}
}

// PlainTextExposure says why h is unsafe, or "" when it is not: the admin
// API on http.listen authenticates with bearer tokens and basic-auth
// passwords, which plain HTTP on an address other hosts can reach gives to
// anyone on the path. Loopback, or TLS (http.tls), is safe.
//
// It is a warning, not a problem: behind a TLS-terminating proxy or a
// service mesh a plain listener on a container's address is normal, and
// the orchestrator's health checks need an address other than loopback.
func (h HTTP) PlainTextExposure() string {
	if h.Listen == "" || h.TLSCert != "" || Loopback(h.Listen) {
		return ""
	}
	return fmt.Sprintf("%s is reachable from other hosts and serves the admin API (/jmap) over plain HTTP, so API secrets cross the network in clear: set http.tls.cert and http.tls.key, or listen on 127.0.0.1", h.Listen)
}

// Loopback reports whether addr (host:port) listens on loopback only. An
// empty host, 0.0.0.0 or :: listen everywhere; a host name other than
// localhost may resolve to anything and counts as not loopback.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	host, _, _ = strings.Cut(host, "%")
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
