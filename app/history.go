package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"imagingstatus/wire"
)

// History refresh and windows.
const (
	historyRefresh = time.Minute // while the entity stays on screen
	sparkWindow    = "48h"
	timelineUnits  = 1440.0 // timeline width in SVG units (minutes of a day)
	timelineMinW   = 3.0    // a shorter segment is drawn this wide, to be seen
	staleHistory   = historyRefresh - 5*time.Second
)

// uptimeWindows and chartWindows are the windows the hub serves.
var (
	uptimeWindows = []string{"24h", "7d", "30d"}
	chartWindows  = []string{"48h", "30d", "365d"}
	// trendFigures are the sparklines, in order.
	trendFigures = []string{wire.FigureRepoDiskUsed, wire.FigureMemoryUsed}
)

// windowDuration reads the hub's window names.
func windowDuration(w string) time.Duration {
	switch w {
	case "24h":
		return 24 * time.Hour
	case "48h":
		return 48 * time.Hour
	case "7d":
		return 7 * 24 * time.Hour
	case "30d":
		return 30 * 24 * time.Hour
	case "365d":
		return 365 * 24 * time.Hour
	}
	return 0
}

// loaded is one fetched resource: its last good value (kept through a
// failed refresh), the last error, and whether a request is under way.
type loaded[T any] struct {
	val     T
	has     bool
	err     error
	pending bool
	at      time.Time // hub clock when val arrived
}

// EntityHistory is the entity panel's history: uptime over 24 h, 7 d and
// 30 d, the 24-hour status timeline, and the 48-hour sparklines of the
// repository disk and the memory with a larger chart in a dialog. It reads
// the hub's REST history (through fetchHub) when it is shown and every
// minute while the same entity stays shown; live frames only move its
// clock and its current status.
type EntityHistory struct {
	app.Compo

	EntityID string
	// Status, Reason and Since are the entity's live state: the timeline's
	// last segment.
	Status wire.Status
	Reason string
	Since  time.Time
	// Now is the hub's clock.
	Now  time.Time
	Lang Lang
	// Live: the page is connected to the hub. Failed requests are retried
	// as soon as it is again.
	Live bool
	// Server: an imaging server serves the entity (else no figures, so no
	// sparklines).
	Server bool

	mctx      app.Context
	active    bool // fetching (in the browser, or a test that asks)
	forID     string
	gen       int
	reqCtx    context.Context // this entity's requests, cancelled on a switch
	reqCancel context.CancelFunc
	stopTick  context.CancelFunc
	wasLive   bool
	wasServer bool

	uptime  map[string]*loaded[wire.Uptime]
	series  map[string]*loaded[wire.Series] // by seriesKey
	history loaded[[]StatusChange]

	// Timeline focus: the segment that takes Tab (roving), the one whose
	// caption shows (-1: the current one).
	tlActive int
	tlShow   int

	chart       string // figure in the dialog, "" when closed
	chartWindow string
}

func seriesKey(figure, window string) string { return figure + "@" + window }

// OnPreRender implements app.PreRenderer: the hub's prerender (and tests)
// shows the loading state and fetches nothing.
func (h *EntityHistory) OnPreRender(ctx app.Context) {
	h.mctx = ctx
	h.reset()
	if historyMounted != nil {
		historyMounted(h)
	}
}

// historyMounted, when set (tests), hears of every EntityHistory mounted
// on the hub's side: a new one means a refetch in the browser.
var historyMounted func(*EntityHistory)

// OnMount implements app.Mounter (browser only): fetch now, then every
// minute.
func (h *EntityHistory) OnMount(ctx app.Context) {
	h.mctx = ctx
	h.activate(ctx)
	h.startTicker(ctx)
}

// OnDismount implements app.Dismounter.
func (h *EntityHistory) OnDismount() {
	if h.stopTick != nil {
		h.stopTick()
		h.stopTick = nil
	}
	if h.reqCancel != nil {
		h.reqCancel()
		h.reqCtx, h.reqCancel = nil, nil
	}
	h.active = false
}

