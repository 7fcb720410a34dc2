// Package spam classifies mail as spam or ham: a Bayesian score over the
// tokens of a message, combined by the Robinson–Fisher method as bogofilter
// and SpamAssassin's Bayes do, plus the scores of data-only rules. It is
// pure Go and holds no state of its own: models (Model.Encode, DecodeModel)
// and rule files are the caller's to store and share, and each Classify
// call is given the models to use.
//
// # Tokens
//
// Analyze parses a message once with mailparse (MIME, transfer encodings,
// charsets, RFC 2047, HTML reduced to text), reads its top-level header
// itself, and walks its HTML parts, decoded, for what the text leaves out.
// It returns each distinct token once: a token counts once per message, in
// training as in scoring. Tokens are lower-case, 2 to 40 bytes, and named
// by where they come from:
//
//   - body words, bare: letters, digits and the joiners words hold inside
//     (don't, follow-up, 3.5, $100); numbers longer than 5 characters are
//     dropped as noise. Obfuscations are undone and flagged: spaced
//     letters (v.i.a.g.r.a, V I A G R A) give viagra and x:spaced, l33t
//     between letters (v1agra, c@sh) gives viagra and x:leet, Cyrillic or
//     Greek look-alikes in a Latin word x:mixedscript, zero-width
//     characters x:invisible. Words in running text with dots that end in
//     a common top-level domain are hosts (url: tokens), words with an @
//     addresses (email:@domain).
//   - hidden:word: text that HTML hides from the reader (display:none,
//     visibility:hidden, font sizes of 0 to 2px), taken out of the body
//     words, as SpamAssassin keeps invisible text apart: word salad hidden
//     to look like ham then counts against the message, not for it. The
//     trick itself is x:html-hidden or x:html-tiny; HTML comments
//     x:html-comment.
//   - url: the host of each link, in text and in HTML href, src and action
//     attributes (url:www.pills.top), its registered domain (the last two
//     labels, three under a two-letter country code with a short second
//     level: url:pills.top, url:shop.co.uk), url:tld:top, url:ip and the
//     /24 (url:203.0.113.0) for an address; urlp: for up to 6 words of a
//     path; url:userinfo and url:port for hosts hidden behind user@ or a
//     port.
//   - subj: the words of the decoded Subject, subj:cs: the charset of its
//     encoded words; from: the address, from:@domain (and its registered
//     domain) and the words of the display name; to:@domain of up to 5
//     recipients and to:n: their number; rt:@ the Reply-To domain, rp:@
//     the Return-Path's and mid:@ the Message-ID's registered domains;
//     rcvd: the hosts (with domain and top-level domain), addresses (by /24)
//     and words of the first 8 Received fields (rcvd:w:dyn, rcvd:unknown),
//     rcvd:n: their number; xm: the words of X-Mailer and User-Agent;
//     x-priority:, precedence:, importance: their first word; hdr: the name
//     of every top-level field; ct:, cs:, cte: the media type, charset and
//     transfer encoding of the message and of each part; att: the media
//     type and att:ext: the file extension of each attachment.
//   - flags: x:nosubject, x:nofrom, x:nodate, x:nomsgid, x:subj-caps,
//     x:subj-excl, x:shouting (body letters over 40% capitals),
//     x:from-name-addr (an address in the display name), x:from-is-to,
//     x:rt-differs and x:mid-differs (Reply-To or Message-ID on another
//     domain than From), x:malformed (mailparse had problems),
//     x:longword, x:bad-content-type; x:text: and x:urls: buckets of the
//     text length and the number of links.
//
// At most 64 KiB of text and 256 KiB of HTML are read: spam past that
// is no more telling.
//
// # A token's probability
//
// A model counts, for each token, the spam and ham messages it was in (s,
// h) and the spam and ham messages trained (Ns, Nh). Robinson's estimate
// of the probability that a message holding token w is spam is
//
//	b(w) = s/Ns,  g(w) = h/Nh,  p(w) = b(w) / (b(w) + g(w))
//	f(w) = (S·x + n·p(w)) / (S + n),  n = s + h
//
// with the strength S = 1 (Params.Strength) and the prior x = 0.5
// (Params.Unknown). Frequencies rather than counts make p(w) independent
// of how much spam and ham were trained; S and x pull a token seen in few
// messages towards neutral: seen once in spam only, f = 0.75; 10 times,
// 0.95. bogofilter's robx is 0.52, a slight lean towards spam for what is
// new; 0.5 is neutral, so that a word never seen before says nothing
// either way (a token no model has seen is no clue at all, whatever x).
//
// # Combining the clues
//
// The clues are the tokens with |f(w) − 0.5| ≥ 0.1 (Params.MinDeviation),
// of which the 15 (Params.MaxClues) farthest from 0.5 are kept, ties in
// token order. Fisher's method then tests two hypotheses over the N clues,
// with C⁻¹(χ², ν) the probability that a chi-square variable with ν
// degrees of freedom is at least χ²:
//
//	H = C⁻¹(−2 Σ ln f(w), 2N)        near 1 when the clues are spammy
//	S = C⁻¹(−2 Σ ln (1 − f(w)), 2N)  near 1 when they are hammy
//	I = (1 + H − S) / 2
//
// I is the Bayesian score, near 1 for spam, near 0 for ham, and 0.5 when
// the clues pull both ways or there are none. For even ν,
// C⁻¹(χ², 2N) = e^(−m) Σ_{i<N} mⁱ/i! with m = χ²/2, summed in logarithms
// so that long messages do not underflow.
//
// Why 15 clues, Graham's number, rather than SpamAssassin's 150 or all of
// bogofilter's: the chi-square combination adds up evidence, so a block of
// everyday words, each mildly hammy, outweighs a few strong spam clues;
// that is what word-salad spam counts on. Kept to the strongest 15, the
// clues that win are the well-seen ones (the sending host, the link, the
// pitch). On mailgen.Corpus (seeds 1, 2 and 5, not the benchmark's) 15
// clues raised F1 at the junk threshold by 3 to 5 points over 150, and
// ranked messages as well or better; no ham crossed the threshold with
// either.
//
// # Models: global and per account
//
// A model is used once it has been trained on Params.MinMessages spam and
// as many ham messages (default 10 each); below that the Bayesian score is
// 0.5. An account's own model joins the global one once it has
// Params.AccountMinMessages of each (default 50). Joined, the class
// frequencies mix with the account's weight λ = Params.AccountWeight
// (default 0.5), and the counts add up:
//
//	b(w) = λ·b_account(w) + (1−λ)·b_global(w), g(w) likewise
//	n = n_account + n_global
//
// so the account's taste counts as much as everyone's once it has enough
// mail, and a token the account never saw keeps its global p(w). When only
// the account's model is trained enough, it is used alone.
//
// # Rules, and the score
//
// A rule file is JSON, data only (ParseRules documents the keys):
//
//	{"format": "jetmail-spam-rules/1", "name": "...", "rules": [
//	  {"id": "SUBJ_PHARMACY", "target": "header", "header": "Subject",
//	   "pattern": "(?i)pharmacy", "score": 0.3},
//	  {"id": "NO_DATE", "target": "header", "header": "Date", "absent": true, "score": 0.1},
//	  {"id": "BODY_WIRE", "target": "body", "pattern": "(?i)wire transfer", "score": 0.2},
//	  {"id": "URI_SHORT", "target": "uri", "pattern": "^https?://bit\\.ly/", "score": 0.1},
//	  {"id": "TOK_DYN", "target": "token", "token": "rcvd:w:dyn", "score": 0.05}]}
//
// Patterns are Go regular expressions (RE2: linear in the input, no
// backtracking, no look-around), at most 2 KiB each, 5,000 rules and 4 MiB
// a file. The whole file is parsed and every pattern compiled before the
// set may be used; the first problem is a *RuleError naming the rule, the
// key and the reason, and the rules in use stay (Classifier.LoadRules).
// FetchRules downloads a file, checks its SHA-256 (given, or read from the
// URL + ".sha256") and parses it; its bytes are what the nodes share, each
// parsing them itself and swapping its set atomically (Classifier.SetRules).
//
// The message's score adds the rules to the Bayesian score:
//
//	Score = min(max(I + Σ score(rule), 0), 1)
//
// so a rule of 0.3 takes an unsure message (0.5) to 0.8, and a negative
// rule (a trusted partner) can take spam back below the junk threshold.
// Callers compare Score with the thresholds: DefaultJunkThreshold 0.9 (into
// Junk) and DefaultRejectThreshold 0.99 (refused at DATA, when enabled).
// Stamp writes the verdict as X-Spam-Status and X-Spam-Score, after taking
// out any X-Spam-Status, X-Spam-Score or X-Spam-Flag the sender wrote.
//
// # Training
//
// Train returns a new model: the old one (copied; never changed) plus the
// samples, each analyzed as Classify analyzes it, by up to 4 workers and
// counted in one goroutine, so the result does not depend on their order.
// A Sample with Forget set takes a message's counts back out (a message
// moved out of Junk). Train checks its context before each sample and,
// stopped, returns the context's error and no model, leaving the old model
// as it was: that is how a training is aborted. Retraining is Train from
// nil over all the samples; resetting is NewModel.
//
// A model holds at most TrainOptions.MaxTokens tokens (default 500,000).
// Past it, training drops tokens down to 90% of the bound: those seen in
// the fewest messages first, among as many sightings the least telling
// (spam and ham frequencies closest), then in token order, so the result
// is always the same.
//
// # Encoding
//
// Model.Encode writes a versioned binary blob: "JMSPAM", a version byte
// (1), the message counts, then the tokens in byte order, each as the
// length of the prefix it shares with the previous one, the rest, and its
// two counts (uvarints), and a CRC-32 of it all. The same model always
// encodes to the same bytes; DecodeModel refuses, wrapping
// ErrCorruptModel, anything it cannot fully check.
//
// # Cost
//
// Analyze and Classify together take about 200 to 350 µs for a 4 KB
// message on one core (BenchmarkClassify, e2e BenchmarkSpamFilter): 3,000
// to 5,000 messages a second, above the 2,000 that intake needs. About
// half is mailparse; rules add their regular expressions.
package spam
