package config

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHTTPSection(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte("[http]\nlisten = \"0.0.0.0:8443\"\n[http.tls]\ncert = \"/etc/jetmail/tls/cert.pem\"\nkey = \"/etc/jetmail/tls/key.pem\"\n"))
	require.NoError(t, err)
	require.Equal(t, HTTP{Listen: "0.0.0.0:8443", TLSCert: "/etc/jetmail/tls/cert.pem", TLSKey: "/etc/jetmail/tls/key.pem"}, cfg.HTTP)
	require.Empty(t, cfg.Warnings, "TLS on a public address is fine")

	require.Equal(t, []string{
		"http.listen: \"8080\" is not a host:port address such as 127.0.0.1:8080",
		"http.tls: cert and key go together",
		"http.tls.ca: unknown key (known: cert, key)",
	}, problemsOf(t, "[http]\nlisten = \"8080\"\n[http.tls]\ncert = \"c.pem\"\nca = \"x\"\n"))

	// Plain HTTP where other hosts can reach it is a warning, not a problem.
	for addr, warn := range map[string]bool{
		"127.0.0.1:8080": false, "[::1]:8080": false, "localhost:8080": false, "127.0.0.2:0": false,
		"0.0.0.0:8080": true, ":8080": true, "[::]:8080": true, "10.1.2.3:8080": true, "mail.example.org:8080": true,
	} {
		cfg, err := Parse([]byte(fmt.Sprintf("[http]\nlisten = %q\n", addr)))
		require.NoError(t, err, addr)
		if !warn {
			require.Empty(t, cfg.Warnings, addr)
			continue
		}
		require.Len(t, cfg.Warnings, 1, addr)
		require.Equal(t, "http.listen", cfg.Warnings[0].Key)
		require.Contains(t, cfg.Warnings[0].Reason, addr+" is reachable from other hosts and serves the admin API (/jmap) over plain HTTP")
		require.Contains(t, cfg.Warnings[0].Reason, "set http.tls.cert and http.tls.key, or listen on 127.0.0.1")
	}
	def, err := Parse(nil)
	require.NoError(t, err)
	require.Empty(t, def.Warnings, "the default listens on loopback")
}
