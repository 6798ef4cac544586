package app

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"imagingstatus/wire"
)

// svgNS is the namespace go-app needs to create SVG elements in the browser.
const svgNS = "http://www.w3.org/2000/svg"

// svg makes an SVG element (the browser creates it in the SVG namespace).
func svg(tag string) app.HTMLElem { return app.Elem(tag).XMLNS(svgNS) }

// gapFactor: a step between two points longer than this many typical steps
// is a gap in the record (the agent was away): the line breaks there.
const gapFactor = 3

// SparkPath draws points as an SVG path in a w×h box (y down): x by time
// over [from, to] (the points' own span when either is zero), y from the
// lowest value (bottom) to the highest (top). A flat series runs across the
// middle; a single point is a short dash at its time. Points outside
// [from, to] or not finite are left out, and a step longer than gapFactor
// times the median step starts a new subpath. No point gives "".
func SparkPath(points []wire.Point, from, to time.Time, w, h float64) string {
	pts := cleanPoints(points, from, to)
	if len(pts) == 0 || w <= 0 || h <= 0 {
		return ""
	}
	if from.IsZero() || to.IsZero() {
		from, to = pts[0].T, pts[len(pts)-1].T
	}
	span := to.Sub(from).Seconds()
	lo, hi := pointsRange(pts)
	const pad = 1.0 // keep the stroke inside the box
	ph := h - 2*pad
	if ph < 0 {
		ph = 0
	}
	xOf := func(t time.Time) float64 {
		if span <= 0 {
			return w
		}
		return clamp(t.Sub(from).Seconds()/span*w, 0, w)
	}
	yOf := func(v float64) float64 {
		if hi <= lo {
			return h / 2
		}
		return clamp(h-pad-(v-lo)/(hi-lo)*ph, 0, h)
	}
	var b strings.Builder
	if len(pts) == 1 {
		x, y := xOf(pts[0].T), yOf(pts[0].V)
		b.WriteString("M" + coord(max(0, x-2)) + "," + coord(y) + "L" + coord(max(x, 2)) + "," + coord(y))
		return b.String()
	}
	maxStep := gapFactor * medianStep(pts)
	for i, p := range pts {
		cmd := "L"
		if i == 0 || (maxStep > 0 && p.T.Sub(pts[i-1].T) > maxStep) {
			cmd = "M"
		}
		b.WriteString(cmd + coord(xOf(p.T)) + "," + coord(yOf(p.V)))
	}
	return b.String()
}

// cleanPoints keeps the finite points within [from, to] (all when either
// is zero), oldest first.
func cleanPoints(points []wire.Point, from, to time.Time) []wire.Point {
	bounded := !from.IsZero() && !to.IsZero()
	out := make([]wire.Point, 0, len(points))
	for _, p := range points {
		if math.IsNaN(p.V) || math.IsInf(p.V, 0) || p.T.IsZero() {
			continue
		}
		if bounded && (p.T.Before(from) || p.T.After(to)) {
			continue
		}
		out = append(out, p)
	}
	slices.SortStableFunc(out, func(a, b wire.Point) int { return a.T.Compare(b.T) })
	return out
}

// pointsRange is the lowest and highest value of pts (0, 0 when empty).
func pointsRange(pts []wire.Point) (lo, hi float64) {
	for i, p := range pts {
		if i == 0 || p.V < lo {
			lo = p.V
		}
		if i == 0 || p.V > hi {
			hi = p.V
		}
	}
	return lo, hi
}

func medianStep(pts []wire.Point) time.Duration {
	if len(pts) < 2 {
		return 0
	}
	steps := make([]time.Duration, 0, len(pts)-1)
	for i := 1; i < len(pts); i++ {
		steps = append(steps, pts[i].T.Sub(pts[i-1].T))
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i] < steps[j] })
	return steps[len(steps)/2]
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// coord writes an SVG coordinate with at most one decimal.
func coord(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// ValueText writes a series value in its unit ("bytes", "count", "load").
func (t *Texts) ValueText(unit string, v float64) string {
	switch unit {
	case "bytes":
		if v < 0 {
			v = 0
		}
		return t.BytesText(uint64(v))
	case "count":
		return strconv.FormatInt(int64(math.Round(v)), 10)
	default:
		return t.Number(v)
	}
}

// Sparkline and chart boxes, in SVG user units.
const (
	sparkW, sparkH = 120.0, 32.0
	chartW, chartH = 600.0, 200.0
)

// sparkSVG is a small decorative chart of pts (the text next to it carries
// the figures): aria-hidden.
func sparkSVG(class, d string, w, h float64) app.UI {
	return svg("svg").Class(class).
		Attr("viewBox", "0 0 "+coord(w)+" "+coord(h)).
		Attr("preserveAspectRatio", "none").
		Attr("focusable", "false").
		Aria("hidden", "true").
		Body(
			svg("path").Class("spark-line").Attr("d", d).Attr("vector-effect", "non-scaling-stroke"),
		)
}

// chartSVG is the larger chart: the line over a few horizontal rules.
func chartSVG(d string) app.UI {
	rules := make([]app.UI, 0, 5)
	for i := range 5 {
		y := coord(1 + float64(i)*(chartH-2)/4)
		rules = append(rules, svg("line").Class("chart-rule").
			Attr("x1", "0").Attr("x2", coord(chartW)).Attr("y1", y).Attr("y2", y).
			Attr("vector-effect", "non-scaling-stroke"))
	}
	return svg("svg").Class("chart-svg").
		Attr("viewBox", "0 0 "+coord(chartW)+" "+coord(chartH)).
		Attr("preserveAspectRatio", "none").
		Attr("focusable", "false").
		Aria("hidden", "true").
		Body(append(rules,
			svg("path").Class("spark-line chart-line").Attr("d", d).Attr("vector-effect", "non-scaling-stroke"),
		)...)
}