// OnUpdate implements app.Updater: a parent render. Only another entity
// refetches; a reconnection retries what failed.
func (h *EntityHistory) OnUpdate(ctx app.Context) {
	if !h.active {
		return
	}
	switch {
	case h.EntityID != h.forID:
		h.switchEntity(ctx)
	case h.Live && !h.wasLive && h.failed(), h.Server && !h.wasServer:
		h.refresh(ctx)
	}
	h.wasLive, h.wasServer = h.Live, h.Server
}

// activate starts fetching for the entity on screen.
func (h *EntityHistory) activate(ctx app.Context) {
	h.active = true
	h.wasLive, h.wasServer = h.Live, h.Server
	h.switchEntity(ctx)
}

func (h *EntityHistory) startTicker(ctx app.Context) {
	if !app.IsClient || h.stopTick != nil {
		return
	}
	c, cancel := context.WithCancel(ctx)
	h.stopTick = cancel
	ctx.Async(func() {
		t := time.NewTicker(historyRefresh)
		defer t.Stop()
		for {
			select {
			case <-c.Done():
				return
			case <-t.C:
				ctx.Dispatch(func(ctx app.Context) { h.refresh(ctx) })
			}
		}
	})
}

// reset forgets what was fetched (another entity).
func (h *EntityHistory) reset() {
	h.uptime = map[string]*loaded[wire.Uptime]{}
	h.series = map[string]*loaded[wire.Series]{}
	h.history = loaded[[]StatusChange]{}
	h.tlActive, h.tlShow = -1, -1
}

func (h *EntityHistory) switchEntity(ctx app.Context) {
	if h.reqCancel != nil {
		h.reqCancel()
	}
	h.reqCtx, h.reqCancel = context.WithCancel(ctx)
	h.gen++
	h.forID = h.EntityID
	h.reset()
	if h.chart != "" {
		h.chart = ""
		closeDialog()
	}
	h.refresh(ctx)
}

// refresh asks the hub for everything shown (a request still under way is
// not repeated).
func (h *EntityHistory) refresh(ctx app.Context) {
	if !h.active || h.forID == "" {
		return
	}
	for _, w := range uptimeWindows {
		slot := h.uptime[w]
		if slot == nil {
			slot = &loaded[wire.Uptime]{}
			h.uptime[w] = slot
		}
		fetchInto(ctx, h, UptimePath(h.forID, w), slot, checkUptime)
	}
	fetchInto(ctx, h, HistoryPath(h.forID), &h.history, nil)
	if h.Server {
		for _, f := range trendFigures {
			h.fetchSeries(ctx, f, sparkWindow)
		}
	}
	if h.chart != "" && h.chartWindow != sparkWindow {
		h.fetchSeries(ctx, h.chart, h.chartWindow)
	}
}

func (h *EntityHistory) fetchSeries(ctx app.Context, figure, window string) {
	k := seriesKey(figure, window)
	slot := h.series[k]
	if slot == nil {
		slot = &loaded[wire.Series]{}
		h.series[k] = slot
	}
	fetchInto(ctx, h, SeriesPath(h.forID, figure, window), slot, nil)
}

// ensureSeries fetches a chart's series unless a fresh one is at hand.
func (h *EntityHistory) ensureSeries(ctx app.Context, figure, window string) {
	if slot := h.series[seriesKey(figure, window)]; slot != nil && slot.has && slot.err == nil && h.Now.Sub(slot.at) < staleHistory {
		return
	}
	h.fetchSeries(ctx, figure, window)
}

func checkUptime(u *wire.Uptime) error {
	if u.AvailableRatio != nil && (math.IsNaN(*u.AvailableRatio) || *u.AvailableRatio < 0 || *u.AvailableRatio > 1.0000001) {
		return fmt.Errorf("available_ratio %v out of [0, 1]", *u.AvailableRatio)
	}
	return nil
}

