// Package certs keeps the TLS certificates the cluster obtained (by ACME,
// services/acme) in the KV bucket jetmail-certs, and hands them to every
// node's TLS listeners as they change: a listener that takes its
// certificate from GetCertificate serves a renewed one within a moment,
// without a restart. It also holds the pending HTTP-01 challenges, which
// every node's HTTP listener answers (HTTPHandler).
//
// Keys:
//
//	cert.<domain>        Cert: the chain and its private key
//	account              the ACME account's key and URL
//	renewal.<domain>     the id of the domain's scheduled AcmeRenewal
//	http01.<token>       an HTTP-01 challenge's key authorization
//	alpn.<name>          a TLS-ALPN-01 challenge's certificate for name,
//	                     which every node's HTTPS listener shows to a
//	                     client asking for ALPN acme-tls/1 (RFC 8737)
//
// Private keys live only in the bucket (which only jetmail's identities
// can read): they are never logged and no API returns them.
package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/kvwatch"
	"github.com/jetmail/jetmail/shared/store"
)

// Bucket holds the certificates, the ACME account and the challenges.
const Bucket = "jetmail-certs"

// ChallengePath is where HTTP-01 challenges are answered.
const ChallengePath = "/.well-known/acme-challenge/"

// ErrNotFound is returned for what the bucket does not hold.
var ErrNotFound = errors.New("not found")

// Cert is a domain's certificate as stored.
type Cert struct {
	Domain string   `json:"domain"`
	Names  []string `json:"names"`
	// ChainPEM is the certificate and its issuers, PEM; KeyPEM its
	// private key.
	ChainPEM []byte    `json:"chain"`
	KeyPEM   []byte    `json:"key"`
	NotAfter time.Time `json:"notAfter"`
	Serial   string    `json:"serial"`
	Obtained time.Time `json:"obtained"`
}

// Account is the ACME account: its key (PEM) and URL.
type Account struct {
	KeyPEM []byte `json:"key"`
	URL    string `json:"url"`
}

// Store is the bucket, and once Follow runs, the certificates in memory.
type Store struct {
	kv jetstream.KeyValue

	mu     sync.RWMutex
	byName map[string]*tls.Certificate // by each name the certificate covers
}

// Open opens (creating it if needed) the bucket with replicas copies.
func Open(ctx context.Context, js jetstream.JetStream, replicas int) (*Store, error) {
	kv, err := store.ConsistentKV(ctx, js, jetstream.KeyValueConfig{
		Bucket: Bucket, Description: "jetmail: TLS certificates obtained by ACME, the ACME account, pending HTTP-01 challenges",
		Replicas: max(replicas, 1), Storage: jetstream.FileStorage, History: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", Bucket, err)
	}
	return &Store{kv: kv, byName: map[string]*tls.Certificate{}}, nil
}

// Follow keeps the certificates in memory up to date until bgCtx ends; it
// returns once those stored when it began are loaded.
func (s *Store) Follow(ctx, bgCtx context.Context, wg *sync.WaitGroup) error {
	return kvwatch.Follow(ctx, bgCtx, s.kv, "cert.>", wg, func(e jetstream.KeyValueEntry) {
		if e.Operation() != jetstream.KeyValuePut {
			return // a certificate removed stays served until it is replaced
		}
		var c Cert
		if json.Unmarshal(e.Value(), &c) != nil {
			return
		}
		pair, err := tls.X509KeyPair(c.ChainPEM, c.KeyPEM)
		if err != nil {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, n := range c.Names {
			s.byName[strings.ToLower(n)] = &pair
		}
	})
}

// For is the certificate that covers name (exact, or by a wildcard one
// level up), or nil.
func (s *Store) For(name string) *tls.Certificate {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c := s.byName[name]; c != nil {
		return c
	}
	if _, parent, ok := strings.Cut(name, "."); ok {
		return s.byName["*."+parent]
	}
	return nil
}

// GetCertificate picks a listener's certificate: the one obtained for the
// name the client asked for (SNI), else for fallback (the host's own
// name), else static (the configured file, which may be nil).
func (s *Store) GetCertificate(fallback string, static *tls.Certificate) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if slices.Contains(hello.SupportedProtos, ALPNProto) {
			return s.alpnCert(hello)
		}
		if hello.ServerName != "" {
			if c := s.For(hello.ServerName); c != nil {
				return c, nil
			}
		}
		if c := s.For(fallback); c != nil {
			return c, nil
		}
		if static != nil {
			return static, nil
		}
		return nil, fmt.Errorf("no certificate for %q", hello.ServerName)
	}
}

