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
// AcmeRenewal and DkimManagement have no handler yet: they fail with "no
// handler", as before this service.
package acme
