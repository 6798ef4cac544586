package main_test

// Browser tests of the wall (/wall), the PWA (installability, offline start
// from the service worker and the saved snapshot), the language switch and
// accessibility (axe-core from web/e2e/node_modules). They use the real hub
// and agent binaries and Debian's Chromium, as browser_test.go does.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"imagingstatus/agent/repo/sample"
	"imagingstatus/bench"
	"imagingstatus/server/hubtest"
)

// wallEntities is the size of the wall tests' tree.
const wallEntities = 60

// wallSetup starts a hub with 60 entities: General (linked) with nine
// regions below it and 49 sites below those; every fourth has a server of
// its own, and "Partners" is a root without any. Only some agents run, so
// every status is on show.
func wallSetup(t *testing.T) *hubtest.Env {
	t.Helper()
	w := hubtest.NewEnv(t, "", interval)
	var ents []string
	for i := range wallEntities - 1 {
		id := "UUID" + strconv.Itoa(i)
		var name, parent string
		switch {
		case i == 0:
			name = "General"
		case i <= 9:
			name, parent = "Region "+strconv.Itoa(i), "UUID0"
		default:
			name, parent = "Site "+strconv.Itoa(i), "UUID"+strconv.Itoa(1+i%9)
		}
		e := `{"id":"` + id + `","name":"` + name + `"`
		if parent != "" {
			e += `,"parent":"` + parent + `"`
		}
		if i%4 == 0 {
			e += `,"server":{"name":"imaging-` + strings.ToLower(id) + `","token_sha256":"` + w.NewToken(t, id) + `"}`
		}
		ents = append(ents, e+"}")
	}
	ents = append(ents, `{"id":"UUID99","name":"Partners"}`)
	w.WriteConfig(t, `{"listen":"127.0.0.1:0","plain_http":true,"interval":"`+interval.String()+`","missed_pings":3,"entities":[`+strings.Join(ents, ",\n")+`]}`)
	w.GenerateRepo(t, sample.Options{Complete: 2, Clients: 2, ClientsWithImages: 1, WithUUIDCache: true})
	w.StartHub(t)
	return w
}

// browserAt starts a Chromium whose viewport is width×height.
func browserAt(t *testing.T, width, height int) *hubtest.Browser {
	t.Helper()
	b := hubtest.NewBrowser(t, width, height)
	hubtest.Do(t, b.Ctx, chromedp.EmulateViewport(int64(width), int64(height)))
	return b
}

// wallReady waits for the wall to show n tiles from the hub.
func wallReady(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	hubtest.WaitJS(t, ctx, fmt.Sprintf("%d tiles on the wall", n), `document.querySelectorAll(".tile").length === `+strconv.Itoa(n))
	hubtest.TextOf(t, ctx, ".wall-top", "Connected")
}

type box struct{ Top, Left, Bottom, Right, W, H float64 }

