package history

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"imagingstatus/wire"
)

const (
	gb   = 1e9
	tb   = 1e12
	day  = 24 * time.Hour
	step = 30 * time.Minute // the 30-minute tier, what a 7-day Series returns
)

// series returns used bytes at every step over span ending at now:
// f(age) gives the value age before now.
func series(span, every time.Duration, f func(age time.Duration) float64) []wire.Point {
	var out []wire.Point
	for age := span; age >= 0; age -= every {
		out = append(out, wire.Point{T: now.Add(-age), V: f(age)})
	}
	return out
}

// linear grows rate bytes a day and is at level now.
func linear(level, rate float64) func(time.Duration) float64 {
	return func(age time.Duration) float64 { return level - rate*age.Hours()/24 }
}

func TestForecast(t *testing.T) {
	noise := rand.New(rand.NewPCG(7, 7))
	tests := []struct {
		name     string
		points   []wire.Point
		total    float64
		days     float64 // want days_left; 0 with null: no forecast
		tol      float64 // relative tolerance on days
		want     []string
		wantNull bool
	}{
		{
			name:   "steady growth",
			points: series(7*day, step, linear(1*tb, 10*gb)),
			total:  2 * tb, days: 100, tol: 0.05,
			want: []string{wire.ConfidenceHigh},
		},
		{
			name: "steady growth, 5-minute points (pairs subsampled)",
			// 2,017 points: 2 million pairs, maxPairs of them drawn
			points: series(7*day, 5*time.Minute, linear(1.5*tb, 10*gb)),
			total:  2 * tb, days: 50, tol: 0.05,
			want: []string{wire.ConfidenceHigh},
		},
		{
			name: "growth plus a cleanup: the drop is ignored, the level after it counts",
			points: series(7*day, step, func(age time.Duration) float64 {
				v := linear(1.2*tb, 10*gb)(age)
				if age > 3*day { // before the cleanup 3 days ago: 400 GB more
					v += 400 * gb
				}
				return v
			}),
			total: 2 * tb, days: 80, tol: 0.05,
			want: []string{wire.ConfidenceHigh},
		},
		{
			name: "growth plus two cleanups and an outlier reading",
			points: series(7*day, step, func(age time.Duration) float64 {
				v := linear(1.2*tb, 10*gb)(age)
				if age > 2*day {
					v += 100 * gb
				}
				if age > 5*day {
					v += 300 * gb
				}
				if age == 4*day { // one low reading that comes back
					v -= 500 * gb
				}
				return v
			}),
			total: 2 * tb, days: 80, tol: 0.05,
			want: []string{wire.ConfidenceHigh},
		},
		{
			name:   "flat",
			points: series(7*day, step, func(time.Duration) float64 { return 1.5 * tb }),
			total:  2 * tb, wantNull: true,
		},
		{
			name: "flat with noise",
			points: series(7*day, step, func(time.Duration) float64 {
				return 1.5*tb + noise.NormFloat64()*5*gb
			}),
			total: 2 * tb, wantNull: true,
		},
		{
			name:   "shrinking",
			points: series(7*day, step, linear(1*tb, -10*gb)),
			total:  2 * tb, wantNull: true,
		},
		{
			name: "noisy growth",
			points: series(7*day, step, func(age time.Duration) float64 {
				return linear(1*tb, 10*gb)(age) + noise.NormFloat64()*10*gb
			}),
			total: 2 * tb, days: 100, tol: 0.15,
			want: []string{wire.ConfidenceMedium, wire.ConfidenceLow},
		},
		{
			name:   "too few points",
			points: series(7*day, day, linear(1*tb, 10*gb))[1:], // 7 points over 6 days
			total:  2 * tb, wantNull: true,
		},
		{
			name:   "too short a span",
			points: series(10*time.Hour, 5*time.Minute, linear(1*tb, 10*gb)),
			total:  2 * tb, wantNull: true,
		},
		{
			name:   "two days of data: medium at best",
			points: series(2*day, step, linear(1*tb, 10*gb)),
			total:  2 * tb, days: 100, tol: 0.05,
			want: []string{wire.ConfidenceMedium, wire.ConfidenceLow},
		},
		{
			name:   "far away: a clean fit, but low",
			points: series(7*day, step, linear(0.5*tb, 2*gb)),
			total:  2 * tb, days: 750, tol: 0.05,
			want: []string{wire.ConfidenceLow},
		},
		{
			name:   "more than 10 years away: no forecast",
			points: series(7*day, step, linear(0.5*tb, 0.1*gb)),
			total:  2 * tb, wantNull: true,
		},
		{
			name:   "already full",
			points: series(7*day, step, linear(2.1*tb, 10*gb)),
			total:  2 * tb, days: 0, tol: 0,
			want: []string{wire.ConfidenceHigh},
		},
		{
			name:   "unknown total",
			points: series(7*day, step, linear(1*tb, 10*gb)),
			total:  0, wantNull: true,
		},
		{
			name: "older points than the window are ignored",
			points: append(series(30*day, day, func(age time.Duration) float64 {
				return 0.1 * tb // a month ago, much emptier: would steepen the slope
			})[:20], series(7*day, step, linear(1*tb, 10*gb))...),
			total: 2 * tb, days: 100, tol: 0.05,
			want: []string{wire.ConfidenceHigh},
		},
		{
			name:   "no points",
			points: nil,
			total:  2 * tb, wantNull: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := Forecast(tc.points, tc.total, now, "/var/lib/pulse2")
			if f.Mountpoint != "/var/lib/pulse2" {
				t.Errorf("mountpoint %q", f.Mountpoint)
			}
			if tc.wantNull {
				if f.FullAt != nil || f.DaysLeft != nil || f.Confidence != wire.ConfidenceLow {
					t.Fatalf("want no forecast (low), got %s", describe(f))
				}
				return
			}
			if f.FullAt == nil || f.DaysLeft == nil {
				t.Fatalf("no forecast, want %.1f days", tc.days)
			}
			if d := *f.DaysLeft; math.Abs(d-tc.days) > tc.tol*tc.days+1e-9 {
				t.Errorf("days left %.2f, want %.2f ± %.0f%%", d, tc.days, tc.tol*100)
			}
			wantAt := now.Add(time.Duration(*f.DaysLeft * float64(day)))
			if d := f.FullAt.Sub(wantAt); d < -time.Second || d > time.Second {
				t.Errorf("full at %s, days left say %s", f.FullAt, wantAt)
			}
			ok := false
			for _, c := range tc.want {
				ok = ok || f.Confidence == c
			}
			if !ok {
				t.Errorf("confidence %s, want one of %v (%s)", f.Confidence, tc.want, describe(f))
			}
		})
	}
}

