package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/jetmail/jetmail/shared/certs"
	"github.com/jetmail/jetmail/shared/dnsmanage"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// acmeRenewal runs AcmeRenewal: a certificate for the domain (and the
// mail host, when it is in the domain) from acme.directory, by
// acme.challenge,
// stored for every node's listeners; then the next renewal is scheduled
// acme.renew-before its expiry.
func (s *Service) acmeRenewal(ctx context.Context, t *task.Task) error {
	p := t.Payload.(*task.AcmeRenewalTask)
	domain := strings.ToLower(strings.TrimSuffix(p.DomainID, "."))
	if _, err := s.st.Domain(ctx, domain); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("domain %s is not in the store", domain)
	} else if err != nil {
		return err
	}
	if s.cfg.ACME.Directory == "" {
		return fmt.Errorf("no ACME directory: set acme.directory")
	}
	client, err := s.acmeClient(ctx)
	if err != nil {
		return err
	}
	names := certNames(domain, s.cfg.SMTP.Hostname)
	order, err := client.AuthorizeOrder(ctx, acme.DomainIDs(names...))
	if err != nil {
		return fmt.Errorf("order a certificate for %s: %w", strings.Join(names, ", "), err)
	}
	for _, u := range order.AuthzURLs {
		if err := s.authorize(ctx, client, domain, u); err != nil {
			return err
		}
	}
	uri := order.URI
	if order, err = client.WaitOrder(ctx, uri); err != nil {
		return fmt.Errorf("order for %s: %w", domain, err)
	}
	if order.URI == "" {
		order.URI = uri
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: names}, key)
	if err != nil {
		return err
	}
	ders, _, err := client.CreateCertFromOrder(ctx, order, csr, true)
	if err != nil {
		return fmt.Errorf("finalize the order for %s: %w", domain, err)
	}
	var chain []byte
	for _, der := range ders {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	c := &certs.Cert{Domain: domain, Names: names, ChainPEM: chain, Obtained: time.Now().UTC(),
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})}
	if err := s.certs.PutCert(ctx, c); err != nil {
		return err
	}
	s.log.Info("certificate obtained", "domain", domain, "names", names, "serial", c.Serial, "not_after", c.NotAfter)
	return s.scheduleRenewal(ctx, t.ID, c)
}

// scheduleRenewal makes the domain's next AcmeRenewal due renew-before
// the certificate's expiry, replacing one scheduled before (a manual
// renewal does not leave two).
func (s *Service) scheduleRenewal(ctx context.Context, running string, c *certs.Cert) error {
	prev := ""
	if old, err := s.certs.Renewal(ctx, c.Domain); err == nil {
		prev = old
	}
	due := c.NotAfter.Add(-s.cfg.ACME.RenewBefore)
	if now := time.Now(); due.Before(now) {
		due = now.Add(time.Hour) // a certificate shorter than renew-before: renew hourly
	}
	next, err := s.mgr.Create(ctx, &task.AcmeRenewalTask{DomainID: c.Domain}, &due)
	if err != nil {
		return fmt.Errorf("certificate of %s stored; its renewal could not be scheduled: %w", c.Domain, err)
	}
	if err := s.certs.PutRenewal(ctx, c.Domain, next.ID); err != nil {
		return err
	}
	if prev != "" && prev != running && prev != next.ID {
		if err := s.mgr.Destroy(ctx, prev); err != nil && !errors.Is(err, taskmanager.ErrNotFound) {
			s.log.Warn("destroy the renewal scheduled before", "domain", c.Domain, "task", prev, "err", err)
		}
	}
	s.log.Info("renewal scheduled", "domain", c.Domain, "task", next.ID, "due", due)
	return nil
}

// authorize completes one authorization by acme.challenge.
func (s *Service) authorize(ctx context.Context, client *acme.Client, domain, u string) error {
	z, err := client.GetAuthorization(ctx, u)
	if err != nil {
		return fmt.Errorf("read authorization: %w", err)
	}
	if z.Status == acme.StatusValid {
		return nil
	}
	kind := s.cfg.ACME.Challenge
	if kind == "" {
		kind = "http-01"
	}
	i := slices.IndexFunc(z.Challenges, func(c *acme.Challenge) bool { return c.Type == kind })
	if i < 0 {
		return fmt.Errorf("%s: the CA offers no %s challenge", z.Identifier.Value, kind)
	}
	chal := z.Challenges[i]
	var undo func()
	switch kind {
	case "dns-01":
		undo, err = s.dns01(ctx, client, domain, z.Identifier.Value, chal)
	case "tls-alpn-01":
		undo, err = s.tlsALPN01(ctx, client, z.Identifier.Value, chal)
	default:
		undo, err = s.http01(ctx, client, chal)
	}
	if err != nil {
		return err
	}
	defer undo()
	if _, err := client.Accept(ctx, chal); err != nil {
		return fmt.Errorf("%s: accept the %s challenge: %w", z.Identifier.Value, kind, err)
	}
	if _, err := client.WaitAuthorization(ctx, z.URI); err != nil {
		return fmt.Errorf("%s: %s validation failed: %w", z.Identifier.Value, kind, err)
	}
	return nil
}