// fetchInto fetches path into slot off the UI goroutine; the answer lands
// on it, unless the entity changed meanwhile.
func fetchInto[T any](ctx app.Context, h *EntityHistory, path string, slot *loaded[T], check func(*T) error) {
	if slot.pending {
		return
	}
	slot.pending = true
	gen, fetch := h.gen, fetchHub
	rctx := h.reqCtx
	if rctx == nil {
		rctx = ctx
	}
	ctx.Async(func() {
		var v T
		body, err := fetch(rctx, path)
		if err == nil {
			if err = json.Unmarshal(body, &v); err != nil {
				err = fmt.Errorf("decoding %s: %w", path, err)
			} else if check != nil {
				err = check(&v)
			}
		}
		ctx.Dispatch(func(ctx app.Context) {
			if gen != h.gen {
				return
			}
			slot.pending = false
			if err != nil {
				slot.err = err
				app.Log("history:", path, err)
				return
			}
			slot.val, slot.has, slot.err, slot.at = v, true, nil, h.Now
		})
	})
}

// failed: some resource has no value because its request failed.
func (h *EntityHistory) failed() bool {
	for _, s := range h.uptime {
		if s.err != nil {
			return true
		}
	}
	for _, s := range h.series {
		if s.err != nil {
			return true
		}
	}
	return h.history.err != nil
}

// historyState sums up the resources: the first error of one that has no
// value, whether one is still awaited, and the oldest value kept through a
// failed refresh.
type historyState struct {
	missingErr error
	waiting    bool
	oldAt      time.Time
}

func (h *EntityHistory) state() historyState {
	var (
		missingErr error
		waiting    bool
		oldAt      time.Time
	)
	note := func(has, pending bool, err error, at time.Time) {
		switch {
		case !has && err != nil:
			if missingErr == nil {
				missingErr = err
			}
		case !has:
			waiting = true
		case err != nil:
			if oldAt.IsZero() || at.Before(oldAt) {
				oldAt = at
			}
		}
	}
	note(h.history.has, h.history.pending, h.history.err, h.history.at)
	for _, w := range uptimeWindows {
		if s := h.uptime[w]; s != nil {
			note(s.has, s.pending, s.err, s.at)
		} else {
			waiting = true
		}
	}
	if h.Server {
		for _, f := range trendFigures {
			if s := h.series[seriesKey(f, sparkWindow)]; s != nil {
				note(s.has, s.pending, s.err, s.at)
			} else {
				waiting = true
			}
		}
	}
	return historyState{missingErr, waiting, oldAt}
}

// FetchErrorText is the short message for a failed history request.
func (t *Texts) FetchErrorText(err error) string {
	switch HTTPStatus(err) {
	case 401, 403:
		return t.HistoryUnauthorized
	case 404:
		return t.HistoryNotFound
	case 503:
		return t.HistoryUnavailable
	default:
		return t.HistoryFailed
	}
}

// Ratio writes an availability ratio as a percentage rounded down to one
// decimal ("99.3 %"), so a day with an outage never reads 100 %.
func (t *Texts) Ratio(r float64) string {
	if r >= 1 {
		return "100 %"
	}
	p := math.Floor(max(r, 0)*1000+1e-6) / 10
	return strings.Replace(strconv.FormatFloat(p, 'f', 1, 64), ".", t.Decimal, 1) + " %"
}

// Clock writes a time of day in the browser's zone ("14:05").
func (t *Texts) Clock(v time.Time) string { return v.Local().Format("15:04") }

// UptimeWindow names an uptime window.
func (t *Texts) UptimeWindow(w string) string {
	switch w {
	case "24h":
		return t.Uptime24h
	case "7d":
		return t.Uptime7d
	case "30d":
		return t.Uptime30d
	}
	return w
}

// ChartWindow names a chart window.
func (t *Texts) ChartWindow(w string) string {
	switch w {
	case "48h":
		return t.Window48h
	case "30d":
		return t.Window30d
	case "365d":
		return t.Window365d
	}
	return w
}

