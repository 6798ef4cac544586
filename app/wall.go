package app

import (
	"maps"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"imagingstatus/wire"
)

// Wall tuning.
const (
	highlightFor     = 10 * time.Second // a changed tile stands out this long
	defaultRotate    = 15 * time.Second // page rotation when not all tiles fit
	updateCountdown  = 60 * time.Second // unattended reload after a new version
	maxAnnouncements = 5
	// Tile bounds in em of the wall's font (which scales with the screen):
	// a tile is never smaller than minTileW×minTileH, and its text grows
	// once the tile is larger than baseTileW×baseTileH.
	minTileW, minTileH   = 10.5, 6.2
	baseTileW, baseTileH = 15.0, 7.5
	tileAspect           = 2.0 // preferred width:height
	gridGapEm            = 0.5
)

func newWall() app.Composer { return &Wall{} }

// WallFilter limits the wall to some entities (?entities=a,b) or to a
// subtree (?under=id, the entity and everything below it).
type WallFilter struct {
	IDs   map[string]bool
	Under string
}

// ParseWallQuery reads the wall's URL parameters: entities, under, rotate
// (seconds between pages).
func ParseWallQuery(q map[string][]string) (f WallFilter, rotate time.Duration) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	for _, id := range strings.Split(get("entities"), ",") {
		if id = strings.TrimSpace(id); wire.ValidEntityID(id) {
			if f.IDs == nil {
				f.IDs = map[string]bool{}
			}
			f.IDs[id] = true
		}
	}
	if u := get("under"); wire.ValidEntityID(u) {
		f.Under = u
	}
	rotate = defaultRotate
	if s, err := strconv.Atoi(get("rotate")); err == nil && s >= 3 && s <= 3600 {
		rotate = time.Duration(s) * time.Second
	}
	return f, rotate
}

// Match says whether the filter keeps e.
func (f WallFilter) Match(e wire.Entity, all map[string]wire.Entity) bool {
	if f.IDs != nil && !f.IDs[e.ID] {
		return false
	}
	if f.Under == "" {
		return true
	}
	seen := map[string]bool{}
	for id := e.ID; id != "" && !seen[id]; id = all[id].Parent {
		if id == f.Under {
			return true
		}
		seen[id] = true
	}
	return false
}

// severity orders the wall: problems first.
func severity(s wire.Status) int {
	switch s {
	case wire.StatusOffline:
		return 0
	case wire.StatusConnectionError:
		return 1
	case wire.StatusAvailable:
		return 4
	case wire.StatusNotLinked:
		return 3
	default:
		return 2
	}
}

// WallOrder lists the ids to show: the filter's, problems first, then in
// tree order.
func WallOrder(entities map[string]wire.Entity, treeOrder []string, f WallFilter) []string {
	out := make([]string, 0, len(treeOrder))
	rank := make(map[string]int, len(treeOrder))
	for i, id := range treeOrder {
		if e, ok := entities[id]; ok && f.Match(e, entities) {
			out = append(out, id)
			rank[id] = i
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := severity(entities[out[i]].Status), severity(entities[out[j]].Status)
		if a != b {
			return a < b
		}
		return rank[out[i]] < rank[out[j]]
	})
	return out
}

// WallLayout fits n tiles into a w×h area (in em, gaps included): the
// columns and rows that make tiles as large as possible near a 2:1 shape,
// never below the minimum tile; when not all fit, perPage tiles make a page
// and the pages rotate. scale (1-6) is the text size step the tiles allow.
func WallLayout(n int, w, h float64) (cols, rows, perPage, scale int) {
	return wallLayout(n, w, h, 1)
}

// maxShrink bounds FitLayout's steps: past it the wall shows what it can.
const maxShrink = 30

// denseSteps are the compact text steps FitLayout takes at text scale 1
// before it makes tiles larger.
const denseSteps = 2

