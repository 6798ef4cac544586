package app

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"imagingstatus/wire"
)

func TestWallLayout(t *testing.T) {
	// 1920x1080 at 16 px: about 119x62 em for the grid.
	for _, tc := range []struct {
		n, cols, rows, per int
		minScale, maxScale int
	}{
		{60, 8, 8, 60, 1, 1},
		{1, 1, 1, 1, 6, 6},
		{5, 2, 3, 5, 4, 6}, // wide tiles, large text
		{12, 3, 4, 12, 3, 5},
		{0, 1, 1, 0, 1, 1},
	} {
		c, r, per, s := WallLayout(tc.n, 119, 62)
		if c != tc.cols || r != tc.rows || per != tc.per || s < tc.minScale || s > tc.maxScale {
			t.Errorf("WallLayout(%d) = %d×%d, %d per page, scale %d; want %d×%d, %d, scale %d-%d",
				tc.n, c, r, per, s, tc.cols, tc.rows, tc.per, tc.minScale, tc.maxScale)
		}
	}
	// Up to 60 fit one 1920x1080 screen; every tile keeps its minimum size.
	for n := 1; n <= 60; n++ {
		c, r, per, _ := WallLayout(n, 119, 62)
		tw, th := (119-float64(c-1)*gridGapEm)/float64(c), (62-float64(r-1)*gridGapEm)/float64(r)
		if per != n || c*r < n || tw < minTileW || th < minTileH {
			t.Fatalf("%d tiles: %d×%d (%.1f×%.1f em), %d per page", n, c, r, tw, th, per)
		}
	}
	// Too many for one screen: pages of equal size, none smaller than the minimum.
	c, r, per, _ := WallLayout(300, 119, 62)
	pages := (300 + per - 1) / per
	if per >= 300 || c*r < per || pages < 2 || per*pages < 300 {
		t.Errorf("300 tiles: %d×%d, %d per page, %d pages", c, r, per, pages)
	}
	if th := (62 - float64(r-1)*gridGapEm) / float64(r); th < minTileH {
		t.Errorf("paged tiles %.1f em high", th)
	}
	// A phone: a few per page.
	if c, r, per, _ := WallLayout(60, 22, 40); c > 2 || per >= 60 || r*c < per {
		t.Errorf("phone: %d×%d, %d per page", c, r, per)
	}
}

func TestWallOrderAndFilter(t *testing.T) {
	ents := map[string]wire.Entity{}
	for _, e := range snapshot() {
		ents[e.ID] = e
	}
	order := TreeOrder(ents)
	got := WallOrder(ents, order, WallFilter{})
	// offline, connection error, not linked, then available, each in tree order
	want := []string{"UUID2", "UUID3", "UUID4", "UUID0", "UUID5"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("order %v, want %v", got, want)
	}
	f, rotate := ParseWallQuery(url.Values{"under": {"UUID2"}, "rotate": {"30"}})
	if got := WallOrder(ents, order, f); strings.Join(got, " ") != "UUID2 UUID5" || rotate != 30*time.Second {
		t.Errorf("under UUID2: %v, rotate %v", got, rotate)
	}
	f, rotate = ParseWallQuery(url.Values{"entities": {"UUID0, UUID4,bad id"}, "rotate": {"1"}})
	if got := WallOrder(ents, order, f); strings.Join(got, " ") != "UUID4 UUID0" || rotate != defaultRotate {
		t.Errorf("entities: %v, rotate %v", got, rotate)
	}
	f, _ = ParseWallQuery(url.Values{"entities": {"UUID0,UUID5"}, "under": {"UUID2"}})
	if got := WallOrder(ents, order, f); strings.Join(got, " ") != "UUID5" {
		t.Errorf("both filters: %v", got)
	}
}

func loadWall(t *testing.T) (app.TestEngine, *Wall) {
	t.Helper()
	eng := app.NewTestEngine()
	w := &Wall{}
	if err := eng.Load(w); err != nil {
		t.Fatal(err)
	}
	eng.ConsumeAll()
	return eng, w
}

func runWall(eng app.TestEngine, w *Wall, f func()) {
	w.mctx.Dispatch(func(app.Context) { f() })
	eng.ConsumeAll()
}

