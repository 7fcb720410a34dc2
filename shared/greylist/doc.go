// Package greylist is greylisting with Postfix postgrey's semantics
// (smtp.greylist.*), its state shared by the cluster in KV bucket
// jetmail-greylist.
//
// # Triplets
//
// A delivery attempt is the triplet (client network, sender, recipient):
// the client's IPv4 /24 or IPv6 /64 (postgrey's --ipv4cidr 24 and
// --ipv6cidr 64), the envelope sender lower-cased with its +extension cut
// and each number standing alone replaced by '#' (so that VERP and
// mailing-list bounce addresses make one triplet, not one per message),
// and the recipient lower-cased. Each triplet keeps its first and last
// attempt:
//
//	unknown triplet           first = last = now; refused ("greylisted")
//	retry before first+delay  last = now; refused, for the time left
//	retry after first+delay   last = now; passes, and so does every
//	                          attempt after, while it is seen within
//	                          max-age of its last attempt
//	no pass within            forgotten: a triplet not past the delay
//	retry-window of last      whose last attempt is retry-window old is
//	                          unknown again (postgrey's --retry-window)
//	not seen for max-age      forgotten (postgrey's --max-age)
//
// # Auto-whitelisted clients
//
// Each time a triplet passes for the first time (its previous attempt was
// still inside the delay), its client network's count goes up. A network
// with auto-whitelist-clients passes or more passes without greylisting,
// until it has not been seen for max-age; its last-seen time is written
// at most hourly, as postgrey does, so that a busy whitelisted client
// costs a read per attempt, not a write.
//
// # Storage
//
// Keys are t.<hash of the triplet> and c.<hash of the network> (hashed,
// like postgrey's --privacy: the bucket holds no address); values are
// JSON with Unix seconds. Every write is compare-and-set, so two nodes
// seeing one triplet at once keep one first attempt, and an
// auto-whitelist count misses no pass. Entries carry their time to live
// (retry-window, or max-age once passed), so the bucket forgets by
// itself; the times are also checked on every read, by the injected
// clock. StoreMaintenance removeGreylist empties the bucket (Clear): every
// triplet is new again and no client is whitelisted.
package greylist
