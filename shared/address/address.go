// Package address is jetmail's one way to read a mail address: an
// envelope mailbox (RFC 5321 Mailbox, local-part@domain) parsed by
// net/mail, with its domain compared case-insensitively.
package address

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
)

// Address is a mailbox: the local part as written, the domain in lower
// case.
type Address struct {
	Local, Domain string
}

// ErrSyntax is wrapped by every Parse error.
var ErrSyntax = errors.New("bad address syntax")

// Parse reads a bare mailbox, as in MAIL FROM and RCPT TO: no display
// name, no angle brackets, no control characters.
func Parse(s string) (Address, error) {
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return Address{}, fmt.Errorf("%w: %q has a control character", ErrSyntax, s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %q: %v", ErrSyntax, s, err)
	}
	if a.Name != "" || strings.ContainsAny(s, "<>") {
		return Address{}, fmt.Errorf("%w: %q is not a bare mailbox", ErrSyntax, s)
	}
	at := strings.LastIndexByte(s, '@')
	return Address{Local: s[:at], Domain: strings.ToLower(s[at+1:])}, nil
}

// String is local@domain.
func (a Address) String() string { return a.Local + "@" + a.Domain }

// DomainOf is the lower-cased domain of a stored address, or "" for the
// null sender and anything without one. The address was parsed when it
// was accepted, so the last @ separates it: a quoted local part may hold
// an @, a domain may not.
func DomainOf(s string) string {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return strings.ToLower(s[i+1:])
	}
	return ""
}

// ValidDomain reports whether s is a domain name a mailbox may be at:
// dot-separated labels of letters, digits and hyphens (or an IDNA A-label),
// each 1 to 63 bytes, not starting or ending with a hyphen, 253 bytes at
// most, with at least one dot or a single label such as "localhost".
func ValidDomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