// FitLayout is WallLayout made smaller by shrink steps, which the browser
// takes while some tile's text does not fit: first the text scale goes
// down to 1, then the secondary lines (reason, disk) get smaller (dense
// 1, 2), then the minimum tile grows by a tenth a step, so fewer tiles
// share a page: a tile never clips its text to keep them all.
func FitLayout(n int, w, h float64, shrink int) (cols, rows, perPage, scale, dense int) {
	shrink = max(shrink, 0)
	cols, rows, perPage, scale = wallLayout(n, w, h, 1)
	if shrink < scale {
		return cols, rows, perPage, scale - shrink, 0
	}
	if d := shrink - (scale - 1); d <= denseSteps {
		return cols, rows, perPage, 1, d
	}
	grow := math.Pow(1.1, float64(shrink-(scale-1)-denseSteps))
	cols, rows, perPage, _ = wallLayout(n, w, h, grow)
	return cols, rows, perPage, 1, denseSteps
}

// wallLayout is WallLayout with the minimum tile grown by grow.
func wallLayout(n int, w, h, grow float64) (cols, rows, perPage, scale int) {
	if n < 1 {
		return 1, 1, 0, 1
	}
	minW, minH := minTileW*grow, minTileH*grow
	size := func(c, r int) (float64, float64) {
		return (w - float64(c-1)*gridGapEm) / float64(c), (h - float64(r-1)*gridGapEm) / float64(r)
	}
	best := -1.0
	for c := 1; c <= n; c++ {
		r := (n + c - 1) / c
		tw, th := size(c, r)
		if tw < minW || th < minH {
			continue
		}
		if score := math.Min(tw/tileAspect, th); score > best {
			best, cols, rows = score, c, r
		}
	}
	if best < 0 { // pages
		cols = max(1, int((w+gridGapEm)/(minW+gridGapEm)))
		rows = max(1, int((h+gridGapEm)/(minH+gridGapEm)))
		pages := (n + cols*rows - 1) / (cols * rows)
		per := (n + pages - 1) / pages // spread evenly over the pages
		// keep the shape but drop rows the pages do not need
		rows = (per + cols - 1) / cols
	}
	cols, rows = min(cols, 24), min(rows, 24) // the stylesheet's grid classes
	perPage = min(n, cols*rows)
	tw, th := size(cols, rows)
	s := math.Min(tw/baseTileW, th/baseTileH)
	steps := []float64{1, 1.25, 1.5, 2, 2.5, 3}
	scale = 1
	for i, v := range steps {
		if s >= v {
			scale = i + 1
		}
	}
	return cols, rows, perPage, scale
}

// Wall is the NOC screen: every entity at once, problems first.
type Wall struct {
	app.Compo

	live
	filter   WallFilter
	rotate   time.Duration
	gridW    float64 // grid area in em, measured in the browser
	gridH    float64
	page     int
	pageAt   time.Time
	changed  map[string]time.Time // browser time of each tile's last status change
	announce []string
	updateAt time.Time
	wake     app.Value
	release  []func()
	// shrink is how many FitLayout steps the text needed to fit, found for
	// the screen, language and tile contents summed up in fitKey.
	shrink int
	fitKey string
	// fitPending: a check waits for the next render (one at a time, or
	// two checks of the same page would each take a step). drawnShrink
	// is the shrink of the last render, what the page on screen shows.
	fitPending  bool
	drawnShrink int
	// wide: tiles given two cells because their text needs them.
	wide map[string]bool
}

// OnNav implements app.Navigator: the URL's filter and rotation.
func (w *Wall) OnNav(ctx app.Context) {
	w.filter, w.rotate = ParseWallQuery(ctx.Page().URL().Query())
	w.page = 0
}

// OnPreRender implements app.PreRenderer (the hub's prerender, and tests).
func (w *Wall) OnPreRender(ctx app.Context) { w.setup(ctx) }

func (w *Wall) setup(ctx app.Context) {
	w.init(ctx)
	if w.changed == nil {
		w.changed = map[string]time.Time{}
	}
	w.onStatus = w.statusChanged
}

// OnMount implements app.Mounter.
func (w *Wall) OnMount(ctx app.Context) {
	w.setup(ctx)
	w.setTitle(ctx)
	w.subscribe(wire.DetailNone) // tiles need summaries only: status, reason, fullest disk
	w.start(ctx, func(ctx app.Context, b *Batch) { w.afterTick(ctx) })
	if app.IsClient {
		w.listen()
		w.keepAwake()
		ctx.Defer(func(app.Context) { w.measure() })
		w.fit(ctx)
	}
}

