// Package mailparse reads an RFC 5322 message once, as a stream, and keeps
// what a mail store, threading and a full-text indexer need: the envelope
// fields (Message-ID, In-Reply-To, References, Subject, the address fields,
// Date), the plain text of the body, a short preview and the list of
// attachments.
//
// # What Parse reads
//
// The header is unfolded and its encoded words (RFC 2047) decoded; address
// lists are parsed as RFC 5322 and, when that fails, piece by piece. The MIME
// tree is walked depth first. Leaf parts of type text/plain and text/html that
// are not attachments make up Message.Text: the transfer encoding
// (base64, quoted-printable) and the charset are decoded, HTML is reduced to
// its text (script, style and head dropped, entities decoded, block elements
// as line breaks) and line breaks become "\n". Of a multipart/alternative only
// the first alternative that yields text is kept, so the text is not
// indexed twice. Every other leaf part, message/rfc822 included (it is not
// descended into), is an Attachment, numbered as IMAP numbers parts.
//
// Parse is lenient: a malformed header line, an unknown charset or transfer
// encoding, a missing or unterminated boundary, a bad Date all leave a note in
// Message.Problems and parsing goes on with what can be read. Parse fails only
// when reading its input fails.
//
// # What Parse bounds
//
// Memory does not grow with the size of the message. Parse never holds a whole
// part: attachments are decoded only to count their size, and at most
// Options.MaxText bytes of text are kept (the rest is read and dropped, and
// Message.TextTruncated is set). The other bounds are fixed:
//
//   - the message header: 1 MiB, and each part's header: 256 KiB; fields past
//     that are skipped;
//   - multipart nesting: 20 levels; deeper parts are skipped;
//   - parts: 10,000 in a message; later ones are not listed;
//   - one HTML token (a text run or a tag, such as an image inlined as a
//     data: URI): 1 MiB; a longer one is skipped up to the next ">";
//   - Message.Problems: 50 entries, then one saying that more were left out.
//
// Whatever a bound cuts off is still read, so Message.Size is always the
// number of bytes of the input.
package mailparse