// fitsOnScreen checks that the page does not scroll and every tile lies
// inside the viewport with its name, status and disk line unclipped. The
// layout may still move while the first figures arrive, so it waits for
// a fitting layout and reports the last one seen if none comes.
func fitsOnScreen(t *testing.T, ctx context.Context, label string) {
	t.Helper()
	type fit struct {
		ScrollW, ScrollH, InnerW, InnerH float64
		Tiles                            []box
		Clipped                          []string
	}
	var f fit
	var problems []string
	check := func() bool {
		f = hubtest.Eval[fit](t, ctx, `(() => {
			const d = document.documentElement;
			const r = { ScrollW: d.scrollWidth, ScrollH: d.scrollHeight, InnerW: innerWidth, InnerH: innerHeight, Tiles: [], Clipped: [] };
			for (const el of document.querySelectorAll(".tile")) {
				const b = el.getBoundingClientRect();
				r.Tiles.push({ Top: b.top, Left: b.left, Bottom: b.bottom, Right: b.right, W: b.width, H: b.height });
				for (const part of el.querySelectorAll(".tile-name, .tile-status, .tile-disk")) {
					const p = part.getBoundingClientRect();
					if (p.bottom > b.bottom + 0.5 || p.height < 4) r.Clipped.push(el.innerText.split("\n")[0] + ": " + part.className);
				}
			}
			return r;
		})()`)
		problems = problems[:0]
		if f.ScrollW > f.InnerW || f.ScrollH > f.InnerH {
			problems = append(problems, fmt.Sprintf("the page scrolls: content %vx%v in a %vx%v window", f.ScrollW, f.ScrollH, f.InnerW, f.InnerH))
		}
		for i, b := range f.Tiles {
			if b.Top < 0 || b.Left < 0 || b.Bottom > f.InnerH+0.5 || b.Right > f.InnerW+0.5 {
				problems = append(problems, fmt.Sprintf("tile %d at %+v is outside the %vx%v window", i, b, f.InnerW, f.InnerH))
				break
			}
		}
		if len(f.Clipped) > 0 {
			problems = append(problems, fmt.Sprintf("clipped tile lines: %v", f.Clipped))
		}
		return len(f.Tiles) > 0 && len(problems) == 0
	}
	if _, err := bench.Poll(ctx, hubtest.Long, check); err != nil {
		t.Errorf("%s: no layout fits the screen (%v): %s", label, err, strings.Join(problems, "; "))
	}
	if len(f.Tiles) > 0 {
		t.Logf("%s: %d tiles of %.0fx%.0f px", label, len(f.Tiles), f.Tiles[0].W, f.Tiles[0].H)
	}
}

