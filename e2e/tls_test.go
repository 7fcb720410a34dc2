package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
)

// `serve` reaches a NATS server that requires TLS and a user and password.
func TestServeWithTLSAndCredentials(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTestPKI(t, dir)

	host, portStr, _ := net.SplitHostPort(jetmailtest.FreePort(t))
	port, _ := strconv.Atoi(portStr)
	tlsCfg, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: certFile, KeyFile: keyFile, CaFile: caFile})
	require.NoError(t, err)
	s, err := server.NewServer(&server.Options{
		Host: host, Port: port, JetStream: true, StoreDir: filepath.Join(dir, "js"),
		TLS: true, TLSConfig: tlsCfg, Username: "jetmail", Password: "s3cret", NoSigs: true,
	})
	require.NoError(t, err)
	go s.Start()
	require.True(t, s.ReadyForConnections(10*time.Second))
	defer s.Shutdown()
	url := "tls://" + net.JoinHostPort(host, portStr)

	httpAddr := jetmailtest.FreePort(t)
	p := start(t, dir, "serve", "--nats-url", url, "--tls-ca", caFile, "--nats-user", "jetmail", "--nats-password", "s3cret", "--http", httpAddr)
	waitReady(t, p, httpAddr)
	require.Equal(t, 0, p.stop(20*time.Second))

	// A wrong password fails at once, saying so.
	out, code := run(t, "serve", "--nats-url", url, "--tls-ca", caFile, "--nats-user", "jetmail", "--nats-password", "wrong", "--http", jetmailtest.FreePort(t))
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "Authorization Violation")
	// Without the CA the server's certificate is not trusted.
	out, code = run(t, "serve", "--nats-url", url, "--nats-user", "jetmail", "--nats-password", "s3cret", "--http", jetmailtest.FreePort(t))
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "certificate")
}

// writeTestPKI writes a CA and a server certificate for 127.0.0.1.
func writeTestPKI(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jetmail test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	require.NoError(t, err)
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return path
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", srvDER), write("server-key.pem", "EC PRIVATE KEY", keyDER)
}
