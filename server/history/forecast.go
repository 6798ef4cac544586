package history

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"imagingstatus/wire"
)

// Forecast parameters.
const (
	// ForecastWindow is the history the trend is fitted on.
	ForecastWindow = 7 * 24 * time.Hour
	// Less than this, or fewer points, is no trend: a few hours of a disk
	// say more about the day's captures than about its fill rate.
	minForecastPoints = 8
	minForecastSpan   = 12 * time.Hour
	// maxPairs bounds the Theil–Sen slopes computed (a week of 5-minute
	// points has 2 million pairs); beyond it pairs are drawn at random.
	maxPairs = 4096
	// cleanupShare: a fall of at least this share of the disk is a cleanup
	// (if it lasts and stands out of the noise, see stitch).
	cleanupShare = 0.01
	// maxForecastDays: a disk full in more than 10 years is no trend that
	// matters (and would overflow a time.Duration past 292 years).
	maxForecastDays = 3650
)

// Forecast says when the partition of size total (bytes) will be full, from
// points of its used bytes (any order; those outside [now-ForecastWindow,
// now] are ignored), as of now.
//
// Fit. A Theil–Sen line (the median of the pairwise slopes, at most
// maxPairs of them, drawn with a fixed seed so a forecast is reproducible):
// robust to the spikes of an image being written then moved, which a
// least-squares fit would chase. Its value now is the median of y - slope·t,
// and the disk is full when that line reaches total.
//
// Cleanups. Deleting images drops the used bytes at once without changing
// the rate at which captures fill the disk, so before fitting, each lasting
// fall (see stitch) is cut out by lowering every earlier point by it: the
// week's growth still counts for the slope, and the line's value now is the
// level after the cleanup. (Fitting only the part after the last fall would
// leave no forecast for 12 h after each cleanup.)
//
// No trend, FullAt and DaysLeft null with confidence low: fewer than 8
// points or less than 12 h of them, an unknown total, a slope <= 0, a rise
// over the data (slope × span) that does not stand 4 standard errors out of
// the noise (4·σ·√(12/n), σ the robust spread of the residuals: a flat
// noisy disk has a small random slope), or a full date more than 10 years
// away. A disk already at or over the line's total has DaysLeft 0.
//
// Confidence, from the span of the data, the residuals' robust spread σ
// relative to the rise, and how far the date is extrapolated:
//
//	high    span >= 5 days, σ <= 5 % of the rise, full within 26 spans (6 months for a week)
//	medium  span >= 2 days, σ <= 20 % of the rise, full within 52 spans
//	low     any other forecast
func Forecast(points []wire.Point, total float64, now time.Time, mountpoint string) wire.DiskForecast {
	f := wire.DiskForecast{Mountpoint: mountpoint, Confidence: wire.ConfidenceLow}
	from := now.Add(-ForecastWindow)
	pts := make([]wire.Point, 0, len(points))
	for _, p := range points {
		if !p.T.Before(from) && !p.T.After(now) && !math.IsNaN(p.V) && !math.IsInf(p.V, 0) {
			pts = append(pts, p)
		}
	}
	slices.SortStableFunc(pts, func(a, b wire.Point) int { return a.T.Compare(b.T) })
	n := len(pts)
	if n < minForecastPoints || total <= 0 || math.IsNaN(total) || math.IsInf(total, 0) {
		return f
	}
	span := pts[n-1].T.Sub(pts[0].T)
	if span < minForecastSpan {
		return f
	}

	// x in seconds before now, so the intercept is the value now.
	x := make([]float64, n)
	y := make([]float64, n)
	for i, p := range pts {
		x[i], y[i] = p.T.Sub(now).Seconds(), p.V
	}
	y = stitch(y, total)
	slope := theilSen(x, y)
	if !(slope > 0) {
		return f
	}
	resid := make([]float64, n)
	for i := range y {
		resid[i] = y[i] - slope*x[i]
	}
	level := median(resid)
	for i := range resid {
		resid[i] = math.Abs(resid[i] - level)
	}
	sigma := 1.4826 * median(resid) // the MAD, scaled to a normal σ
	rise := slope * span.Seconds()
	if rise <= 4*sigma*math.Sqrt(12/float64(n)) {
		return f
	}
	left := max((total-level)/slope, 0) // seconds
	days := left / 86400
	if days > maxForecastDays {
		return f
	}
	fullAt := now.Add(time.Duration(left * float64(time.Second)))
	f.FullAt, f.DaysLeft = &fullAt, &days

	spans := left / span.Seconds()
	switch {
	case span >= 5*24*time.Hour && sigma <= 0.05*rise && spans <= 26:
		f.Confidence = wire.ConfidenceHigh
	case span >= 2*24*time.Hour && sigma <= 0.20*rise && spans <= 52:
		f.Confidence = wire.ConfidenceMedium
	}
	return f
}

// stitch returns y with its cleanups cut out: a fall from y[i-1] to y[i]
// larger than both cleanupShare of total and 8 robust standard deviations of
// the steps between points (so noise is never taken for a cleanup), that
// lasts (the next three points stay as far below y[i-1]; a single low
// reading that comes back is an outlier, left to the robust fit). Every
// point before such a fall is lowered by it plus the median step, so the
// stitched step looks like any other.
func stitch(y []float64, total float64) []float64 {
	n := len(y)
	if n < 2 {
		return y
	}
	steps := make([]float64, n-1)
	for i := 1; i < n; i++ {
		steps[i-1] = y[i] - y[i-1]
	}
	typical := median(slices.Clone(steps))
	dev := make([]float64, len(steps))
	for i, s := range steps {
		dev[i] = math.Abs(s - typical)
	}
	thr := max(cleanupShare*total, 8*1.4826*median(dev))

	out := slices.Clone(y)
	shift := 0.0
	for i := n - 1; i >= 1; i-- {
		if fall := y[i-1] - y[i]; fall > thr && lasts(y, i, y[i-1]-thr) {
			shift += fall + typical
		}
		out[i-1] = y[i-1] - shift
	}
	return out
}

// lasts says whether the up to three points after y[i] stay below level.
func lasts(y []float64, i int, level float64) bool {
	for j := i + 1; j < len(y) && j <= i+3; j++ {
		if y[j] > level {
			return false
		}
	}
	return true
}

// theilSen is the median of the slopes between pairs of points with
// distinct x: all pairs up to maxPairs, else maxPairs drawn at random with a
// seed of n, so that the same points give the same forecast.
func theilSen(x, y []float64) float64 {
	n := len(x)
	slopes := make([]float64, 0, min(n*(n-1)/2, maxPairs))
	if n*(n-1)/2 <= maxPairs {
		for i := range n {
			for j := i + 1; j < n; j++ {
				if x[j] != x[i] {
					slopes = append(slopes, (y[j]-y[i])/(x[j]-x[i]))
				}
			}
		}
	} else {
		r := rand.New(rand.NewPCG(uint64(n), 0x7e11))
		for tries := 0; len(slopes) < maxPairs && tries < 4*maxPairs; tries++ {
			i, j := r.IntN(n), r.IntN(n)
			if x[j] != x[i] {
				slopes = append(slopes, (y[j]-y[i])/(x[j]-x[i]))
			}
		}
	}
	if len(slopes) == 0 {
		return 0
	}
	return median(slopes)
}

// median sorts v in place and returns its median (0 for none).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	m := len(v) / 2
	if len(v)%2 == 1 {
		return v[m]
	}
	return (v[m-1] + v[m]) / 2
}
