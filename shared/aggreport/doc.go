// Package aggreport keeps what the DMARC (RFC 7489) and TLS (RFC 8460)
// aggregate reports are made of, and makes them.
//
// # Events
//
// Each message received from another server whose From domain publishes
// a DMARC record with rua= adds a DMARCEvent (the SMTP intake, package
// mailauth's evaluation); each outbound delivery to a domain that
// publishes a TLS-RPT record (_smtp._tls.<domain>) adds a TLSEvent. They
// go to stream jetmail-report-events (Stream), subject
// jetmail.reports.<kind>.<domain>, kept for MaxAge; a node publishes
// without waiting, and never fails a message because of it.
//
// # Windows
//
// Reports cover windows of report.window (a divisor of a day; 1d by
// default), aligned on the Unix epoch. Aggregate reads one window's
// events of a kind (a consumer from the window's start, until an event
// of a later window or the end of the stream) and groups them per
// reporting domain: DMARC rows by source IP, disposition, results and
// identifiers; TLS results by policy, and failures by type, MX and IP.
// The counts are exact: each event is one message (DMARC) or one
// session (TLS).
//
// # Reports
//
// DMARCFeedback is the report as RFC 7489 Appendix C's schema has it;
// TLSReport as RFC 8460 §4.4's JSON. Message builds the mail that
// carries one, gzip-compressed, to a rua mailbox: for DMARC the subject
// and file name of RFC 7489 §7.2.1.1, for TLS a multipart/report of
// report-type tlsrpt with an application/tlsrpt+gzip part and the
// TLS-Report-Domain and TLS-Report-Submitter fields (RFC 8460 §5.3).
package aggreport
