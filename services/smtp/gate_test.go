package smtp

import (
	"bufio"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
)

// serveLines accepts one connection through a gate with lim and reads
// lines from it until its deadline ends it, and sends how long it took.
func serveLines(t *testing.T, lim config.SMTPLimits) (addr string, done <-chan time.Duration) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g := newGate(lim, "mx.test", func() bool { return true }, jetmailtest.Logger(),
		prometheus.NewCounterVec(prometheus.CounterOpts{Name: "r"}, []string{"reason"}), prometheus.NewGauge(prometheus.GaugeOpts{Name: "o"})).wrap(ln)
	t.Cleanup(func() { g.Close() })
	ch := make(chan time.Duration, 1)
	go func() {
		c, err := g.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		start := time.Now()
		r := bufio.NewReader(c)
		for {
			if _, err := r.ReadString('\n'); err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("the read ended with %v, not its deadline", err)
				}
				ch <- time.Since(start)
				return
			}
		}
	}()
	return ln.Addr().String(), ch
}

// A line must arrive within the idle timeout however its bytes trickle in.
func TestIdleTimeoutIsPerLine(t *testing.T) {
	t.Parallel()
	lim := config.DefaultSMTPLimits
	lim.IdleTimeout, lim.SessionTimeout = 400*time.Millisecond, time.Hour
	addr, done := serveLines(t, lim)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // a byte every 100ms, never a whole line
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	select {
	case took := <-done:
		require.Less(t, took, 5*time.Second)
	case <-time.After(10 * time.Second):
		t.Fatal("a trickling client kept its line open past the idle timeout")
	}
}

// Whole lines in time keep a session going only until the session timeout.
func TestSessionTimeout(t *testing.T) {
	t.Parallel()
	lim := config.DefaultSMTPLimits
	lim.IdleTimeout, lim.SessionTimeout = 500*time.Millisecond, 1500*time.Millisecond
	addr, done := serveLines(t, lim)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	go func() {
		for range 100 {
			if _, err := c.Write([]byte("NOOP\r\n")); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	select {
	case took := <-done:
		require.GreaterOrEqual(t, took, 1400*time.Millisecond, "lines in time keep it open until then")
		require.Less(t, took, 5*time.Second)
	case <-time.After(10 * time.Second):
		t.Fatal("the session outlived its timeout")
	}
}
