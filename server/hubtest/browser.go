package hubtest

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"imagingstatus/bench"
)

// Browser is a headless Chromium for one test (bench.StartChromium, the
// one launcher, on a fresh profile), stopped when the test ends.
type Browser struct {
	Ctx  context.Context // chromedp context of its tab
	stop func()
}

// NewBrowser starts Chromium with a width×height window. A missing
// Chromium fails the test with the install command (skipped under -short).
func NewBrowser(t testing.TB, width, height int) *Browser {
	t.Helper()
	if _, err := os.Stat(bench.ChromiumPath); err != nil {
		Missing(t, "Chromium ("+bench.ChromiumPath+")", bench.ChromiumInstall, err)
	}
	ctx, stop, err := bench.StartChromium(context.Background(), bench.Chromium{UserDataDir: t.TempDir(), Width: width, Height: height, StartWithin: Long})
	if err != nil {
		t.Fatal(err)
	}
	b := &Browser{Ctx: ctx, stop: stop}
	t.Cleanup(b.Close)
	return b
}

// Close stops the browser (early, to spare a loaded machine).
func (b *Browser) Close() { b.stop() }

// step bounds one DevTools call: a ceiling for a loaded machine.
const step = 30 * time.Second

// Eval evaluates js in the page (awaiting a promise) and returns its value.
func Eval[T any](t testing.TB, ctx context.Context, js string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, Long)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %.80s…: %v", js, err)
	}
	return v
}

// Do runs chromedp actions with a ceiling.
func Do(t testing.TB, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, Long)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatal(err)
	}
}

// Navigate loads url in the tab.
func Navigate(t testing.TB, ctx context.Context, url string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, Long)
	defer cancel()
	if err := chromedp.Do(c, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate %s: %v", url, err)
	}
}

// WaitApp waits until the app itself runs: the hub prerenders its pages, so
// a button may be on screen before the app that answers it (go-app removes
// its loader when the WebAssembly program has started).
func WaitApp(t testing.TB, ctx context.Context) {
	t.Helper()
	WaitJS(t, ctx, "the app to start", `document.readyState === "complete" && !document.getElementById("app-wasm-loader")`)
}

// WaitJS waits until the expression is true (an exception counts as false;
// a promise is awaited).
func WaitJS(t testing.TB, ctx context.Context, what, js string) time.Duration {
	t.Helper()
	return WaitFor(t, what, func() bool {
		c, cancel := context.WithTimeout(ctx, step)
		defer cancel()
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](`(async () => { try { return !!(await (`+js+`)); } catch (e) { return false; } })()`, chromedp.EvalAwaitPromise))
		return err == nil && ok
	})
}

// TextOf waits until the visible text of the first element matching sel
// contains want, and returns that text.
func TextOf(t testing.TB, ctx context.Context, sel, want string) string {
	t.Helper()
	return TextMatching(t, ctx, sel, regexp.MustCompile(regexp.QuoteMeta(want)))
}

// TextMatching waits until the visible text of the first element matching
// sel matches re, and returns that text.
func TextMatching(t testing.TB, ctx context.Context, sel string, re *regexp.Regexp) string {
	t.Helper()
	var got string
	var err error
	if _, perr := bench.Poll(ctx, Long, func() bool {
		c, cancel := context.WithTimeout(ctx, step)
		defer cancel()
		got, err = chromedp.Run(c, chromedp.Evaluate[string](`(() => { const e = document.querySelector(`+JSString(sel)+`); return e ? e.innerText : ""; })()`))
		return err == nil && re.MatchString(got)
	}); perr != nil {
		t.Fatalf("%s: text %q does not match %q: %v (last error: %v)", sel, got, re, perr, err)
	}
	return got
}

// JSString quotes s as a JavaScript string literal.
func JSString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "`", "\\`", `$`, `\$`)
	return "`" + r.Replace(s) + "`"
}

// Artifacts is where screenshots go: $ARTIFACTS, or artifacts/screenshots
// at the repository root.
func Artifacts(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(RepoRoot(t), "artifacts", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Screenshot saves a full-page PNG as Artifacts()/name.png.
func Screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, Long)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(Artifacts(t), name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// AxeInstall installs axe-core for the accessibility checks.
const AxeInstall = "npm ci --prefix web/e2e"

// AxeSource is axe-core's script from web/e2e/node_modules. A missing one
// fails the test with the install command (skipped under -short).
func AxeSource(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(RepoRoot(t), "web", "e2e", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		Missing(t, "axe-core (web/e2e/node_modules)", AxeInstall, err)
	}
	return string(b)
}

// Settled waits until the page has painted twice after now, so what the
// app rendered last is on screen (instead of sleeping "a little").
func Settled(t testing.TB, ctx context.Context) {
	t.Helper()
	Eval[bool](t, ctx, `new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`)
}
