package app

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"imagingstatus/wire"
)

// fakeREST answers the history requests from fixtures (path → JSON) and
// counts them.
type fakeREST struct {
	mu     sync.Mutex
	bodies map[string]string
	err    error // when set, every request fails with it
	calls  []string
}

func (f *fakeREST) fetch(ctx context.Context, path string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, path)
	if f.err != nil {
		return nil, f.err
	}
	if b, ok := f.bodies[path]; ok {
		return []byte(b), nil
	}
	return nil, &HTTPError{Status: 404}
}

func (f *fakeREST) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeREST) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// useHub makes the page fetch from f for the test.
func useHub(t *testing.T, f *fakeREST) {
	t.Helper()
	old := fetchHub
	fetchHub = f.fetch
	t.Cleanup(func() { fetchHub = old })
}

// hubFixtures: General (UUID0), available since 11:00 after a 10-minute
// outage; no record before 02:00; a disk series, an empty memory series.
func hubFixtures() *fakeREST {
	return &fakeREST{bodies: map[string]string{
		UptimePath("UUID0", "24h"): `{"window":"24h","available_ratio":0.993,
			"seconds":{"available":85795,"offline":605,"connection_error":0,"not_linked":0},"unknown_seconds":0}`,
		UptimePath("UUID0", "7d"): `{"window":"7d","available_ratio":null,
			"seconds":{"available":0,"offline":0,"connection_error":0,"not_linked":0},"unknown_seconds":604800}`,
		UptimePath("UUID0", "30d"): `{"window":"30d","available_ratio":1,
			"seconds":{"available":2592000,"offline":0,"connection_error":0,"not_linked":0},"unknown_seconds":0}`,
		HistoryPath("UUID0"): `[
			{"entity":"UUID0","at":"2026-11-25T11:00:00Z","from":"offline","to":"available"},
			{"entity":"UUID0","at":"2026-11-25T10:50:00Z","from":"available","to":"offline","reason":"no report for 15 s"},
			{"entity":"UUID0","at":"2026-11-25T02:00:00Z","to":"available"}]`,
		SeriesPath("UUID0", wire.FigureRepoDiskUsed, "48h"): `{"figure":"repo_disk_used_bytes","unit":"bytes","points":[
			{"t":"2026-11-23T13:00:00Z","v":1099511627776},
			{"t":"2026-11-24T12:00:00Z","v":1154487209165},
			{"t":"2026-11-25T11:55:00Z","v":1264438372352}]}`,
		SeriesPath("UUID0", wire.FigureMemoryUsed, "48h"): `{"figure":"memory_used_bytes","unit":"bytes","points":[]}`,
		SeriesPath("UUID0", wire.FigureRepoDiskUsed, "30d"): `{"figure":"repo_disk_used_bytes","unit":"bytes","points":[
			{"t":"2026-11-01T00:00:00Z","v":549755813888},
			{"t":"2026-11-25T00:00:00Z","v":1264438372352}]}`,
	}}
}

func generalHistory() *EntityHistory {
	return &EntityHistory{EntityID: "UUID0", Status: wire.StatusAvailable, Since: hubNow.Add(-time.Hour),
		Now: hubNow, Live: true, Server: true}
}

func runHistory(eng app.TestEngine, h *EntityHistory, f func(ctx app.Context)) {
	h.mctx.Dispatch(f)
	eng.ConsumeAll()
}

// loadHistory mounts h and starts its fetching, as OnMount does in the
// browser (without the minute ticker).
func loadHistory(t *testing.T, h *EntityHistory) app.TestEngine {
	t.Helper()
	eng := app.NewTestEngine()
	if err := eng.Load(h); err != nil {
		t.Fatal(err)
	}
	eng.ConsumeAll()
	runHistory(eng, h, h.activate)
	return eng
}

func clock(v time.Time) string { return english.Clock(v) }