func TestWallFits60EntitiesInChromium(t *testing.T) {
	w := wallSetup(t)
	w.Agent(t, "UUID0")
	w.Agent(t, "UUID8")
	w.Agent(t, "UUID4", "--probe", "imaging-api=tcp://127.0.0.1:1")
	w.WaitStatus(t, "UUID4", "connection_error", "")
	w.WaitStatus(t, "UUID8", "available", "")

	full := browserAt(t, 1920, 1080)
	ctx := full.Ctx
	hubtest.Navigate(t, ctx, w.Hub.URL+"/wall")
	wallReady(t, ctx, wallEntities)
	hubtest.WaitJS(t, ctx, "UUID8's tile available", `document.querySelector('#tile-UUID8').closest('.tile').classList.contains('status--available')`)
	fitsOnScreen(t, ctx, "1920x1080")

	// Problems first: offline and connection errors lead, available last.
	order := hubtest.Eval[[]string](t, ctx, `[...document.querySelectorAll(".tile")].map(e => [...e.classList].find(c => c.startsWith("status--")))`)
	rank := map[string]int{"status--offline": 0, "status--connection-error": 1, "status--unknown": 2, "status--not-linked": 3, "status--available": 4}
	for i := 1; i < len(order); i++ {
		if rank[order[i]] < rank[order[i-1]] {
			t.Fatalf("tile %d (%s) after %s: problems must come first: %v", i, order[i], order[i-1], order)
		}
	}
	if order[0] != "status--offline" || order[len(order)-1] != "status--available" {
		t.Errorf("order %v", order)
	}
	head := hubtest.TextOf(t, ctx, ".wall-top", "Available")
	for _, want := range []string{"Imaging servers", "Offline", "Connection error", "No imaging server", "Connected to the hub"} {
		if !strings.Contains(head, want) {
			t.Errorf("wall header lacks %q: %s", want, head)
		}
	}
	tile := hubtest.TextOf(t, ctx, ".tile.status--connection-error", "Connection error")
	// The cause in words (the hub's raw text is only a tooltip).
	if !strings.Contains(tile, "The package server's imaging API (tcp://127.0.0.1:1) refuses connections.") || strings.Contains(tile, "dial tcp") || !strings.Contains(tile, "% used") {
		t.Errorf("connection-error tile: %q", tile)
	}
	if dark := hubtest.Eval[string](t, ctx, `getComputedStyle(document.body).backgroundColor`); dark != "rgb(11, 15, 20)" {
		t.Errorf("the wall is not dark by default: body %s", dark)
	}
	// Keyboard: Tab goes through the header's controls, then the tiles' links.
	var focus []string
	for range 8 {
		hubtest.Do(t, ctx, chromedp.KeyEvent("\t"))
		focus = append(focus, hubtest.Eval[string](t, ctx, `(() => { const a = document.activeElement; return a.tagName + (a.closest(".tile") ? " tile" : ""); })()`))
	}
	if !slices.Contains(focus, "A tile") || !slices.Contains(focus, "BUTTON") {
		t.Errorf("Tab focus went through %v: want the buttons and the tiles", focus)
	}
	hubtest.Screenshot(t, ctx, "wall-60-1920x1080")

	// A subtree through the URL: Region 1 and its sites only.
	hubtest.Navigate(t, ctx, w.Hub.URL+"/wall?under=UUID1")
	hubtest.WaitJS(t, ctx, "the subtree", `document.querySelectorAll(".tile").length === 6`)
	hubtest.TextOf(t, ctx, ".wall-filter", "6 of 60 entities")
	full.Close() // one browser at a time: a loaded machine has little to spare

	// The same wall on a 4K screen: larger text, still one screen.
	b4k := browserAt(t, 3840, 2160)
	ctx4k := b4k.Ctx
	hubtest.Navigate(t, ctx4k, w.Hub.URL+"/wall")
	wallReady(t, ctx4k, wallEntities)
	fitsOnScreen(t, ctx4k, "3840x2160")
	if fs := hubtest.Eval[string](t, ctx4k, `getComputedStyle(document.querySelector(".wall")).fontSize`); fs != "32px" && !strings.HasPrefix(fs, "31.") {
		t.Errorf("4K wall font %s, want about 32px", fs)
	}
	hubtest.Screenshot(t, ctx4k, "wall-60-3840x2160")
	b4k.Close()

	// A phone: pages rotate instead of scrolling.
	phone := hubtest.NewBrowser(t, 360, 740)
	ctxPhone := phone.Ctx
	hubtest.Do(t, ctxPhone, chromedp.EmulateViewport(360, 740, chromedp.EmulateScale(2)))
	hubtest.Navigate(t, ctxPhone, w.Hub.URL+"/wall?rotate=3")
	hubtest.WaitJS(t, ctxPhone, "a first page of tiles", `document.querySelectorAll(".tile").length > 0`)
	// The page count can move while the first figures arrive (tiles grow
	// or shrink with their content): what matters is that there are
	// several and that pages turn.
	first := hubtest.TextMatching(t, ctxPhone, ".wall-page", regexp.MustCompile(`Page \d+ of ([2-9]|\d\d)`))
	fitsOnScreen(t, ctxPhone, "360x740")
	hubtest.Screenshot(t, ctxPhone, "wall-60-360")
	hubtest.WaitJS(t, ctxPhone, "the next page", `(() => { const e = document.querySelector(".wall-page"); return !!e && e.innerText !== `+hubtest.JSString(first)+` && /Page \d+ of [2-9]/.test(e.innerText); })()`)
	next := hubtest.TextOf(t, ctxPhone, ".wall-page", "Page ")
	t.Logf("phone: %s, then %s", first, next)
}

func TestWallShowsAStatusChangeLive(t *testing.T) {
	w := wallSetup(t)
	ctx := browserAt(t, 1920, 1080).Ctx
	hubtest.Navigate(t, ctx, w.Hub.URL+"/wall")
	wallReady(t, ctx, wallEntities)
	tile := `document.querySelector('#tile-UUID12').closest('.tile')`
	hubtest.WaitJS(t, ctx, "Site 12 offline", tile+`.classList.contains('status--offline')`)
	hubtest.Eval[bool](t, ctx, `window.__noReload = true`)
	// Note whether the tile is ever highlighted while available (the
	// highlight lasts a few seconds: a busy machine may look too late).
	hubtest.Eval[bool](t, ctx, `(() => {
		window.__highlighted = false;
		const seen = () => {
			const e = document.querySelector('#tile-UUID12');
			const t = e && e.closest('.tile');
			if (t && t.classList.contains('tile--changed') && t.classList.contains('status--available')) window.__highlighted = true;
		};
		new MutationObserver(seen).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ["class"]});
		return true;
	})()`)

	// Its agent starts: the tile turns Available, stands out, and the change
	// is announced to assistive technology, with no one touching the page.
	w.Agent(t, "UUID12")
	hubtest.WaitJS(t, ctx, "Site 12 available", tile+`.classList.contains('status--available')`)
	if !hubtest.Eval[bool](t, ctx, `window.__highlighted`) {
		t.Error("the changed tile is not highlighted")
	}
	hubtest.TextOf(t, ctx, ".wall [aria-live=polite]", "Site 12 is now Available")
	hubtest.Screenshot(t, ctx, "wall-change-1920x1080")
	hubtest.WaitJS(t, ctx, "the highlight to end", `!`+tile+`.classList.contains('tile--changed')`)
	if !hubtest.Eval[bool](t, ctx, `window.__noReload === true`) {
		t.Fatal("the wall reloaded: changes must be pushed")
	}
}

