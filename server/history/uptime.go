package history

import (
	"time"

	"imagingstatus/server/store"
	"imagingstatus/wire"
)

// statuses are the four statuses Uptime always reports.
var statuses = [...]wire.Status{wire.StatusAvailable, wire.StatusOffline, wire.StatusConnectionError, wire.StatusNotLinked}

// Uptime is the time the entity spent in each status over [now-window, now],
// named name (e.g. "24h"). changes are its recorded status changes newest
// first (as store.History returns them); current is its status now, held
// since since.
//
// Timeline. Each change's To holds from its At to the next change; current
// holds from since to now and overrides any change recorded at or after
// since (the live state wins over a history that disagrees). A zero since
// lets the last change's status run until now. Time before the earliest
// change (or before since, with no change) is unknown: that change's From
// says what preceded it but not since when, and retention may have removed
// older changes. A change whose At is before the previous one's (the hub's
// clock stepped back) starts where the previous one did, so no span is
// negative. Unknown statuses count as unknown time.
//
// AvailableRatio is available time over known time, nil when nothing in the
// window is known.
func Uptime(changes []store.Change, current wire.Status, since time.Time, now time.Time, window time.Duration, name string) wire.Uptime {
	u := wire.Uptime{Window: name, Seconds: make(map[wire.Status]float64, len(statuses))}
	for _, st := range statuses {
		u.Seconds[st] = 0
	}
	if window <= 0 {
		return u
	}
	start := now.Add(-window)

	type span struct {
		from time.Time
		st   wire.Status
	}
	spans := make([]span, 0, len(changes)+1)
	for i := len(changes) - 1; i >= 0; i-- {
		at := changes[i].At
		if n := len(spans); n > 0 && at.Before(spans[n-1].from) {
			at = spans[n-1].from
		}
		spans = append(spans, span{at, changes[i].To})
	}
	if !since.IsZero() {
		for len(spans) > 0 && !spans[len(spans)-1].from.Before(since) {
			spans = spans[:len(spans)-1]
		}
		spans = append(spans, span{since, current})
	}

	var known time.Duration
	for i, sp := range spans {
		end := now
		if i+1 < len(spans) {
			end = spans[i+1].from
		}
		a, b := maxTime(sp.from, start), minTime(end, now)
		if !b.After(a) {
			continue
		}
		if _, ok := u.Seconds[sp.st]; ok {
			u.Seconds[sp.st] += b.Sub(a).Seconds()
			known += b.Sub(a)
		}
	}
	u.UnknownSeconds = (window - known).Seconds()
	if known > 0 {
		r := u.Seconds[wire.StatusAvailable] / known.Seconds()
		u.AvailableRatio = &r
	}
	return u
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
