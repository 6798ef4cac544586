package history

import (
	"math"
	"testing"
	"time"

	"imagingstatus/server/store"
	"imagingstatus/wire"
)

var now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

const (
	av  = wire.StatusAvailable
	off = wire.StatusOffline
	ce  = wire.StatusConnectionError
	nl  = wire.StatusNotLinked
)

// ch is a change at now-ago, from → to.
func ch(ago time.Duration, from, to wire.Status) store.Change {
	return store.Change{Entity: "e", At: now.Add(-ago), From: from, To: to}
}

// newestFirst reverses chronological changes, the order History returns.
func newestFirst(cs ...store.Change) []store.Change {
	out := make([]store.Change, len(cs))
	for i, c := range cs {
		out[len(cs)-1-i] = c
	}
	return out
}

func TestUptime(t *testing.T) {
	h := time.Hour
	tests := []struct {
		name    string
		changes []store.Change // chronological here; passed newest first
		current wire.Status
		since   time.Duration // ago; -1: zero time
		window  time.Duration
		want    map[wire.Status]float64 // hours
		unknown float64                 // hours
		ratio   float64                 // -1: nil
	}{
		{
			name:    "available since before the window",
			changes: []store.Change{ch(30*h, off, av)},
			current: av, since: 30 * h, window: 24 * h,
			want: map[wire.Status]float64{av: 24}, ratio: 1,
		},
		{
			name: "a flap",
			changes: []store.Change{
				ch(48*h, "", av), ch(10*h, av, off), ch(9*h, off, ce), ch(8*h, ce, av),
			},
			current: av, since: 8 * h, window: 24 * h,
			want: map[wire.Status]float64{av: 22, off: 1, ce: 1}, ratio: 22.0 / 24,
		},
		{
			name:    "no history, current since inside the window",
			current: av, since: 6 * h, window: 24 * h,
			want: map[wire.Status]float64{av: 6}, unknown: 18, ratio: 1,
		},
		{
			name:    "no history, offline since inside the window",
			current: off, since: 6 * h, window: 24 * h,
			want: map[wire.Status]float64{off: 6}, unknown: 18, ratio: 0,
		},
		{
			name: "changes older than the window",
			changes: []store.Change{
				ch(100*h, "", nl), ch(90*h, nl, av), ch(80*h, av, off), ch(70*h, off, av),
			},
			current: av, since: 70 * h, window: 24 * h,
			want: map[wire.Status]float64{av: 24}, ratio: 1,
		},
		{
			name: "first record inside the window: before it is unknown, not its From",
			changes: []store.Change{
				ch(12*h, off, av), ch(3*h, av, off),
			},
			current: off, since: 3 * h, window: 24 * h,
			want: map[wire.Status]float64{av: 9, off: 3}, unknown: 12, ratio: 9.0 / 12,
		},
		{
			name: "the current status wins over a history that disagrees",
			changes: []store.Change{
				ch(20*h, "", av), ch(2*h, av, off), // recorded after since
			},
			current: ce, since: 5 * h, window: 24 * h,
			want: map[wire.Status]float64{av: 15, ce: 5}, unknown: 4, ratio: 15.0 / 20,
		},
		{
			name: "since later than the last change: its status runs until since",
			changes: []store.Change{
				ch(20*h, "", off),
			},
			current: av, since: 4 * h, window: 24 * h,
			want: map[wire.Status]float64{off: 16, av: 4}, unknown: 4, ratio: 4.0 / 20,
		},
		{
			name: "zero since: the last change runs until now",
			changes: []store.Change{
				ch(10*h, "", ce),
			},
			current: ce, since: -1, window: 24 * h,
			want: map[wire.Status]float64{ce: 10}, unknown: 14, ratio: 0,
		},
		{
			name:    "nothing known at all",
			current: av, since: -1, window: 24 * h,
			unknown: 24, ratio: -1,
		},
		{
			name: "clock stepped back: no negative span",
			changes: []store.Change{
				ch(10*h, "", av), ch(12*h, av, off), ch(5*h, off, av),
			},
			current: av, since: 5 * h, window: 24 * h,
			// off from -10h (clamped) to -5h
			want: map[wire.Status]float64{av: 5, off: 5}, unknown: 14, ratio: 0.5,
		},
		{
			name:    "since in the future (skew)",
			current: av, since: -2 * h, window: 24 * h,
			unknown: 24, ratio: -1,
		},
		{
			name: "unknown status string counts as unknown",
			changes: []store.Change{
				ch(10*h, "", "weird"),
			},
			current: av, since: 4 * h, window: 24 * h,
			want: map[wire.Status]float64{av: 4}, unknown: 20, ratio: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			since := now.Add(-tc.since)
			if tc.since == -1 {
				since = time.Time{}
			}
			u := Uptime(newestFirst(tc.changes...), tc.current, since, now, tc.window, "24h")
			if u.Window != "24h" {
				t.Errorf("window %q", u.Window)
			}
			if len(u.Seconds) != 4 {
				t.Errorf("seconds has %d statuses, want the 4: %v", len(u.Seconds), u.Seconds)
			}
			for _, st := range statuses {
				got, ok := u.Seconds[st]
				if !ok {
					t.Errorf("no %s in seconds", st)
				}
				if want := tc.want[st] * 3600; math.Abs(got-want) > 1e-6 {
					t.Errorf("%s: %v s, want %v", st, got, want)
				}
			}
			if want := tc.unknown * 3600; math.Abs(u.UnknownSeconds-want) > 1e-6 {
				t.Errorf("unknown %v s, want %v", u.UnknownSeconds, want)
			}
			switch {
			case tc.ratio < 0 && u.AvailableRatio != nil:
				t.Errorf("ratio %v, want nil", *u.AvailableRatio)
			case tc.ratio >= 0 && u.AvailableRatio == nil:
				t.Errorf("ratio nil, want %v", tc.ratio)
			case tc.ratio >= 0 && math.Abs(*u.AvailableRatio-tc.ratio) > 1e-9:
				t.Errorf("ratio %v, want %v", *u.AvailableRatio, tc.ratio)
			}
		})
	}
}

func TestUptimeEmptyWindow(t *testing.T) {
	u := Uptime(nil, av, now.Add(-time.Hour), now, 0, "0s")
	if u.AvailableRatio != nil || u.UnknownSeconds != 0 || len(u.Seconds) != 4 {
		t.Errorf("%+v", u)
	}
}
