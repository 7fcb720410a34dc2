// Package acme is the acme service (`jetmail serve acme`), the node side
// of role acme.renew: it runs the domain tasks of that role on the nodes
// that own the domain's partition.
//
// DnsManagement computes the records asked for (updateRecords) from the
// configuration (smtp.hostname, dkim.<domain>, smtp.listen, smtp.tls.cert,
// dns.caa-issuers, dns.ttl) and applies them to the domain's zone on the
// server of dns.server.<id> that names the domain, as one RFC 2136
// update signed with its TSIG key (package dnsmanage): the records a type
// owns that are not wanted are removed, the wanted ones missing added,
// and nothing else in the zone is touched. A refusal (REFUSED, NOTAUTH, a
// bad TSIG) or a missing input fails the run with the reason, and the
// task is retried by the TaskManager policy until it is Failed with it.
// With onSuccessRenewCertificate, an AcmeRenewal task for the domain
// follows a successful update.
//
// AcmeRenewal obtains a certificate from acme.directory (RFC 8555,
// golang.org/x/crypto/acme) for the domain, and the mail host
// (smtp.hostname) when it is the domain or under it, by HTTP-01: the key
// authorization goes to jetmail-certs (package certs), where every node's
// HTTP listener answers it at /.well-known/acme-challenge/. The chain and
// its new P-256 key are stored there too, and every node's SMTP STARTTLS
// serves them as soon as its copy follows (no restart). The ACME account
// is made on first use and kept in the same bucket. The next AcmeRenewal
// is scheduled acme.renew-before the expiry (an hour ahead when the
// certificate is shorter than that), replacing the one scheduled before.
// A failed validation fails the run with the CA's problem document. The
// HTTPS listener (http.tls) serves the certificates too. With
// acme.challenge = "dns-01" a TXT record at _acme-challenge.<name> is
// published on the domain's dns.server instead, and removed after.
//
// DkimManagement rotates a domain's DKIM key, one step per run, each run
// scheduling the next (see dkimManagement): a new key (RSA 2048 or
// Ed25519, dkim.<domain>.algorithm) under a new selector is published
// through the domain's dns.server; once its record is visible and dns.ttl
// has passed, it signs (jetmail-dkim, package dkimkey: every delivery node
// follows it); the key it replaced stays published for
// dkim.<domain>.grace, then its record is removed.
//
// Not yet: the TLS-ALPN-01 challenge.
package acme
