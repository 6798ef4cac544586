package main_test

// Browser tests of the phone's overview, the tab title's problem count,
// the filter box over the entity tree, the disk figures as df computes
// them, and "served by" on the wall's inherited tiles, in English and
// French.

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	ui "imagingstatus/app"
	"imagingstatus/server/hubtest"
	"imagingstatus/wire"
)

// overviewSetup: General available (Public inherits its server), Private in
// connection error, Branch offline, Partners not linked.
func overviewSetup(t *testing.T) *hubtest.Env {
	t.Helper()
	e := setup(t)
	e.Agent(t, "UUID0")
	e.Agent(t, "UUID2", "--probe", "imaging-api=tcp://127.0.0.1:1")
	e.WaitStatus(t, "UUID0", wire.StatusAvailable, "")
	e.WaitStatus(t, "UUID2", wire.StatusConnectionError, "")
	return e
}

// french makes the browser ask for French pages.
func french(t *testing.T, ctx context.Context) {
	t.Helper()
	ua := hubtest.Eval[string](t, ctx, `navigator.userAgent`)
	if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua, AcceptLanguage: "fr-FR,fr"}); err != nil {
		t.Fatal(err)
	}
}

func TestPhoneOverviewAndTitleInChromium(t *testing.T) {
	e := overviewSetup(t)
	for _, c := range []struct {
		lang, title, available, connErr, offline, notLinked string
	}{
		{"en", "(2) Imaging status", "Available", "Connection error", "Offline", "No imaging server"},
		{"fr", "(2) État de l'imagerie", "Disponible", "Erreur de connexion", "Hors ligne", "Aucun serveur d'imagerie"},
	} {
		t.Run(c.lang, func(t *testing.T) {
			b := hubtest.NewBrowser(t, 390, 844)
			ctx := b.Ctx
			hubtest.Do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
			if c.lang == "fr" {
				french(t, ctx)
			}
			hubtest.Navigate(t, ctx, e.Hub.URL+"/entities/UUID1")
			hubtest.TextOf(t, ctx, ".status-word", c.available)
			// The tab says how many entities have a problem.
			hubtest.WaitJS(t, ctx, "the title "+c.title, `document.title === `+hubtest.JSString(c.title))

			// The list: every entity with its status, problems first.
			hubtest.WaitJS(t, ctx, "five entities in the list", `document.querySelectorAll(".overview li").length === 5`)
			rows := hubtest.Eval[[]string](t, ctx, `[...document.querySelectorAll(".overview li")].map(li => li.innerText.replace(/\s+/g, " ").trim())`)
			want := []string{
				"Branch " + c.offline,
				"Private " + c.connErr,
				"Partners " + c.notLinked,
			}
			for i, w := range want {
				if !strings.HasSuffix(rows[i], w) {
					t.Errorf("list row %d is %q, want %q (problems first): %q", i, rows[i], w, rows)
				}
			}
			for _, r := range rows[3:] {
				if !strings.HasSuffix(r, c.available) {
					t.Errorf("available entities come last: %q", rows)
				}
			}
			shown := hubtest.Eval[map[string]bool](t, ctx, `(() => {
				const list = document.querySelector(".overview"), panel = document.querySelector(".entity");
				const l = list.getBoundingClientRect(), p = panel.getBoundingClientRect();
				return { list: l.height > 0, tree: document.querySelector(".tree").getBoundingClientRect().height > 0,
					below: p.top >= l.bottom, current: document.querySelector('.overview a[aria-current="page"]').innerText.includes("Public"),
					sideways: document.documentElement.scrollWidth > innerWidth + 1 };
			})()`)
			if !shown["list"] || shown["tree"] || !shown["below"] || !shown["current"] || shown["sideways"] {
				t.Errorf("phone layout: %v (want the list shown, the tree hidden, the selected entity below, Public marked current, no sideways scroll)", shown)
			}
			hubtest.Screenshot(t, ctx, "dashboard-phone-390-"+c.lang)
			for _, v := range runAxe(t, ctx, hubtest.AxeSource(t)) {
				t.Errorf("phone view: axe %s (%s): %s", v.ID, v.Impact, v.Help)
			}

			// A tap on a problem opens it below the list.
			hubtest.WaitApp(t, ctx)
			hubtest.Do(t, ctx, chromedp.Click(`.overview a[href="/entities/UUID2"]`))
			hubtest.TextOf(t, ctx, ".status-word", c.connErr)
			hubtest.TextOf(t, ctx, ".entity-title", "Private")
		})
	}
}