func TestInstallableInChromium(t *testing.T) {
	w := wallSetup(t)
	ctx := hubtest.NewBrowser(t, 1280, 800).Ctx
	// Chromium does report errors for a page that is no app.
	hubtest.Navigate(t, ctx, w.Hub.URL+"/healthz")
	if res, err := chromedp.Call(ctx, page.GetInstallabilityErrors, cdp.Empty{}); err != nil || len(res.InstallabilityErrors) == 0 {
		t.Fatalf("a plain page should not be installable: %+v %v", res, err)
	}
	hubtest.Navigate(t, ctx, w.Hub.URL+"/")
	hubtest.TextOf(t, ctx, ".status-word", "Offline")
	hubtest.WaitJS(t, ctx, "the service worker to control the page", `navigator.serviceWorker.controller !== null`)
	m := hubtest.Eval[map[string]any](t, ctx, `fetch("/manifest.webmanifest").then(r => r.json())`)
	sizes := map[string]bool{}
	for _, ic := range m["icons"].([]any) {
		i := ic.(map[string]any)
		purpose, _ := i["purpose"].(string)
		if purpose == "" {
			purpose = "any"
		}
		sizes[fmt.Sprint(i["sizes"], " ", purpose)] = true
	}
	for _, want := range []string{"192x192 any", "512x512 any", "512x512 maskable"} {
		if !sizes[want] {
			t.Errorf("manifest icons %v lack %s", sizes, want)
		}
	}
	var errs []string
	hubtest.WaitFor(t, "Chromium to find the app installable", func() bool {
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		res, err := chromedp.Call(c, page.GetInstallabilityErrors, cdp.Empty{})
		if err != nil {
			errs = []string{err.Error()}
			return false
		}
		errs = errs[:0]
		for _, e := range res.InstallabilityErrors {
			var args []string
			for _, a := range e.ErrorArguments {
				args = append(args, a.Name+"="+a.Value)
			}
			errs = append(errs, e.ErrorID+" "+strings.Join(args, ","))
		}
		return len(errs) == 0
	})
	if len(errs) > 0 {
		t.Fatalf("installability errors: %v", errs)
	}
}

// offlineReady waits until the service worker has the whole app cached and
// the page has saved a snapshot.
func offlineReady(t *testing.T, ctx context.Context) {
	t.Helper()
	hubtest.WaitJS(t, ctx, "the service worker to control the page", `navigator.serviceWorker.controller !== null`)
	hubtest.WaitJS(t, ctx, "the app in the cache", `caches.keys().then(ks => Promise.all(ks.map(k => caches.open(k).then(c => c.match("/web/app.wasm"))))).then(rs => rs.some(r => r))`)
	hubtest.WaitJS(t, ctx, "a snapshot saved in local storage", `JSON.parse(localStorage.getItem("imaging-status.view") || "{}").entities.length === 60`)
}

