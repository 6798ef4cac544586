package app

import (
	"time"

	"imagingstatus/wire"
)

// StatusChange is one recorded status change of an entity, as GET
// /api/v1/entities/{id}/history lists them (newest first, at most 200).
type StatusChange struct {
	Entity string      `json:"entity"`
	At     time.Time   `json:"at"`
	From   wire.Status `json:"from,omitempty"`
	To     wire.Status `json:"to"`
	Reason string      `json:"reason,omitempty"`
}

// TimelineWindow is the span of the status timeline.
const TimelineWindow = 24 * time.Hour

// Segment is one span of the status timeline. Status "" is time with no
// record (before the first known change).
type Segment struct {
	From, To time.Time
	Status   wire.Status
	Reason   string
	// Current marks the segment that runs until now.
	Current bool
}

// TimelineSegments cuts [now-window, now] into the statuses the entity had,
// oldest first, read as the hub's uptime figures read them: each change's
// To holds from its At until the next change; the current status holds from
// since until now and wins over changes recorded at or after since (the live
// state over a history that disagrees); a zero since lets the newest change
// run until now. What precedes the oldest change (or since, without
// changes) is unknown: the change's From says what was there, not since
// when. A change dated before the one preceding it (the hub's clock stepped
// back) starts where that one did. Adjacent spans of one status merge (a
// change of reason only); empty spans are dropped.
//
// changes are newest first, as the hub sends them; reason is the current
// status's reason.
func TimelineSegments(changes []StatusChange, current wire.Status, reason string, since, now time.Time, window time.Duration) []Segment {
	if window <= 0 {
		return nil
	}
	start := now.Add(-window)
	type span struct {
		from   time.Time
		st     wire.Status
		reason string
	}
	spans := make([]span, 0, len(changes)+1)
	for i := len(changes) - 1; i >= 0; i-- {
		at := changes[i].At
		if n := len(spans); n > 0 && at.Before(spans[n-1].from) {
			at = spans[n-1].from
		}
		spans = append(spans, span{at, changes[i].To, changes[i].Reason})
	}
	if !since.IsZero() {
		for len(spans) > 0 && !spans[len(spans)-1].from.Before(since) {
			spans = spans[:len(spans)-1]
		}
		spans = append(spans, span{since, current, reason})
	}

	var out []Segment
	add := func(s Segment) {
		if s.From.Before(start) {
			s.From = start
		}
		if s.To.After(now) {
			s.To = now
		}
		// Empty spans are dropped, except the current status, which the
		// timeline always shows (a change that just happened).
		if !s.To.After(s.From) && !(s.Current && s.Status != "" && s.To.Equal(s.From)) {
			return
		}
		if n := len(out); n > 0 && out[n-1].Status == s.Status && !out[n-1].To.Before(s.From) {
			out[n-1].To = s.To
			out[n-1].Current = s.Current
			if s.Reason != "" || s.Status == "" {
				out[n-1].Reason = s.Reason
			}
			return
		}
		out = append(out, s)
	}
	first := now
	if len(spans) > 0 {
		first = spans[0].from
	}
	add(Segment{From: start, To: first})
	for i, sp := range spans {
		end, cur := now, true
		if i+1 < len(spans) {
			end, cur = spans[i+1].from, false
		}
		add(Segment{From: sp.from, To: end, Status: sp.st, Reason: sp.reason, Current: cur})
	}
	return out
}