// OnDismount implements app.Dismounter.
func (w *Wall) OnDismount() {
	w.stop()
	for _, f := range w.release {
		f()
	}
	w.release = nil
	if w.wake != nil && w.wake.Truthy() {
		w.wake.Call("release")
	}
}

// OnResize implements app.Resizer.
func (w *Wall) OnResize(ctx app.Context) {
	w.measure()
	w.fit(ctx)
}

// fit checks, once the page has rendered, that every tile's text fits; if
// not, it takes one more FitLayout step and checks again after that
// render, until it fits. The steps start over when the screen, the
// language or what the tiles say changes.
func (w *Wall) fit(ctx app.Context) {
	if !app.IsClient || w.fitPending {
		return
	}
	w.fitPending = true
	ctx.Defer(func(ctx app.Context) {
		w.fitPending = false
		w.measure()
		if key := w.fitSignature(); key != w.fitKey {
			w.fitKey = key
			w.shrink = 0
			w.wide = nil
			setFitState("pending")
			ctx.Dispatch(func(ctx app.Context) { w.fit(ctx) })
			return
		}
		if w.drawnShrink != w.shrink {
			ctx.Dispatch(func(ctx app.Context) { w.fit(ctx) }) // not drawn yet
			return
		}
		over := overflowingTiles()
		if len(over) > 0 && w.widen(over) {
			setFitState("pending")
			ctx.Dispatch(func(ctx app.Context) { w.fit(ctx) })
			return
		}
		if len(over) > 0 && w.shrink < maxShrink {
			w.shrink++
			w.wide = nil // every tile grows: widening starts over
			setFitState("pending")
			ctx.Dispatch(func(ctx app.Context) { w.fit(ctx) })
			return
		}
		setFitState(strconv.FormatBool(len(over) == 0))
	})
}

// setFitState marks the grid with the fitting's progress (data-fit:
// pending, true when every text fits, false when maxShrink was not
// enough), for tests and the curious. It is not part of the rendered
// tree, so renders leave it alone.
func setFitState(v string) {
	if g := app.Window().GetElementByID("wall-grid"); g.Truthy() {
		g.Call("setAttribute", "data-fit", v)
	}
}

// fitSignature sums up what decides whether the text fits, the ticking
// durations aside (a longer one that no longer fits takes a step).
func (w *Wall) fitSignature() string {
	win := app.Window()
	var b strings.Builder
	b.WriteString(win.Get("innerWidth").String() + "x" + win.Get("innerHeight").String() + " " + string(w.lang))
	for _, id := range WallOrder(w.st.entities, w.st.order, w.filter) {
		e := w.st.entities[id]
		b.WriteString("|" + e.Name + "\x00" + string(e.Status) + "\x00" + e.Reason + "\x00" + e.ServedBy)
		if e.Inherited {
			b.WriteString("<")
		}
		if e.DiskForecast != nil {
			b.WriteString("!")
		}
		if len(e.Alerts) > 0 {
			b.WriteString("^")
		}
	}
	return b.String()
}

// widen gives the tiles whose text does not fit, once the text is as
// small as it gets (dense steps done), two cells instead of one, when the
// wall still holds every tile on one page that way: a long reason then
// makes its own tile larger rather than every tile smaller. It reports
// whether it widened any.
func (w *Wall) widen(over []string) bool {
	ids := WallOrder(w.st.entities, w.st.order, w.filter)
	cols, _, _, scale, dense := w.layout(len(ids))
	if dense < denseSteps || cols < 2 {
		return false // the text can still get smaller
	}
	next := maps.Clone(w.wide)
	if next == nil {
		next = map[string]bool{}
	}
	for _, id := range over {
		next[id] = true
	}
	if len(next) == len(w.wide) {
		return false
	}
	cells := len(ids) + len(next)
	gw, gh := w.gridSize()
	shrink := w.shrink
	if w.shrink <= scale-1+denseSteps {
		// The same dense text, for the new number of cells.
		_, _, _, base := wallLayout(cells, gw, gh, 1)
		shrink = base - 1 + denseSteps
	}
	if _, _, perNext, _, _ := FitLayout(cells, gw, gh, shrink); perNext < cells {
		return false // not on one page: larger tiles for all instead
	}
	w.wide, w.shrink = next, shrink
	return true
}

