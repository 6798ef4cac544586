package app

import (
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
	if n < 1 {
		return 1, 1, 0, 1
	}
	size := func(c, r int) (float64, float64) {
		return (w - float64(c-1)*gridGapEm) / float64(c), (h - float64(r-1)*gridGapEm) / float64(r)
	}
	best := -1.0
	for c := 1; c <= n; c++ {
		r := (n + c - 1) / c
		tw, th := size(c, r)
		if tw < minTileW || th < minTileH {
			continue
		}
		if score := math.Min(tw/tileAspect, th); score > best {
			best, cols, rows = score, c, r
		}
	}
	if best < 0 { // pages
		cols = max(1, int((w+gridGapEm)/(minTileW+gridGapEm)))
		rows = max(1, int((h+gridGapEm)/(minTileH+gridGapEm)))
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
	ctx.Page().SetTitle(T(w.lang).WallTitle + " — " + T(w.lang).Brand)
	w.subscribe(wire.DetailNone) // tiles need summaries only: status, reason, fullest disk
	w.start(ctx, func(ctx app.Context, b *Batch) { w.afterTick(ctx) })
	if app.IsClient {
		w.listen()
		w.keepAwake()
		ctx.Defer(func(app.Context) { w.measure() })
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
func (w *Wall) OnResize(ctx app.Context) { w.measure() }

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
	msg := t.F(t.WallChangedF, e.Name, t.Status(e.Status).Label, e.Reason)
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
	}
	if w.update && !w.updateAt.IsZero() && w.now.Sub(w.updateAt) >= updateCountdown {
		ctx.Reload()
		return
	}
	ids := WallOrder(w.st.entities, w.st.order, w.filter)
	_, _, per, _ := w.layout(len(ids))
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
func (w *Wall) layout(n int) (cols, rows, perPage, scale int) {
	gw, gh := w.gridW, w.gridH
	if gw <= 0 || gh <= 0 {
		gw, gh = 118, 62
	}
	return WallLayout(n, gw, gh)
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
	ctx.Page().SetTitle(T(lang).WallTitle + " — " + T(lang).Brand)
}

// Render implements app.Composer.
func (w *Wall) Render() app.UI {
	t := T(w.lang)
	ids := WallOrder(w.st.entities, w.st.order, w.filter)
	cols, rows, per, scale := w.layout(len(ids))
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
		app.Main().ID("wall-grid").Class("wall-grid cols-"+strconv.Itoa(cols)+" rows-"+strconv.Itoa(rows)+" scale-"+strconv.Itoa(scale)).Body(
			app.If(!w.st.loaded, func() app.UI {
				return app.P().Class("wall-empty").Role("status").Text(t.Loading)
			}).ElseIf(len(ids) == 0, func() app.UI {
				return app.P().Class("wall-empty").Text(t.WallEmpty)
			}),
			app.Range(shown).Slice(func(i int) app.UI {
				return w.renderTile(t, w.st.entities[shown[i]], hubNow)
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

// fullest is the partition with the highest use, main first on a tie.
func fullest(ps []wire.Partition) (wire.Partition, bool) {
	var best wire.Partition
	found := false
	for _, p := range ps {
		if p.Total == 0 {
			continue
		}
		if !found || Percent(p.Used, p.Total) > Percent(best.Used, best.Total) ||
			(Percent(p.Used, p.Total) == Percent(best.Used, best.Total) && p.Main && !best.Main) {
			best, found = p, true
		}
	}
	return best, found
}

func (w *Wall) renderTile(t *Texts, e wire.Entity, hubNow time.Time) app.UI {
	info := t.Status(e.Status)
	cls := "tile status--" + info.Class
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
		disk, hasDisk = wire.Partition{Mountpoint: e.FullestMount, Used: uint64(*e.FullestPct), Total: 100}, true
	}
	return app.Article().Class(cls).Aria("labelledby", "tile-"+e.ID).Body(
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
		),
		app.If(e.Reason != "", func() app.UI {
			return app.P().Class("tile-reason").Title(e.Reason).Text(e.Reason)
		}),
		renderTileForecast(t, e.DiskForecast),
		app.If(hasDisk, func() app.UI {
			pct := Percent(disk.Used, disk.Total)
			label := t.F(t.WallDiskF, disk.Mountpoint, pct)
			return app.Div().Class("tile-disk").Body(
				meter(label, disk.Used, disk.Total),
				app.Span().Class("tile-disk-text").Text(label),
			)
		}).ElseIf(e.Status != wire.StatusNotLinked && e.ServedBy != "", func() app.UI {
			return app.P().Class("tile-disk tile-disk--none").Text(t.WallNoDisk)
		}),
	)
}
