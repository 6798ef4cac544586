// Package ui is the browser dashboard: go-app components shared by the WASM
// build (cmd/imaging-app) and the hub, which prerenders the same routes.
package ui

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"imagingstatus/wire"
)

// EntityRoutePattern matches /entities/{id}; ids follow wire.ValidEntityID.
const EntityRoutePattern = `^/entities/[A-Za-z0-9._-]{1,64}$`

const storageKey = "imaging-status.entity"

var registerOnce sync.Once

// Register declares the app's routes. Both the WASM main and the hub call it
// so the hub prerenders and answers 200 for exactly the routes the app knows.
func Register() {
	registerOnce.Do(func() {
		app.Route("/", newDashboard)
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

	st         store
	conn       ConnState
	selected   string // from the URL, "" on "/"
	remembered string
	now        time.Time // browser clock, ticking
	update     bool      // a new app version is ready
	cancel     context.CancelFunc
	mctx       app.Context // the mounted context, for tests to dispatch through
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
}

// OnMount implements app.Mounter: the connection and the clock run only in
// the browser; the hub's prerender shows the loading state.
func (d *Dashboard) OnMount(ctx app.Context) {
	d.mctx = ctx
	d.now = time.Now()
	if !app.IsClient {
		return
	}
	c, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	loc := app.Window().Get("location")
	feed := &Feed{
		URL: ViewerURL(loc.Get("protocol").String(), loc.Get("host").String()),
		Deliver: func(b Batch) {
			ctx.Dispatch(func(ctx app.Context) { d.apply(b) })
		},
	}
	ctx.Async(func() { feed.Run(c) })
	ctx.Async(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-c.Done():
				return
			case now := <-t.C:
				ctx.Dispatch(func(ctx app.Context) { d.now = now })
			}
		}
	})
}

// OnPreRender implements app.PreRenderer: on the hub (and in tests) only the
// context is kept.
func (d *Dashboard) OnPreRender(ctx app.Context) { d.mctx = ctx }

// OnDismount implements app.Dismounter.
func (d *Dashboard) OnDismount() {
	if d.cancel != nil {
		d.cancel()
	}
}

// OnAppUpdate implements app.AppUpdater.
func (d *Dashboard) OnAppUpdate(ctx app.Context) {
	d.update = ctx.AppUpdateAvailable()
}

func (d *Dashboard) apply(b Batch) {
	if b.Conn != nil {
		d.conn = *b.Conn
	}
	d.st.apply(b)
	if !b.ReceivedAt.IsZero() {
		d.now = b.ReceivedAt
	}
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

func (d *Dashboard) onSelect(ctx app.Context, e app.Event) {
	id := ctx.JSSrc().Get("value").String()
	if wire.ValidEntityID(id) {
		ctx.Navigate(EntityPath(id))
	}
}

// Render implements app.Composer.
func (d *Dashboard) Render() app.UI {
	return app.Div().Class("page").Body(
		app.Header().Class("top").Body(
			app.H1().Class("brand").Text("Imaging status"),
			d.renderConn(),
		),
		app.If(d.update, func() app.UI {
			return app.P().Class("notice notice--update").Body(
				app.Text("A new version of this page is ready. "),
				app.Button().Class("btn").Text("Reload").OnClick(func(ctx app.Context, e app.Event) { ctx.Reload() }),
			)
		}),
		app.Main().Class("main").Body(d.renderMain()),
	)
}

func (d *Dashboard) renderConn() app.UI {
	if !app.IsClient && !d.st.loaded {
		return nil
	}
	var cls, text string
	switch d.conn.Phase {
	case PhaseConnected:
		cls, text = "conn--ok", "Connected to the hub"
	case PhaseReconnecting:
		cls = "conn--retry"
		text = "Reconnecting… (attempt " + strconv.Itoa(d.conn.Attempt)
		if wait := d.conn.RetryAt.Sub(d.now); wait >= time.Second {
			text += ", next try in " + HumanDuration(wait)
		}
		text += ")"
	default:
		cls, text = "conn--retry", "Connecting to the hub…"
	}
	return app.P().Class("conn "+cls).Role("status").Title(d.conn.Err).Body(
		app.Span().Class("conn-dot").Aria("hidden", "true"),
		app.Text(text),
	)
}

func (d *Dashboard) renderMain() app.UI {
	if !d.st.loaded {
		return app.Div().Class("loading").Role("status").Body(
			app.Div().Class("spinner").Aria("hidden", "true"),
			app.P().Class("loading-text").Text("Loading the status of the imaging servers…"),
			app.If(app.IsServer, func() app.UI {
				// Shown by the stylesheet only when the hub has no app.wasm.
				return app.P().Class("wasm-missing-notice").Text(
					"The web app (app.wasm) was not built into this hub. Build it with `make wasm`, then rebuild and restart the hub.")
			}),
		)
	}
	e, found := d.current()
	sel := e.ID
	hubNow := d.st.hubNow(d.now)
	var panel app.UI
	if found {
		served := ""
		if se, ok := d.st.entities[e.ServedByEntity]; ok {
			served = TreeLabel(se)
		}
		panel = &EntityPanel{Entity: e, Now: hubNow, ServedByName: served, Stale: d.conn.Phase != PhaseConnected}
	} else if len(d.st.entities) == 0 {
		panel = app.P().Class("notice").Text("The hub knows no entity yet.")
	} else {
		panel = app.Div().Class("notice").Body(
			app.P().Text("There is no entity \""+e.ID+"\"."),
			app.A().Href(EntityPath(d.st.root)).Text("Show "+TreeLabel(d.st.entities[d.st.root])),
		)
	}
	return app.Div().Class("layout").Body(
		app.Nav().Class("picker").Aria("label", "Entities").Body(
			app.Label().For("entity-select").Class("picker-label").Text("Entity"),
			app.Select().ID("entity-select").Class("picker-select").OnChange(d.onSelect).Body(
				app.If(!found, func() app.UI {
					return app.Option().Value("").Selected(true).Text("Choose an entity")
				}),
				app.Range(d.st.order).Slice(func(i int) app.UI {
					o := d.st.entities[d.st.order[i]]
					return app.Option().Value(o.ID).Selected(o.ID == sel).
						Text(TreeLabel(o) + " — " + DescribeStatus(o.Status).Label)
				}),
			),
			app.Ul().Class("tree").Body(app.Range(d.st.order).Slice(func(i int) app.UI {
				o := d.st.entities[d.st.order[i]]
				info := DescribeStatus(o.Status)
				cls := "tree-item status--" + info.Class + " depth-" + strconv.Itoa(min(depth(o), 5))
				a := app.A().Href(EntityPath(o.ID)).Class("tree-link").Body(
					icon(info.Icon, "tree-icon"),
					app.Span().Class("tree-name").Text(o.Name),
					app.Span().Class("tree-status").Text(info.Label),
				)
				if o.ID == sel {
					a = a.Aria("current", "page")
				}
				return app.Li().Class(cls).Body(a)
			})),
		),
		panel,
	)
}