// hasElement says whether html has a <tag …> holding every attribute given
// (in any order: go-app writes them in map order).
func hasElement(html, tag string, attrs ...string) bool {
	for _, m := range regexp.MustCompile(`<`+tag+`\b[^>]*>`).FindAllString(html, -1) {
		all := true
		for _, a := range attrs {
			all = all && strings.Contains(m, a)
		}
		if all {
			return true
		}
	}
	return false
}

func TestHistoryRendersUptimeTimelineAndSparklines(t *testing.T) {
	hub := hubFixtures()
	useHub(t, hub)
	h := generalHistory()
	eng := loadHistory(t, h)
	if n := hub.count(); n != 6 {
		t.Errorf("%d requests, want 6 (3 uptimes, history, 2 series): %v", n, hub.calls)
	}
	text := visibleText(h)
	day := hubNow.Add(-24 * time.Hour)
	wantAll(t, text,
		"History", "Availability",
		// uptime: rounded down, the seconds per status as text, null → unknown
		"Last 24 hours 99.3 % Available 23 h 49 min · Offline 10 min",
		"Last 7 days unknown No record 7 d 0 h 0 min",
		"Last 30 days 100 % Available 30 d 0 h 0 min",
		// the timeline, as text for screen readers
		"Status over the last 24 hours",
		"No record from "+clock(day)+" to "+clock(hubNow.Add(-10*time.Hour)),
		"Available from "+clock(hubNow.Add(-10*time.Hour))+" to "+clock(hubNow.Add(-70*time.Minute)),
		"Offline from "+clock(hubNow.Add(-70*time.Minute))+" to "+clock(hubNow.Add(-time.Hour))+" (no report for 15 s)",
		"Available since "+clock(hubNow.Add(-time.Hour)),
		// sparklines: the last value; an empty series says so
		"Last 48 hours", "Repository disk used 1.1 TiB , show a larger chart",
		"Memory used No data yet",
	)
	wantNone(t, text, "Loading the history", "refused", "could not be loaded")
	html := app.HTMLString(h)
	for _, want := range []string{
		`<rect`, `role="img"`, `aria-label="Offline from ` + clock(hubNow.Add(-70*time.Minute)),
		`class="tl-seg status--offline"`, `class="tl-seg tl-seg--none"`,
		`id="spark-repo_disk_used_bytes"`, `aria-haspopup="dialog"`, `class="spark-line"`,
		`<dialog`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("history lacks %s", want)
		}
	}
	// One tab stop on the timeline: the current segment.
	if n := strings.Count(html, `tabindex="0"`); n != 1 {
		t.Errorf("%d segments in the tab order, want 1", n)
	}

	// Live frames move the clock and the status: no request.
	for i := range 5 {
		next := *h
		next.Compo = app.Compo{}
		next.Now = hubNow.Add(time.Duration(i+1) * time.Second)
		if i == 4 {
			next.Status, next.Reason, next.Since = wire.StatusConnectionError, "probe failed", next.Now
		}
		if err := eng.Load(&next); err != nil {
			t.Fatal(err)
		}
		eng.ConsumeAll()
	}
	if n := hub.count(); n != 6 {
		t.Errorf("live frames made %d requests", n-6)
	}
	// …but the timeline follows the live status at once.
	wantAll(t, visibleText(h), "Connection error since "+clock(hubNow.Add(5*time.Second))+" (probe failed)")

	// The minute tick refreshes everything shown.
	runHistory(eng, h, h.refresh)
	if n := hub.count(); n != 12 {
		t.Errorf("a refresh made %d requests, want 6", n-6)
	}

	// Another entity: a fresh fetch (this one has no history: 404).
	other := *h
	other.Compo = app.Compo{}
	other.EntityID = "UUID2"
	if err := eng.Load(&other); err != nil {
		t.Fatal(err)
	}
	eng.ConsumeAll()
	if n := hub.count(); n != 18 {
		t.Errorf("switching entities made %d requests, want 6", n-12)
	}
	text = visibleText(h)
	wantAll(t, text, "The hub has no history for this entity.")
	wantNone(t, text, "99.3 %", "1.1 TiB")
}