func TestWallTilesAndLiveChange(t *testing.T) {
	eng, w := loadWall(t)
	wantAll(t, visibleText(w), "Imaging servers", "Loading the status")
	connected := &ConnState{Phase: PhaseConnected}
	runWall(eng, w, func() {
		w.apply(Batch{Conn: connected, Snapshot: snapshot(), HubTime: hubNow, ReceivedAt: hubNow})
	})
	text := visibleText(w)
	wantAll(t, text,
		"1 Offline", "1 Connection error", "1 No imaging server", "2 Available", "Connected to the hub",
		// a tile: name, status, how long, reason, fullest partition
		"Public Offline · 1 min no report for 15 s (3 missed intervals)",
		"Private Connection error · 5 min probe imaging API failed: connection refused",
		"General Available · 3 d 4 h 5 min Disk /var/lib/pulse2: 50 % used",
	)
	wantNone(t, text, "unreachable", "is now")
	if i, j := strings.Index(text, "Public Offline"), strings.Index(text, "General Available"); i < 0 || j < i {
		t.Error("problems do not come first")
	}
	html := app.HTMLString(w)
	for _, want := range []string{`class="wall-grid cols-`, `aria-live="polite"`, `href="/entities/UUID3"`} {
		if !strings.Contains(html, want) {
			t.Errorf("wall lacks %s", want)
		}
	}

	// Private recovers: its tile is highlighted and the change announced.
	e := connErrorEntity()
	e.Status, e.Reason, e.Since = wire.StatusAvailable, "", hubNow
	runWall(eng, w, func() {
		w.apply(Batch{Changes: map[string]wire.Entity{e.ID: e}, HubTime: hubNow.Add(time.Second), ReceivedAt: hubNow.Add(time.Second)})
	})
	text = visibleText(w)
	wantAll(t, text, "Private is now Available.", "3 Available")
	if n := strings.Count(app.HTMLString(w), "tile--changed"); n != 1 {
		t.Errorf("%d highlighted tiles, want 1", n)
	}
	// The highlight fades; the announcement stays for screen readers.
	runWall(eng, w, func() { w.tick(hubNow.Add(highlightFor + 2*time.Second)) })
	if strings.Contains(app.HTMLString(w), "tile--changed") {
		t.Error("the highlight did not end")
	}

	// The hub is lost: a visible stale notice with its age.
	runWall(eng, w, func() {
		w.apply(Batch{Conn: &ConnState{Phase: PhaseReconnecting, Attempt: 1, RetryAt: w.now.Add(time.Second)}})
		w.tick(w.now.Add(90 * time.Second))
	})
	wantAll(t, visibleText(w), "Hub unreachable: last status seen 1 min ago.", "Reconnecting… (attempt 1)")
	if !strings.Contains(app.HTMLString(w), "wall wall--stale") {
		t.Error("the wall is not marked stale")
	}

	// French.
	runWall(eng, w, func() { w.setLang(w.mctx, French) })
	wantAll(t, visibleText(w), "Serveurs d'imagerie", "1 Hors ligne", "Hub injoignable : dernier état vu il y a 1 min.",
		"Reconnexion… (tentative 1)")
}

func TestWallPagesRotate(t *testing.T) {
	eng, w := loadWall(t)
	var many []wire.Entity
	for i := range 150 {
		e := availableEntity()
		e.ID, e.Name, e.Path = "E"+strconv.Itoa(i), "Entity "+strconv.Itoa(i), nil
		many = append(many, e)
	}
	runWall(eng, w, func() {
		w.gridW, w.gridH = 119, 62
		w.rotate = 10 * time.Second
		w.apply(Batch{Conn: &ConnState{Phase: PhaseConnected}, Snapshot: many, HubTime: hubNow, ReceivedAt: hubNow})
	})
	_, _, per, _ := WallLayout(150, 119, 62)
	pages := (150 + per - 1) / per
	first := visibleText(w)
	wantAll(t, first, "Page 1 of "+strconv.Itoa(pages))
	if n := strings.Count(app.HTMLString(w), `class="tile-name"`); n != per {
		t.Errorf("%d tiles on a page, want %d", n, per)
	}
	runWall(eng, w, func() { w.pageAt = w.now; w.tick(w.now.Add(11 * time.Second)); w.afterTick(w.mctx) })
	wantAll(t, visibleText(w), "Page 2 of "+strconv.Itoa(pages))
}

