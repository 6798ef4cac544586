package app

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"imagingstatus/wire"
)

// The hub draws a page's first screen itself, so that a status word shows
// before app.wasm is fetched and compiled. go-app's own prerender runs with
// no request (context.Background) and so cannot know the viewer: the hub
// renders the same components here, from what it knows for this viewer, and
// writes the entities into the page as the snapshot the app keeps for an
// offline start (ViewStorageKey). The app's first render reads that
// snapshot (live.init), so it draws the same words in the same place: the
// swap of the hub's DOM for the app's is not seen.

// Storage keys and cookies the hub's prerender shares with the page.
const (
	// ViewStorageKey holds the snapshot live.init reads first.
	ViewStorageKey = viewKey
	// LangStorageKey holds the viewer's language switch.
	LangStorageKey = langKey
	// EntityStorageKey holds the entity the dashboard showed last.
	EntityStorageKey = storageKey
	// LangCookie and EntityCookie copy the two choices above for the hub,
	// which cannot read the browser's storage (set by the page's script).
	LangCookie   = "imaging_lang"
	EntityCookie = "imaging_entity"
)

// Prerender is what the hub knows for one page request.
type Prerender struct {
	URL *url.URL
	// Entities in the viewer's scope, full views; nil with Known false
	// when the viewer may see nothing (not signed in).
	Entities []wire.Entity
	Known    bool
	Lang     Lang
	// Remembered is the entity the dashboard showed last in this browser
	// (its cookie), used on "/" as the app does.
	Remembered string
	Now        time.Time
}

// PrerenderSeed is the snapshot written into the page for the app: its
// savedView, stamped with the hub's clock (the page's script restamps it
// with the browser's and keeps the difference as the skew).
type PrerenderSeed struct {
	HubNow time.Time `json:"hub_now"`
	View   savedView `json:"view"`
}

// PrerenderPage renders the route's component as the app will first draw
// it from the seed. ok is false for a path the app has no route for. seed
// is nil when the viewer may see nothing: the page then shows the loading
// state, in the viewer's language.
func PrerenderPage(p Prerender) (html, title string, seed []byte, ok bool) {
	var l live
	l.now, l.startedAt, l.lang = p.Now, p.Now, p.Lang
	if !ValidLang(l.lang) {
		l.lang = English
	}
	t := T(l.lang)
	path := p.URL.Path
	var c app.Composer
	switch {
	case path == WallPath:
		w := &Wall{changed: map[string]time.Time{}}
		w.filter, w.rotate = ParseWallQuery(p.URL.Query())
		if p.Known {
			seed = l.seed(p, func(string) string { return "" })
		}
		w.live = l
		c = w
		title = PageTitle(ProblemCount(w.st.entities), t.WallTitle+" — "+t.Brand)
	case path == "/" || entityFromPath(path) != "":
		d := &Dashboard{selected: entityFromPath(path)}
		d.remembered = d.selected
		if d.remembered == "" && wire.ValidEntityID(p.Remembered) {
			d.remembered = p.Remembered
		}
		if p.Known {
			// The shown entity in full (its panel), the others as the
			// summaries the app's stream sends for them.
			seed = l.seed(p, func(root string) string {
				for _, id := range []string{d.selected, d.remembered, root} {
					if id != "" {
						return id
					}
				}
				return ""
			})
		}
		d.live = l
		c = d
		title = PageTitle(ProblemCount(d.st.entities), t.Brand)
	default:
		return "", "", nil, false
	}
	return app.HTMLString(c), title, seed, true
}

