// Package dupid is the duplicate-ID list of local delivery: which
// Message-IDs each account has been delivered within
// store.duplicates.retention, so that the same message submitted twice
// (a client that retried after a lost 250, a list that sent it again, a
// forwarding loop) is stored once. It is kept in KV bucket
// jetmail-delivery-dedup, one entry per account and Message-ID, keyed
// <account id>.<hash of the Message-ID>.
//
// A delivery claims its message before storing it (Claim): the claim is a
// Create, so of two deliveries at once exactly one stores. The claim
// names the delivery (its queue message and account: the email id local
// delivery stores under), so that the same delivery tried again after a
// crash, or after a failure, finds its own claim and stores, while any
// other finds the claim and is a duplicate. A delivery that fails after
// its claim releases it (Release), so that the message is not lost to its
// own claim if another copy comes before the retry. An entry lives the
// retention from the first delivery: a duplicate does not extend it, and
// once it has passed the same Message-ID is stored again. A message
// without a Message-ID is never a duplicate.
//
// StoreMaintenance removeSieveLists empties the list (Clear): jetmail has
// no Sieve vacation lists, and this is its duplicate-ID list.
package dupid
