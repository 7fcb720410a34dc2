package calalarm

import (
	"sort"
	"time"
)

// Next returns, for each alarm of the event and of its overridden
// occurrences, its first trigger strictly after after, sorted by time
// then AlarmID. An alarm that will not fire again (its occurrences are
// over, or beyond Horizon or MaxInstances) is left out. Alarms of the
// master and of overrides that share an AlarmID are one alarm: the
// earliest of their triggers is returned.
func (e *Event) Next(after time.Time) []Trigger {
	best := map[string]Trigger{}
	consider := func(t Trigger, ok bool) {
		if cur, seen := best[t.AlarmID]; ok && (!seen || t.At.Before(cur.At)) {
			best[t.AlarmID] = t
		}
	}
	m := &e.master
	var pending []alarm
	for _, a := range m.alarms {
		if a.absolute.IsZero() {
			pending = append(pending, a)
			continue
		}
		// An absolute trigger fires once (RFC 5545 3.8.6.3), for the
		// event as a whole: it carries the first occurrence.
		consider(e.fire(a, e.occurrence(m, m.start, time.Time{}, ""), after))
	}
	if len(pending) > 0 {
		next := e.instances()
		limit := after.Add(Horizon)
		for n := 0; n < MaxInstances && len(pending) > 0; n++ {
			in, ok := next()
			if !ok || in.start.After(limit) {
				break
			}
			rid := ""
			if e.recurs {
				rid = recurrenceText(in.start, *m)
			}
			occ := e.occurrence(m, in.start, in.end, rid)
			kept := pending[:0]
			for _, a := range pending {
				// Triggers grow with the instance's start: the first that
				// fires after after is the alarm's next.
				if t, ok := e.fire(a, occ, after); ok {
					consider(t, true)
				} else {
					kept = append(kept, a)
				}
			}
			pending = kept
		}
	}
	for i := range e.overrides {
		o := &e.overrides[i]
		occ := e.occurrence(o, o.start, time.Time{}, o.recurText)
		for _, a := range o.alarms {
			consider(e.fire(a, occ, after))
		}
	}
	out := make([]Trigger, 0, len(best))
	for _, t := range best {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].AlarmID < out[j].AlarmID
	})
	return out
}

// occurrence is a Trigger without its alarm: one instance's start and
// end. end zero means start plus the component's length.
func (e *Event) occurrence(c *component, start, end time.Time, rid string) occurrence {
	if end.IsZero() {
		end = c.length.addTo(start, start.Location())
	}
	return occurrence{Trigger{
		Start: start.UTC(), End: end.UTC(),
		StartTZ: c.startTZ, EndTZ: c.endTZ,
		RecurrenceID: rid,
	}, start.Location(), c.endLoc}
}

// occurrence is an instance's Trigger fields and the zones its nominal
// days are counted in.
type occurrence struct {
	Trigger
	startLoc, endLoc *time.Location
}

// fire is alarm a's first trigger for occurrence occ after after, and
// whether there is one. RFC 5545 3.8.6.3: a duration is relative to the
// start, or the end with RELATED=END, its days counted on the wall clock
// of that time's zone; repetitions follow every DURATION (3.8.6.2).
func (e *Event) fire(a alarm, o occurrence, after time.Time) (Trigger, bool) {
	at, ref, loc := a.absolute, o.Start, o.startLoc
	if a.toEnd {
		ref, loc = o.End, o.endLoc
	}
	if at.IsZero() {
		at = a.offset.addTo(ref, loc)
	}
	rep := 0
	if !at.After(after) {
		if a.repeat == 0 || !upperBound(at, a.every, a.repeat).After(after) {
			return Trigger{}, false
		}
		for rep = 1; rep <= a.repeat; rep++ {
			at = a.every.addTo(at, loc)
			if at.After(after) {
				break
			}
		}
		if rep > a.repeat {
			return Trigger{}, false
		}
	}
	t := o.Trigger
	t.AlarmID, t.Action, t.Variant = a.id, a.action, variantOf(a.action)
	t.At, t.Repetition = at.UTC(), rep
	return t, true
}

// upperBound is a time no repetition of an alarm at at passes: a
// nominal day is taken as 48 hours, more than any zone change adds.
func upperBound(at time.Time, every span, repeat int) time.Time {
	step := time.Duration(every.Days)*48*time.Hour + every.Exact
	return at.Add(time.Duration(repeat) * step)
}

// instances walks the master's recurrence set in order (RFC 5545
// 3.8.5.3): DTSTART, the RRULE's instances and the RDATEs, without the
// EXDATEs and the overridden occurrences.
func (e *Event) instances() func() (instance, bool) {
	loc := e.master.start.Location()
	skip := map[int64]bool{}
	for k := range e.exdates {
		skip[k] = true
	}
	for _, o := range e.overrides {
		skip[o.recurID.Unix()] = true
	}
	extra := append([]instance{{start: e.master.start}}, e.rdates...)
	sort.SliceStable(extra, func(i, j int) bool { return extra[i].start.Before(extra[j].start) })
	var ruleNext func() (time.Time, bool)
	if e.rule != nil {
		ruleNext = e.rule.Iterator()
	}
	var head time.Time
	haveHead := false
	seen := map[int64]bool{}
	return func() (instance, bool) {
		for {
			if ruleNext != nil && !haveHead {
				w, ok := ruleNext()
				if ok {
					head, haveHead = fromWall(w, loc), true
				} else {
					ruleNext = nil
				}
			}
			var in instance
			switch {
			case haveHead && (len(extra) == 0 || head.Before(extra[0].start)):
				in, haveHead = instance{start: head}, false
			case len(extra) > 0:
				in, extra = extra[0], extra[1:]
			default:
				return instance{}, false
			}
			k := in.start.Unix()
			if skip[k] || seen[k] {
				continue
			}
			seen[k] = true
			return in, true
		}
	}
}
