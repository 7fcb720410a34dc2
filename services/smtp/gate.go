package smtp

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetmail/jetmail/shared/config"
)

// gate is the intake's door (smtp.limits), one per node whatever the
// number of listeners: it counts the open connections, in all and per
// client address, turns away those past the limits, and everyone while the
// node cannot store mail, each with a 421 reply, and gives every
// connection it lets in its time limits.
type gate struct {
	lim      config.SMTPLimits
	max      int // lim.MaxConnections, kept below the file descriptor limit
	host     string
	ready    func() bool
	log      *slog.Logger
	refused  *prometheus.CounterVec
	openConn prometheus.Gauge

	mu    sync.Mutex
	open  int
	perIP map[string]int
}

// refuseWrite bounds the write of a refusal, so that a client that reads
// nothing cannot hold its connection open.
const refuseWrite = 5 * time.Second

func newGate(lim config.SMTPLimits, host string, ready func() bool, log *slog.Logger, refused *prometheus.CounterVec, open prometheus.Gauge) *gate {
	g := &gate{lim: lim, max: lim.MaxConnections, host: host, ready: ready, log: log, refused: refused, openConn: open, perIP: map[string]int{}}
	if fds := fileLimit(); fds > 0 && g.max > fds/2 {
		// Past half the descriptors, /health, NATS and the store could not
		// open theirs.
		log.Warn("smtp.limits.max-connections is above half the file descriptor limit; keeping to that", "configured", g.max, "fd_limit", fds, "max_connections", fds/2)
		g.max = fds / 2
	}
	return g
}

// gatedListener is a listener whose connections pass the node's gate.
type gatedListener struct {
	net.Listener
	g *gate
}

// wrap puts ln behind the gate.
func (g *gate) wrap(ln net.Listener) net.Listener { return &gatedListener{ln, g} }

// Accept returns the next connection let in; those turned away are
// answered and closed here.
func (l *gatedListener) Accept() (net.Conn, error) {
	g := l.g
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := clientIP(c.RemoteAddr())
		if reason, text := g.admit(ip); reason != "" {
			g.refused.WithLabelValues(reason).Inc()
			go refuse(c, fmt.Sprintf("421 4.7.0 %s %s\r\n", g.host, text))
			continue
		}
		g.openConn.Inc()
		now := time.Now()
		return &limitedConn{Conn: c, g: g, ip: ip, idle: g.lim.IdleTimeout, sessionEnd: now.Add(g.lim.SessionTimeout), lineEnd: now.Add(g.lim.IdleTimeout)}, nil
	}
}

// admit counts a new connection from ip in, or says why not.
func (g *gate) admit(ip string) (reason, text string) {
	if !g.ready() {
		return "not-ready", "Service not available: no connection to the message store; try again later"
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.open >= g.max:
		return "max-connections", "Too many connections; try again later"
	case g.perIP[ip] >= g.lim.MaxConnectionsPerIP:
		return "max-connections-per-ip", "Too many connections from your address; try again later"
	}
	g.open++
	g.perIP[ip]++
	return "", ""
}

func (g *gate) release(ip string) {
	g.openConn.Dec()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open--
	if g.perIP[ip]--; g.perIP[ip] <= 0 {
		delete(g.perIP, ip)
	}
}

func refuse(c net.Conn, reply string) {
	_ = c.SetWriteDeadline(time.Now().Add(refuseWrite))
	_, _ = c.Write([]byte(reply))
	_ = c.Close()
}

func clientIP(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// limitedConn is a connection under smtp.limits' clocks: each line, of a
// command or of DATA, must arrive within the idle timeout however slowly
// its bytes trickle in, and the whole session within the session timeout.
// Deadlines the SMTP server sets itself still apply when sooner.
type limitedConn struct {
	net.Conn
	g          *gate
	ip         string
	idle       time.Duration
	sessionEnd time.Time

	mu       sync.Mutex
	lineEnd  time.Time // the line being read must be complete by then
	asked    time.Time // the server's own read deadline
	hangUp   bool      // end the session at the next read
	released atomic.Bool
}

func (c *limitedConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	if c.hangUp {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	d := c.lineEnd
	if c.sessionEnd.Before(d) {
		d = c.sessionEnd
	}
	if !c.asked.IsZero() && c.asked.Before(d) {
		d = c.asked
	}
	c.mu.Unlock()
	if err := c.Conn.SetReadDeadline(d); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	if n > 0 {
		if i := bytes.LastIndexByte(b[:n], '\n'); i >= 0 {
			// A line ended: the next one's time starts now.
			c.mu.Lock()
			c.lineEnd = time.Now().Add(c.idle)
			c.mu.Unlock()
		}
	}
	return n, err
}

// SetReadDeadline records the server's deadline; Read applies the sooner.
func (c *limitedConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.asked = t
	c.mu.Unlock()
	return nil
}

// SetDeadline sets the write deadline and records the read one.
func (c *limitedConn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.Conn.SetWriteDeadline(t)
}

// endAfterReply makes the session end once the reply being written is out:
// the next read finds the connection closed.
func (c *limitedConn) endAfterReply() {
	c.mu.Lock()
	c.hangUp = true
	c.mu.Unlock()
}

// lingerFor and lingerBytes bound how long, and how much, a closing
// connection still reads and discards (see Close).
const (
	lingerFor   = 3 * time.Second
	lingerBytes = 32 << 20
)

// Close ends the connection gently: it stops writing, then reads and
// discards what the client still sends, for a few seconds, before closing.
// A client cut off mid-DATA (a line too long) thus reads the reply it was
// given, instead of a connection reset that it would take for a temporary
// failure.
func (c *limitedConn) Close() error {
	if !c.released.CompareAndSwap(false, true) {
		return nil
	}
	c.g.release(c.ip)
	tcp, ok := c.Conn.(*net.TCPConn)
	if !ok {
		return c.Conn.Close()
	}
	err := tcp.CloseWrite()
	go func() {
		_ = tcp.SetReadDeadline(time.Now().Add(lingerFor))
		_, _ = io.CopyN(io.Discard, tcp, lingerBytes)
		_ = tcp.Close()
	}()
	return err
}
