package main_test

// Browser end-to-end tests: real headless Chromium (Debian's /usr/bin/chromium,
// driven with chromedp through server/hubtest) against the real hub and
// agents. Screenshots go to $ARTIFACTS (default: artifacts/screenshots at
// the repository root).

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"imagingstatus/server/hubtest"
)

func TestDashboardInChromium(t *testing.T) {
	e := setup(t)
	general := e.Agent(t, "UUID0")
	e.Agent(t, "UUID2", "--probe", "imaging-api=tcp://127.0.0.1:1")
	ctx := hubtest.NewBrowser(t, 1920, 1080).Ctx

	// The default page selects General, the root.
	start := time.Now()
	hubtest.Navigate(t, ctx, e.Hub.URL+"/")
	hubtest.TextOf(t, ctx, ".status-word", "Available")
	t.Logf("first status on screen %v after navigation (includes WASM compile)", time.Since(start).Round(time.Millisecond))
	hubtest.TextOf(t, ctx, ".entity-title", "General")
	page := hubtest.TextOf(t, ctx, "main", "Disk space")
	for _, want := range []string{"You can create or deploy an image.", "imaging-uuid0", "Memory (RAM)", "Updated"} {
		if !strings.Contains(page, want) {
			t.Errorf("General page lacks %q:\n%s", want, page)
		}
	}
	hubtest.Screenshot(t, ctx, "dashboard-available-1920")

	cases := []struct {
		id, word, more string
	}{
		{"UUID1", "Available", "served by the server of General"},
		{"UUID2", "Connection error", "probe imaging-api (tcp://127.0.0.1:1) failed"},
		{"UUID3", "Offline", "Contact the administrator."},
		{"UUID9", "No imaging server", "Link an imaging server to this entity."},
	}
	for _, c := range cases {
		hubtest.Navigate(t, ctx, e.Hub.URL+"/entities/"+c.id)
		hubtest.TextOf(t, ctx, ".status-word", c.word)
		hubtest.TextOf(t, ctx, "main", c.more)
		hubtest.Screenshot(t, ctx, "dashboard-"+strings.ToLower(c.id)+"-1920")
	}

	// Live: kill General's agent and watch Offline arrive without a reload, then come back.
	hubtest.Navigate(t, ctx, e.Hub.URL+"/entities/UUID0")
	hubtest.TextOf(t, ctx, ".status-word", "Available")
	hubtest.Eval[bool](t, ctx, `window.__noReload = true`)
	killedAt := time.Now()
	general.Kill(syscall.SIGKILL)
	hubtest.TextOf(t, ctx, ".status-word", "Offline")
	checkWithin(t, "Offline on the page after the agent's SIGKILL", time.Since(killedAt), deadline+3*time.Second)
	hubtest.Screenshot(t, ctx, "dashboard-offline-live-1920")
	e.Agent(t, "UUID0")
	hubtest.TextOf(t, ctx, ".status-word", "Available")
	if !hubtest.Eval[bool](t, ctx, `window.__noReload === true`) {
		t.Fatal("the page reloaded: updates must be pushed")
	}
}

func TestDashboardOnAPhone(t *testing.T) {
	e := setup(t)
	e.Agent(t, "UUID0")
	ctx := hubtest.NewBrowser(t, 360, 740).Ctx
	hubtest.Do(t, ctx, chromedp.EmulateViewport(360, 740, chromedp.EmulateScale(2)))
	hubtest.Navigate(t, ctx, e.Hub.URL+"/")
	hubtest.TextOf(t, ctx, ".status-word", "Available")
	hubtest.TextOf(t, ctx, "main", "Disk space")
	if hubtest.Eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
		t.Error("the page scrolls sideways at 360 px")
	}
	hubtest.Screenshot(t, ctx, "dashboard-available-360")
}
