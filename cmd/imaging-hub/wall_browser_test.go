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
	"os"
	"path/filepath"
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

	"imagingstatus/agent/repo/repotest"
	"imagingstatus/server/config"
)

// wallEntities is the size of the wall tests' tree.
const wallEntities = 60

// wallEnv is a hub with 60 entities: General (linked) with nine regions
// below it and 49 sites below those; every fourth has a server of its own,
// and "Partners" is a root without any. Only some agents run, so every
// status is on show.
type wallEnv struct {
	env
	cfgPath, addr string
}

func wallSetup(t *testing.T) *wallEnv {
	t.Helper()
	w := &wallEnv{env: env{dir: t.TempDir(), tokens: map[string]string{}}}
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
			tok, hash, err := config.GenerateToken()
			if err != nil {
				t.Fatal(err)
			}
			w.tokens[id] = tok
			if err := os.WriteFile(filepath.Join(w.dir, id+".token"), []byte(tok+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			e += `,"server":{"name":"imaging-` + strings.ToLower(id) + `","token_sha256":"` + hash + `"}`
		}
		ents = append(ents, e+"}")
	}
	ents = append(ents, `{"id":"UUID99","name":"Partners"}`)
	cfg := `{"listen":"127.0.0.1:0","plain_http":true,"interval":"` + interval.String() + `","missed_pings":3,"entities":[` + strings.Join(ents, ",\n") + `]}`
	w.cfgPath = filepath.Join(w.dir, "hub.json")
	if err := os.WriteFile(w.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	w.repo = filepath.Join(w.dir, "imaging")
	if _, err := repotest.Generate(w.repo, repotest.Options{Complete: 2, Clients: 2, ClientsWithImages: 1, WithUUIDCache: true}); err != nil {
		t.Fatal(err)
	}
	w.startHub(t, "")
	return w
}

var listenRE = regexp.MustCompile(`msg="hub listening" addr=(\S+)`)

// startHub starts the hub binary; listen "" takes a free port, and a later
// call with w.addr restarts it where the pages and agents expect it.
func (w *wallEnv) startHub(t *testing.T, listen string) {
	t.Helper()
	args := []string{"serve", "--config", w.cfgPath}
	if listen != "" {
		args = append(args, "--listen", listen)
	}
	w.hub = startProc(t, "imaging-hub", args...)
	waitUntil(t, 10*time.Second, "the hub to listen", func() bool { return listenRE.MatchString(w.hub.output()) })
	w.addr = listenRE.FindStringSubmatch(w.hub.output())[1]
	w.hubURL = "http://" + w.addr
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %.80s…: %v", js, err)
	}
	return v
}

// waitJS waits until the expression is true.
func waitJS(t *testing.T, ctx context.Context, what, js string, within time.Duration) {
	t.Helper()
	waitUntil(t, within, what, func() bool {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](`(() => { try { return !!(`+js+`); } catch (e) { return false; } })()`))
		return err == nil && ok
	})
}

func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate %s: %v", url, err)
	}
}

// wallReady waits for the wall to show n tiles from the hub.
func wallReady(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	waitJS(t, ctx, fmt.Sprintf("%d tiles on the wall", n), `document.querySelectorAll(".tile").length === `+strconv.Itoa(n), 30*time.Second)
	textOf(t, ctx, ".wall-top", "Connected", 10*time.Second)
}

type box struct{ Top, Left, Bottom, Right, W, H float64 }