// FigureName names a series.
func (t *Texts) FigureName(f string) string {
	switch f {
	case wire.FigureRepoDiskUsed:
		return t.SeriesDisk
	case wire.FigureMemoryUsed:
		return t.SeriesMemory
	}
	return f
}

// UptimeBreakdown lists the time spent in each status ("Available 23 h
// 50 min · Offline 10 min · No record 2 h"), leaving out what is zero.
func (t *Texts) UptimeBreakdown(u wire.Uptime) string {
	var parts []string
	secs := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	for _, st := range []wire.Status{wire.StatusAvailable, wire.StatusOffline, wire.StatusConnectionError, wire.StatusNotLinked} {
		if s := u.Seconds[st]; s >= 1 {
			parts = append(parts, t.Status(st).Label+" "+t.Duration(secs(s)))
		}
	}
	if u.UnknownSeconds >= 1 {
		parts = append(parts, t.NoRecord+" "+t.Duration(secs(u.UnknownSeconds)))
	}
	return strings.Join(parts, " · ")
}

// SegmentText says what a timeline segment was: "Offline from 02:14 to
// 02:31 (no report for 15 s)", "Available since 02:31".
func (t *Texts) SegmentText(s Segment) string {
	word := t.NoRecord
	if s.Status != "" {
		word = t.Status(s.Status).Label
	}
	var text string
	if s.Current && s.Status != "" {
		text = t.F(t.TimelineSinceF, word, t.Clock(s.From))
	} else {
		text = t.F(t.TimelineSpanF, word, t.Clock(s.From), t.Clock(s.To))
	}
	if s.Reason != "" && s.Status != wire.StatusAvailable {
		// History records keep the hub's English text: said here in the
		// page's language, without the sentence's full stop.
		text += " (" + strings.TrimSuffix(t.ReasonText("", nil, s.Reason), ".") + ")"
	}
	return text
}

// Render implements app.Composer.
func (h *EntityHistory) Render() app.UI {
	t := T(h.Lang)
	st := h.state()
	note, noteCls := "", "history-note"
	switch {
	case st.missingErr != nil:
		note, noteCls = t.FetchErrorText(st.missingErr), "history-note history-note--error"
	case st.waiting || !h.active:
		note = t.HistoryLoading
	case !st.oldAt.IsZero():
		note, noteCls = t.F(t.HistoryOldF, t.Ago(h.Now.Sub(st.oldAt))), "history-note history-note--error"
	}
	return app.Section().ID("history").Class("history").Aria("labelledby", "history-title").Body(
		app.H3().ID("history-title").Class("history-title").Text(t.HistoryTitle),
		app.P().Class(noteCls).Role("status").Body(
			app.If(note == t.HistoryLoading, func() app.UI {
				return app.Span().Class("spinner spinner--small").Aria("hidden", "true")
			}),
			app.Text(note),
		),
		app.Div().Class("history-grid").Body(
			h.renderUptime(t),
			h.renderTimeline(t),
			h.renderTrends(t),
		),
		h.renderDialog(t),
	)
}

// placeholder stands for a figure not (yet) fetched: "…" while waiting,
// "—" after a failure.
func placeholder(failed bool) string {
	if failed {
		return "—"
	}
	return "…"
}