// overflowingTiles lists the entities whose tile's text overflows its
// box: a tile taller than its cell, or a line wider (or, clamped, taller)
// than itself.
func overflowingTiles() []string {
	over := func(e app.Value) bool {
		return e.Get("scrollWidth").Int() > e.Get("clientWidth").Int()+1 ||
			e.Get("scrollHeight").Int() > e.Get("clientHeight").Int()+1
	}
	var ids []string
	tiles := app.Window().Get("document").Call("querySelectorAll", ".wall-grid .tile")
	for i := range tiles.Length() {
		t := tiles.Index(i)
		bad := over(t)
		parts := t.Call("querySelectorAll", tileTextSelector)
		for j := 0; !bad && j < parts.Length(); j++ {
			bad = over(parts.Index(j))
		}
		if bad {
			id := ""
			if v := t.Get("dataset").Get("entity"); v.Truthy() {
				id = v.String()
			}
			ids = append(ids, id)
		}
	}
	return ids
}

// tileTextSelector: every box of a tile that holds text.
const tileTextSelector = ".tile-name, .tile-status, .tile-word, .tile-since, .tile-reason, .tile-served, " +
	".tile-forecast, .tile-forecast-text, .tile-disk, .tile-disk-text"

// OnAppUpdate implements app.AppUpdater: an unattended screen reloads itself
// after a countdown that anyone can cut short.
func (w *Wall) OnAppUpdate(ctx app.Context) {
	w.update = ctx.AppUpdateAvailable() && updateIsNew()
	if w.update && w.updateAt.IsZero() {
		w.updateAt = time.Now()
	}
}

func (w *Wall) statusChanged(old wire.Status, e wire.Entity) {
	if w.changed == nil {
		w.changed = map[string]time.Time{}
	}
	w.changed[e.ID] = w.now
	t := T(w.lang)
	msg := t.F(t.WallChangedF, e.Name, t.Status(e.Status).Label, t.EntityReason(e).Sentence)
	w.announce = append(w.announce, strings.TrimSpace(msg))
	if len(w.announce) > maxAnnouncements {
		w.announce = w.announce[len(w.announce)-maxAnnouncements:]
	}
}

// afterTick runs after every batch and every second: rotation, remeasure,
// the update countdown.
func (w *Wall) afterTick(ctx app.Context) {
	if app.IsClient {
		w.measure()
		w.fit(ctx)
		w.setTitle(ctx)
	}
	if w.update && !w.updateAt.IsZero() && w.now.Sub(w.updateAt) >= updateCountdown {
		ctx.Reload()
		return
	}
	ids := WallOrder(w.st.entities, w.st.order, w.filter)
	_, _, per, _, _ := w.layout(len(ids))
	pages := 1
	if per > 0 {
		pages = (len(ids) + per - 1) / per
	}
	if w.page >= pages {
		w.page = 0
	}
	if pages > 1 && w.now.Sub(w.pageAt) >= w.rotate {
		w.page = (w.page + 1) % pages
		w.pageAt = w.now
	}
}

// layout for n tiles in the measured grid (a 1920×1080 guess before).
func (w *Wall) layout(n int) (cols, rows, perPage, scale, dense int) {
	gw, gh := w.gridSize()
	return FitLayout(n+len(w.wide), gw, gh, w.shrink) // a wide tile takes two cells
}

// gridSize is the grid's size in em, a 1920×1080 guess before it is
// measured.
func (w *Wall) gridSize() (gw, gh float64) {
	if w.gridW <= 0 || w.gridH <= 0 {
		return 118, 62
	}
	return w.gridW, w.gridH
}