// fitsOnScreen checks that the page does not scroll and every tile lies
// inside the viewport with its name, status and disk line unclipped.
func fitsOnScreen(t *testing.T, ctx context.Context, label string) {
	t.Helper()
	type fit struct {
		ScrollW, ScrollH, InnerW, InnerH float64
		Tiles                            []box
		Clipped                          []string
	}
	f := eval[fit](t, ctx, `(() => {
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
	if f.ScrollW > f.InnerW || f.ScrollH > f.InnerH {
		t.Errorf("%s: the page scrolls: content %vx%v in a %vx%v window", label, f.ScrollW, f.ScrollH, f.InnerW, f.InnerH)
	}
	for i, b := range f.Tiles {
		if b.Top < 0 || b.Left < 0 || b.Bottom > f.InnerH+0.5 || b.Right > f.InnerW+0.5 {
			t.Errorf("%s: tile %d at %+v is outside the %vx%v window", label, i, b, f.InnerW, f.InnerH)
			break
		}
	}
	if len(f.Clipped) > 0 {
		t.Errorf("%s: clipped tile lines: %v", label, f.Clipped)
	}
	if len(f.Tiles) > 0 {
		t.Logf("%s: %d tiles of %.0fx%.0f px", label, len(f.Tiles), f.Tiles[0].W, f.Tiles[0].H)
	}
}

func TestWallFits60EntitiesInChromium(t *testing.T) {
	w := wallSetup(t)
	w.agent(t, "UUID0")
	w.agent(t, "UUID8")
	w.agent(t, "UUID4", "--probe", "imaging-api=tcp://127.0.0.1:1")
	w.waitStatus(t, "UUID4", "connection_error", "")
	w.waitStatus(t, "UUID8", "available", "")

	ctx := browser(t, 1920, 1080)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1920, 1080)); err != nil {
		t.Fatal(err)
	}
	navigate(t, ctx, w.hubURL+"/wall")
	wallReady(t, ctx, wallEntities)
	waitJS(t, ctx, "UUID8's tile available", `document.querySelector('#tile-UUID8').closest('.tile').classList.contains('status--available')`, 10*time.Second)
	fitsOnScreen(t, ctx, "1920x1080")

	// Problems first: offline and connection errors lead, available last.
	order := eval[[]string](t, ctx, `[...document.querySelectorAll(".tile")].map(e => [...e.classList].find(c => c.startsWith("status--")))`)
	rank := map[string]int{"status--offline": 0, "status--connection-error": 1, "status--unknown": 2, "status--not-linked": 3, "status--available": 4}
	for i := 1; i < len(order); i++ {
		if rank[order[i]] < rank[order[i-1]] {
			t.Fatalf("tile %d (%s) after %s: problems must come first: %v", i, order[i], order[i-1], order)
		}
	}
	if order[0] != "status--offline" || order[len(order)-1] != "status--available" {
		t.Errorf("order %v", order)
	}
	head := textOf(t, ctx, ".wall-top", "Available", time.Second)
	for _, want := range []string{"Imaging servers", "Offline", "Connection error", "No imaging server", "Connected to the hub"} {
		if !strings.Contains(head, want) {
			t.Errorf("wall header lacks %q: %s", want, head)
		}
	}
	tile := textOf(t, ctx, ".tile.status--connection-error", "Connection error", time.Second)
	if !strings.Contains(tile, "probe imaging-api") || !strings.Contains(tile, "% used") {
		t.Errorf("connection-error tile: %q", tile)
	}
	if dark := eval[string](t, ctx, `getComputedStyle(document.body).backgroundColor`); dark != "rgb(11, 15, 20)" {
		t.Errorf("the wall is not dark by default: body %s", dark)
	}
	// Keyboard: Tab goes through the header's controls, then the tiles' links.
	var focus []string
	for range 8 {
		if err := chromedp.Do(ctx, chromedp.KeyEvent("\t")); err != nil {
			t.Fatal(err)
		}
		focus = append(focus, eval[string](t, ctx, `(() => { const a = document.activeElement; return a.tagName + (a.closest(".tile") ? " tile" : ""); })()`))
	}
	if !slices.Contains(focus, "A tile") || !slices.Contains(focus, "BUTTON") {
		t.Errorf("Tab focus went through %v: want the buttons and the tiles", focus)
	}
	screenshot(t, ctx, "wall-60-1920x1080")

	// The same wall on a 4K screen: larger text, still one screen.
	ctx4k := browser(t, 3840, 2160)
	if err := chromedp.Do(ctx4k, chromedp.EmulateViewport(3840, 2160)); err != nil {
		t.Fatal(err)
	}
	navigate(t, ctx4k, w.hubURL+"/wall")
	wallReady(t, ctx4k, wallEntities)
	fitsOnScreen(t, ctx4k, "3840x2160")
	if fs := eval[string](t, ctx4k, `getComputedStyle(document.querySelector(".wall")).fontSize`); fs != "32px" && !strings.HasPrefix(fs, "31.") {
		t.Errorf("4K wall font %s, want about 32px", fs)
	}
	screenshot(t, ctx4k, "wall-60-3840x2160")

	// A phone: pages rotate instead of scrolling.
	ctxPhone := browser(t, 360, 740)
	if err := chromedp.Do(ctxPhone, chromedp.EmulateViewport(360, 740, chromedp.EmulateScale(2))); err != nil {
		t.Fatal(err)
	}
	navigate(t, ctxPhone, w.hubURL+"/wall?rotate=3")
	waitJS(t, ctxPhone, "a first page of tiles", `document.querySelectorAll(".tile").length > 0`, 30*time.Second)
	first := textOf(t, ctxPhone, ".wall-page", "Page ", 10*time.Second)
	fitsOnScreen(t, ctxPhone, "360x740")
	screenshot(t, ctxPhone, "wall-60-360")
	m := regexp.MustCompile(`Page (\d+) of (\d+)`).FindStringSubmatch(first)
	if m == nil || m[2] == "1" {
		t.Fatalf("phone wall: %q, want several pages", first)
	}
	// The page count can move while the first figures arrive (tiles grow
	// or shrink with their content): what matters is that pages turn.
	var next string
	waitJS(t, ctxPhone, "the next page", `(() => { const e = document.querySelector(".wall-page"); return !!e && e.innerText !== `+jsString(first)+` && /Page \d+ of [2-9]/.test(e.innerText); })()`, 15*time.Second)
	next = textOf(t, ctxPhone, ".wall-page", "Page ", time.Second)
	t.Logf("phone: %s, then %s", first, next)

	// A subtree through the URL: Region 1 and its sites only.
	navigate(t, ctx, w.hubURL+"/wall?under=UUID1")
	waitJS(t, ctx, "the subtree", `document.querySelectorAll(".tile").length === 6`, 30*time.Second)
	textOf(t, ctx, ".wall-filter", "6 of 60 entities", 5*time.Second)
}

func TestWallShowsAStatusChangeLive(t *testing.T) {
	w := wallSetup(t)
	ctx := browser(t, 1920, 1080)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1920, 1080)); err != nil {
		t.Fatal(err)
	}
	navigate(t, ctx, w.hubURL+"/wall")
	wallReady(t, ctx, wallEntities)
	tile := `document.querySelector('#tile-UUID12').closest('.tile')`
	waitJS(t, ctx, "Site 12 offline", tile+`.classList.contains('status--offline')`, 10*time.Second)
	eval[bool](t, ctx, `window.__noReload = true`)

	// Its agent starts: the tile turns Available, stands out, and the change
	// is announced to assistive technology, with no one touching the page.
	w.agent(t, "UUID12")
	waitJS(t, ctx, "Site 12 available", tile+`.classList.contains('status--available')`, 15*time.Second)
	if !eval[bool](t, ctx, tile+`.classList.contains('tile--changed')`) {
		t.Error("the changed tile is not highlighted")
	}
	textOf(t, ctx, ".wall [aria-live=polite]", "Site 12 is now Available", 5*time.Second)
	screenshot(t, ctx, "wall-change-1920x1080")
	waitJS(t, ctx, "the highlight to end", `!`+tile+`.classList.contains('tile--changed')`, 20*time.Second)
	if !eval[bool](t, ctx, `window.__noReload === true`) {
		t.Fatal("the wall reloaded: changes must be pushed")
	}
}

func TestInstallableInChromium(t *testing.T) {
	w := wallSetup(t)
	ctx := browser(t, 1280, 800)
	// Chromium does report errors for a page that is no app.
	navigate(t, ctx, w.hubURL+"/healthz")
	if res, err := chromedp.Call(ctx, page.GetInstallabilityErrors, cdp.Empty{}); err != nil || len(res.InstallabilityErrors) == 0 {
		t.Fatalf("a plain page should not be installable: %+v %v", res, err)
	}
	navigate(t, ctx, w.hubURL+"/")
	textOf(t, ctx, ".status-word", "Offline", 30*time.Second)
	waitJS(t, ctx, "the service worker to control the page", `navigator.serviceWorker.controller !== null`, 30*time.Second)
	m := eval[map[string]any](t, ctx, `fetch("/manifest.webmanifest").then(r => r.json())`)
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
	waitUntil(t, 30*time.Second, "Chromium to find the app installable", func() bool {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
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
	waitJS(t, ctx, "the service worker to control the page", `navigator.serviceWorker.controller !== null`, 30*time.Second)
	waitJS(t, ctx, "the app in the cache", `caches.keys().then(ks => Promise.all(ks.map(k => caches.open(k).then(c => c.match("/web/app.wasm"))))).then(rs => rs.some(r => r))`, 30*time.Second)
	waitJS(t, ctx, "a snapshot saved in local storage", `JSON.parse(localStorage.getItem("imaging-status.view") || "{}").entities.length === 60`, 40*time.Second)
}

func TestOfflineStaleThenLive(t *testing.T) {
	w := wallSetup(t)
	w.agent(t, "UUID0")
	w.waitStatus(t, "UUID1", "available", "")
	ctx := browser(t, 1280, 800)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}
	navigate(t, ctx, w.hubURL+"/wall")
	wallReady(t, ctx, wallEntities)
	offlineReady(t, ctx)

	// The hub goes away. Deep links still open, from the service worker's
	// cache, with the saved snapshot marked stale with its age.
	w.hub.kill(syscall.SIGTERM)
	if resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(w.hubURL + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("the hub still answers: %s", resp.Status)
	}
	time.Sleep(2 * time.Second) // some age to show
	for _, path := range []string{"/entities/UUID1", "/?x=1", "/wall"} {
		navigate(t, ctx, w.hubURL+path)
		if path == "/wall" {
			waitJS(t, ctx, "the saved tiles", `document.querySelectorAll(".tile").length === 60`, 30*time.Second)
			stale := textOf(t, ctx, ".wall-notice--stale", "Hub unreachable: last status seen", 10*time.Second)
			if !regexp.MustCompile(`seen (\d+ s|\d+ min) ago`).MatchString(stale) {
				t.Errorf("wall stale notice without an age: %q", stale)
			}
			textOf(t, ctx, ".wall-top", "Reconnecting", 10*time.Second)
			screenshot(t, ctx, "wall-offline-stale-1280")
			continue
		}
		notice := textOf(t, ctx, ".notice--stored", "Showing the last status this browser saw", 30*time.Second)
		if !regexp.MustCompile(`saw, (\d+ s|\d+ min) ago`).MatchString(notice) {
			t.Errorf("%s: stale notice without an age: %q", path, notice)
		}
		textOf(t, ctx, ".entity-title", "General", 5*time.Second)
		if path == "/entities/UUID1" {
			textOf(t, ctx, ".entity-title", "Region 1", 5*time.Second)
			textOf(t, ctx, ".status-word", "Available", 5*time.Second)
			screenshot(t, ctx, "dashboard-offline-stale-1280")
		}
	}

	// The hub comes back on the same address: the wall goes live by itself.
	eval[bool](t, ctx, `window.__noReload = true`)
	w.startHub(t, w.addr)
	textOf(t, ctx, ".wall-top", "Connected to the hub", 40*time.Second)
	waitJS(t, ctx, "the stale notice to go", `document.querySelector(".wall-notice--stale") === null && !document.querySelector(".wall").classList.contains("wall--stale")`, 10*time.Second)
	waitJS(t, ctx, "Region 1 available again", `document.querySelector('#tile-UUID1').closest('.tile').classList.contains('status--available')`, 20*time.Second)
	if !eval[bool](t, ctx, `window.__noReload === true`) {
		t.Fatal("the page reloaded to go live")
	}
	screenshot(t, ctx, "wall-live-again-1280")
}

func TestLanguageSwitchInChromium(t *testing.T) {
	w := wallSetup(t)
	w.agent(t, "UUID0")
	w.waitStatus(t, "UUID0", "available", "")
	ctx := browser(t, 1280, 900)
	ver, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.userAgent`))
	if err != nil {
		t.Fatal(err)
	}
	// A French-speaking browser.
	if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ver, AcceptLanguage: "fr-FR,fr"}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	navigate(t, ctx, w.hubURL+"/entities/UUID0")
	textOf(t, ctx, ".status-word", "Disponible", 30*time.Second)
	page := textOf(t, ctx, "body", "Vous pouvez créer ou déployer une image.", 5*time.Second)
	for _, want := range []string{"État de l'imagerie", "Connecté au hub", "Espace disque", "Charge du serveur", "Statistiques de l'entité", "Écran mural"} {
		if !strings.Contains(page, want) {
			t.Errorf("French page lacks %q", want)
		}
	}
	if lang := eval[string](t, ctx, `document.documentElement.lang`); lang != "fr" {
		t.Errorf("html lang %q", lang)
	}
	screenshot(t, ctx, "dashboard-french-1280")

	// The switch: English at once, without a reload, and remembered.
	eval[bool](t, ctx, `window.__noReload = true`)
	if err := chromedp.Do(ctx, chromedp.Click(`button.btn--lang[lang="en"]`)); err != nil {
		t.Fatal(err)
	}
	textOf(t, ctx, ".status-word", "Available", 5*time.Second)
	if !eval[bool](t, ctx, `window.__noReload === true && document.documentElement.lang === "en"`) {
		t.Error("switching language reloaded the page or left html lang")
	}
	navigate(t, ctx, w.hubURL+"/wall")
	textOf(t, ctx, ".wall-top", "Imaging servers", 30*time.Second)
	navigate(t, ctx, w.hubURL+"/")
	textOf(t, ctx, ".status-word", "Available", 30*time.Second)
	// And back to French, on the wall this time.
	navigate(t, ctx, w.hubURL+"/wall")
	textOf(t, ctx, ".wall-top", "Imaging servers", 30*time.Second)
	if err := chromedp.Do(ctx, chromedp.Click(`button.btn--lang[lang="fr"]`)); err != nil {
		t.Fatal(err)
	}
	textOf(t, ctx, ".wall-top", "Serveurs d'imagerie", 5*time.Second)
	textOf(t, ctx, ".wall-top", "Disponible", 5*time.Second)
}