func TestHistoryPrerenderFetchesNothing(t *testing.T) {
	hub := hubFixtures()
	useHub(t, hub)
	eng := app.NewTestEngine()
	p := &EntityPanel{Entity: availableEntity(), Now: hubNow}
	if err := eng.Load(p); err != nil {
		t.Fatal(err)
	}
	eng.ConsumeAll()
	if n := hub.count(); n != 0 {
		t.Errorf("the prerender made %d requests", n)
	}
	wantAll(t, visibleText(p), "History Loading the history… Availability Last 24 hours …")
}

func TestHistoryErrors(t *testing.T) {
	for _, tc := range []struct {
		err        error
		en, fr     string
		wantStatus int
	}{
		{&HTTPError{Status: 401}, "your session may have expired. Reload the page.", "votre session a peut-être expiré", 401},
		{&HTTPError{Status: 403}, "your session may have expired", "Rechargez la page.", 403},
		{&HTTPError{Status: 404}, "The hub has no history for this entity.", "Le hub n'a pas d'historique pour cette entité.", 404},
		{&HTTPError{Status: 503}, "The history is unavailable for now; the page will try again in a minute.", "L'historique est indisponible pour le moment", 503},
		{errors.New("TypeError: Failed to fetch"), "The history could not be loaded", "L'historique n'a pas pu être chargé", 0},
	} {
		hub := hubFixtures()
		hub.err = tc.err
		useHub(t, hub)
		h := generalHistory()
		eng := loadHistory(t, h)
		if HTTPStatus(tc.err) != tc.wantStatus {
			t.Errorf("HTTPStatus(%v) = %d", tc.err, HTTPStatus(tc.err))
		}
		text := visibleText(h)
		wantAll(t, text, tc.en, "Last 24 hours —", "Repository disk used —")
		wantNone(t, text, "Loading the history")
		if !hasElement(app.HTMLString(h), "p", `class="history-note history-note--error"`, `role="status"`) {
			t.Error("the error is not in the status region")
		}
		runHistory(eng, h, func(ctx app.Context) { h.Lang = French })
		wantAll(t, visibleText(h), tc.fr)
	}
}

func TestHistoryKeepsFiguresWhenARefreshFails(t *testing.T) {
	hub := hubFixtures()
	useHub(t, hub)
	h := generalHistory()
	eng := loadHistory(t, h)
	hub.fail(&HTTPError{Status: 503})
	runHistory(eng, h, func(ctx app.Context) {
		h.Now = hubNow.Add(2 * time.Minute)
		h.refresh(ctx)
	})
	text := visibleText(h)
	wantAll(t, text, "The last refresh failed: history as of 2 min ago.", "99.3 %", "Repository disk used 1.1 TiB")

	// The hub is back: the page was offline, so the next live state retries.
	hub.fail(nil)
	n := hub.count()
	runHistory(eng, h, func(ctx app.Context) { h.Live = false; h.OnUpdate(ctx) })
	runHistory(eng, h, func(ctx app.Context) { h.Live = true; h.OnUpdate(ctx) })
	if hub.count() != n+6 {
		t.Errorf("reconnecting made %d requests, want 6", hub.count()-n)
	}
	wantNone(t, visibleText(h), "refresh failed")
}

func TestHistoryFrench(t *testing.T) {
	useHub(t, hubFixtures())
	h := generalHistory()
	h.Lang = French
	loadHistory(t, h)
	wantAll(t, visibleText(h),
		"Historique", "Disponibilité",
		"Dernières 24 heures 99,3 % Disponible 23 h 49 min · Hors ligne 10 min",
		"7 derniers jours inconnue Aucun relevé 7 j 0 h 0 min",
		"30 derniers jours 100 %",
		"État sur les dernières 24 heures",
		"Hors ligne de "+clock(hubNow.Add(-70*time.Minute))+" à "+clock(hubNow.Add(-time.Hour))+" (no report for 15 s)",
		"Disponible depuis "+clock(hubNow.Add(-time.Hour)),
		"Dernières 48 heures", "Disque du dépôt utilisé 1,1 Tio , afficher un graphique plus grand",
		"Mémoire utilisée Pas encore de données",
	)
}

