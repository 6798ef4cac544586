package main_test

// Browser tests of the translated reasons (with the hub's text as a detail
// line), the alerts shown on the page, the offline and no-server pages
// saying things once, and the README's screenshots, in English and French.

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"imagingstatus/agent/repo/sample"
	"imagingstatus/server/hubtest"
	"imagingstatus/wire"
)

// alertSetup: General available (Public inherits its server), Private's
// package-server probe refused (Connection error), Branch offline, Partners
// not linked; alerts fire at once, to a webhook the test runs, so Private
// and Branch have an alert firing. dir is the installation's directory (""
// for the test's own).
func alertSetup(t *testing.T, dir string) *hubtest.Env {
	t.Helper()
	hook := newHookReceiver(t, http.StatusOK)
	e := hubtest.NewEnv(t, dir, interval)
	srv := func(entity string) string {
		return `,"server":{"name":"imaging-` + strings.ToLower(entity) + `","token_sha256":"` + e.NewToken(t, entity) + `"}`
	}
	e.WriteConfig(t, `{"listen":"127.0.0.1:0","plain_http":true,"interval":"`+interval.String()+`","missed_pings":3,
		"alerts":{"webhooks":[{"name":"ops","url":"`+hook.URL+`/hook","format":"json"}],
			"rules":{"offline_after":"0s","connection_error_after":"0s"}},
		"entities":[
		{"id":"UUID0","name":"General"`+srv("UUID0")+`},
		{"id":"UUID1","name":"Public","parent":"UUID0"},
		{"id":"UUID2","name":"Private","parent":"UUID0"`+srv("UUID2")+`},
		{"id":"UUID3","name":"Branch","parent":"UUID0"`+srv("UUID3")+`},
		{"id":"UUID9","name":"Partners"}]}`)
	e.GenerateRepo(t, sample.Options{Complete: 3, Legacy: 1, Invalid: 1, Clients: 3, ClientsWithImages: 2, WithUUIDCache: true})
	e.StartHub(t)
	e.Agent(t, "UUID0")
	e.Agent(t, "UUID2", "--probe", "package-server=tcp://127.0.0.1:1")
	e.WaitStatus(t, "UUID0", wire.StatusAvailable, "")
	e.WaitStatus(t, "UUID2", wire.StatusConnectionError, "")
	hubtest.WaitFor(t, "Private's alert", func() bool { return len(e.Entity(t, "UUID2").Alerts) > 0 })
	return e
}