func TestOfflineStaleThenLive(t *testing.T) {
	w := wallSetup(t)
	w.Agent(t, "UUID0")
	w.WaitStatus(t, "UUID1", "available", "")
	ctx := browserAt(t, 1280, 800).Ctx
	hubtest.Navigate(t, ctx, w.Hub.URL+"/wall")
	wallReady(t, ctx, wallEntities)
	offlineReady(t, ctx)

	// The hub goes away. Deep links still open, from the service worker's
	// cache, with the saved snapshot marked stale with its age.
	w.Hub.Kill(syscall.SIGTERM)
	if resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(w.Hub.URL + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("the hub still answers: %s", resp.Status)
	}
	// The notices say how old the saved snapshot is ("just now" under 2 s,
	// then "N s ago"; the page updates it every second): wait for an age.
	for _, path := range []string{"/entities/UUID1", "/?x=1", "/wall"} {
		hubtest.Navigate(t, ctx, w.Hub.URL+path)
		if path == "/wall" {
			hubtest.WaitJS(t, ctx, "the saved tiles", `document.querySelectorAll(".tile").length === 60`)
			hubtest.TextOf(t, ctx, ".wall-notice--stale", "Hub unreachable: last status seen")
			hubtest.TextMatching(t, ctx, ".wall-notice--stale", regexp.MustCompile(`seen (\d+ s|\d+ min) ago`))
			hubtest.TextOf(t, ctx, ".wall-top", "Reconnecting")
			hubtest.Screenshot(t, ctx, "wall-offline-stale-1280")
			continue
		}
		hubtest.TextOf(t, ctx, ".notice--stored", "Showing the last status this browser saw")
		hubtest.TextMatching(t, ctx, ".notice--stored", regexp.MustCompile(`saw, (\d+ s|\d+ min) ago`))
		hubtest.TextOf(t, ctx, ".entity-title", "General")
		if path == "/entities/UUID1" {
			hubtest.TextOf(t, ctx, ".entity-title", "Region 1")
			hubtest.TextOf(t, ctx, ".status-word", "Available")
			hubtest.Screenshot(t, ctx, "dashboard-offline-stale-1280")
		}
	}

	// The hub comes back on the same address: the wall goes live by itself.
	hubtest.Eval[bool](t, ctx, `window.__noReload = true`)
	w.RestartHub(t)
	hubtest.TextOf(t, ctx, ".wall-top", "Connected to the hub")
	hubtest.WaitJS(t, ctx, "the stale notice to go", `document.querySelector(".wall-notice--stale") === null && !document.querySelector(".wall").classList.contains("wall--stale")`)
	hubtest.WaitJS(t, ctx, "Region 1 available again", `document.querySelector('#tile-UUID1').closest('.tile').classList.contains('status--available')`)
	if !hubtest.Eval[bool](t, ctx, `window.__noReload === true`) {
		t.Fatal("the page reloaded to go live")
	}
	hubtest.Screenshot(t, ctx, "wall-live-again-1280")
}

func TestLanguageSwitchInChromium(t *testing.T) {
	w := wallSetup(t)
	w.Agent(t, "UUID0")
	w.WaitStatus(t, "UUID0", "available", "")
	ctx := browserAt(t, 1280, 900).Ctx
	ver := hubtest.Eval[string](t, ctx, `navigator.userAgent`)
	// A French-speaking browser.
	if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ver, AcceptLanguage: "fr-FR,fr"}); err != nil {
		t.Fatal(err)
	}
	hubtest.Navigate(t, ctx, w.Hub.URL+"/entities/UUID0")
	hubtest.TextOf(t, ctx, ".status-word", "Disponible")
	// The hub prerenders the status: wait for the app itself, live.
	hubtest.TextOf(t, ctx, ".conn", "Connecté au hub")
	page := hubtest.TextOf(t, ctx, "body", "Vous pouvez créer ou déployer une image.")
	for _, want := range []string{"État de l'imagerie", "Connecté au hub", "Espace disque", "Charge du serveur", "Statistiques de l'entité", "Écran mural"} {
		if !strings.Contains(page, want) {
			t.Errorf("French page lacks %q", want)
		}
	}
	if lang := hubtest.Eval[string](t, ctx, `document.documentElement.lang`); lang != "fr" {
		t.Errorf("html lang %q", lang)
	}
	hubtest.Screenshot(t, ctx, "dashboard-french-1280")

	// The switch: English at once, without a reload, and remembered.
	hubtest.Eval[bool](t, ctx, `window.__noReload = true`)
	hubtest.WaitApp(t, ctx)
	hubtest.Do(t, ctx, chromedp.Click(`button.btn--lang[lang="en"]`))
	hubtest.TextOf(t, ctx, ".status-word", "Available")
	if !hubtest.Eval[bool](t, ctx, `window.__noReload === true && document.documentElement.lang === "en"`) {
		t.Error("switching language reloaded the page or left html lang")
	}
	hubtest.Navigate(t, ctx, w.Hub.URL+"/wall")
	hubtest.TextOf(t, ctx, ".wall-top", "Imaging servers")
	hubtest.Navigate(t, ctx, w.Hub.URL+"/")
	hubtest.TextOf(t, ctx, ".status-word", "Available")
	// And back to French, on the wall this time.
	hubtest.Navigate(t, ctx, w.Hub.URL+"/wall")
	hubtest.TextOf(t, ctx, ".wall-top", "Imaging servers")
	hubtest.WaitApp(t, ctx) // the prerendered button is replaced when the app starts
	hubtest.Do(t, ctx, chromedp.Click(`button.btn--lang[lang="fr"]`))
	hubtest.TextOf(t, ctx, ".wall-top", "Serveurs d'imagerie")
	hubtest.TextOf(t, ctx, ".wall-top", "Disponible")
}

