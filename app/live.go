package app

import (
	"context"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"imagingstatus/wire"
)

// Browser storage keys.
const (
	langKey = "imaging-status.lang"
	viewKey = "imaging-status.view"
)

// How often the page saves what it shows, for an offline start: at most
// every saveEvery after a change, and every refreshSave while live so the
// saved age stays close to the truth (it can only overstate the age).
const (
	saveEvery   = 5 * time.Second
	refreshSave = 30 * time.Second
	// updateEvery asks the browser to look for a new app version, for
	// screens that never navigate.
	updateEvery = 30 * time.Minute
)

// savedView is the last snapshot kept in the browser's local storage.
type savedView struct {
	// SavedAt is the browser time at which the entities were last known
	// to be current (the page was connected and up to date).
	SavedAt  time.Time     `json:"saved_at"`
	Skew     time.Duration `json:"skew"`
	Entities []wire.Entity `json:"entities"`
}

// live is what the dashboard and the wall share: the hub feed and the
// entities it keeps, the hub link state, a ticking clock, the language, the
// snapshot saved for offline starts and the new-version offer. All of it is
// touched on the UI goroutine only.
type live struct {
	st     store
	conn   ConnState
	now    time.Time // browser clock
	lang   Lang
	update bool // a new app version is ready
	// stored: the entities come from the browser's storage, not yet from
	// the hub. currentAt: when what is shown was last known current.
	stored    bool
	currentAt time.Time
	version   string // the hub build that sent the first snapshot
	// stateError: the hub says it cannot write its state file.
	stateError string
	savedAt    time.Time
	dirty      bool
	checkedAt  time.Time // last update check
	startedAt  time.Time // browser clock at init
	cancel     context.CancelFunc
	mctx       app.Context
	inited     bool
	// titleSet is the tab title last set (set again only when it changes).
	titleSet string
	// onStatus, when set, hears of every entity whose status a batch
	// changed (old is the status shown before).
	onStatus func(old wire.Status, e wire.Entity)

	// The entities this page wants in full (the rest come as summaries).
	feed      *Feed
	detail    wire.Detail
	detailSet bool
}

// title sets the tab's title when it changed.
func (l *live) title(ctx app.Context, s string) {
	if s != l.titleSet {
		l.titleSet = s
		ctx.Page().SetTitle(s)
	}
}

// subscribe asks the hub for d: these entities in full and summaries for
// the others; repeating the same request is free.
func (l *live) subscribe(d wire.Detail) {
	if l.detailSet && d.Equal(l.detail) {
		return
	}
	l.detail, l.detailSet = d, true
	if l.feed != nil {
		l.feed.SetDetail(d)
	}
}

// init reads the language and, before any live data, the saved snapshot.
// It runs on the hub's prerender and in tests too.
func (l *live) init(ctx app.Context) {
	l.mctx = ctx
	l.inited = true
	if l.now.IsZero() {
		l.now = time.Now()
	}
	if l.startedAt.IsZero() {
		l.startedAt = l.now
	}
	l.lang = chooseLang(ctx)
	setDocumentLang(l.lang)
	if l.st.loaded {
		return
	}
	var v savedView
	if err := ctx.LocalStorage().Get(viewKey, &v); err == nil && len(v.Entities) > 0 {
		l.st.apply(Batch{Snapshot: v.Entities})
		l.st.skew = v.Skew
		l.stored = true
		l.currentAt = v.SavedAt
	}
}

// chooseLang: the remembered switch, else the browser's languages.
func chooseLang(ctx app.Context) Lang {
	var saved Lang
	if err := ctx.LocalStorage().Get(langKey, &saved); err == nil && ValidLang(saved) {
		return saved
	}
	if !app.IsClient {
		return English
	}
	var prefs []string
	nav := app.Window().Get("navigator")
	if langs := nav.Get("languages"); langs.Truthy() {
		for i := range langs.Length() {
			prefs = append(prefs, langs.Index(i).String())
		}
	}
	if l := nav.Get("language"); l.Truthy() {
		prefs = append(prefs, l.String())
	}
	return PickLang(prefs)
}

func setDocumentLang(l Lang) {
	if app.IsClient {
		app.Window().Get("document").Get("documentElement").Set("lang", string(l))
	}
}

// setLang switches the language and remembers the choice.
func (l *live) setLang(ctx app.Context, lang Lang) {
	if !ValidLang(lang) {
		return
	}
	l.lang = lang
	ctx.LocalStorage().Set(langKey, lang)
	setDocumentLang(lang)
}

// start opens the hub feed and the clock (browser only); each batch and
// tick runs apply/tick on the UI goroutine, then after.
func (l *live) start(ctx app.Context, after func(ctx app.Context, b *Batch)) {
	if !app.IsClient {
		return
	}
	c, cancel := context.WithCancel(ctx)
	l.cancel = cancel
	loc := app.Window().Get("location")
	feed := &Feed{
		URL: ViewerURL(loc.Get("protocol").String(), loc.Get("host").String()),
		Max: 10 * time.Second,
		Deliver: func(b Batch) {
			ctx.Dispatch(func(ctx app.Context) {
				l.apply(b)
				if after != nil {
					after(ctx, &b)
				}
			})
		},
	}
	l.feed = feed
	if l.detailSet {
		feed.SetDetail(l.detail)
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
				ctx.Dispatch(func(ctx app.Context) {
					l.tick(now)
					if after != nil {
						after(ctx, nil)
					}
				})
			}
		}
	})
}

