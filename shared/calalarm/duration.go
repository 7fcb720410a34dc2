package calalarm

import (
	"fmt"
	"time"
)

// span is an RFC 5545 3.3.6 duration kept in its two parts: Days are
// nominal (weeks count as 7 days; a day is a calendar day in the zone it
// is added in, 23 or 25 hours across a DST change) and Exact is the
// hours, minutes and seconds, added as elapsed time.
type span struct {
	Neg   bool
	Days  int
	Exact time.Duration
}

// maxSpanDays bounds a duration's days (about 2 700 years) and maxSpanExact
// its exact part, so that no arithmetic overflows.
const (
	maxSpanDays  = 1_000_000
	maxSpanExact = 1_000_000 * time.Hour
)

// addTo moves t, read in loc, by the span: the days first, on the wall
// clock (RFC 5545 3.3.6: "the duration of a day depends on its position
// in the calendar"), then the exact part.
func (s span) addTo(t time.Time, loc *time.Location) time.Time {
	days, exact := s.Days, s.Exact
	if s.Neg {
		days, exact = -days, -exact
	}
	if days != 0 {
		l := t.In(loc)
		y, m, d := l.Date()
		h, mi, sec := l.Clock()
		t = wall(loc, y, m, d+days, h, mi, sec, l.Nanosecond())
	}
	return t.Add(exact)
}

// parseSpan reads dur-value of RFC 5545 3.3.6:
//
//	["+" / "-"] "P" (dur-date / dur-time / dur-week)
//	dur-date = 1*DIGIT "D" [dur-time];  dur-week = 1*DIGIT "W"
//	dur-time = "T" (H [M [S]] / M [S] / S)
//
// It also takes weeks followed by days ("P1W2D"), which some clients
// write. The error says what is wrong.
func parseSpan(v string) (span, error) {
	var s span
	i := 0
	if i < len(v) && (v[i] == '+' || v[i] == '-') {
		s.Neg = v[i] == '-'
		i++
	}
	if i >= len(v) || v[i] != 'P' {
		return s, fmt.Errorf("a duration starts with P (such as -PT15M or P1D)")
	}
	i++
	inTime, seen := false, false
	var secs int64  // the exact part, summed in seconds so that it cannot overflow
	last := byte(0) // the last unit read, to enforce W, D, T, H, M, S order
	order := map[byte]int{'W': 1, 'D': 2, 'H': 4, 'M': 5, 'S': 6}
	for i < len(v) {
		if v[i] == 'T' {
			if inTime {
				return s, fmt.Errorf("two T in the duration")
			}
			inTime = true
			last = 'T'
			i++
			if i == len(v) {
				return s, fmt.Errorf("nothing after T in the duration")
			}
			continue
		}
		j := i
		n := 0
		for j < len(v) && v[j] >= '0' && v[j] <= '9' {
			if j-i >= 9 {
				return s, fmt.Errorf("a number in the duration is too long")
			}
			n = n*10 + int(v[j]-'0')
			j++
		}
		if j == i {
			return s, fmt.Errorf("want a number at %q", v[i:])
		}
		if j == len(v) {
			return s, fmt.Errorf("the number %q has no unit (W, D, H, M or S)", v[i:])
		}
		unit := v[j]
		rank, ok := order[unit]
		if !ok || (unit == 'W' || unit == 'D') == inTime {
			return s, fmt.Errorf("unit %q is not allowed here (W and D before T, H M S after)", string(unit))
		}
		if last != 0 && last != 'T' && order[last] >= rank {
			return s, fmt.Errorf("unit %q out of order", string(unit))
		}
		switch unit {
		case 'W':
			s.Days += 7 * n
		case 'D':
			s.Days += n
		case 'H':
			secs += int64(n) * 3600
		case 'M':
			secs += int64(n) * 60
		case 'S':
			secs += int64(n)
		}
		if s.Days > maxSpanDays || secs > int64(maxSpanExact/time.Second) {
			return s, fmt.Errorf("the duration is too long")
		}
		last, seen = unit, true
		i = j + 1
	}
	if !seen {
		return s, fmt.Errorf("the duration has no value")
	}
	s.Exact = time.Duration(secs) * time.Second
	return s, nil
}

// wall is the instant of a wall-clock time in loc, the fields normalised
// like time.Date's. RFC 5545 3.3.5: a time in a DST gap is read with the
// offset before the gap (02:30 on a spring-forward night is 03:30 of
// the new offset); a time that happens twice is the first of the two.
// time.Date leaves both cases unspecified.
func wall(loc *time.Location, y int, m time.Month, d, h, mi, s, ns int) time.Time {
	want := time.Date(y, m, d, h, mi, s, ns, time.UTC)
	local := want.Unix()
	// The offsets in force a day either side cover any transition near.
	_, offBefore := time.Unix(local-86400, 0).In(loc).Zone()
	_, offAfter := time.Unix(local+86400, 0).In(loc).Zone()
	var best time.Time
	for _, off := range []int{offBefore, offAfter} {
		t := time.Unix(local-int64(off), int64(ns)).In(loc)
		if sameWall(t, want) && (best.IsZero() || t.Before(best)) {
			best = t
		}
	}
	if !best.IsZero() {
		return best
	}
	if t := time.Date(y, m, d, h, mi, s, ns, loc); sameWall(t, want) {
		return t // a zone with two transitions within a day: rare
	}
	return time.Unix(local-int64(offBefore), int64(ns)).In(loc)
}

func sameWall(t, want time.Time) bool {
	y, m, d := t.Date()
	h, mi, s := t.Clock()
	wy, wm, wd := want.Date()
	wh, wmi, ws := want.Clock()
	return y == wy && m == wm && d == wd && h == wh && mi == wmi && s == ws
}
