// Package app is the browser app: go-app components shared by the WASM build
// (cmd/imaging-app) and the hub, which prerenders the same routes. The
// dashboard (/, /entities/{id}) shows one entity in detail; the wall (/wall)
// shows every entity at once on a NOC screen.
//
// Inside this package the name app is go-app's package
// (github.com/maxence-charriere/go-app/v10/pkg/app); importers that need
// both name this one ui.
package app

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"imagingstatus/wire"
)

// EntityRoutePattern matches /entities/{id}; ids follow wire.ValidEntityID.
const EntityRoutePattern = `^/entities/` + wire.EntityIDPattern + `$`

// WallPath is the NOC screen's route.
const WallPath = "/wall"

const storageKey = "imaging-status.entity"

var registerOnce sync.Once

// Register declares the app's routes. Both the WASM main and the hub call it
// so the hub prerenders and answers 200 for exactly the routes the app knows.
func Register() {
	registerOnce.Do(func() {
		app.Route("/", newDashboard)
		app.Route(WallPath, newWall)
		app.RouteWithRegexp(EntityRoutePattern, newDashboard)
	})
}

func newDashboard() app.Composer { return &Dashboard{} }

// EntityPath is the URL of an entity's page.
func EntityPath(id string) string { return "/entities/" + id }

// entityFromPath reads the id from /entities/{id}; "" for any other path.
func entityFromPath(p string) string {
	id, ok := strings.CutPrefix(p, "/entities/")
	if !ok || !wire.ValidEntityID(id) {
		return ""
	}
	return id
}

// Dashboard is the page. It has no exported field, so navigating between
// its routes keeps the same instance and its hub connection.
type Dashboard struct {
	app.Compo

	live
	selected   string // from the URL, "" on "/"
	remembered string
	filter     string // the filter box over the entity list
}

// OnNav implements app.Navigator: the URL decides the entity.
func (d *Dashboard) OnNav(ctx app.Context) {
	d.selected = entityFromPath(ctx.Page().URL().Path)
	if d.selected != "" {
		d.remembered = d.selected
		ctx.LocalStorage().Set(storageKey, d.selected)
	} else {
		var id string
		if err := ctx.LocalStorage().Get(storageKey, &id); err == nil && wire.ValidEntityID(id) {
			d.remembered = id
		}
	}
	d.follow()
}

// follow asks the hub for the shown entity in full and for summaries of the
// others (enough for the tree): with many entities that is most of the
// traffic saved.
func (d *Dashboard) follow() {
	if e, ok := d.current(); ok {
		d.subscribe(wire.DetailOf(e.ID))
		return
	}
	for _, id := range []string{d.selected, d.remembered} {
		if id != "" {
			d.subscribe(wire.DetailOf(id))
			return
		}
	}
	d.subscribe(wire.DetailNone) // the root is not known yet: summaries, then the root in full
}

// OnMount implements app.Mounter: the connection and the clock run only in
// the browser; the hub's prerender shows the loading state.
func (d *Dashboard) OnMount(ctx app.Context) {
	d.init(ctx)
	d.setTitle(ctx)
	d.follow()
	d.start(ctx, func(ctx app.Context, b *Batch) {
		if b != nil {
			d.follow()
			d.setTitle(ctx)
		}
	})
}

// OnPreRender implements app.PreRenderer: on the hub (and in tests) only the
// context and the language are set.
func (d *Dashboard) OnPreRender(ctx app.Context) { d.init(ctx) }

// OnDismount implements app.Dismounter.
func (d *Dashboard) OnDismount() { d.stop() }

// OnAppUpdate implements app.AppUpdater.
func (d *Dashboard) OnAppUpdate(ctx app.Context) {
	d.update = ctx.AppUpdateAvailable() && updateIsNew()
}

// setTitle names the tab, with the number of problems first.
func (d *Dashboard) setTitle(ctx app.Context) {
	d.title(ctx, PageTitle(ProblemCount(d.st.entities), T(d.lang).Brand))
}