func (h *EntityHistory) renderUptime(t *Texts) app.UI {
	items := make([]app.UI, 0, len(uptimeWindows))
	for _, w := range uptimeWindows {
		slot := h.uptime[w]
		pct, detail, cls := "", "", "uptime-pct"
		switch {
		case slot == nil || !slot.has:
			pct = placeholder(slot != nil && slot.err != nil)
			cls += " uptime-pct--none"
		case slot.val.AvailableRatio == nil:
			pct = t.UptimeUnknown
			cls += " uptime-pct--none"
			detail = t.UptimeBreakdown(slot.val)
		default:
			r := *slot.val.AvailableRatio
			pct = t.Ratio(r)
			detail = t.UptimeBreakdown(slot.val)
			switch {
			case r < 0.95:
				cls += " uptime-pct--bad"
			case r < 0.99:
				cls += " uptime-pct--warn"
			}
		}
		dd := app.Dd().Class("uptime-value").Body(
			app.Span().Class(cls).Text(pct),
			app.If(detail != "", func() app.UI {
				return app.Span().Class("uptime-detail").Text(detail)
			}),
		)
		if detail != "" {
			dd = dd.Title(detail)
		}
		items = append(items, app.Div().Class("uptime-item").Body(
			app.Dt().Class("uptime-window").Text(t.UptimeWindow(w)),
			dd,
		))
	}
	return app.Div().Class("history-block history-uptime").Body(
		app.H4().Class("history-sub").Text(t.UptimeTitle),
		app.Dl().Class("uptime").Body(items...),
	)
}

// segments is the timeline as of now.
func (h *EntityHistory) segments() []Segment {
	return TimelineSegments(h.history.val, h.Status, h.Reason, h.Since, h.Now, TimelineWindow)
}

func (h *EntityHistory) renderTimeline(t *Texts) app.UI {
	block := app.Div().Class("history-block history-timeline")
	title := app.H4().ID("timeline-title").Class("history-sub").Text(t.TimelineTitle)
	if !h.history.has || h.Now.IsZero() {
		return block.Body(title, app.P().Class("missing").Text(placeholder(h.history.err != nil)))
	}
	segs := h.segments()
	n := len(segs)
	active := h.tlActive
	if active < 0 || active >= n {
		active = n - 1
	}
	show := h.tlShow
	if show < 0 || show >= n {
		show = n - 1
	}
	start := h.Now.Add(-TimelineWindow)
	rects := make([]app.UI, 0, n)
	items := make([]app.UI, 0, n)
	for i, s := range segs {
		x := s.From.Sub(start).Seconds() / TimelineWindow.Seconds() * timelineUnits
		w := s.To.Sub(s.From).Seconds() / TimelineWindow.Seconds() * timelineUnits
		if w < timelineMinW {
			x, w = max(0, x+w-timelineMinW), timelineMinW
		}
		cls := "tl-seg tl-seg--none"
		if s.Status != "" {
			cls = "tl-seg status--" + t.Status(s.Status).Class
		}
		if i == show && h.tlShow >= 0 {
			cls += " tl-seg--shown"
		}
		label := t.SegmentText(s)
		tab := -1
		if i == active {
			tab = 0
		}
		scope := app.EventScope(strconv.Itoa(i))
		rects = append(rects, svg("rect").ID("tl-seg-%d", i).Class(cls).
			Attr("x", coord(x)).Attr("y", "0").Attr("width", coord(w)).Attr("height", "24").
			TabIndex(tab).Role("img").Aria("label", label).
			OnFocus(func(ctx app.Context, e app.Event) { h.tlActive, h.tlShow = i, i }, scope).
			OnBlur(func(ctx app.Context, e app.Event) { h.tlShow = -1 }, scope).
			OnMouseEnter(func(ctx app.Context, e app.Event) { h.tlShow = i }, scope).
			OnMouseLeave(func(ctx app.Context, e app.Event) { h.tlShow = -1 }, scope).
			Body(svg("title").Text(label)))
		items = append(items, app.Li().Text(label))
	}
	ticks := make([]app.UI, 0, 5)
	for i := range 4 {
		ticks = append(ticks, app.Span().Text(t.Clock(start.Add(time.Duration(i)*6*time.Hour))))
	}
	ticks = append(ticks, app.Span().Text(t.TimelineNow))
	return block.Body(
		title,
		app.Div().Class("timeline").Body(
			svg("svg").Class("timeline-bar").
				Attr("viewBox", "0 0 "+coord(timelineUnits)+" 24").
				Attr("preserveAspectRatio", "none").
				Role("group").Aria("label", t.TimelineBar).
				OnKeyDown(h.onTimelineKey).
				Body(rects...),
			app.Div().Class("timeline-axis").Aria("hidden", "true").Body(ticks...),
			app.P().Class("timeline-caption").Aria("hidden", "true").Text(t.SegmentText(segs[show])),
			app.Ul().Class("sr-only").Aria("labelledby", "timeline-title").Body(items...),
		),
	)
}

