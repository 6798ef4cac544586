package app

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"imagingstatus/wire"
)

func TestSparkPath(t *testing.T) {
	from := hubNow.Add(-48 * time.Hour)
	pt := func(d time.Duration, v float64) wire.Point { return wire.Point{T: from.Add(d), V: v} }
	for _, tc := range []struct {
		name string
		pts  []wire.Point
		want string
	}{
		{"empty", nil, ""},
		{"rising", []wire.Point{pt(0, 0), pt(24*time.Hour, 50), pt(48*time.Hour, 100)}, "M0,19L50,10L100,1"},
		{"any order", []wire.Point{pt(48*time.Hour, 100), pt(0, 0), pt(24*time.Hour, 50)}, "M0,19L50,10L100,1"},
		{"flat", []wire.Point{pt(0, 7), pt(48*time.Hour, 7)}, "M0,10L100,10"},
		{"single", []wire.Point{pt(24*time.Hour, 3)}, "M48,10L50,10"},
		{"outside and not finite", []wire.Point{pt(-time.Hour, 1), pt(0, 0), pt(time.Hour, math.NaN()), pt(48*time.Hour, 10), pt(49*time.Hour, 5)}, "M0,19L100,1"},
		// 12 h steps, then a 24 h hole: the line breaks.
		{"gap", []wire.Point{pt(0, 0), pt(6*time.Hour, 1), pt(12*time.Hour, 2), pt(48*time.Hour, 3)}, "M0,19L12.5,13L25,7M100,1"},
	} {
		if got := SparkPath(tc.pts, from, hubNow, 100, 20); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// Without a window, the points' own span.
	if got := SparkPath([]wire.Point{pt(time.Hour, 1), pt(2*time.Hour, 2)}, time.Time{}, time.Time{}, 10, 10); got != "M0,9L10,1" {
		t.Errorf("own span: %q", got)
	}
	// Whatever the values, every coordinate stays in the box.
	var pts []wire.Point
	for i := range 500 {
		pts = append(pts, pt(time.Duration(i)*5*time.Minute, math.Sin(float64(i))*1e12+float64(i*i)))
	}
	num := regexp.MustCompile(`[ML](-?[0-9.]+),(-?[0-9.]+)`)
	d := SparkPath(pts, from, hubNow, sparkW, sparkH)
	ms := num.FindAllStringSubmatch(d, -1)
	if len(ms) != 500 {
		t.Fatalf("%d points drawn, want 500", len(ms))
	}
	for _, m := range ms {
		x, _ := strconv.ParseFloat(m[1], 64)
		y, _ := strconv.ParseFloat(m[2], 64)
		if x < 0 || x > sparkW || y < 0 || y > sparkH {
			t.Fatalf("point %v,%v outside %vx%v", x, y, sparkW, sparkH)
		}
	}
}

func TestSparklineNoData(t *testing.T) {
	hub := hubFixtures()
	hub.bodies[SeriesPath("UUID0", wire.FigureRepoDiskUsed, "48h")] = `{"figure":"repo_disk_used_bytes","unit":"bytes","points":[]}`
	useHub(t, hub)
	h := generalHistory()
	loadHistory(t, h)
	wantAll(t, visibleText(h), "Repository disk used No data yet", "Memory used No data yet")
	if html := app.HTMLString(h); strings.Contains(html, "spark-line") || strings.Contains(html, `<button`) {
		t.Error("an empty series is drawn or offers a chart")
	}
	// An entity without a server has no sparklines at all.
	h2 := generalHistory()
	h2.Server = false
	loadHistory(t, h2)
	wantNone(t, visibleText(h2), "Last 48 hours", "Repository disk used")
	wantAll(t, visibleText(h2), "Last 24 hours 99.3 %")
}

func forecast(days float64, conf string, synthetic bool) *wire.DiskForecast {
	full := hubNow.Add(time.Duration(days * 24 * float64(time.Hour)))
	return &wire.DiskForecast{Mountpoint: "/var/lib/pulse2", FullAt: &full, DaysLeft: &days, Confidence: conf, Synthetic: synthetic}
}

func TestForecastThresholds(t *testing.T) {
	for _, tc := range []struct {
		f          *wire.DiskForecast
		show, warn bool
		head, wall string
	}{
		{nil, false, false, "", ""},
		{&wire.DiskForecast{Mountpoint: "/", Confidence: "low"}, false, false, "", ""}, // no trend: null days
		{forecast(60, "high", false), false, false, "", ""},
		{forecast(120, "high", false), false, false, "", ""},
		{forecast(59.9, "high", false), true, false, "Repository disk full in about 59 days", ""},
		{forecast(14, "medium", false), true, false, "Repository disk full in about 14 days", ""},
		{forecast(13.9, "medium", false), true, true, "Repository disk full in about 13 days", "Disk full in 13 d"},
		{forecast(1.5, "low", false), true, true, "Repository disk full in about 1 day", "Disk full in 1 d"},
		{forecast(0.4, "low", false), true, true, "Repository disk full in less than a day", "Disk full in < 1 d"},
		{forecast(0, "high", false), true, true, "Repository disk full in less than a day", "Disk full in < 1 d"},
	} {
		show, warn := ForecastLevel(tc.f)
		if show != tc.show || warn != tc.warn {
			t.Errorf("%+v: show %v warn %v, want %v %v", tc.f, show, warn, tc.show, tc.warn)
		}
		if !show {
			continue
		}
		if got := english.ForecastHeadline(*tc.f.DaysLeft); got != tc.head {
			t.Errorf("headline %q, want %q", got, tc.head)
		}
		if warn {
			if got := english.WallForecast(*tc.f.DaysLeft); got != tc.wall {
				t.Errorf("wall %q, want %q", got, tc.wall)
			}
		}
	}
	for got, want := range map[string]string{
		french.ForecastHeadline(12.7): "Disque du dépôt plein dans environ 12 jours",
		french.ForecastHeadline(1.2):  "Disque du dépôt plein dans environ 1 jour",
		french.ForecastHeadline(0.5):  "Disque du dépôt plein dans moins d'un jour",
		french.WallForecast(9.9):      "Disque plein dans 9 j",
		french.WallForecast(0.9):      "Disque plein dans < 1 j",
		french.Confidence("high"):     "élevée",
		french.Confidence("medium"):   "moyenne",
		french.Confidence("low"):      "faible",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestPanelForecast(t *testing.T) {
	e := availableEntity()
	e.DiskForecast = forecast(30.2, "medium", false)
	p := &EntityPanel{Entity: e, Now: hubNow}
	text := loadPanel(t, p)
	full := english.Date(*e.DiskForecast.FullAt)
	wantAll(t, text, "Repository disk full in about 30 days At the current trend of the last 7 days, the partition /var/lib/pulse2 will be full around "+full+". Confidence: medium.")
	wantNone(t, text, "synthetic")
	html := app.HTMLString(p)
	if !strings.Contains(html, `class="notice notice--forecast"`) {
		t.Error("a forecast in 30 days is not a plain notice")
	}

	e.DiskForecast = forecast(9, "high", true)
	p = &EntityPanel{Entity: e, Now: hubNow, Lang: French}
	text = loadPanel(t, p)
	wantAll(t, text, "Disque du dépôt plein dans environ 9 jours",
		"Au rythme actuel des 7 derniers jours, la partition /var/lib/pulse2 sera pleine vers le "+french.Date(*e.DiskForecast.FullAt)+".",
		"Confiance : élevée.", "série synthétique (démo)")
	if !strings.Contains(app.HTMLString(p), `class="notice notice--forecast notice--warn"`) {
		t.Error("a forecast in 9 days is not a warning")
	}

	for _, f := range []*wire.DiskForecast{nil, forecast(75, "high", false), {Mountpoint: "/", Confidence: "low"}} {
		e.DiskForecast = f
		wantNone(t, loadPanel(t, &EntityPanel{Entity: e, Now: hubNow}), "Repository disk full", "current trend")
	}
}

func TestWallTileForecast(t *testing.T) {
	eng, w := loadWall(t)
	ents := snapshot()
	ents[0].DiskForecast = forecast(9.5, "high", false) // General
	ents[4].DiskForecast = forecast(20, "high", false)  // Lab: not on the wall
	ents[2].DiskForecast = forecast(3, "low", true)     // Private, demo data
	runWall(eng, w, func() {
		w.apply(Batch{Conn: &ConnState{Phase: PhaseConnected}, Snapshot: ents, HubTime: hubNow, ReceivedAt: hubNow})
	})
	text := visibleText(w)
	wantAll(t, text,
		"General Available · 3 d 4 h 5 min Disk full in 9 d Disk /var/lib/pulse2: 50 % used",
		"Private Connection error · 5 min probe imaging API failed: connection refused Disk full in 3 d (demo)",
	)
	if n := strings.Count(text, "Disk full in"); n != 2 {
		t.Errorf("%d tiles warn, want 2", n)
	}
	if !hasElement(app.HTMLString(w), "p", `class="tile-forecast"`, `title="Repository disk full in about 9 days"`) {
		t.Error("the tile's warning lacks its full text")
	}
	runWall(eng, w, func() { w.setLang(w.mctx, French) })
	wantAll(t, visibleText(w), "Disque plein dans 9 j", "Disque plein dans 3 j (démo)")
}