// current is the entity to show: the URL's, else the remembered one, else
// the root.
func (d *Dashboard) current() (wire.Entity, bool) {
	for _, id := range []string{d.selected, d.remembered, d.st.root} {
		if id == "" {
			continue
		}
		if e, ok := d.st.entities[id]; ok {
			return e, true
		}
		if id == d.selected {
			return wire.Entity{ID: id}, false
		}
	}
	return wire.Entity{}, false
}

func (d *Dashboard) onFilter(ctx app.Context, e app.Event) {
	d.filter = ctx.JSSrc().Get("value").String()
}

func (d *Dashboard) switchLang(ctx app.Context, lang Lang) {
	d.setLang(ctx, lang)
	d.setTitle(ctx)
}

// Render implements app.Composer.
func (d *Dashboard) Render() app.UI {
	t := T(d.lang)
	return app.Div().Class("page").Body(
		app.A().Class("skip").Href("#status").Text(t.SkipToStatus),
		app.Header().Class("top").Body(
			app.H1().Class("brand").Text(t.Brand),
			app.Div().Class("top-tools").Body(
				d.renderConn(t),
				app.A().Class("btn btn--link").Href(WallPath).Text(t.OpenWall),
				langSwitch(d.lang, d.switchLang),
			),
		),
		app.If(d.update, func() app.UI {
			return app.P().Class("notice notice--update").Role("status").Body(
				app.Text(t.UpdateReady+" "),
				app.Button().Class("btn").Text(t.Reload).OnClick(func(ctx app.Context, e app.Event) { ctx.Reload() }),
			)
		}),
		app.If(d.stateError != "", func() app.UI {
			return app.P().Class("notice notice--stale").Role("alert").Text(t.StateFileTrouble)
		}),
		app.Main().Class("main").Body(d.renderMain(t)),
	)
}

// langSwitch offers the other languages, each named in itself.
func langSwitch(cur Lang, set func(app.Context, Lang)) app.UI {
	t := T(cur)
	return app.Div().Class("lang").Role("group").Aria("label", t.LanguageLabel).Body(
		app.Range(languages).Slice(func(i int) app.UI {
			o := languages[i]
			b := app.Button().Class("btn btn--lang").Lang(string(o.Lang)).
				Aria("pressed", strconv.FormatBool(o.Lang == cur)).Text(o.Name).
				OnClick(func(ctx app.Context, e app.Event) { set(ctx, o.Lang) })
			return b
		}),
	)
}

// connText is the hub-connection indicator's class and words.
func connText(t *Texts, c ConnState, now time.Time) (cls, text string) {
	switch c.Phase {
	case PhaseConnected:
		return "conn--ok", t.Connected
	case PhaseReconnecting:
		next := ""
		if wait := c.RetryAt.Sub(now); wait >= time.Second {
			next = t.F(t.NextTryF, t.Duration(wait))
		}
		return "conn--retry", t.F(t.ReconnectingF, c.Attempt, next)
	default:
		return "conn--retry", t.Connecting
	}
}

func (d *Dashboard) renderConn(t *Texts) app.UI {
	if !app.IsClient && !d.st.loaded {
		return nil
	}
	cls, text := connText(t, d.conn, d.now)
	return app.P().Class("conn "+cls).Role("status").Title(d.conn.Err).Body(
		app.Span().Class("conn-dot").Aria("hidden", "true"),
		app.Text(text),
	)
}

