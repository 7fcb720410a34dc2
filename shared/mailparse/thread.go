package mailparse

import (
	"strings"
	"unicode"
)

// ThreadKeys returns the message ids that link m to its thread: its
// References, then its In-Reply-To, then its own Message-ID, without angle
// brackets or surrounding space, empty ones left out, duplicates dropped,
// order kept. It returns nil for a nil m or one without ids.
func ThreadKeys(m *Message) []string {
	if m == nil {
		return nil
	}
	var keys []string
	seen := map[string]bool{}
	add := func(id string) {
		id = strings.TrimSpace(id)
		id = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">"))
		if id == "" || seen[id] {
			return
		}
		seen[id] = true
		keys = append(keys, id)
	}
	for _, id := range m.References {
		add(id)
	}
	for _, id := range m.InReplyTo {
		add(id)
	}
	add(m.MessageID)
	return keys
}

// replyPrefixes are the words that, followed by a colon, mark a reply or a
// forward: the English ones of RFC 5256 and the common German ("AW", "WG"),
// Scandinavian ("SV", "VS") and Dutch ("Antw") ones.
var replyPrefixes = []string{"re", "fwd", "fw", "aw", "wg", "sv", "vs", "antw"}

// BaseSubject returns the subject that replies and forwards of a message
// share, for threading by subject when the ids fail, in the manner of
// RFC 5256: white space is collapsed and trimmed, and reply and forward
// markers are removed, repeatedly: a leading "Re:", "Fwd:", "Fw:", "AW:",
// "WG:", "SV:", "VS:" or "Antw:" (in any case, with "Re[2]:" counters), a
// trailing "(fwd)", and a "[Fwd: ...]" wrapper. Unlike
// RFC 5256, a "[list]" tag is kept, though markers after it are removed:
// "Re: [list] Hi" and "[list] Re: Hi" both give "[list] Hi". Compare results
// with strings.EqualFold.
func BaseSubject(s string) string {
	s = strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
	// Each step only shortens s from either end, and kept tags are moved to
	// tags, so this is linear in the length of the subject.
	var tags strings.Builder
	for {
		n := len(s)
		for hasSuffixFold(s, "(fwd)") {
			s = strings.TrimRight(s[:len(s)-len("(fwd)")], " ")
		}
		for {
			if rest, ok := cutReplyPrefix(s); ok {
				s = rest
			} else if tag, rest, ok := cutTag(s); ok {
				tags.WriteString(tag)
				tags.WriteByte(' ')
				s = rest
			} else {
				break
			}
		}
		if len(s) > len("[fwd:") && hasPrefixFold(s, "[fwd:") && s[len(s)-1] == ']' {
			s = strings.TrimSpace(s[len("[fwd:") : len(s)-1])
		}
		if len(s) == n {
			break
		}
	}
	if tags.Len() == 0 {
		return s
	}
	return strings.TrimRight(tags.String()+s, " ")
}

// cutTag cuts a leading "[tag]" blob off s, unless it is the whole subject
// or a "[Fwd: ...]" wrapper.
func cutTag(s string) (tag, rest string, ok bool) {
	if !strings.HasPrefix(s, "[") || hasPrefixFold(s, "[fwd:") {
		return "", s, false
	}
	end := strings.IndexByte(s, ']')
	if end < 0 || end == len(s)-1 {
		return "", s, false
	}
	return s[:end+1], strings.TrimLeft(s[end+1:], " "), true
}

// cutReplyPrefix removes one reply or forward marker, such as "Re:",
// "FWD :" or "Re[3]:", and the space after it.
func cutReplyPrefix(s string) (string, bool) {
	for _, p := range replyPrefixes {
		if !hasPrefixFold(s, p) {
			continue
		}
		rest := strings.TrimLeft(s[len(p):], " ")
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 || strings.Trim(rest[1:end], "0123456789") != "" {
				continue
			}
			rest = strings.TrimLeft(rest[end+1:], " ")
		}
		if strings.HasPrefix(rest, ":") {
			return strings.TrimLeft(rest[1:], " "), true
		}
	}
	return s, false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}