func (l *live) stop() {
	if l.cancel != nil {
		l.cancel()
	}
	l.save()
}

// isLive: connected and showing what the hub sent.
func (l *live) isLive() bool {
	return l.conn.Phase == PhaseConnected && !l.stored && l.st.loaded
}

// staleGrace: on a warm start the saved snapshot shows at once; it is
// called stale only once the first connection attempt failed or took
// longer than this, so a normal start does not flash a warning.
const staleGrace = 2 * time.Second

// showStale says whether to mark what is shown as not live.
func (l *live) showStale() bool {
	if l.isLive() || !l.st.loaded || l.currentAt.IsZero() {
		return false
	}
	return l.conn.Phase == PhaseReconnecting || l.now.Sub(l.startedAt) >= staleGrace
}

// staleFor is how old what is shown is, when it is not live.
func (l *live) staleFor() time.Duration {
	if l.currentAt.IsZero() {
		return 0
	}
	return l.now.Sub(l.currentAt)
}

func (l *live) apply(b Batch) {
	wasLive := l.isLive()
	if b.Conn != nil {
		l.conn = *b.Conn
	}
	if b.Snapshot != nil {
		l.stored = false
		l.stateError = b.StateError
		switch {
		case l.version == "":
			l.version = b.Version
		case b.Version != "" && b.Version != l.version:
			// The hub was upgraded: look for the new app now.
			l.version = b.Version
			app.TryUpdate()
		}
	}
	moved := map[string]bool{}
	var before map[string]wire.Status
	if l.onStatus != nil && l.st.loaded {
		before = make(map[string]wire.Status, len(l.st.entities))
		for id, e := range l.st.entities {
			before[id] = e.Status
		}
		for _, e := range b.Snapshot {
			if old, ok := before[e.ID]; ok && old != e.Status {
				moved[e.ID] = true
			}
		}
		for _, e := range b.Changes {
			if old, ok := before[e.ID]; ok && old != e.Status {
				moved[e.ID] = true
			}
		}
	}
	l.st.apply(b)
	for _, id := range l.st.order {
		if cur := l.st.entities[id]; moved[id] && cur.Status != before[id] {
			l.onStatus(before[id], cur)
		}
	}
	if !b.ReceivedAt.IsZero() {
		l.now = b.ReceivedAt
	}
	if l.isLive() || wasLive {
		l.currentAt = l.now
		l.dirty = true
	}
	if wasLive && !l.isLive() {
		l.save() // the link just dropped: keep what was current
	} else {
		l.maybeSave()
	}
}

func (l *live) tick(now time.Time) {
	l.now = now
	if l.isLive() {
		l.currentAt = now
	}
	l.maybeSave()
	if app.IsClient && now.Sub(l.checkedAt) >= updateEvery {
		if !l.checkedAt.IsZero() {
			app.TryUpdate()
		}
		l.checkedAt = now
	}
}

func (l *live) maybeSave() {
	since := l.now.Sub(l.savedAt)
	if (l.dirty && since >= saveEvery) || (l.isLive() && since >= refreshSave) {
		l.save()
	}
}

// save keeps the entities for an offline start; the image lists, which the
// viewer stream does not carry anyway, are left out.
func (l *live) save() {
	if !l.inited || !l.st.loaded || l.stored || l.currentAt.IsZero() {
		return
	}
	v := savedView{SavedAt: l.currentAt, Skew: l.st.skew, Entities: make([]wire.Entity, 0, len(l.st.order))}
	for _, id := range l.st.order {
		e := l.st.entities[id]
		if e.Repository != nil && len(e.Repository.Images) > 0 {
			r := *e.Repository
			r.Images = nil
			e.Repository = &r
		}
		v.Entities = append(v.Entities, e)
	}
	if err := l.mctx.LocalStorage().Set(viewKey, v); err != nil {
		app.Log("saving the last status for offline use:", err)
	}
	l.savedAt = l.now
	l.dirty = false
}

// updateIsNew tells a real new version from the first install: go-app
// reports an update whenever a service worker activates while one controls
// the page, and the first worker claims the page that installed it. A page
// that no worker served came from the hub itself, so it is already the
// newest version. Navigation Timing's workerStart is 0 for such a page.
func updateIsNew() bool {
	if !app.IsClient {
		return true
	}
	perf := app.Window().Get("performance")
	if !perf.Truthy() || !perf.Get("getEntriesByType").Truthy() {
		return true
	}
	nav := perf.Call("getEntriesByType", "navigation")
	if !nav.Truthy() || nav.Length() == 0 {
		return true
	}
	return nav.Index(0).Get("workerStart").Float() > 0
}
