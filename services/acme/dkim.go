package acme

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/jetmail/jetmail/shared/dkimkey"
	"github.com/jetmail/jetmail/shared/dnsmanage"
	"github.com/jetmail/jetmail/shared/task"
)

// dkimManagement runs DkimManagement, one step of a domain's key
// rotation (dkimkey.State) each run, scheduling the run of the next step:
//
//	no key pending     a new key (dkim.<domain>.algorithm) under a new
//	                   selector is published; the next run is due when
//	                   the record has been visible for the TTL
//	a key pending      once its record is visible and the TTL passed, it
//	                   signs; the key it replaces stays published for
//	                   dkim.<domain>.grace, when the next run removes it
//	keys past grace    their records are removed
func (s *Service) dkimManagement(ctx context.Context, t *task.Task) error {
	p := t.Payload.(*task.DkimManagementTask)
	domain := strings.ToLower(strings.TrimSuffix(p.DomainID, "."))
	conf, ok := s.cfg.DKIM[domain]
	if !ok {
		return fmt.Errorf("domain %s has no DKIM key to rotate: set dkim.%s", domain, domain)
	}
	srv, err := s.dnsServer(domain)
	if err != nil {
		return err
	}
	st, rev, err := s.ring.State(ctx, domain)
	if err != nil && !errors.Is(err, dkimkey.ErrNoState) {
		return err
	}
	now := time.Now().UTC()
	ttl := s.cfg.DNS.TTL
	switch {
	case st.Next != nil:
		visible, err := s.published(ctx, srv, domain, st.Next)
		if err != nil {
			return err
		}
		if !visible || now.Before(st.Next.ActiveAt) {
			due := st.Next.ActiveAt
			if !visible {
				due = now.Add(ttl)
			}
			return s.nextDKIMStep(ctx, domain, due)
		}
		old := st.Active
		if old == nil {
			old = &dkimkey.Key{Selector: conf.Selector} // the configured key, in its file
		}
		old.RemoveAt = now.Add(conf.Grace)
		st.Retired = append(st.Retired, *old)
		st.Active, st.Next = st.Next, nil
		if err := s.ring.Put(ctx, st, rev); err != nil {
			return err
		}
		s.log.Info("dkim key switched", "domain", domain, "selector", st.Active.Selector, "retired", old.Selector, "remove_at", old.RemoveAt)
		return s.nextDKIMStep(ctx, domain, old.RemoveAt)
	case slices.ContainsFunc(st.Retired, func(k dkimkey.Key) bool { return !now.Before(k.RemoveAt) }):
		var keep []dkimkey.Key
		var sets []dnsmanage.Set
		for _, k := range st.Retired {
			if now.Before(k.RemoveAt) {
				keep = append(keep, k)
				continue
			}
			sets = append(sets, s.dkimSet(domain, k.Selector, ""))
		}
		if _, err := srv.Apply(ctx, domain, sets); err != nil {
			return fmt.Errorf("remove retired DKIM records of %s: %w", domain, err)
		}
		st.Retired = keep
		if err := s.ring.Put(ctx, st, rev); err != nil {
			return err
		}
		s.log.Info("retired dkim keys removed", "domain", domain, "records", len(sets))
		if len(keep) > 0 {
			return s.nextDKIMStep(ctx, domain, keep[0].RemoveAt)
		}
		return nil
	}
	key, keyPEM, err := dkimkey.Generate(conf.Algorithm)
	if err != nil {
		return err
	}
	record, err := dkimkey.Record(key)
	if err != nil {
		return err
	}
	next := &dkimkey.Key{Selector: "j" + now.Format("20060102t150405"), KeyPEM: keyPEM, Record: record, Published: now, ActiveAt: now.Add(ttl)}
	if _, err := srv.Apply(ctx, domain, []dnsmanage.Set{s.dkimSet(domain, next.Selector, record)}); err != nil {
		return fmt.Errorf("publish the new DKIM key of %s: %w", domain, err)
	}
	st.Next = next
	if err := s.ring.Put(ctx, st, rev); err != nil {
		return err
	}
	s.log.Info("dkim key published", "domain", domain, "selector", next.Selector, "algorithm", conf.Algorithm, "signs_from", next.ActiveAt)
	return s.nextDKIMStep(ctx, domain, next.ActiveAt)
}

// dkimSet is the record of one selector: text, or none when empty.
func (s *Service) dkimSet(domain, selector, text string) dnsmanage.Set {
	return dnsmanage.TXTSet(selector+"._domainkey."+domain, uint32(s.cfg.DNS.TTL/time.Second), text)
}

// published says whether the server holds k's record.
func (s *Service) published(ctx context.Context, srv *dnsmanage.Server, domain string, k *dkimkey.Key) (bool, error) {
	rrs, err := srv.Current(ctx, k.Selector+"._domainkey."+domain, dns.TypeTXT)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(rrs, func(rr dns.RR) bool { return strings.Join(rr.(*dns.TXT).Txt, "") == k.Record }), nil
}

// nextDKIMStep schedules the rotation's next run.
func (s *Service) nextDKIMStep(ctx context.Context, domain string, due time.Time) error {
	if _, err := s.mgr.Create(ctx, &task.DkimManagementTask{DomainID: domain}, &due); err != nil {
		return fmt.Errorf("schedule the next step of the DKIM rotation of %s: %w", domain, err)
	}
	return nil
}