func TestEntityFilterInChromium(t *testing.T) {
	e := overviewSetup(t)
	for _, c := range []struct{ lang, count, none, conn string }{
		{"en", "1 of 5 entities", "No entity matches “zzz”.", "Connected to the hub"},
		{"fr", "1 entités sur 5", "Aucune entité ne correspond à « zzz ».", "Connecté au hub"},
	} {
		t.Run(c.lang, func(t *testing.T) {
			ctx := hubtest.NewBrowser(t, 1280, 800).Ctx
			if c.lang == "fr" {
				french(t, ctx)
			}
			hubtest.Navigate(t, ctx, e.Hub.URL+"/")
			// The hub prerenders the page: type once the app runs, live.
			hubtest.TextOf(t, ctx, ".conn", c.conn)
			hubtest.WaitJS(t, ctx, "the tree", `document.querySelectorAll(".tree li").length === 5`)
			hubtest.Do(t, ctx, chromedp.SendKeys("#entity-filter", "PRIV"))
			hubtest.WaitJS(t, ctx, "one entity left", `document.querySelectorAll(".tree li").length === 1`)
			if got := hubtest.TextOf(t, ctx, ".tree", "Private"); strings.Contains(got, "General") {
				t.Errorf("filtered tree: %q", got)
			}
			hubtest.TextOf(t, ctx, ".picker-count", c.count)
			hubtest.Screenshot(t, ctx, "dashboard-filter-1280-"+c.lang)
			hubtest.Eval[bool](t, ctx, `(() => { const i = document.querySelector("#entity-filter"); i.value = "zzz"; i.dispatchEvent(new Event("input", {bubbles: true})); return true; })()`)
			hubtest.TextOf(t, ctx, ".picker-none", c.none)
			hubtest.WaitJS(t, ctx, "an empty tree", `document.querySelectorAll(".tree li").length === 0`)
		})
	}
}

// The disk card's percentage is df's, computed here from the REST figures
// the page shows; the reserve is shown when there is one.
func TestDiskFiguresAsDfInChromium(t *testing.T) {
	e := overviewSetup(t)
	v := e.Entity(t, "UUID0")
	if len(v.Partitions) == 0 {
		t.Fatal("General reports no partition")
	}
	ctx := hubtest.NewBrowser(t, 1280, 900).Ctx
	hubtest.Navigate(t, ctx, e.Hub.URL+"/entities/UUID0")
	hubtest.TextOf(t, ctx, ".disks", "Used")
	lines := hubtest.Eval[[]string](t, ctx, `[...document.querySelectorAll(".disk")].map(d => d.innerText.replace(/\s+/g, " "))`)
	text := strings.Join(lines, "\n")
	for _, p := range v.Partitions {
		pct := ui.DiskPercent(p)
		want := fmt.Sprintf("%s (%d %%)", ui.HumanBytes(p.Used), pct)
		found := false
		for _, l := range lines {
			if strings.Contains(l, p.Mountpoint) && strings.Contains(l, want) {
				found = true
				if reserved := p.Reserved(); reserved > 0 && !strings.Contains(l, "Reserved by the file system for root: "+ui.HumanBytes(reserved)) {
					t.Errorf("%s: reserve of %s not shown: %q", p.Mountpoint, ui.HumanBytes(reserved), l)
				}
			}
		}
		if !found {
			t.Errorf("%s: want %q (df: used / (used + free)) in:\n%s", p.Mountpoint, want, text)
		}
	}
	t.Logf("disk card:\n%s", text)
	hubtest.Screenshot(t, ctx, "dashboard-disk-1280")
}

// A tile that inherits its server says which one, in both languages.
func TestWallServedByInChromium(t *testing.T) {
	e := overviewSetup(t)
	ctx := browserAt(t, 1920, 1080).Ctx
	hubtest.Navigate(t, ctx, e.Hub.URL+"/wall")
	tile := `document.querySelector('#tile-UUID1').closest('.tile')`
	hubtest.WaitJS(t, ctx, "Public's tile", `!!document.querySelector('#tile-UUID1')`)
	hubtest.WaitJS(t, ctx, "served by on Public's tile", tile+`.innerText.includes("served by imaging-uuid0")`)
	if own := hubtest.Eval[string](t, ctx, `document.querySelector('#tile-UUID0').closest('.tile').innerText`); strings.Contains(own, "served by") {
		t.Errorf("General's own tile says served by: %q", own)
	}
	hubtest.WaitApp(t, ctx)
	hubtest.WaitJS(t, ctx, "the French switch", `(() => { const b = document.querySelector('button.btn--lang[lang="fr"]'); if (b) b.click(); return !!b; })()`)
	hubtest.WaitJS(t, ctx, "desservie par on Public's tile", tile+`.innerText.includes("desservie par imaging-uuid0")`)
	hubtest.WaitJS(t, ctx, "the wall's title", `document.title === "(2) Serveurs d'imagerie — État de l'imagerie"`)
	hubtest.Screenshot(t, ctx, "wall-served-by-1920-fr")
}