func (s *Store) get(ctx context.Context, key string, v any) error {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	return nil
}

func (s *Store) put(ctx context.Context, key string, v any) error {
	b, _ := json.Marshal(v)
	if _, err := s.kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// Cert reads a domain's certificate.
func (s *Store) Cert(ctx context.Context, domain string) (*Cert, error) {
	var c Cert
	if err := s.get(ctx, "cert."+domain, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// PutCert stores a domain's certificate, checking that its chain and key
// go together.
func (s *Store) PutCert(ctx context.Context, c *Cert) error {
	pair, err := tls.X509KeyPair(c.ChainPEM, c.KeyPEM)
	if err != nil {
		return fmt.Errorf("certificate of %s: %w", c.Domain, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Errorf("certificate of %s: %w", c.Domain, err)
	}
	c.NotAfter, c.Serial = leaf.NotAfter, leaf.SerialNumber.Text(16)
	return s.put(ctx, "cert."+c.Domain, c)
}

// Account reads the ACME account.
func (s *Store) Account(ctx context.Context) (*Account, error) {
	var a Account
	if err := s.get(ctx, "account", &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// PutAccount stores the ACME account.
func (s *Store) PutAccount(ctx context.Context, a *Account) error { return s.put(ctx, "account", a) }

// PutChallenge makes every node answer an HTTP-01 challenge's token with
// its key authorization.
func (s *Store) PutChallenge(ctx context.Context, token, keyAuth string) error {
	return s.put(ctx, "http01."+token, keyAuth)
}

// DeleteChallenge stops answering token.
func (s *Store) DeleteChallenge(ctx context.Context, token string) error {
	if err := s.kv.Delete(ctx, "http01."+token); err != nil {
		return fmt.Errorf("delete challenge: %w", err)
	}
	return nil
}

// ALPNProto is the ALPN protocol of TLS-ALPN-01 validation (RFC 8737).
const ALPNProto = "acme-tls/1"

// alpnChallenge is a stored TLS-ALPN-01 certificate.
type alpnChallenge struct {
	Chain [][]byte `json:"chain"`
	Key   []byte   `json:"key"` // PKCS#8
}

// PutALPNChallenge makes every node's HTTPS listener show cert to a CA
// validating name by TLS-ALPN-01.
func (s *Store) PutALPNChallenge(ctx context.Context, name string, cert tls.Certificate) error {
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return fmt.Errorf("tls-alpn-01 key: %w", err)
	}
	return s.put(ctx, "alpn."+strings.ToLower(name), alpnChallenge{Chain: cert.Certificate, Key: key})
}

// DeleteALPNChallenge stops showing name's challenge certificate.
func (s *Store) DeleteALPNChallenge(ctx context.Context, name string) error {
	if err := s.kv.Delete(ctx, "alpn."+strings.ToLower(name)); err != nil {
		return fmt.Errorf("delete challenge: %w", err)
	}
	return nil
}

// alpnCert is the challenge certificate of the name a validating CA asks
// for; without one the handshake fails (RFC 8737 §3).
func (s *Store) alpnCert(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var c alpnChallenge
	if err := s.get(ctx, "alpn."+strings.ToLower(hello.ServerName), &c); err != nil {
		return nil, fmt.Errorf("no tls-alpn-01 challenge for %q: %w", hello.ServerName, err)
	}
	key, err := x509.ParsePKCS8PrivateKey(c.Key)
	if err != nil {
		return nil, fmt.Errorf("tls-alpn-01 challenge for %q: %w", hello.ServerName, err)
	}
	return &tls.Certificate{Certificate: c.Chain, PrivateKey: key}, nil
}

// HTTPHandler answers the HTTP-01 challenges at ChallengePath.
func (s *Store) HTTPHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.URL.Path, ChallengePath)
		if token == "" || strings.ContainsAny(token, "./") {
			http.NotFound(w, r)
			return
		}
		var keyAuth string
		if err := s.get(r.Context(), "http01."+token, &keyAuth); err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(keyAuth))
	})
}

// Renewal is the id of the domain's scheduled AcmeRenewal task.
func (s *Store) Renewal(ctx context.Context, domain string) (string, error) {
	var id string
	err := s.get(ctx, "renewal."+domain, &id)
	return id, err
}

// PutRenewal records the id of the domain's scheduled AcmeRenewal task.
func (s *Store) PutRenewal(ctx context.Context, domain, id string) error {
	return s.put(ctx, "renewal."+domain, id)
}