func TestReasonsAndAlertsInChromium(t *testing.T) {
	e := alertSetup(t, "")
	for _, c := range []struct {
		lang, word, reason, detail, alert, notLinked, notLinkedDetail, offline, marker, conn string
	}{
		{"en", "Connection error",
			"The package server's imaging API (tcp://127.0.0.1:1) refuses connections.",
			"Details: probe package-server (tcp://127.0.0.1:1) failed:",
			`^Alert sent to the on-call team: Connection error since \d\d:\d\d \(\d+ s\), sent at \d\d:\d\d$`,
			"No imaging server is linked to this entity or to any of its parents.", "",
			"The imaging server's agent has not connected since the hub started: is it installed and running?",
			"Alert sent", "Connected to the hub"},
		{"fr", "Erreur de connexion",
			"L'API d'imagerie du serveur de paquets (tcp://127.0.0.1:1) refuse les connexions.",
			"Détails : probe package-server (tcp://127.0.0.1:1) failed:",
			`^Alerte envoyée à l'équipe d'astreinte : Erreur de connexion depuis \d\d:\d\d \(\d+ s\), envoyée à \d\d:\d\d$`,
			"Aucun serveur d'imagerie n'est lié à cette entité ni à ses parents.",
			"Détails : no imaging server is linked to this entity or to any of its parents",
			"L'agent du serveur d'imagerie ne s'est pas connecté depuis le démarrage du hub : est-il installé et lancé ?",
			"Alerte envoyée", "Connecté au hub"},
	} {
		t.Run(c.lang, func(t *testing.T) {
			ctx := hubtest.NewBrowser(t, 1280, 900).Ctx
			if c.lang == "fr" {
				french(t, ctx)
			}
			// Connection error: the cause in words, the hub's text below,
			// the alert and since when.
			hubtest.Navigate(t, ctx, e.Hub.URL+"/entities/UUID2")
			hubtest.TextOf(t, ctx, ".status-word", c.word)
			hubtest.TextOf(t, ctx, ".conn", c.conn) // the app, live (the hub prerenders the status)
			if got := hubtest.TextOf(t, ctx, ".status-reason", c.reason); got != c.reason {
				t.Errorf("reason %q, want %q", got, c.reason)
			}
			hubtest.TextOf(t, ctx, ".status-detail", c.detail)
			small := hubtest.Eval[bool](t, ctx, `parseFloat(getComputedStyle(document.querySelector(".status-detail")).fontSize) < parseFloat(getComputedStyle(document.querySelector(".status-reason")).fontSize)`)
			if !small {
				t.Error("the detail line is not smaller than the reason")
			}
			hubtest.TextMatching(t, ctx, ".entity-alert .alert-text", regexp.MustCompile(c.alert))
			// The entity list marks the entities whose alert was sent.
			hubtest.WaitJS(t, ctx, "the alert marker in the list", `!!document.querySelector('.tree a[href="/entities/UUID2"] .tree-alert[aria-label="`+c.marker+`"]')`)
			if hubtest.Eval[bool](t, ctx, `!!document.querySelector('.tree a[href="/entities/UUID0"] .tree-alert')`) {
				t.Error("General, available, is marked as alerting")
			}
			hubtest.Screenshot(t, ctx, "entity-connection-error-1280-"+c.lang)
			for _, v := range runAxe(t, ctx, hubtest.AxeSource(t)) {
				t.Errorf("connection error page: axe %s (%s): %s", v.ID, v.Impact, v.Help)
			}

			// No server: said once.
			hubtest.Navigate(t, ctx, e.Hub.URL+"/entities/UUID9")
			hubtest.TextOf(t, ctx, ".status-reason", c.notLinked)
			main := hubtest.TextOf(t, ctx, "main", c.notLinked)
			if n := strings.Count(strings.ToLower(main), "no imaging server serves") + strings.Count(main, "ne dessert cette entité"); n != 0 {
				t.Errorf("the no-server page says it twice:\n%s", main)
			}
			if c.notLinkedDetail != "" {
				hubtest.TextOf(t, ctx, ".status-detail", c.notLinkedDetail)
			} else if hubtest.Eval[bool](t, ctx, `!!document.querySelector(".status-detail")`) {
				t.Error("the English no-server page repeats the reason as a detail line")
			}

			// Offline, never seen: said once.
			hubtest.Navigate(t, ctx, e.Hub.URL+"/entities/UUID3")
			hubtest.TextOf(t, ctx, ".status-reason", c.offline)
			main = hubtest.TextOf(t, ctx, "main", c.offline)
			for _, twice := range []string{"has not reported any figures", "n'a encore envoyé aucun chiffre"} {
				if strings.Contains(main, twice) {
					t.Errorf("the offline page repeats %q:\n%s", twice, main)
				}
			}

			// The wall: the sentence on the tile, and the alert's bell.
			hubtest.Navigate(t, ctx, e.Hub.URL+"/wall")
			tile := `document.querySelector('#tile-UUID2').closest('.tile')`
			hubtest.WaitJS(t, ctx, "Private's tile says why", `!!document.querySelector('#tile-UUID2') && `+tile+`.querySelector('.tile-reason').innerText === `+hubtest.JSString(c.reason))
			hubtest.WaitJS(t, ctx, "Private's tile marks the alert", tile+`.querySelector('.tile-alert[aria-label="`+c.marker+`"]') !== null`)
			hubtest.WaitJS(t, ctx, "the wall fitted", `document.querySelector("#wall-grid").dataset.fit === "true"`)
			wallTextFits(t, ctx, "wall with alerts "+c.lang)
			hubtest.Screenshot(t, ctx, "wall-alerts-1280-"+c.lang)
		})
	}
	// The switch changes the reason's language without a reload.
	ctx := hubtest.NewBrowser(t, 1280, 900).Ctx
	hubtest.Navigate(t, ctx, e.Hub.URL+"/entities/UUID2")
	hubtest.TextOf(t, ctx, ".status-reason", "refuses connections")
	hubtest.TextOf(t, ctx, ".conn", "Connected to the hub") // the app's own button, not the prerendered one
	hubtest.Do(t, ctx, chromedp.Click(`button.btn--lang[lang="fr"]`))
	hubtest.TextOf(t, ctx, ".status-reason", "refuse les connexions")
	hubtest.TextOf(t, ctx, ".status-detail", "Détails : probe package-server")
}