func (d *Dashboard) renderMain(t *Texts) app.UI {
	if !d.st.loaded {
		return app.Div().Class("loading").Role("status").Body(
			app.Div().Class("spinner").Aria("hidden", "true"),
			app.P().Class("loading-text").Text(t.Loading),
			app.If(app.IsServer, func() app.UI {
				// Shown by the stylesheet only when the hub has no app.wasm.
				return app.P().Class("wasm-missing-notice").Text(t.WasmMissing)
			}),
		)
	}
	e, found := d.current()
	sel := e.ID
	hubNow := d.st.hubNow(d.now)
	stale := !d.isLive()
	var panel app.UI
	if found {
		served := ""
		if se, ok := d.st.entities[e.ServedByEntity]; ok {
			served = TreeLabel(se)
		}
		panel = &EntityPanel{Entity: e, Now: hubNow, ServedByName: served, Stale: stale && !d.stored, Lang: d.lang, Live: !stale}
	} else if len(d.st.entities) == 0 {
		panel = app.P().Class("notice").Text(t.NoEntityYet)
	} else {
		panel = app.Div().Class("notice").Body(
			app.P().Text(t.F(t.NoSuchEntityF, e.ID)),
			app.A().Href(EntityPath(d.st.root)).Text(t.F(t.ShowF, TreeLabel(d.st.entities[d.st.root]))),
		)
	}
	return app.Div().Body(
		// A container that is always there: the notice coming or going must
		// not move the layout in the tree (go-app would mount a new panel,
		// and its history would refetch).
		app.Div().Class("main-notices").Body(
			app.If(d.stored && d.showStale(), func() app.UI {
				return app.P().Class("notice notice--stale notice--stored").Role("status").Body(
					app.Strong().Text(t.F(t.StoredSnapshotF, t.Ago(d.staleFor()))),
					app.If(d.conn.Phase == PhaseReconnecting, func() app.UI {
						return app.Text(" " + t.HubUnreachable)
					}),
				)
			}),
		),
		app.Div().Class("layout").Body(
			d.renderPicker(t, sel),
			panel,
		),
	)
}

// renderPicker lists the entities: a filter box, then the tree (wide
// screens) or, on a phone, every entity with its status, problems first,
// above the selected one.
func (d *Dashboard) renderPicker(t *Texts, sel string) app.UI {
	var tree, overview []string
	for _, id := range d.st.order {
		if MatchEntity(d.st.entities[id], d.filter) {
			tree = append(tree, id)
		}
	}
	for _, id := range WallOrder(d.st.entities, d.st.order, WallFilter{}) {
		if MatchEntity(d.st.entities[id], d.filter) {
			overview = append(overview, id)
		}
	}
	link := func(o wire.Entity, name string) app.HTMLA {
		info := t.Status(o.Status)
		a := app.A().Href(EntityPath(o.ID)).Class("tree-link").Body(
			icon(info.Icon, "tree-icon"),
			app.Span().Class("tree-name").Body(
				app.Text(name),
				app.If(len(o.Alerts) > 0, func() app.UI { return alertMarker(t, "tree-alert") }),
			),
			app.Span().Class("tree-status").Text(info.Label),
		)
		if o.ID == sel {
			a = a.Aria("current", "page")
		}
		return a
	}
	filtering := strings.TrimSpace(d.filter) != ""
	return app.Nav().Class("picker").Aria("label", t.EntitiesNav).Body(
		app.Label().For("entity-filter").Class("picker-label").Text(t.FilterLabel),
		app.Input().Type("search").ID("entity-filter").Class("picker-filter").
			Placeholder(t.FilterPlaceholder).AutoComplete(false).Spellcheck(false).
			Value(d.filter).OnInput(d.onFilter),
		app.If(filtering && len(tree) == 0, func() app.UI {
			return app.P().Class("picker-none").Role("status").Text(t.F(t.FilterNoneF, strings.TrimSpace(d.filter)))
		}).ElseIf(filtering, func() app.UI {
			return app.P().Class("picker-count").Role("status").Text(t.F(t.WallFilterF, len(tree), len(d.st.entities)))
		}),
		app.Ul().Class("tree").Body(app.Range(tree).Slice(func(i int) app.UI {
			o := d.st.entities[tree[i]]
			cls := "tree-item status--" + t.Status(o.Status).Class + " depth-" + strconv.Itoa(min(depth(o), 5))
			return app.Li().Class(cls).Body(link(o, o.Name))
		})),
		app.Ul().Class("overview").Body(app.Range(overview).Slice(func(i int) app.UI {
			o := d.st.entities[overview[i]]
			return app.Li().Class("overview-item status--" + t.Status(o.Status).Class).Body(link(o, TreeLabel(o)))
		})),
	)
}