func TestDashboardKeepsAndRestoresTheLastSnapshot(t *testing.T) {
	eng, d := loadDashboard(t)
	run(eng, d, func() {
		d.apply(Batch{Conn: &ConnState{Phase: PhaseConnected}, Snapshot: snapshot(), HubTime: hubNow, ReceivedAt: hubNow})
		d.tick(hubNow.Add(10 * time.Second)) // a save is due
	})
	wantNone(t, visibleText(d), "Showing the last status")
	var v savedView
	if err := d.mctx.LocalStorage().Get(viewKey, &v); err != nil || len(v.Entities) != 5 || !v.SavedAt.Equal(hubNow) {
		t.Fatalf("saved view: %d entities at %v (%v)", len(v.Entities), v.SavedAt, err)
	}

	// A new start while the hub is down (the wall, in the same browser):
	// the saved entities, marked stale with their age, until a live
	// snapshot replaces them.
	w := &Wall{}
	w.now = hubNow.Add(5 * time.Minute)
	if err := eng.Load(w); err != nil {
		t.Fatal(err)
	}
	eng.ConsumeAll()
	// Shown at once, called stale only when the first attempt fails.
	wantAll(t, visibleText(w), "General Available", "Connecting to the hub")
	wantNone(t, visibleText(w), "unreachable")
	runWall(eng, w, func() {
		w.apply(Batch{Conn: &ConnState{Phase: PhaseReconnecting, Attempt: 1}})
	})
	text := visibleText(w)
	// the dashboard saved once more when it closed, 10 s after the first save
	wantAll(t, text, "Hub unreachable: last status seen 4 min ago.", "General Available", "Reconnecting… (attempt 1)")
	if !w.stored || w.isLive() {
		t.Error("the restored view counts as live")
	}
	runWall(eng, w, func() {
		w.apply(Batch{Conn: &ConnState{Phase: PhaseConnected}, Snapshot: snapshot(), HubTime: hubNow.Add(5 * time.Minute), ReceivedAt: hubNow.Add(5 * time.Minute)})
	})
	wantNone(t, visibleText(w), "unreachable")
	if w.stored || !w.isLive() {
		t.Error("a live snapshot did not replace the restored one")
	}
}

func TestDashboardLanguageIsRemembered(t *testing.T) {
	eng, d := loadDashboard(t)
	run(eng, d, func() {
		d.apply(Batch{Conn: &ConnState{Phase: PhaseConnected}, Snapshot: snapshot(), HubTime: hubNow, ReceivedAt: hubNow})
	})
	wantAll(t, visibleText(d), "Imaging status", "Available", "English Français")
	run(eng, d, func() { d.switchLang(d.mctx, French) })
	wantAll(t, visibleText(d), "État de l'imagerie", "Disponible", "Que faire", "Connecté au hub", "Écran mural")
	wantNone(t, visibleText(d), "Available")
	// A new page in the same browser starts in French.
	w := &Wall{}
	if err := eng.Load(w); err != nil {
		t.Fatal(err)
	}
	eng.ConsumeAll()
	if w.lang != French {
		t.Errorf("language %q after a new start, want fr", w.lang)
	}
	wantAll(t, visibleText(w), "Serveurs d'imagerie")
}

func TestStatusChangesOnlyForMovedEntities(t *testing.T) {
	var l live
	var got []string
	l.onStatus = func(old wire.Status, e wire.Entity) { got = append(got, e.ID+":"+string(old)+">"+string(e.Status)) }
	l.apply(Batch{Snapshot: snapshot()}) // the first snapshot changes nothing
	e := offlineEntity()
	e.Reason = "another reason" // same status: no change
	e2 := notLinkedEntity()
	e2.Status = wire.StatusAvailable
	l.apply(Batch{Changes: map[string]wire.Entity{e.ID: e, e2.ID: e2}})
	if strings.Join(got, " ") != "UUID4:not_linked>available" {
		t.Errorf("changes %v", got)
	}
}