// TestReadmeScreenshots takes the README's pictures, in English, after
// checking that each shows what its caption says: the dashboard, an entity
// in connection error, the wall and the phone view. They are taken of the
// window (not the full page), so that each stays small; `make screenshots`
// copies them into docs/screenshots.
func TestReadmeScreenshots(t *testing.T) {
	// A short directory: the page shows the repository's path.
	dir, err := os.MkdirTemp("", "srv-imaging-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := alertSetup(t, dir)

	ctx := browserAt(t, 1280, 800).Ctx
	hubtest.Navigate(t, ctx, e.Hub.URL+"/entities/UUID0")
	hubtest.TextOf(t, ctx, ".status-word", "Available")
	hubtest.TextOf(t, ctx, ".conn", "Connected to the hub")
	hubtest.TextOf(t, ctx, ".disks", "Used")
	hubtest.WaitJS(t, ctx, "every status in the tree", `["Available", "Connection error", "Offline", "No imaging server"].every(w => document.querySelector(".tree").innerText.includes(w))`)
	hubtest.WaitJS(t, ctx, "the alert markers", `document.querySelectorAll(".tree .tree-alert").length >= 1`)
	readmeShot(t, ctx, "dashboard")

	hubtest.Navigate(t, ctx, e.Hub.URL+"/entities/UUID2")
	hubtest.TextOf(t, ctx, ".status-word", "Connection error")
	hubtest.TextOf(t, ctx, ".status-reason", "The package server's imaging API (tcp://127.0.0.1:1) refuses connections.")
	hubtest.TextOf(t, ctx, ".entity-alert", "Alert sent to the on-call team: Connection error since")
	hubtest.TextOf(t, ctx, ".probes", "Failed")
	readmeShot(t, ctx, "connection-error")

	wall := browserAt(t, 1280, 720).Ctx
	hubtest.Navigate(t, wall, e.Hub.URL+"/wall")
	wallReady(t, wall, 5)
	hubtest.WaitJS(t, wall, "the wall fitted", `document.querySelector("#wall-grid").dataset.fit === "true"`)
	hubtest.TextOf(t, wall, `.wall-grid`, "refuses connections")
	wallTextFits(t, wall, "README wall")
	readmeShot(t, wall, "wall")

	phone := hubtest.NewBrowser(t, 390, 844).Ctx
	hubtest.Do(t, phone, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	hubtest.Navigate(t, phone, e.Hub.URL+"/entities/UUID2")
	hubtest.TextOf(t, phone, ".status-word", "Connection error")
	hubtest.WaitJS(t, phone, "the phone's list", `document.querySelectorAll(".overview li").length === 5 && document.querySelector(".overview").getBoundingClientRect().height > 0`)
	hubtest.Eval[bool](t, phone, `(window.scrollTo(0, 0), true)`)
	readmeShot(t, phone, "phone")
}

// readmeShot saves the window as Artifacts()/readme-name.png, once the app
// runs (go-app's loading banner gone: the hub may have prerendered the
// status before) and is live, and the page has painted what the test just
// checked.
func readmeShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	hubtest.WaitJS(t, ctx, "the app running and live", `!document.getElementById("app-wasm-loader") && document.querySelector(".conn").innerText.includes("Connected to the hub")`)
	hubtest.Settled(t, ctx)
	c, cancel := context.WithTimeout(ctx, hubtest.Long)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(hubtest.Artifacts(t), "readme-"+name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d KiB)", p, len(png)>>10)
}
