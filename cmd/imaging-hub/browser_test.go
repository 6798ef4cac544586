package main_test

// Browser end-to-end tests: real headless Chromium (Debian's /usr/bin/chromium,
// driven with chromedp) against the real hub and agents. Screenshots go to
// $ARTIFACTS (default: artifacts/screenshots at the repository root).

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// browser starts a fresh headless Chromium; it is stopped in t.Cleanup. In
// CI a missing browser fails the run instead of skipping it.
func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is required in CI: %v (install it with apt-get install -y chromium)", err)
		}
		t.Skipf("no %s: install it with apt-get install -y chromium", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "artifacts", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(artifacts(t), name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// textOf waits until the selector's visible text contains want and returns it.
func textOf(t *testing.T, ctx context.Context, sel, want string, within time.Duration) string {
	t.Helper()
	var got string
	deadline := time.Now().Add(within)
	for {
		c, cancel := context.WithTimeout(ctx, time.Second)
		var err error
		got, err = chromedp.Run(c, chromedp.Evaluate[string](`(() => { const e = document.querySelector(`+jsString(sel)+`); return e ? e.innerText : ""; })()`))
		cancel()
		if err == nil && strings.Contains(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q: text %q does not contain %q after %v (err %v)", sel, got, want, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "`", "\\`", `$`, `\$`)
	return "`" + r.Replace(s) + "`"
}

func TestDashboardInChromium(t *testing.T) {
	e := setup(t)
	general := e.agent(t, "UUID0")
	e.agent(t, "UUID2", "--probe", "imaging-api=tcp://127.0.0.1:1")
	ctx := browser(t, 1920, 1080)

	// The default page selects General, the root.
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(e.hubURL+"/")); err != nil {
		t.Fatal(err)
	}
	textOf(t, ctx, ".status-word", "Available", 30*time.Second)
	t.Logf("first status on screen %v after navigation (includes WASM compile)", time.Since(start).Round(time.Millisecond))
	textOf(t, ctx, ".entity-title", "General", time.Second)
	page := textOf(t, ctx, "main", "Disk space", 5*time.Second)
	for _, want := range []string{"You can create or deploy an image.", "imaging-uuid0", "Memory (RAM)", "Updated"} {
		if !strings.Contains(page, want) {
			t.Errorf("General page lacks %q:\n%s", want, page)
		}
	}
	screenshot(t, ctx, "dashboard-available-1920")

	cases := []struct {
		id, word, more string
	}{
		{"UUID1", "Available", "served by the server of General"},
		{"UUID2", "Connection error", "probe imaging-api (tcp://127.0.0.1:1) failed"},
		{"UUID3", "Offline", "Contact the administrator."},
		{"UUID9", "No imaging server", "Link an imaging server to this entity."},
	}
	for _, c := range cases {
		if err := chromedp.Do(ctx, chromedp.Navigate(e.hubURL+"/entities/"+c.id)); err != nil {
			t.Fatal(err)
		}
		textOf(t, ctx, ".status-word", c.word, 30*time.Second)
		textOf(t, ctx, "main", c.more, 5*time.Second)
		screenshot(t, ctx, "dashboard-"+strings.ToLower(c.id)+"-1920")
	}

	// Live: kill General's agent and watch Offline arrive without a reload, then come back.
	if err := chromedp.Do(ctx, chromedp.Navigate(e.hubURL+"/entities/UUID0")); err != nil {
		t.Fatal(err)
	}
	textOf(t, ctx, ".status-word", "Available", 30*time.Second)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__noReload = true`)); err != nil {
		t.Fatal(err)
	}
	general.kill(syscall.SIGKILL)
	textOf(t, ctx, ".status-word", "Offline", deadline+3*time.Second)
	screenshot(t, ctx, "dashboard-offline-live-1920")
	e.agent(t, "UUID0")
	textOf(t, ctx, ".status-word", "Available", 10*time.Second)
	if marker, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__noReload === true`)); err != nil || !marker {
		t.Fatalf("the page reloaded (marker %v, %v): updates must be pushed", marker, err)
	}
}

func TestDashboardOnAPhone(t *testing.T) {
	e := setup(t)
	e.agent(t, "UUID0")
	ctx := browser(t, 360, 740)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(360, 740, chromedp.EmulateScale(2)), chromedp.Navigate(e.hubURL+"/")); err != nil {
		t.Fatal(err)
	}
	textOf(t, ctx, ".status-word", "Available", 30*time.Second)
	textOf(t, ctx, "main", "Disk space", 5*time.Second)
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil {
		t.Fatal(err)
	}
	if overflow {
		t.Error("the page scrolls sideways at 360 px")
	}
	screenshot(t, ctx, "dashboard-available-360")
}