// measure reads the grid area's size in em of the wall's font.
func (w *Wall) measure() {
	el := app.Window().GetElementByID("wall-grid")
	if !el.Truthy() {
		return
	}
	fs, err := strconv.ParseFloat(strings.TrimSuffix(app.Window().Call("getComputedStyle", el).Get("fontSize").String(), "px"), 64)
	if err != nil || fs <= 0 {
		return
	}
	gw, gh := el.Get("clientWidth").Float()/fs, el.Get("clientHeight").Float()/fs
	if math.Abs(gw-w.gridW) > 0.01 || math.Abs(gh-w.gridH) > 0.01 {
		w.gridW, w.gridH = gw, gh
	}
}

// listen: F toggles full screen.
func (w *Wall) listen() {
	onKey := app.FuncOf(func(this app.Value, args []app.Value) any {
		if len(args) == 0 {
			return nil
		}
		ev := args[0]
		if ev.Get("ctrlKey").Bool() || ev.Get("altKey").Bool() || ev.Get("metaKey").Bool() {
			return nil
		}
		if k := ev.Get("key").String(); k == "f" || k == "F" {
			toggleFullscreen()
		}
		return nil
	})
	app.Window().Call("addEventListener", "keydown", onKey)
	onVisible := app.FuncOf(func(this app.Value, args []app.Value) any {
		if app.Window().Get("document").Get("visibilityState").String() == "visible" {
			w.keepAwake()
		}
		return nil
	})
	doc := app.Window().Get("document")
	doc.Call("addEventListener", "visibilitychange", onVisible)
	w.release = append(w.release, func() {
		app.Window().Call("removeEventListener", "keydown", onKey)
		doc.Call("removeEventListener", "visibilitychange", onVisible)
		onKey.Release()
		onVisible.Release()
	})
}

func toggleFullscreen() {
	doc := app.Window().Get("document")
	if doc.Get("fullscreenElement").Truthy() {
		doc.Call("exitFullscreen")
		return
	}
	if el := doc.Get("documentElement"); el.Get("requestFullscreen").Truthy() {
		p := el.Call("requestFullscreen")
		ignoreRejection(p)
	}
}

// keepAwake holds a screen wake lock where the browser has the API; the
// browser drops it when the page is hidden, so it is asked again on return.
func (w *Wall) keepAwake() {
	wl := app.Window().Get("navigator").Get("wakeLock")
	if !wl.Truthy() {
		return
	}
	var done app.Func
	done = app.FuncOf(func(this app.Value, args []app.Value) any {
		if len(args) > 0 {
			w.wake = args[0]
		}
		done.Release()
		return nil
	})
	p := wl.Call("request", "screen")
	ignoreRejection(p.Call("then", done))
}

// ignoreRejection keeps a refused promise (no permission, hidden page) from
// being reported as unhandled.
func ignoreRejection(p app.Value) {
	if !p.Truthy() || !p.Get("catch").Truthy() {
		return
	}
	var f app.Func
	f = app.FuncOf(func(this app.Value, args []app.Value) any {
		f.Release()
		return nil
	})
	p.Call("catch", f)
}

func (w *Wall) switchLang(ctx app.Context, lang Lang) {
	w.setLang(ctx, lang)
	w.setTitle(ctx)
}

// setTitle names the tab, with the number of problems on the wall first.
func (w *Wall) setTitle(ctx app.Context) {
	n := 0
	for _, id := range WallOrder(w.st.entities, w.st.order, w.filter) {
		if isProblem(w.st.entities[id].Status) {
			n++
		}
	}
	t := T(w.lang)
	w.title(ctx, PageTitle(n, t.WallTitle+" — "+t.Brand))
}