func TestUpdateOffers(t *testing.T) {
	eng, d := loadDashboard(t)
	run(eng, d, func() {
		d.apply(Batch{Conn: &ConnState{Phase: PhaseConnected}, Snapshot: snapshot(), HubTime: hubNow, ReceivedAt: hubNow})
		d.update = true
	})
	wantAll(t, visibleText(d), "A new version of this page is ready. Reload")

	// The wall, unattended, counts down to a reload anyone can hurry.
	weng, w := loadWall(t)
	runWall(weng, w, func() {
		w.apply(Batch{Conn: &ConnState{Phase: PhaseConnected}, Snapshot: snapshot(), HubTime: hubNow, ReceivedAt: hubNow})
		w.update, w.updateAt = true, hubNow
		w.tick(hubNow.Add(15 * time.Second))
	})
	wantAll(t, visibleText(w), "A new version is ready: reloading in 45 s. Reload")
}

// FitLayout's steps: the text scale first, then the dense steps, then
// larger tiles (fewer a page); each step shows no more than the one before.
func TestFitLayoutSteps(t *testing.T) {
	c0, r0, per0, s0, d0 := FitLayout(12, 119, 62, 0)
	if c, r, per, s := WallLayout(12, 119, 62); c != c0 || r != r0 || per != per0 || s != s0 || d0 != 0 {
		t.Fatalf("step 0 is not WallLayout: %d×%d %d scale %d dense %d", c0, r0, per0, s0, d0)
	}
	prevPer, prevScale, prevDense := per0, s0, d0
	sawDense, sawGrow := false, false
	for shrink := 1; shrink <= maxShrink; shrink++ {
		_, _, per, s, d := FitLayout(12, 119, 62, shrink)
		if s > prevScale || per > prevPer || (s == prevScale && per == prevPer && d < prevDense) {
			t.Fatalf("step %d grew: %d per page, scale %d, dense %d after %d, %d, %d", shrink, per, s, d, prevPer, prevScale, prevDense)
		}
		if s > 1 && d > 0 {
			t.Errorf("step %d: dense text before the smallest scale", shrink)
		}
		sawDense = sawDense || d == denseSteps
		sawGrow = sawGrow || per < 12
		prevPer, prevScale, prevDense = per, s, d
	}
	if !sawDense || !sawGrow {
		t.Errorf("the steps never reached dense text (%v) or fewer tiles a page (%v)", sawDense, sawGrow)
	}
	if _, _, per, _, _ := FitLayout(12, 119, 62, maxShrink); per < 1 {
		t.Errorf("the last step shows %d tiles", per)
	}
}

// An inherited tile names the server it shares; its reason, the server's
// own, is left to the server's tile when that is on the wall.
func TestWallTileServedBy(t *testing.T) {
	w := &Wall{}
	w.now = hubNow
	e := offlineEntity()
	e.ID, e.Name, e.Path, e.Inherited, e.ServedBy, e.ServedByEntity = "UUID7", "Lab", []string{"General", "Public", "Lab"}, true, "imaging-lyon", "UUID2"
	alone := visibleText(w.renderTile(T(English), e, hubNow, map[string]bool{"UUID7": true}))
	wantAll(t, alone, "Lab Offline", "served by imaging-lyon", "no report for 15 s")
	beside := visibleText(w.renderTile(T(French), e, hubNow, map[string]bool{"UUID7": true, "UUID2": true}))
	wantAll(t, beside, "Lab Hors ligne", "desservie par imaging-lyon")
	wantNone(t, beside, "no report for 15 s")
	own := visibleText(w.renderTile(T(English), offlineEntity(), hubNow, nil))
	wantNone(t, own, "served by")
	wantAll(t, own, "no report for 15 s")
}

// The tile's disk percentage is df's: used / (used + free), rounded up.
func TestWallTileDiskAsDf(t *testing.T) {
	w := &Wall{}
	w.now = hubNow
	e := availableEntity()
	e.Partitions = []wire.Partition{{Mountpoint: "/srv", Total: 100 << 30, Used: 15 << 30, Free: 80 << 30, Main: true}}
	wantAll(t, visibleText(w.renderTile(T(English), e, hubNow, nil)), "Disk /srv: 16 % used")
	// A summary carries the hub's percentage only.
	e.Partitions, e.FullestPct, e.FullestMount = nil, ptr(91), "/srv"
	html := app.HTMLString(w.renderTile(T(English), e, hubNow, nil))
	if !strings.Contains(html, "Disk /srv: 91 % used") || !strings.Contains(html, "disk--full") {
		t.Errorf("summary tile: %s", html)
	}
}
