// Package duration parses and formats the durations used in jetmail's
// configuration and APIs ("30s", "2m", "1h30m", "1d", "2w").
//
// Go's time.ParseDuration has no day or week unit, but the reference
// configuration writes "1d" and "3d", so this package adds them.
package duration

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// units are ordered longest-suffix-first so "ms" wins over "m".
var units = []struct {
	suffix string
	size   time.Duration
}{
	{"ms", time.Millisecond},
	{"w", 7 * 24 * time.Hour},
	{"d", 24 * time.Hour},
	{"h", time.Hour},
	{"m", time.Minute},
	{"s", time.Second},
}

// Parse reads a duration made of one or more <number><unit> parts, where unit
// is one of ms, s, m, h, d, w ("90s", "1h30m", "1d"). A negative or empty
// duration is an error.
func Parse(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if strings.HasPrefix(in, "-") {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	var total time.Duration
	rest := in
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("duration %q: expected a number at %q", s, rest)
		}
		num, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q: bad number %q", s, rest[:i])
		}
		rest = rest[i:]
		matched := false
		for _, u := range units {
			if strings.HasPrefix(rest, u.suffix) {
				total += time.Duration(num * float64(u.size))
				rest = rest[len(u.suffix):]
				matched = true
				break
			}
		}
		if !matched {
			return 0, fmt.Errorf("duration %q: unit must be one of ms, s, m, h, d, w", s)
		}
	}
	return total, nil
}

// Format writes d in the largest units that represent it exactly, so that
// Parse(Format(d)) == d for whole milliseconds ("1d", "1h30m", "250ms").
func Format(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	for _, u := range []struct {
		suffix string
		size   time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}} {
		if n := d / u.size; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.suffix)
			d -= n * u.size
		}
	}
	if d > 0 { // sub-millisecond remainder
		b.WriteString(d.String())
	}
	return b.String()
}

// Duration is a time.Duration that encodes to and from JSON as a string in
// the Parse format ("1m", "6h").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(Format(time.Duration(d)))
}

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"1m\" or \"6h\"")
	}
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
