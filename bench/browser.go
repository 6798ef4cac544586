package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// BrowserConfig is the page measurement.
type BrowserConfig struct {
	HubBin   string
	Chromium string
	Dir      string
	WasmDir  string
	Interval time.Duration
	Entities int // simulated agents (and linked entities); default 100
	Bursts   int // bursts of changes; default 6
	Log      io.Writer
}

// WasmSize is one way of getting app.wasm.
type WasmSize struct {
	How      string `json:"how"`
	Bytes    int64  `json:"bytes"`
	Encoding string `json:"content_encoding,omitempty"`
}

// BrowserResult is what the page measurement found.
type BrowserResult struct {
	Wasm        []WasmSize `json:"wasm"`
	ColdFirstMS float64    `json:"cold_first_status_ms"` // navigation start → first .status-word text, fresh profile
	ColdWallMS  float64    `json:"cold_wall_ms"`         // the same seen from outside (includes polling)
	WarmFirstMS float64    `json:"warm_first_status_ms"` // second start of the browser on the same profile
	WarmWallMS  float64    `json:"warm_wall_ms"`
	// The app itself (app.wasm running: go-app's loader gone), and whether
	// the first status came before it, from the hub's HTML (issue 15 item
	// 2), and whether a status word ever vanished once shown (a flash when
	// the app took over).
	ColdAppMS       float64   `json:"cold_app_started_ms"`
	WarmAppMS       float64   `json:"warm_app_started_ms"`
	ColdBeforeApp   bool      `json:"cold_status_before_app"`
	WarmBeforeApp   bool      `json:"warm_status_before_app"`
	ColdFlash       bool      `json:"cold_status_vanished"`
	WarmFlash       bool      `json:"warm_status_vanished"`
	ServiceWorker   bool      `json:"service_worker_controlled_warm"`
	FirstStatusText string    `json:"first_status_text"`
	BurstSize       int       `json:"burst_size"`
	BurstSendToAll  []float64 `json:"burst_send_to_all_ms"`  // driver sends the first change → the page shows all of them
	BurstFirstToAll []float64 `json:"burst_first_to_all_ms"` // the page shows the first → shows all
	Error           string    `json:"error,omitempty"`
}

func (c BrowserConfig) logf(format string, a ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, "  [browser] "+format+"\n", a...)
	}
}

// firstStatusJS runs in every new document: it notes when a status word
// first shows text and when the app started (go-app removes its loader once
// app.wasm runs), relative to the navigation start, and whether the status
// word was ever missing after it first showed. The observer's callback runs
// before the browser paints, so a frame without the word is seen.
const firstStatusJS = `(() => {
  if (window.__bench) return;
  const b = window.__bench = {first: 0, text: "", app: 0, gap: false};
  const check = () => {
    const e = document.querySelector(".status-word");
    const shown = !!e && e.textContent.trim() !== "";
    if (shown && !b.first) {
      b.first = performance.now();
      b.text = e.textContent.trim();
    } else if (!shown && b.first) {
      b.gap = true;
    }
    if (!b.app && document.readyState !== "loading" && !document.getElementById("app-wasm-loader")) {
      b.app = performance.now();
    }
  };
  new MutationObserver(check).observe(document, {subtree: true, childList: true, characterData: true});
  document.addEventListener("DOMContentLoaded", check);
})();`

// burstJS arms a watcher of the tree: the wall time (ms) when the first
// and when all n .tree-status elements read want.
func burstJS(want string, n int) string {
	return fmt.Sprintf(`(() => {
  if (window.__burstObs) window.__burstObs.disconnect();
  const b = window.__burst = {want: %q, n: %d, first: 0, all: 0};
  const check = () => {
    let c = 0;
    for (const e of document.querySelectorAll(".tree-status")) if (e.textContent.trim() === b.want) c++;
    const now = Date.now();
    if (c > 0 && !b.first) b.first = now;
    if (c >= b.n && !b.all) { b.all = now; window.__burstObs.disconnect(); }
  };
  window.__burstObs = new MutationObserver(check);
  window.__burstObs.observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
  return true;
})()`, want, n)
}

type burstState struct {
	First float64 `json:"first"`
	All   float64 `json:"all"`
}

