package acme

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/jetmail/jetmail/shared/dkimkey"
	"github.com/jetmail/jetmail/shared/dnsmanage"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
)

// dnsManagement runs DnsManagement: the records asked, computed from the
// configuration, applied to the domain's zone as a diff (package
// dnsmanage), then an AcmeRenewal when asked for.
func (s *Service) dnsManagement(ctx context.Context, t *task.Task) error {
	p := t.Payload.(*task.DnsManagementTask)
	domain := strings.ToLower(strings.TrimSuffix(p.DomainID, "."))
	if _, err := s.st.Domain(ctx, domain); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("domain %s is not in the store", domain)
	} else if err != nil {
		return err
	}
	srv, err := s.dnsServer(domain)
	if err != nil {
		return err
	}
	in, err := s.dnsDomain(ctx, domain)
	if err != nil {
		return err
	}
	var types []string
	for _, k := range slices.Sorted(maps.Keys(p.UpdateRecords)) {
		if p.UpdateRecords[k] {
			types = append(types, k)
		}
	}
	sets, err := dnsmanage.Records(in, types)
	if err != nil {
		return fmt.Errorf("records of %s: %w", domain, err)
	}
	ch, err := srv.Apply(ctx, domain, sets)
	if err != nil {
		return err
	}
	s.log.Info("dns records updated", "domain", domain, "types", types, "added", len(ch.Added), "removed", len(ch.Removed), "server", srv.Addr)
	for _, rr := range ch.Removed {
		s.log.Info("dns record removed", "domain", domain, "record", rr)
	}
	for _, rr := range ch.Added {
		s.log.Info("dns record added", "domain", domain, "record", rr)
	}
	if p.OnSuccessRenewCertificate {
		if _, err := s.mgr.Create(ctx, &task.AcmeRenewalTask{DomainID: domain}, nil); err != nil {
			return fmt.Errorf("records of %s updated; the AcmeRenewal it asks for could not be created: %w", domain, err)
		}
	}
	return nil
}

// dnsServer is the server configured for domain's zone.
func (s *Service) dnsServer(domain string) (*dnsmanage.Server, error) {
	for _, id := range slices.Sorted(maps.Keys(s.cfg.DNS.Servers)) {
		c := s.cfg.DNS.Servers[id]
		if slices.Contains(c.Domains, domain) {
			return &dnsmanage.Server{Addr: c.Address, Net: c.Protocol, TSIGName: c.TSIGName, TSIGAlgorithm: c.TSIGAlgorithm,
				TSIGSecret: c.TSIGSecret, Timeout: c.Timeout}, nil
		}
	}
	return nil, fmt.Errorf("no DNS server is configured for %s: name it in dns.server.<id>.domains", domain)
}

// dnsDomain is what domain's records are computed from.
func (s *Service) dnsDomain(ctx context.Context, domain string) (dnsmanage.Domain, error) {
	d := dnsmanage.Domain{Name: domain, Hostname: s.cfg.SMTP.Hostname, TTL: s.cfg.DNS.TTL, CAAIssuers: s.cfg.DNS.CAAIssuers}
	if k, ok := s.cfg.DKIM[domain]; ok {
		key, err := dkimkey.Load(k.PrivateKey)
		if err != nil {
			return d, fmt.Errorf("dkim.%s: %w", domain, err)
		}
		rec, err := dkimkey.Record(key)
		if err != nil {
			return d, fmt.Errorf("dkim.%s: %w", domain, err)
		}
		// A rotated domain publishes the keys of its rotation (the
		// configured one while it is among them).
		st, _, err := s.ring.State(ctx, domain)
		switch {
		case errors.Is(err, dkimkey.ErrNoState):
			d.DKIM = []dnsmanage.DKIM{{Selector: k.Selector, Record: rec}}
		case err != nil:
			return d, err
		default:
			if st.Active == nil {
				d.DKIM = append(d.DKIM, dnsmanage.DKIM{Selector: k.Selector, Record: rec}) // still signing
			}
			for _, pk := range st.Published() {
				if pk.Record == "" {
					pk.Record = rec // the configured key
				}
				d.DKIM = append(d.DKIM, dnsmanage.DKIM{Selector: pk.Selector, Record: pk.Record})
			}
		}
	}
	for _, addr := range s.cfg.SMTP.Listen {
		if _, port, err := net.SplitHostPort(addr); err == nil {
			if n, err := strconv.Atoi(port); err == nil {
				d.Ports = append(d.Ports, n)
			}
		}
	}
	if path := s.cfg.SMTP.TLSCert; path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return d, fmt.Errorf("smtp.tls.cert: %w", err)
		}
		block, _ := pem.Decode(data)
		if block == nil {
			return d, fmt.Errorf("smtp.tls.cert %s holds no PEM block", path)
		}
		if d.Cert, err = x509.ParseCertificate(block.Bytes); err != nil {
			return d, fmt.Errorf("smtp.tls.cert %s: %w", path, err)
		}
	}
	return d, nil
}