// http01 makes every node answer the challenge (package certs) until
// undo.
func (s *Service) http01(ctx context.Context, client *acme.Client, chal *acme.Challenge) (undo func(), err error) {
	keyAuth, err := client.HTTP01ChallengeResponse(chal.Token)
	if err != nil {
		return nil, err
	}
	if err := s.certs.PutChallenge(ctx, chal.Token, keyAuth); err != nil {
		return nil, err
	}
	return func() { _ = s.certs.DeleteChallenge(context.WithoutCancel(ctx), chal.Token) }, nil
}

// tlsALPN01 makes every node's HTTPS listener (http.tls, on port 443 for
// the CA) show the challenge's certificate for name to a client asking
// for ALPN acme-tls/1 (RFC 8737) until undo.
func (s *Service) tlsALPN01(ctx context.Context, client *acme.Client, name string, chal *acme.Challenge) (undo func(), err error) {
	cert, err := client.TLSALPN01ChallengeCert(chal.Token, name)
	if err != nil {
		return nil, fmt.Errorf("tls-alpn-01: %w", err)
	}
	if err := s.certs.PutALPNChallenge(ctx, name, cert); err != nil {
		return nil, err
	}
	return func() { _ = s.certs.DeleteALPNChallenge(context.WithoutCancel(ctx), name) }, nil
}

// dns01 publishes the challenge's TXT record at _acme-challenge.<name> in
// the domain's zone (package dnsmanage); undo removes it. The primary
// holds it once it answered the update; secondaries a CA might ask
// instead are not waited for.
func (s *Service) dns01(ctx context.Context, client *acme.Client, domain, name string, chal *acme.Challenge) (undo func(), err error) {
	value, err := client.DNS01ChallengeRecord(chal.Token)
	if err != nil {
		return nil, err
	}
	srv, err := s.dnsServer(domain)
	if err != nil {
		return nil, fmt.Errorf("dns-01: %w", err)
	}
	set := func(want string) []dnsmanage.Set {
		return []dnsmanage.Set{dnsmanage.TXTSet("_acme-challenge."+name, 60, want)}
	}
	if _, err := srv.Apply(ctx, domain, set(value)); err != nil {
		return nil, fmt.Errorf("dns-01: publish the challenge of %s: %w", name, err)
	}
	undo = func() {
		if _, err := srv.Apply(context.WithoutCancel(ctx), domain, set("")); err != nil {
			s.log.Warn("dns-01: remove the challenge record", "name", name, "err", err)
		}
	}
	return undo, nil
}

// acmeClient is a client of acme.directory with the cluster's account,
// registered the first time.
func (s *Service) acmeClient(ctx context.Context) (*acme.Client, error) {
	hc := &http.Client{Timeout: 30 * time.Second}
	if f := s.cfg.ACME.CAFile; f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("acme.ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("acme.ca-file %s holds no PEM certificate", f)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	acct, err := s.certs.Account(ctx)
	if err != nil && !errors.Is(err, certs.ErrNotFound) {
		return nil, err
	}
	var key crypto.Signer
	if acct != nil {
		block, _ := pem.Decode(acct.KeyPEM)
		if block == nil {
			return nil, errors.New("the stored ACME account key holds no PEM block")
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("the stored ACME account key: %w", err)
		}
		key = k.(crypto.Signer)
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		key = k
	}
	client := &acme.Client{Key: key, DirectoryURL: s.cfg.ACME.Directory, HTTPClient: hc, UserAgent: "jetmail"}
	if _, err := client.Discover(ctx); err != nil {
		return nil, fmt.Errorf("ACME directory %s: %w", s.cfg.ACME.Directory, err)
	}
	if acct != nil {
		client.KID = acme.KeyID(acct.URL)
		return client, nil
	}
	a, err := client.Register(ctx, &acme.Account{Contact: s.cfg.ACME.Contact}, acme.AcceptTOS)
	if err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return nil, fmt.Errorf("register with %s: %w", s.cfg.ACME.Directory, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	url := ""
	if a != nil {
		url = a.URI
	}
	if err := s.certs.PutAccount(ctx, &certs.Account{KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), URL: url}); err != nil {
		return nil, err
	}
	return client, nil
}

// certNames are the names a domain's certificate covers: the domain, and
// the mail host when it is the domain or under it.
func certNames(domain, host string) []string {
	names := []string{domain}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host != "" && host != domain && strings.HasSuffix(host, "."+domain) {
		names = append(names, host)
	}
	return names
}