// RunBrowser measures the page: WASM sizes, first status cold and warm, and
// bursts of entity changes.
func RunBrowser(ctx context.Context, c BrowserConfig) (res BrowserResult) {
	if c.Entities == 0 {
		c.Entities = 100
	}
	if c.Bursts == 0 {
		c.Bursts = 6
	}
	res.BurstSize = c.Entities
	fail := func(err error) BrowserResult {
		res.Error = err.Error()
		c.logf("error: %v", err)
		return res
	}
	for _, f := range []struct{ how, name string }{{"file raw", "app.wasm"}, {"file gzip", "app.wasm.gz"}, {"file brotli", "app.wasm.br"}} {
		if st, err := os.Stat(filepath.Join(c.WasmDir, f.name)); err == nil {
			res.Wasm = append(res.Wasm, WasmSize{How: f.how, Bytes: st.Size()})
		}
	}
	if _, err := os.Stat(c.Chromium); err != nil {
		return fail(fmt.Errorf("no Chromium at %s (install it with: %s): %w", c.Chromium, ChromiumInstall, err))
	}
	dir := filepath.Join(c.Dir, "browser")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	fleet, err := NewFleet(c.Entities, c.Interval, 3)
	if err != nil {
		return fail(err)
	}
	hub, err := StartHub(ctx, c.HubBin, dir, fleet)
	if err != nil {
		return fail(err)
	}
	defer hub.Stop(10 * time.Second)
	for _, enc := range []string{"br", "gzip", "identity"} {
		n, got, err := fetchSize(hub.URL+"/web/app.wasm", enc)
		if err != nil {
			return fail(fmt.Errorf("GET /web/app.wasm: %w", err))
		}
		res.Wasm = append(res.Wasm, WasmSize{How: "HTTP Accept-Encoding: " + enc, Bytes: n, Encoding: got})
	}

	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	agents := make([]*SimAgent, c.Entities)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		for _, a := range agents {
			if a != nil {
				a.Close()
			}
		}
		wg.Wait()
	}()
	for i := range agents {
		a, err := DialAgent(actx, hub.URL, i, fleet.Tokens[i], nil)
		if err != nil {
			return fail(err)
		}
		agents[i] = a
		wg.Go(func() { a.Run(actx, c.Interval) })
	}

	profile := filepath.Join(dir, "profile")
	// Cold: a new profile.
	bctx, stop, err := StartChromium(ctx, Chromium{Bin: c.Chromium, UserDataDir: profile})
	if err != nil {
		return fail(err)
	}
	cold, err := firstStatus(bctx, hub.URL+"/")
	if err != nil {
		stop()
		return fail(fmt.Errorf("cold load: %w", err))
	}
	res.ColdFirstMS, res.ColdWallMS, res.FirstStatusText = cold.First, cold.Wall, cold.Text
	res.ColdAppMS, res.ColdBeforeApp, res.ColdFlash = cold.App, cold.First < cold.App, cold.Gap
	c.logf("cold: first status %q after %.0f ms, app started after %.0f ms, status vanished: %v", res.FirstStatusText, res.ColdFirstMS, cold.App, cold.Gap)
	// Let the service worker install and cache the app before closing.
	swctx, swcancel := context.WithTimeout(bctx, 20*time.Second)
	_, _ = chromedp.Run(swctx, chromedp.Evaluate[bool](`navigator.serviceWorker ? navigator.serviceWorker.ready.then(() => true) : false`, chromedp.EvalAwaitPromise))
	swcancel()
	sleepCtx(ctx, 2*time.Second)
	stop()

	// Warm: the same profile, a new browser process.
	bctx, stop, err = StartChromium(ctx, Chromium{Bin: c.Chromium, UserDataDir: profile})
	if err != nil {
		return fail(err)
	}
	defer stop()
	warm, err := firstStatus(bctx, hub.URL+"/")
	if err != nil {
		return fail(fmt.Errorf("warm load: %w", err))
	}
	res.WarmFirstMS, res.WarmWallMS = warm.First, warm.Wall
	res.WarmAppMS, res.WarmBeforeApp, res.WarmFlash = warm.App, warm.First < warm.App, warm.Gap
	res.ServiceWorker, _ = chromedp.Run(bctx, chromedp.Evaluate[bool](`!!(navigator.serviceWorker && navigator.serviceWorker.controller)`))
	c.logf("warm: first status after %.0f ms, app started after %.0f ms, status vanished: %v (service worker in control: %v)", res.WarmFirstMS, warm.App, warm.Gap, res.ServiceWorker)

	// Bursts: every agent's status flips at once.
	if err := waitTree(bctx, "Available", c.Entities, max(3*c.Interval, time.Minute)); err != nil {
		return fail(fmt.Errorf("before the bursts: %w", err))
	}
	for k := 0; k < c.Bursts && ctx.Err() == nil; k++ {
		failing := k%2 == 0
		want := "Available"
		if failing {
			want = "Connection error"
		}
		if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](burstJS(want, c.Entities))); err != nil {
			return fail(err)
		}
		t0 := time.Now()
		for _, a := range agents {
			a.SetProbeFailing(failing)
		}
		for _, a := range agents {
			_, _ = a.Send()
		}
		var st burstState
		_, _ = Poll(ctx, 30*time.Second, func() bool {
			st, err = chromedp.Run(bctx, chromedp.Evaluate[burstState](`window.__burst`))
			return err == nil && st.All > 0
		})
		if st.All == 0 {
			return fail(fmt.Errorf("burst %d: the page did not show %d × %q within 30 s", k+1, c.Entities, want))
		}
		t0ms := float64(t0.UnixNano()) / 1e6
		res.BurstSendToAll = append(res.BurstSendToAll, st.All-t0ms)
		res.BurstFirstToAll = append(res.BurstFirstToAll, st.All-st.First)
		c.logf("burst %d (%s): all shown %.0f ms after the send, %.0f ms after the first", k+1, want, st.All-t0ms, st.All-st.First)
		sleepCtx(ctx, time.Second)
	}
	return res
}