// seed loads p's entities into l as the app's stored snapshot and returns
// it as JSON; full(root) names the one entity kept whole.
func (l *live) seed(p Prerender, full func(root string) string) []byte {
	root := ""
	for _, e := range p.Entities {
		if e.Parent == "" {
			root = e.ID
			break
		}
	}
	if root == "" && len(p.Entities) > 0 {
		root = TreeOrder(byID(p.Entities))[0]
	}
	keep := full(root)
	ents := make([]wire.Entity, 0, len(p.Entities))
	for _, e := range p.Entities {
		if e.ID == keep {
			if e.Repository != nil && len(e.Repository.Images) > 0 {
				r := *e.Repository
				r.Images = nil // as save() keeps them
				e.Repository = &r
			}
			ents = append(ents, e)
			continue
		}
		ents = append(ents, wire.Summarize(e))
	}
	l.st.apply(Batch{Snapshot: ents})
	l.stored, l.currentAt = true, p.Now
	b, err := json.Marshal(PrerenderSeed{HubNow: p.Now, View: savedView{SavedAt: p.Now, Entities: ents}})
	if err != nil {
		return nil
	}
	return b
}

func byID(es []wire.Entity) map[string]wire.Entity {
	m := make(map[string]wire.Entity, len(es))
	for _, e := range es {
		m[e.ID] = e
	}
	return m
}

// OnInit implements app.Initializer. go-app draws a component once before
// its OnMount and OnNav run; in the browser that first draw replaces the
// hub's prerender, so it must already show what the prerender showed: the
// stored snapshot (the page's seed), the language and the URL's entity.
func (d *Dashboard) OnInit() {
	if !app.IsClient {
		return
	}
	d.initFromPage()
	d.selected = entityFromPath(app.Window().Get("location").Get("pathname").String())
	d.remembered = d.selected
	if id := storedString(storageKey); d.remembered == "" && wire.ValidEntityID(id) {
		d.remembered = id
	}
}

// OnInit implements app.Initializer, as for the dashboard.
func (w *Wall) OnInit() {
	if !app.IsClient {
		return
	}
	w.initFromPage()
	if q, err := url.ParseQuery(strings.TrimPrefix(app.Window().Get("location").Get("search").String(), "?")); err == nil {
		w.filter, w.rotate = ParseWallQuery(q)
	}
	if w.changed == nil {
		w.changed = map[string]time.Time{}
	}
}

// initFromPage is init without a go-app context (OnInit has none): the
// language and the stored snapshot, read from the browser directly. init
// runs again at mount and keeps what this loaded.
func (l *live) initFromPage() {
	now := time.Now()
	l.now, l.startedAt = now, now
	l.lang = ""
	if s := Lang(storedString(langKey)); ValidLang(s) {
		l.lang = s
	} else {
		var prefs []string
		nav := app.Window().Get("navigator")
		if langs := nav.Get("languages"); langs.Truthy() {
			for i := range langs.Length() {
				prefs = append(prefs, langs.Index(i).String())
			}
		}
		if n := nav.Get("language"); n.Truthy() {
			prefs = append(prefs, n.String())
		}
		l.lang = PickLang(prefs)
	}
	raw := storedRaw(viewKey)
	var v savedView
	if raw != "" && json.Unmarshal([]byte(raw), &v) == nil && len(v.Entities) > 0 {
		l.st.apply(Batch{Snapshot: v.Entities})
		l.st.skew = v.Skew
		l.stored = true
		l.currentAt = v.SavedAt
	}
}

// storedRaw is a local storage item as stored ("" when absent or when the
// storage cannot be read).
func storedRaw(key string) (s string) {
	defer func() {
		if recover() != nil {
			s = "" // storage disabled: a SecurityError
		}
	}()
	v := app.Window().Get("localStorage").Call("getItem", key)
	if !v.Truthy() {
		return ""
	}
	return v.String()
}

// storedString is a string go-app's LocalStorage stored (JSON-encoded).
func storedString(key string) string {
	var s string
	if raw := storedRaw(key); raw == "" || json.Unmarshal([]byte(raw), &s) != nil {
		return ""
	}
	return s
}

// PrerenderLoading is the loading text of a language, for the indicator
// shown while app.wasm loads.
func PrerenderLoading(l Lang) string { return T(l).Loading }

// LangFromCookie reads the language cookie's value ("" if not a language).
func LangFromCookie(v string) Lang {
	l := Lang(strings.TrimSpace(v))
	if ValidLang(l) {
		return l
	}
	return ""
}