// Render implements app.Composer.
func (w *Wall) Render() app.UI {
	t := T(w.lang)
	ids := WallOrder(w.st.entities, w.st.order, w.filter)
	cols, rows, per, scale, dense := w.layout(len(ids))
	w.drawnShrink = w.shrink
	pages := 1
	if per > 0 {
		pages = (len(ids) + per - 1) / per
	}
	page := min(w.page, pages-1)
	shown := ids
	if per > 0 && len(ids) > per {
		shown = ids[page*per : min(len(ids), (page+1)*per)]
	}
	hubNow := w.st.hubNow(w.now)
	onWall := make(map[string]bool, len(ids))
	for _, id := range ids {
		onWall[id] = true
	}
	cls := "wall"
	if w.showStale() {
		cls += " wall--stale"
	}
	return app.Div().Class(cls).Body(
		app.Header().Class("wall-top").Body(
			app.H1().Class("wall-title").Body(
				app.A().Href("/").Title(t.OpenDashboard).Text(t.WallTitle),
			),
			w.renderCounts(t, ids),
			app.If(pages > 1, func() app.UI {
				return app.P().Class("wall-page").Text(t.F(t.WallPageF, page+1, pages))
			}),
			app.If(w.filter.IDs != nil || w.filter.Under != "", func() app.UI {
				return app.P().Class("wall-filter").Text(t.F(t.WallFilterF, len(ids), len(w.st.entities)))
			}),
			app.Div().Class("wall-tools").Body(
				w.renderConn(t),
				app.Time().Class("wall-clock").Aria("label", t.WallClock).DateTime(w.now.Format(time.RFC3339)).Text(w.now.Format("15:04")),
				langSwitch(w.lang, w.switchLang),
				app.Button().Class("btn btn--wall").Text(t.WallFullscreen).OnClick(func(ctx app.Context, e app.Event) { toggleFullscreen() }),
			),
		),
		app.If(w.showStale(), func() app.UI {
			return app.P().Class("wall-notice wall-notice--stale").Role("status").Text(t.F(t.WallStaleF, t.Ago(w.staleFor())))
		}),
		app.If(w.stateError != "", func() app.UI {
			return app.P().Class("wall-notice wall-notice--stale").Role("alert").Text(t.StateFileTrouble)
		}),
		app.If(w.update, func() app.UI {
			left := max(0, int((updateCountdown-w.now.Sub(w.updateAt)+time.Second-1)/time.Second))
			return app.P().Class("wall-notice wall-notice--update").Role("status").Body(
				app.Text(t.F(t.WallUpdateF, left)+" "),
				app.Button().Class("btn btn--wall").Text(t.Reload).OnClick(func(ctx app.Context, e app.Event) { ctx.Reload() }),
			)
		}),
		app.Main().ID("wall-grid").Class("wall-grid cols-"+strconv.Itoa(cols)+" rows-"+strconv.Itoa(rows)+" scale-"+strconv.Itoa(scale)+" dense-"+strconv.Itoa(dense)).Body(
			app.If(!w.st.loaded, func() app.UI {
				return app.P().Class("wall-empty").Role("status").Text(t.Loading)
			}).ElseIf(len(ids) == 0, func() app.UI {
				return app.P().Class("wall-empty").Text(t.WallEmpty)
			}),
			app.Range(shown).Slice(func(i int) app.UI {
				return w.renderTile(t, w.st.entities[shown[i]], hubNow, onWall)
			}),
			app.Div().Class("sr-only").Role("status").Aria("live", "polite").Body(
				app.Range(w.announce).Slice(func(i int) app.UI { return app.P().Text(w.announce[i]) }),
			),
		),
	)
}

func (w *Wall) renderConn(t *Texts) app.UI {
	cls, text := connText(t, w.conn, w.now)
	return app.P().Class("conn "+cls).Title(w.conn.Err).Body(
		app.Span().Class("conn-dot").Aria("hidden", "true"),
		app.Span().Class("conn-text").Text(text),
	)
}

func (w *Wall) renderCounts(t *Texts, ids []string) app.UI {
	counts := map[wire.Status]int{}
	for _, id := range ids {
		counts[w.st.entities[id].Status]++
	}
	var items []app.UI
	for _, s := range []wire.Status{wire.StatusOffline, wire.StatusConnectionError, wire.StatusNotLinked, wire.StatusAvailable} {
		if counts[s] == 0 {
			continue
		}
		info := t.Status(s)
		items = append(items, app.Li().Class("count status--"+info.Class).Body(
			icon(info.Icon, "count-icon"),
			app.Span().Class("count-n").Text(strconv.Itoa(counts[s])),
			app.Text(" "+info.Label),
		))
	}
	return app.Ul().Class("wall-counts").Aria("label", t.WallStatusCounts).Body(items...)
}

