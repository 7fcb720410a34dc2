package spam

import (
	"net/netip"
	"strings"
)

// Bounds on the URLs of one message: spam with thousands of links gains
// nothing past these.
const (
	maxURLs          = 64
	maxPathWords     = 6
	maxURLPathLength = 200
)

// commonTLDs are the top-level domains a bare word with dots (pills.top,
// www.example.com) is taken as a host for; other dotted words are split.
var commonTLDs = map[string]bool{
	"com": true, "net": true, "org": true, "info": true, "biz": true, "io": true, "co": true,
	"us": true, "uk": true, "de": true, "fr": true, "ru": true, "cn": true, "br": true, "in": true,
	"top": true, "xyz": true, "club": true, "online": true, "site": true, "shop": true, "click": true,
	"link": true, "live": true, "store": true, "win": true, "bid": true, "loan": true, "vip": true,
	"me": true, "tk": true, "ml": true, "ga": true, "cf": true, "gq": true, "pw": true, "ws": true,
	"cc": true, "su": true, "ua": true, "pl": true, "nl": true, "it": true, "es": true, "eu": true,
	"example": true, "test": true, "edu": true, "gov": true, "mobi": true, "app": true, "dev": true,
}

// looksLikeHost reports whether a lower-case word with dots is a host
// name: www. in front, or labels of letters, digits and hyphens ending in
// a common top-level domain.
func looksLikeHost(w string) bool {
	if strings.HasPrefix(w, "www.") {
		return true
	}
	dot := strings.LastIndexByte(w, '.')
	if dot <= 0 || !commonTLDs[w[dot+1:]] {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return !strings.Contains(w, "..")
}

// hostOf returns the lower-case host at the start of s, up to the first
// character that cannot be in a host name; "" when there is none.
func hostOf(s string) string {
	h, _ := hostAt(s)
	return h
}

// hostAt is hostOf, with the length of s the host took.
func hostAt(s string) (string, int) {
	end := 0
	for end < len(s) {
		c := s[end]
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || 'A' <= c && c <= 'Z' || c >= 0x80 {
			end++
			continue
		}
		break
	}
	h := strings.Trim(strings.ToLower(s[:end]), ".-")
	if len(h) < 3 || len(h) > 253 || !strings.Contains(h, ".") {
		return "", 0
	}
	return h, end
}

// host adds the tokens of a host name: the host, its registered domain
// (the last two labels, three under a two-letter country code with a
// short second level, as co.uk or com.br) and its top-level domain; an
// IP address gives prefix+"ip" and its /24 instead.
func (a *analyzer) host(h, prefix string) {
	if addr, err := netip.ParseAddr(h); err == nil {
		a.toks.add(prefix + "ip")
		if addr.Is4() {
			p, _ := addr.Prefix(24)
			a.toks.add(prefix + p.Addr().String())
		}
		return
	}
	if len(h) > maxTokenLen {
		h = strings.TrimLeft(h[len(h)-maxTokenLen:], ".-") // keep the end: the domain
	}
	a.toks.add(prefix + h)
	d := registeredDomain(h)
	if d != h {
		a.toks.add(prefix + d)
	}
	if dot := strings.LastIndexByte(h, '.'); dot >= 0 {
		a.toks.add(prefix + "tld:" + h[dot+1:])
	}
}

// registeredDomain approximates the domain a host belongs to, without a
// public suffix list: the last two labels, or three when the top-level
// domain has two letters and the second level at most three (co.uk).
func registeredDomain(h string) string {
	last := strings.LastIndexByte(h, '.')
	if last <= 0 {
		return h
	}
	second := strings.LastIndexByte(h[:last], '.')
	if second < 0 {
		return h
	}
	if len(h)-last-1 == 2 && last-second-1 <= 3 {
		if third := strings.LastIndexByte(h[:second], '.'); third >= 0 {
			return h[third+1:]
		}
		return h
	}
	return h[second+1:]
}

// urls finds the URLs of text, scheme://host... and www.host..., and
// adds their tokens: host tokens and, when withPath, words of the path as
// urlp: tokens; for rules, the URL itself. It returns where the URLs are
// in text, so that the words around them are read without them.
func (a *analyzer) urls(text string, withPath bool) []span {
	var spans []span
	for i := 0; i < len(text) && len(spans) < maxURLs; {
		j := strings.Index(text[i:], "://")
		w := strings.Index(text[i:], "www.")
		if j < 0 && w < 0 {
			break
		}
		var start, hostAt int
		if j >= 0 && (w < 0 || j < w) {
			hostAt = i + j + 3
			start = i + j
			for start > 0 && isSchemeByte(text[start-1]) {
				start--
			}
			if start == i+j { // "://" without a scheme
				i = hostAt
				continue
			}
		} else {
			start, hostAt = i+w, i+w
			if start > 0 && (isSchemeByte(text[start-1]) || text[start-1] == '.') {
				i = start + 4 // part of a longer word
				continue
			}
		}
		end := hostAt
		for end < len(text) && end-hostAt < maxURLPathLength && !isURLEnd(text[end]) {
			end++
		}
		i = max(end, hostAt+1)
		if a.url(text[start:end], text[hostAt:end], withPath) {
			spans = append(spans, span{start, end})
		}
	}
	return spans
}

// span is a range of bytes, [start, end).
type span struct{ start, end int }

func isSchemeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// isURLEnd reports the bytes that end a URL in text or markup.
func isURLEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '"', '\'', '<', '>', '`', '\\', '{', '}', '|', '^':
		return true
	}
	return c < 0x20
}

// url adds the tokens of one URL, rest being what follows the scheme, and
// reports whether it held a host.
func (a *analyzer) url(full, rest string, withPath bool) bool {
	// user:pass@host hides the real host behind a name that looks trusted.
	hostPart := rest
	if k := strings.IndexAny(hostPart, "/?#"); k >= 0 {
		hostPart = hostPart[:k]
	}
	if at := strings.LastIndexByte(hostPart, '@'); at >= 0 {
		a.flag("url:userinfo")
		rest = rest[at+1:]
	}
	h, end := hostAt(rest)
	if h == "" {
		return false
	}
	a.addURL(strings.TrimRight(full, ".,;:!?)]"))
	a.host(h, "url:")
	path := rest[end:]
	if len(path) > 0 && path[0] == ':' {
		a.flag("url:port")
	}
	if !withPath {
		return true
	}
	n := 0
	for f := range strings.FieldsFuncSeq(path, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
	}) {
		if len(f) < 3 || len(f) > 20 {
			continue
		}
		a.toks.add("urlp:" + strings.ToLower(f))
		if n++; n == maxPathWords {
			break
		}
	}
	return true
}