func fetchSize(url, enc string) (int64, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Accept-Encoding", enc)
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: time.Minute}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return 0, "", fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	n, err := io.Copy(io.Discard, resp.Body)
	return n, resp.Header.Get("Content-Encoding"), err
}

// firstLoad is what firstStatus saw: in-page times from the navigation
// start (ms), the time seen from here, the first status word and whether it
// vanished before the app had run for a second.
type firstLoad struct {
	First float64 `json:"first"`
	Text  string  `json:"text"`
	App   float64 `json:"app"`
	Gap   bool    `json:"gap"`
	Wall  float64 `json:"-"`
}

// firstStatus loads url in a fresh document and returns when the first
// status word showed and when the app started.
func firstStatus(ctx context.Context, url string) (firstLoad, error) {
	var st firstLoad
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: firstStatusJS}); err != nil {
		return st, err
	}
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		return st, err
	}
	var appSeen time.Time
	for time.Since(start) < 60*time.Second {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[firstLoad](`window.__bench || {first: 0, text: "", app: 0, gap: false}`))
		if err == nil && got.First > 0 && st.First == 0 {
			st.Wall = float64(time.Since(start)) / 1e6
		}
		if err == nil {
			st.First, st.Text, st.App, st.Gap = got.First, got.Text, got.App, got.Gap
		}
		// Watched a second past the app's start: its take-over must keep
		// the word on screen.
		if st.First > 0 && st.App > 0 {
			if appSeen.IsZero() {
				appSeen = time.Now()
			} else if time.Since(appSeen) >= time.Second {
				return st, nil
			}
		}
		if !sleepCtx(ctx, 10*time.Millisecond) {
			return st, ctx.Err()
		}
	}
	if st.First > 0 {
		return st, nil // the word showed; the app never started (reported as 0)
	}
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 300) : ""`))
	return st, fmt.Errorf("no status word on the page after 60 s; page text: %q", body)
}

// waitTree waits until n .tree-status elements read want.
func waitTree(ctx context.Context, want string, n int, within time.Duration) error {
	js := fmt.Sprintf(`[...document.querySelectorAll(".tree-status")].filter(e => e.textContent.trim() === %q).length`, want)
	got := 0
	if _, err := Poll(ctx, within, func() bool {
		var err error
		got, err = chromedp.Run(ctx, chromedp.Evaluate[int](js))
		return err == nil && got >= n
	}); err != nil {
		return fmt.Errorf("%d of %d entities show %q in the tree: %w", got, n, want, err)
	}
	return nil
}