func TestHistoryChartDialog(t *testing.T) {
	hub := hubFixtures()
	useHub(t, hub)
	h := generalHistory()
	eng := loadHistory(t, h)
	if strings.Contains(app.HTMLString(h), `aria-labelledby="chart-title"`) {
		t.Error("the closed dialog is labelled by a missing title")
	}
	runHistory(eng, h, func(ctx app.Context) { h.openChart(ctx, wire.FigureRepoDiskUsed) })
	if n := hub.count(); n != 6 {
		t.Errorf("opening the chart refetched (%d requests)", n-6)
	}
	text := visibleText(h)
	wantAll(t, text, "Repository disk used over 48 hours Close 48 hours 30 days 365 days",
		"1 TiB at the start, 1.1 TiB at the end; lowest 1 TiB, highest 1.1 TiB.")
	html := app.HTMLString(h)
	for _, want := range []string{`aria-labelledby="chart-title"`, `class="chart-svg"`} {
		if !strings.Contains(html, want) {
			t.Errorf("the dialog lacks %s", want)
		}
	}
	if !hasElement(html, "dialog", `id="chart-dialog"`, `aria-labelledby="chart-title"`) ||
		!hasElement(html, "button", `aria-pressed="false"`, `class="btn btn--lang"`) {
		t.Error("the dialog or its window buttons lack their attributes")
	}
	// Another window: fetched once, then kept.
	runHistory(eng, h, func(ctx app.Context) { h.setChartWindow(ctx, "30d") })
	wantAll(t, visibleText(h), "Repository disk used over 30 days", "512 GiB at the start, 1.1 TiB at the end")
	runHistory(eng, h, func(ctx app.Context) { h.setChartWindow(ctx, "48h"); h.setChartWindow(ctx, "30d") })
	if n := hub.count(); n != 7 {
		t.Errorf("%d requests for the chart windows, want 1", n-6)
	}
	runHistory(eng, h, func(ctx app.Context) { h.setChartWindow(ctx, "365d") })
	wantAll(t, visibleText(h), "Repository disk used over 365 days", "The hub has no history for this entity.")
	wantAll(t, visibleText(h), "99.3 %") // the rest of the history stays

	runHistory(eng, h, h.closeChart)
	if h.chart != "" || strings.Contains(visibleText(h), "over 365 days") {
		t.Error("the chart did not close")
	}
}