func describe(f wire.DiskForecast) string {
	s := "confidence " + f.Confidence
	if f.DaysLeft != nil {
		s += ", days left " + time.Duration(*f.DaysLeft*float64(day)).String()
	}
	return s
}

// TestForecastReproducible: the pair subsampling is seeded, so the same
// points give the same forecast.
func TestForecastReproducible(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	pts := series(7*day, 5*time.Minute, func(age time.Duration) float64 {
		return linear(1*tb, 10*gb)(age) + r.NormFloat64()*20*gb
	})
	a, b := Forecast(pts, 2*tb, now, "/"), Forecast(pts, 2*tb, now, "/")
	if a.DaysLeft == nil || b.DaysLeft == nil || *a.DaysLeft != *b.DaysLeft || a.Confidence != b.Confidence {
		t.Fatalf("%s vs %s", describe(a), describe(b))
	}
}

func TestStitch(t *testing.T) {
	tests := []struct {
		name string
		y    []float64
		want []float64
	}{
		{"no fall", []float64{1, 2, 3, 4, 5}, []float64{1, 2, 3, 4, 5}},
		{"a lasting fall", []float64{10, 11, 12, 2, 3, 4, 5}, []float64{-1, 0, 1, 2, 3, 4, 5}},
		{"a fall that comes back is an outlier", []float64{10, 11, 2, 13, 14, 15}, []float64{10, 11, 2, 13, 14, 15}},
		{"a fall at the last point", []float64{10, 11, 12, 13, 3}, []float64{-1, 0, 1, 2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := stitch(tc.y, 100) // threshold: 1 (1 % of 100)
			for i := range got {
				if math.Abs(got[i]-tc.want[i]) > 1e-9 {
					t.Fatalf("stitch(%v) = %v, want %v", tc.y, got, tc.want)
				}
			}
		})
	}
}
