// Package fts is the full-text index of a partition's accounts: emails,
// calendar events, contacts and files, in one bleve index (scorch segments)
// in a local directory, searched one account at a time.
//
// # Documents
//
// A Doc is keyed by Account, Type and ID. Nothing is stored but what the
// index needs to search and sort: a search returns IDs, and the caller reads
// the documents from the store. Index.Apply takes puts, deletes and a
// checkpoint as one batch; it returns once the batch is on disk (unless
// Options.UnsafeBatch), so a checkpoint (the caller's position in its change
// log) stored with it says exactly what the index holds, and an index lost
// with its disk is rebuilt from the start rather than resumed. Puts and
// deletes are idempotent, so replaying changes after the checkpoint is safe.
//
// # Languages
//
// Text is stemmed in the document's language when bleve has an analyzer for
// it: ar, cjk (for zh, ja, ko), ckb, da, de, en, es, fa, fi, fr, hi, hr, hu,
// it, nl, no (also nb, nn), pl, pt, ro, ru, sv and tr. Other languages and
// documents without one use bleve's standard analyzer: Unicode word
// segmentation, lower case, English stop words, no stemming.
//
// The prose fields (subject, body, summary, description, location) are
// indexed under one field per language, "body_fr", "body_std", each with its
// language's analyzer, and a keyword field "lang" records the document's
// language. A query is built with one branch per language present in the
// index: "lang is L, and every term, analysed by L's analyzer, is in L's
// fields or in the address fields". Terms are analysed on both sides by the
// same analyzer, so "cheval" finds "chevaux" in French mail and "Häuser"
// finds "Haus" in German mail, whatever language the user types in.
//
// The alternatives were worse for mail. One field with a per-document
// analyzer (bleve's type mappings) cannot be queried correctly: bleve
// analyses a query with the one analyzer its field maps to, so a French stem
// never meets a German one. Indexing all text twice, stemmed and not, doubles
// the index to serve the rare cross-language query. The cost of branches is
// at query time, and only for the languages actually present (read from the
// lang field at Open and kept up to date by Apply): a partition of English
// mail pays for one.
//
// Stop words are dropped at indexing, so a term that is a stop word in L is
// left out of L's branch only: "die Katze" needs only "katze" in German mail
// but both words in English mail. When every term that is searched in prose
// fields is a stop word (or punctuation) in every language, the query matches
// nothing, as does a From or To term that is punctuation alone.
//
// # Names and addresses
//
// From, To, Cc, Names and attachment names share a language-neutral
// analyzer: words are Unicode words in lower case, and an address is one
// position holding the whole address, its local part and the words of it,
// its domain, each parent domain and each label of the domain but the top
// one. So "alice.martin@mail.example.org" is found by that address, by
// "alice.martin", "martin", "mail.example.org", "example.org" or "example".
// A query for an address is the whole address only, so it does not match
// "alice.martin@other.test".
//
// # Queries
//
// Every field set in a Query must match. Text, From, To, Subject and Body
// hold terms separated by spaces; every term must match (AND), each in any of
// the fields searched, and a "double-quoted phrase" must match as a phrase. A
// term the analyzer splits ("2025-117", "e-mail") is a phrase of its parts.
// Tokens over 128 bytes (base64 or hex runs) are not indexed, nor queried.
// Dates follow JMAP: After is inclusive, Before exclusive. Results are sorted
// by date (no scoring is done then) or by relevance (bleve's TF-IDF, which the
// filters do not affect), ties broken by document id; Result.Total counts all
// matches.
//
// # Costs
//
// Text fields keep term positions so phrases work; that is about half of the
// index: on generated mail (package mailgen) 3.9 KB per message against 1.8
// KB without. A search costs a few term lookups per field searched and
// language present; the benchmarks in this package measure indexing and
// searching on generated mail.
//
// The layout of the fields is versioned: Open refuses an index of another
// format version, to be rebuilt.
package fts