func TestTimelineSegments(t *testing.T) {
	now := hubNow
	at := func(d time.Duration) time.Time { return now.Add(-d) }
	type seg struct {
		from, to time.Duration // before now
		st       wire.Status
	}
	check := func(name string, got []Segment, want []seg) {
		t.Helper()
		ok := len(got) == len(want)
		for i := 0; ok && i < len(want); i++ {
			ok = got[i].From.Equal(at(want[i].from)) && got[i].To.Equal(at(want[i].to)) && got[i].Status == want[i].st
		}
		if !ok {
			t.Errorf("%s:\n got %v\nwant %v", name, got, want)
		}
		// Always contiguous over exactly [now-24h, now].
		if len(got) > 0 && (!got[0].From.Equal(at(24*time.Hour)) || !got[len(got)-1].To.Equal(now) || got[len(got)-1].Current != (got[len(got)-1].Status != "")) {
			t.Errorf("%s: does not cover the window", name)
		}
		for i := 1; i < len(got); i++ {
			if !got[i].From.Equal(got[i-1].To) || got[i].Status == got[i-1].Status {
				t.Errorf("%s: segments %d and %d do not join", name, i-1, i)
			}
		}
	}
	h := time.Hour
	changes := []StatusChange{ // newest first
		{At: at(h), From: wire.StatusOffline, To: wire.StatusAvailable},
		{At: at(h + 10*time.Minute), From: wire.StatusAvailable, To: wire.StatusOffline, Reason: "no report"},
		{At: at(10 * h), To: wire.StatusAvailable},
	}
	got := TimelineSegments(changes, wire.StatusAvailable, "", at(h), now, TimelineWindow)
	check("outage", got, []seg{
		{24 * h, 10 * h, ""}, {10 * h, h + 10*time.Minute, wire.StatusAvailable},
		{h + 10*time.Minute, h, wire.StatusOffline}, {h, 0, wire.StatusAvailable},
	})
	if got[2].Reason != "no report" {
		t.Errorf("reason %q", got[2].Reason)
	}

	// A change older than the window: known from the window's start.
	check("old change", TimelineSegments([]StatusChange{
		{At: at(2 * h), To: wire.StatusOffline}, {At: at(30 * h), To: wire.StatusAvailable},
	}, wire.StatusOffline, "", at(2*h), now, TimelineWindow),
		[]seg{{24 * h, 2 * h, wire.StatusAvailable}, {2 * h, 0, wire.StatusOffline}})

	// No change: the current status since its start, unknown before.
	check("no change", TimelineSegments(nil, wire.StatusOffline, "", at(3*h), now, TimelineWindow),
		[]seg{{24 * h, 3 * h, ""}, {3 * h, 0, wire.StatusOffline}})
	// Nothing known at all.
	check("nothing", TimelineSegments(nil, wire.StatusOffline, "", time.Time{}, now, TimelineWindow),
		[]seg{{24 * h, 0, ""}})
	// A zero since lets the newest change run until now.
	check("zero since", TimelineSegments([]StatusChange{{At: at(5 * h), To: wire.StatusNotLinked}},
		wire.StatusAvailable, "", time.Time{}, now, TimelineWindow),
		[]seg{{24 * h, 5 * h, ""}, {5 * h, 0, wire.StatusNotLinked}})

	// The live state wins over a newer record that disagrees.
	check("live wins", TimelineSegments([]StatusChange{
		{At: at(5 * time.Minute), To: wire.StatusOffline}, {At: at(2 * h), To: wire.StatusConnectionError},
	}, wire.StatusAvailable, "", at(10*time.Minute), now, TimelineWindow),
		[]seg{{24 * h, 2 * h, ""}, {2 * h, 10 * time.Minute, wire.StatusConnectionError}, {10 * time.Minute, 0, wire.StatusAvailable}})

	// The hub's clock stepped back: the later change starts where the
	// earlier one did, nothing negative.
	check("clock step", TimelineSegments([]StatusChange{
		{At: at(3 * h), To: wire.StatusOffline}, {At: at(2 * h), To: wire.StatusAvailable},
	}, wire.StatusOffline, "", time.Time{}, now, TimelineWindow),
		[]seg{{24 * h, 2 * h, ""}, {2 * h, 0, wire.StatusOffline}})

	// A change of reason only merges into one segment.
	got = TimelineSegments([]StatusChange{
		{At: at(h), From: wire.StatusOffline, To: wire.StatusOffline, Reason: "never seen"},
		{At: at(2 * h), To: wire.StatusOffline, Reason: "no report"},
	}, wire.StatusOffline, "never seen", at(h), now, TimelineWindow)
	check("reason only", got, []seg{{24 * h, 2 * h, ""}, {2 * h, 0, wire.StatusOffline}})
	if got[1].Reason != "never seen" {
		t.Errorf("merged reason %q, want the newest", got[1].Reason)
	}
	if TimelineSegments(changes, wire.StatusAvailable, "", at(h), now, 0) != nil {
		t.Error("an empty window has segments")
	}
}