// fullest is the partition with the highest use (df's percentage), main
// first on a tie.
func fullest(ps []wire.Partition) (wire.Partition, bool) {
	var best wire.Partition
	found := false
	for _, p := range ps {
		if p.Total == 0 {
			continue
		}
		if !found || DiskPercent(p) > DiskPercent(best) ||
			(DiskPercent(p) == DiskPercent(best) && p.Main && !best.Main) {
			best, found = p, true
		}
	}
	return best, found
}

func (w *Wall) renderTile(t *Texts, e wire.Entity, hubNow time.Time, onWall map[string]bool) app.UI {
	info := t.Status(e.Status)
	cls := "tile status--" + info.Class
	if w.wide[e.ID] {
		cls += " tile--wide"
	}
	if at, ok := w.changed[e.ID]; ok && w.now.Sub(at) < highlightFor {
		cls += " tile--changed"
	}
	since := ""
	if !e.Since.IsZero() {
		since = t.Duration(hubNow.Sub(e.Since))
	}
	if e.Stale {
		cls += " tile--unconfirmed"
		since = strings.TrimPrefix(since+" · "+t.UnconfirmedShort, " · ")
	}
	disk, hasDisk := fullest(e.Partitions)
	if !hasDisk && e.FullestPct != nil { // a summary: the hub sends the percentage only
		pct := uint64(min(max(*e.FullestPct, 0), 100))
		disk, hasDisk = wire.Partition{Mountpoint: e.FullestMount, Used: pct, Free: 100 - pct, Total: 100}, true
	}
	// An inherited tile names the server it shares with its parent, so
	// that several red tiles read as one server down, not several.
	why := t.EntityReason(e)
	served, reason := "", why.Sentence
	if e.Inherited && e.ServedBy != "" && e.Status != wire.StatusNotLinked {
		served = t.F(t.WallServedByF, e.ServedBy)
		if onWall[e.ServedByEntity] {
			// The server's own tile says why, in the same words: the
			// room goes to the name of the server they share.
			reason = ""
		}
	}
	return app.Article().Class(cls).DataSet("entity", e.ID).Aria("labelledby", "tile-"+e.ID).Body(
		app.H2().Class("tile-name").Body(
			app.A().ID("tile-"+e.ID).Href(EntityPath(e.ID)).Title(TreeLabel(e)).
				Aria("label", t.F(t.WallEntityLinkF, TreeLabel(e), info.Label)).Text(e.Name),
		),
		app.P().Class("tile-status").Body(
			icon(info.Icon, "tile-icon"),
			app.Span().Class("tile-word").Text(info.Label),
			app.If(since != "", func() app.UI {
				return app.Span().Class("tile-since").Text(" · " + since)
			}),
			app.If(len(e.Alerts) > 0, func() app.UI {
				return alertMarker(t, "tile-alert")
			}),
		),
		app.If(reason != "", func() app.UI {
			return app.P().Class("tile-reason").Title(why.Detail).Text(reason)
		}),
		app.If(served != "", func() app.UI {
			return app.P().Class("tile-served").Title(why.Sentence).Text(served)
		}),
		renderTileForecast(t, e.DiskForecast),
		app.If(hasDisk, func() app.UI {
			pct := DiskPercent(disk)
			label := t.F(t.WallDiskF, disk.Mountpoint, pct)
			return app.Div().Class("tile-disk "+diskLevel(pct)).Body(
				meter(label, disk.Used, disk.Used+disk.Free),
				app.Span().Class("tile-disk-text").Text(label),
			)
		}).ElseIf(e.Status != wire.StatusNotLinked && e.ServedBy != "", func() app.UI {
			return app.P().Class("tile-disk tile-disk--none").Text(t.WallNoDisk)
		}),
	)
}

// alertMarker is the small bell of an entity whose alert went to the
// on-call team (wall tiles, the entity list), named for screen readers.
func alertMarker(t *Texts, class string) app.UI {
	return app.Span().Class(class).Role("img").Aria("label", t.AlertMarker).Title(t.AlertMarker).Body(bell(class + "-icon"))
}