type axeViolation struct {
	ID, Impact, Help string
	Nodes            []struct{ Target []any }
}

// runAxe runs axe-core in the page and returns its serious and critical
// violations.
func runAxe(t *testing.T, ctx context.Context, src string) []axeViolation {
	t.Helper()
	hubtest.Eval[bool](t, ctx, src+"\n;true")
	raw := hubtest.Eval[string](t, ctx, `axe.run(document, { resultTypes: ["violations"] }).then(r => JSON.stringify({passes: r.passes.length, violations: r.violations}))`)
	var res struct {
		Passes     int
		Violations []axeViolation
	}
	if err := json.Unmarshal([]byte(raw), &res); err != nil {
		t.Fatal(err)
	}
	all := res.Violations
	t.Logf("axe: %d rules passed, %d violated", res.Passes, len(all))
	var bad []axeViolation
	for _, v := range all {
		if v.Impact == "serious" || v.Impact == "critical" {
			bad = append(bad, v)
		} else {
			t.Logf("axe (%s, allowed): %s: %s", v.Impact, v.ID, v.Help)
		}
	}
	return bad
}

func TestAxeOnDashboardAndWall(t *testing.T) {
	src := hubtest.AxeSource(t)
	w := wallSetup(t)
	w.Agent(t, "UUID0")
	w.Agent(t, "UUID4", "--probe", "imaging-api=tcp://127.0.0.1:1")
	w.WaitStatus(t, "UUID4", "connection_error", "")
	ctx := browserAt(t, 1920, 1080).Ctx
	for _, c := range []struct{ path, ready string }{
		{"/", `document.querySelector(".status-word").innerText.includes("Available")`},
		{"/entities/UUID4", `document.querySelector(".status-word").innerText.includes("Connection error")`},
		{"/wall", `document.querySelectorAll(".tile").length === 60 && document.querySelector(".wall-top").innerText.includes("Connected")`},
	} {
		hubtest.Navigate(t, ctx, w.Hub.URL+c.path)
		hubtest.WaitJS(t, ctx, c.path+" rendered", `!document.querySelector("#app-wasm-loader") && `+c.ready)
		hubtest.Settled(t, ctx)
		for _, v := range runAxe(t, ctx, src) {
			var where []string
			for _, n := range v.Nodes {
				where = append(where, fmt.Sprint(n.Target))
			}
			t.Errorf("%s: axe %s (%s): %s at %v", c.path, v.ID, v.Impact, v.Help, where)
		}
	}
	// The check itself works: an image without a text alternative is caught.
	hubtest.Eval[bool](t, ctx, `document.querySelector("main").insertAdjacentHTML("beforeend", '<img src="/web/icon-192.png">'), true`)
	found := false
	for _, v := range runAxe(t, ctx, src) {
		found = found || v.ID == "image-alt"
	}
	if !found {
		t.Error("axe did not report an image without alt: the check is not running")
	}
}