func TestSegmentText(t *testing.T) {
	s := Segment{From: hubNow.Add(-time.Hour), To: hubNow.Add(-30 * time.Minute), Status: wire.StatusOffline, Reason: "no report"}
	from, to := clock(s.From), clock(s.To)
	for _, tc := range []struct {
		tr   *Texts
		s    Segment
		want string
	}{
		{&english, s, "Offline from " + from + " to " + to + " (no report)"},
		{&french, s, "Hors ligne de " + from + " à " + to + " (no report)"},
		{&english, Segment{From: s.From, To: s.To}, "No record from " + from + " to " + to},
		{&french, Segment{From: s.From, To: s.To}, "Aucun relevé de " + from + " à " + to},
		{&english, Segment{From: s.From, To: hubNow, Status: wire.StatusAvailable, Reason: "x", Current: true}, "Available since " + from},
		{&french, Segment{From: s.From, To: hubNow, Status: wire.StatusConnectionError, Current: true}, "Erreur de connexion depuis " + from},
	} {
		if got := tc.tr.SegmentText(tc.s); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestRatio(t *testing.T) {
	for r, want := range map[float64]string{1: "100 %", 0.993: "99.3 %", 0.99299: "99.2 %", 0.9999: "99.9 %", 0.5: "50.0 %", 0: "0.0 %", 0.12345: "12.3 %"} {
		if got := english.Ratio(r); got != want {
			t.Errorf("Ratio(%v) = %q, want %q", r, got, want)
		}
	}
	if got := french.Ratio(0.5); got != "50,0 %" {
		t.Errorf("French ratio %q", got)
	}
}

func TestHistoryPaths(t *testing.T) {
	for got, want := range map[string]string{
		UptimePath("UUID0", "24h"):                          "/api/v1/entities/UUID0/uptime?window=24h",
		SeriesPath("UUID0", wire.FigureMemoryUsed, "48h"):   "/api/v1/entities/UUID0/series?figure=memory_used_bytes&window=48h",
		HistoryPath("UUID3"):                                "/api/v1/entities/UUID3/history",
		SeriesPath("UUID0", wire.FigureRepoDiskUsed, "30d"): "/api/v1/entities/UUID0/series?figure=repo_disk_used_bytes&window=30d",
	} {
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

// The dashboard keeps one history through live frames, a lost hub and a
// change of entity: a new one would refetch everything in the browser.
func TestDashboardKeepsOneHistory(t *testing.T) {
	var mounted []*EntityHistory
	historyMounted = func(h *EntityHistory) { mounted = append(mounted, h) }
	t.Cleanup(func() { historyMounted = nil })
	eng, d := loadDashboard(t)
	run(eng, d, func() {
		d.apply(Batch{Conn: &ConnState{Phase: PhaseConnected}, Snapshot: snapshot(), HubTime: hubNow, ReceivedAt: hubNow})
	})
	if len(mounted) != 1 || mounted[0].EntityID != "UUID0" || !mounted[0].Live || !mounted[0].Server {
		t.Fatalf("%d histories mounted", len(mounted))
	}
	h := mounted[0]
	for i := range 3 {
		e := availableEntity()
		e.LastReportAt = ptr(hubNow.Add(time.Duration(i) * time.Second))
		if i == 2 {
			e.Status, e.Reason, e.Since = wire.StatusOffline, "no report", hubNow.Add(2*time.Second)
			e.DiskForecast = forecast(9, "high", false) // a notice appears above
		}
		run(eng, d, func() {
			d.apply(Batch{Changes: map[string]wire.Entity{e.ID: e}, HubTime: hubNow.Add(time.Duration(i) * time.Second), ReceivedAt: hubNow})
			d.tick(hubNow.Add(time.Duration(i) * time.Second))
		})
	}
	run(eng, d, func() { d.apply(Batch{Conn: &ConnState{Phase: PhaseReconnecting, Attempt: 1}}) })
	wantAll(t, visibleText(d), "lost its connection", "Repository disk full in about 9 days")
	if h.Live || h.Status != wire.StatusOffline {
		t.Errorf("the history did not follow: live %v, status %s", h.Live, h.Status)
	}
	// Other entities, one without figures (not linked).
	for _, id := range []string{"UUID3", "UUID4", "UUID2"} {
		run(eng, d, func() { d.selected = id })
		if len(mounted) != 1 || h.EntityID != id {
			t.Errorf("%d histories mounted; the first shows %s, want %s", len(mounted), h.EntityID, id)
		}
		if h.Server != (id != "UUID4") {
			t.Errorf("%s: server %v", id, h.Server)
		}
	}
}