// axeSource is axe-core from npm (npm ci --prefix web/e2e).
func axeSource(t *testing.T) string {
	t.Helper()
	p := filepath.Join("..", "..", "web", "e2e", "node_modules", "axe-core", "axe.min.js")
	b, err := os.ReadFile(p)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("axe-core is required in CI: %v (run npm ci --prefix web/e2e)", err)
		}
		t.Skipf("no axe-core: run npm ci --prefix web/e2e (%v)", err)
	}
	return string(b)
}

type axeViolation struct {
	ID, Impact, Help string
	Nodes            []struct{ Target []any }
}

// runAxe runs axe-core in the page and returns its serious and critical
// violations.
func runAxe(t *testing.T, ctx context.Context, src string) []axeViolation {
	t.Helper()
	eval[bool](t, ctx, src+"\n;true")
	raw := eval[string](t, ctx, `axe.run(document, { resultTypes: ["violations"] }).then(r => JSON.stringify({passes: r.passes.length, violations: r.violations}))`)
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
	src := axeSource(t)
	w := wallSetup(t)
	w.agent(t, "UUID0")
	w.agent(t, "UUID4", "--probe", "imaging-api=tcp://127.0.0.1:1")
	w.waitStatus(t, "UUID4", "connection_error", "")
	ctx := browser(t, 1920, 1080)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1920, 1080)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, ready string }{
		{"/", ".status-word"},
		{"/entities/UUID4", ".status-word"},
		{"/wall", ".tile"},
	} {
		navigate(t, ctx, w.hubURL+c.path)
		waitJS(t, ctx, c.path+" rendered", `document.querySelector(`+jsString(c.ready)+`) !== null && !document.querySelector("#app-wasm-loader")`, 30*time.Second)
		time.Sleep(500 * time.Millisecond) // let the first frames settle
		for _, v := range runAxe(t, ctx, src) {
			var where []string
			for _, n := range v.Nodes {
				where = append(where, fmt.Sprint(n.Target))
			}
			t.Errorf("%s: axe %s (%s): %s at %v", c.path, v.ID, v.Impact, v.Help, where)
		}
	}
	// The check itself works: an image without a text alternative is caught.
	eval[bool](t, ctx, `document.querySelector("main").insertAdjacentHTML("beforeend", '<img src="/web/icon-192.png">'), true`)
	found := false
	for _, v := range runAxe(t, ctx, src) {
		found = found || v.ID == "image-alt"
	}
	if !found {
		t.Error("axe did not report an image without alt: the check is not running")
	}
}