// onTimelineKey moves along the segments: arrows, Home, End.
func (h *EntityHistory) onTimelineKey(ctx app.Context, e app.Event) {
	n := len(h.segments())
	if n == 0 {
		return
	}
	cur := h.tlActive
	if cur < 0 || cur >= n {
		cur = n - 1
	}
	next := cur
	switch e.Get("key").String() {
	case "ArrowLeft", "ArrowUp":
		next = max(0, cur-1)
	case "ArrowRight", "ArrowDown":
		next = min(n-1, cur+1)
	case "Home":
		next = 0
	case "End":
		next = n - 1
	default:
		return
	}
	e.PreventDefault()
	h.tlActive, h.tlShow = next, next
	ctx.Defer(func(app.Context) { focusID("tl-seg-" + strconv.Itoa(next)) })
}

func focusID(id string) {
	if !app.IsClient {
		return
	}
	if el := app.Window().GetElementByID(id); el.Truthy() {
		el.Call("focus")
	}
}

func (h *EntityHistory) renderTrends(t *Texts) app.UI {
	if !h.Server {
		return nil
	}
	sparks := make([]app.UI, 0, len(trendFigures))
	for _, f := range trendFigures {
		sparks = append(sparks, h.renderSpark(t, f))
	}
	return app.Div().Class("history-block history-trends").Body(
		app.H4().Class("history-sub").Text(t.TrendsTitle),
		app.Div().Class("sparks").Body(sparks...),
	)
}

// seriesView is a fetched series ready to draw: its points within the
// window, oldest first, and the window.
func (h *EntityHistory) seriesView(figure, window string) (slot *loaded[wire.Series], pts []wire.Point, from, to time.Time) {
	slot = h.series[seriesKey(figure, window)]
	if slot == nil || !slot.has {
		return slot, nil, time.Time{}, time.Time{}
	}
	if !slot.at.IsZero() {
		to = slot.at
		from = to.Add(-windowDuration(window))
	}
	return slot, cleanPoints(slot.val.Points, from, to), from, to
}

func (h *EntityHistory) renderSpark(t *Texts, figure string) app.UI {
	name := t.FigureName(figure)
	slot, pts, from, to := h.seriesView(figure, sparkWindow)
	if slot == nil || !slot.has || len(pts) == 0 {
		text := t.SeriesNoData
		if slot == nil || !slot.has {
			text = placeholder(slot != nil && slot.err != nil)
		}
		return app.Div().Class("spark spark--empty").Body(
			app.Span().Class("spark-name").Text(name),
			app.Span().Class("spark-value").Text(text),
		)
	}
	last := pts[len(pts)-1].V
	return app.Button().ID("spark-"+figure).Type("button").Class("spark").
		Aria("haspopup", "dialog").
		OnClick(func(ctx app.Context, e app.Event) { h.openChart(ctx, figure) }, app.EventScope(figure)).
		Body(
			app.Span().Class("spark-name").Text(name),
			app.Span().Class("spark-value").Text(t.ValueText(slot.val.Unit, last)),
			sparkSVG("spark-svg", SparkPath(pts, from, to, sparkW, sparkH), sparkW, sparkH),
			app.Span().Class("sr-only").Text(", "+t.SeriesOpen),
		)
}

func (h *EntityHistory) openChart(ctx app.Context, figure string) {
	h.chart, h.chartWindow = figure, sparkWindow
	h.ensureSeries(ctx, figure, sparkWindow)
	ctx.Defer(func(app.Context) {
		if !app.IsClient {
			return
		}
		d := app.Window().GetElementByID("chart-dialog")
		if d.Truthy() && !d.Get("open").Bool() && d.Get("showModal").Truthy() {
			d.Call("showModal")
		}
	})
}

