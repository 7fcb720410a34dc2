package console

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jetmail/jetmail/shared/duration"
)

// funcs are the template functions of every page.
var funcs = template.FuncMap{
	"when":  when,
	"ago":   ago,
	"bytes": byteSize,
	"json":  func(v any) string { b, _ := json.Marshal(v); return string(b) },
	"raw":   func(m json.RawMessage) string { return fieldText(m) },
	"query": func(kv ...string) template.URL {
		q := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				q.Set(kv[i], kv[i+1])
			}
		}
		return template.URL(q.Encode())
	},
	"add":  func(a, b int) int { return a + b },
	"list": func(s ...string) []string { return s },
	"percent": func(used, quota int64) int {
		if quota <= 0 {
			return 0
		}
		return int(min(100, used*100/quota))
	},
	"localInput": func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04") },
}

// when is a time as the tables show it: UTC, to the second.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// ago is the time since t (or until t, when it is ahead), coarse.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := now.Sub(t)
	suffix := " ago"
	if d < 0 {
		d, suffix = -d, " from now"
	}
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds%s", int(d.Seconds()), suffix)
	case d < time.Hour:
		return fmt.Sprintf("%dm%s", int(d.Minutes()), suffix)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%s", int(d.Hours()), suffix)
	}
	return fmt.Sprintf("%dd%s", int(d.Hours()/24), suffix)
}

// byteSize is n bytes, in the largest unit that keeps it at 1 or more.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// fieldText is a task field's JSON value as a table shows it: strings
// bare, lists and sets as a,b.
func fieldText(m json.RawMessage) string {
	var s string
	if json.Unmarshal(m, &s) == nil {
		return s
	}
	var list []any
	if json.Unmarshal(m, &list) == nil {
		parts := make([]string, len(list))
		for i, v := range list {
			parts[i] = fmt.Sprint(v)
		}
		return strings.Join(parts, ",")
	}
	var set map[string]bool
	if json.Unmarshal(m, &set) == nil {
		var parts []string
		for k, v := range set {
			if v {
				parts = append(parts, k)
			}
		}
		sort.Strings(parts)
		return strings.Join(parts, ",")
	}
	return string(m)
}

// urlQueryEscape escapes s for a query value.
func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// parseDue reads a date-time from a form: the date picker's
// 2006-01-02T15:04 (taken as UTC), RFC 3339, or a duration from now
// (+10m, 2h).
func parseDue(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("give a date and time")
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	if d, err := duration.Parse(strings.TrimPrefix(s, "+")); err == nil {
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time (2026-01-02T15:04, UTC) or a delay (+10m)", s)
}
