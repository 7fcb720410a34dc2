// Package mailgen generates realistic email, deterministically from a seed,
// for benchmarks and tests of what reads mail: parsers, stores, full-text
// indexes.
//
// # What a message is made of
//
// Each call to Generator.Next returns one RFC 5322 message with CRLF line
// ends: Message-ID, Date, From, To, optionally Cc, Subject and MIME-Version,
// and In-Reply-To and References in replies. The figures below are what a
// benchmark over this mail measures.
//
//   - People: a fixed population of 400 correspondents, drawn from the seed:
//     first and last names (some with accents, encoded in headers as RFC 2047
//     words), addresses in the usual styles (first.last, flast, first,
//     first_last42, last.first) over 20 domains, some of them subdomains, and
//     one time zone each. Who sends a new message is Zipf-distributed
//     (exponent 1.3): a few people write much of the mail, as in a real
//     mailbox.
//   - Recipients: 1 to 3 in To; 30% of new messages have 1 to 3 in Cc.
//   - Threads: 35% of messages reply to one of the last 500 messages, drawn
//     uniformly: "Re: " and the original subject, from one of its recipients
//     to its sender, In-Reply-To its Message-ID and References its
//     References plus its Message-ID (the last 10 kept), dated after it by 2
//     minutes plus an exponential delay of mean 6 hours, and ending with a
//     few quoted lines. So threads are mostly short and some grow long.
//   - Dates: new threads start uniformly over 2025, in the sender's zone;
//     replies may run a little into 2026.
//   - Words: bodies and subjects draw from a built-in list of about 2,900
//     English words (Generator.Words, most frequent first: function words,
//     everyday words, then office vocabulary) with a Zipf–Mandelbrot law:
//     the word of rank k (from 0) has a probability proportional to
//     (k+2.7)^-1.05. That gives "the" about 6% of words, the 10 most frequent
//     words 27% and the 100 most frequent 58%, close to English text. The
//     list is short, so its rarest word still comes once in about 25,000
//     words; 2% of body words are therefore a number, a reference code such
//     as "INV-48213" or a made-up name, a long tail of terms that occur once
//     or a few times, as names, codes and typos do in real mail.
//   - Subjects: 2 to 7 words leaving out the 60 most frequent, sometimes with
//     "Fwd: ", a [tag] or a "#1234" ticket number.
//   - Bodies: a greeting, paragraphs of 2 to 6 sentences of 4 to 20 words
//     (commas and question marks here and there), a sign-off with the
//     sender's first name, wrapped at 76 columns. The number of words is
//     Min + (Max-Min)·u² with u uniform in [0,1): short messages are the
//     most common, with a long tail; the defaults (60 and 1,200 words) give
//     about 440 words, 2.7 KB of text, on average.
//   - MIME: 70% of messages are a single text/plain part; 30% are
//     multipart/alternative with the same text as HTML. A share
//     (Options.AttachmentRatio, default 10%) are multipart/mixed with one
//     base64 attachment: 60% PDF-like, named after two words, 40% PNG-like
//     ("IMG_0042.png"), of random bytes behind the format's magic number,
//     their size log-uniform between 10 KB and 200 KB (about 80 KB on
//     average). Attachments are most of the bytes of the mail, not of its
//     text.
//
// A Generator draws everything from one PCG source seeded by Options.Seed, so
// a seed gives the same messages in the same order on every platform.
//
// # Labelled spam and ham
//
// Corpus generates a labelled mix of spam and ham for spam filters, from a
// seed too: this mail as the personal ham, commercial ham, spam of several
// kinds, and at a chosen difficulty the ham that looks like spam and the
// spam that looks like ham. Its doc describes them.
package mailgen