// closeChart closes the dialog and gives the focus back to its sparkline.
func (h *EntityHistory) closeChart(ctx app.Context) {
	closeDialog()
	h.chartClosed(ctx)
}

// chartClosed: the dialog closed (its button, Escape, or closeChart).
func (h *EntityHistory) chartClosed(ctx app.Context) {
	fig := h.chart
	h.chart = ""
	if fig != "" {
		ctx.Defer(func(app.Context) { focusID("spark-" + fig) })
	}
}

func closeDialog() {
	if !app.IsClient {
		return
	}
	if d := app.Window().GetElementByID("chart-dialog"); d.Truthy() && d.Get("open").Bool() {
		d.Call("close")
	}
}

func (h *EntityHistory) setChartWindow(ctx app.Context, w string) {
	h.chartWindow = w
	h.ensureSeries(ctx, h.chart, w)
}

func (h *EntityHistory) renderDialog(t *Texts) app.UI {
	d := app.Dialog().ID("chart-dialog").Class("chart-dialog").
		On("close", func(ctx app.Context, e app.Event) { h.chartClosed(ctx) })
	if h.chart == "" {
		return d
	}
	name := t.FigureName(h.chart)
	windows := make([]app.UI, 0, len(chartWindows))
	for _, w := range chartWindows {
		windows = append(windows, app.Button().Type("button").Class("btn btn--lang").
			Aria("pressed", strconv.FormatBool(w == h.chartWindow)).
			Text(t.ChartWindow(w)).
			OnClick(func(ctx app.Context, e app.Event) { h.setChartWindow(ctx, w) }, app.EventScope(w)))
	}
	return d.Aria("labelledby", "chart-title").Body(
		app.Div().Class("chart-head").Body(
			app.H3().ID("chart-title").Class("chart-title").Text(t.F(t.ChartTitleF, name, t.ChartWindow(h.chartWindow))),
			app.Button().Type("button").Class("btn chart-close").Text(t.ChartClose).
				OnClick(func(ctx app.Context, e app.Event) { h.closeChart(ctx) }),
		),
		app.Div().Class("chart-windows").Role("group").Aria("label", t.ChartPeriod).Body(windows...),
		h.renderChart(t),
	)
}

func (h *EntityHistory) renderChart(t *Texts) app.UI {
	slot, pts, from, to := h.seriesView(h.chart, h.chartWindow)
	switch {
	case slot == nil || (!slot.has && slot.err == nil):
		return app.P().Class("chart-note").Role("status").Text(t.HistoryLoading)
	case !slot.has:
		return app.P().Class("chart-note").Role("status").Text(t.FetchErrorText(slot.err))
	case len(pts) == 0:
		return app.P().Class("chart-note").Role("status").Text(t.SeriesNoData)
	}
	unit := slot.val.Unit
	lo, hi := pointsRange(pts)
	if from.IsZero() {
		from, to = pts[0].T, pts[len(pts)-1].T
	}
	return app.Div().Class("chart-body").Body(
		app.Div().Class("chart").Body(
			app.Div().Class("chart-y").Aria("hidden", "true").Body(
				app.Span().Text(t.ValueText(unit, hi)),
				app.Span().Text(t.ValueText(unit, lo)),
			),
			chartSVG(SparkPath(pts, from, to, chartW, chartH)),
			app.Div().Class("chart-x").Aria("hidden", "true").Body(
				app.Span().Text(t.Date(from)),
				app.Span().Text(t.Date(to)),
			),
		),
		app.P().Class("chart-summary").Text(t.F(t.ChartSummaryF,
			t.ValueText(unit, pts[0].V), t.ValueText(unit, pts[len(pts)-1].V),
			t.ValueText(unit, lo), t.ValueText(unit, hi))),
	)
}
