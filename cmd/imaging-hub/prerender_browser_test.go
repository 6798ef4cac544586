package main_test

// Browser tests of the hub-drawn first screen (issue 15 item 2): the
// viewer's statuses in the HTML itself, in scope and language, visible before
// app.wasm starts, and kept on screen when the app takes over.

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	ui "imagingstatus/app"
	"imagingstatus/server/config"
	"imagingstatus/server/hubtest"
	"imagingstatus/wire"
)

// prerenderSetup: viewers sign in; "all" sees everything, "branch" only
// Branch office. No agent: the statuses are the hub's own (not connected,
// no server), which is all a prerender needs.
func prerenderSetup(t *testing.T) (e *hubtest.Env, all, branch string) {
	t.Helper()
	e = hubtest.NewEnv(t, "", interval)
	all, allHash, err := config.GenerateToken()
	if err != nil {
		t.Fatal(err)
	}
	branch, branchHash, err := config.GenerateToken()
	if err != nil {
		t.Fatal(err)
	}
	srv := func(entity string) string {
		return `,"server":{"name":"imaging-` + strings.ToLower(entity) + `","token_sha256":"` + e.NewToken(t, entity) + `"}`
	}
	e.WriteConfig(t, `{"listen":"127.0.0.1:0","plain_http":true,"interval":"`+interval.String()+`",
		"viewers":{"auth":"token","tokens":[
			{"name":"all","token_sha256":"`+allHash+`"},
			{"name":"branch","token_sha256":"`+branchHash+`","scope":["UUID3"]}]},
		"entities":[
		{"id":"UUID0","name":"Headquarters"`+srv("UUID0")+`},
		{"id":"UUID3","name":"Branch office","parent":"UUID0"`+srv("UUID3")+`},
		{"id":"UUID9","name":"Partners lab"}]}`)
	e.StartHub(t)
	return e, all, branch
}

// pageGet fetches a page as a browser's first request would, with headers.
func pageGet(t *testing.T, c *http.Client, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", url, resp.StatusCode)
	}
	return resp, string(b)
}

// statusWords are each entity's status word in lang, from the REST API.
func statusWords(t *testing.T, e *hubtest.Env, token string, lang ui.Lang) map[string]string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.Hub.URL+"/api/v1/entities", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var es []wire.Entity
	if err := json.NewDecoder(resp.Body).Decode(&es); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, x := range es {
		out[x.ID] = html.EscapeString(ui.T(lang).Status(x.Status).Label) // as in the HTML
	}
	return out
}

func TestPrerenderHTTP(t *testing.T) {
	e, all, branch := prerenderSetup(t)
	en := statusWords(t, e, all, ui.English)
	fr := statusWords(t, e, all, ui.French)
	noSeed := func(t *testing.T, what, body string) {
		t.Helper()
		for _, name := range []string{"Headquarters", "Branch office", "Partners lab", "imaging-seed"} {
			if strings.Contains(body, name) {
				t.Errorf("%s: the page holds %q", what, name)
			}
		}
	}

	// A stranger: the translated loading text, no entity.
	resp, body := pageGet(t, nil, e.Hub.URL+"/", nil)
	noSeed(t, "no credential", body)
	if !strings.Contains(body, html.EscapeString(ui.T(ui.English).Loading)) {
		t.Errorf("no credential: no loading text in\n%s", body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" || resp.Header.Get("ETag") != "" {
		t.Errorf("page cacheable: Cache-Control %q, ETag %q", cc, resp.Header.Get("ETag"))
	}
	_, body = pageGet(t, nil, e.Hub.URL+"/wall", map[string]string{"Authorization": "Bearer not-a-token", "Accept-Language": "fr"})
	noSeed(t, "a bad token", body)
	if !strings.Contains(body, html.EscapeString(ui.T(ui.French).Loading)) || !strings.Contains(body, "background:#0b0f14") {
		t.Errorf("the wall's loader for a stranger is not French and dark:\n%s", body)
	}

	// Bearer, every entity: names and status words in the HTML itself.
	_, body = pageGet(t, nil, e.Hub.URL+"/", map[string]string{"Authorization": "Bearer " + all})
	for _, want := range []string{"Headquarters", "Branch office", "Partners lab", `id="imaging-seed"`,
		`<span class="tree-status">` + en["UUID0"] + `</span>`, `<span class="tree-status">` + en["UUID9"] + `</span>`} {
		if !strings.Contains(body, want) {
			t.Errorf("Bearer (all): the page lacks %q", want)
		}
	}

	// Bearer, scoped: Branch office only, on the wall and in the seed.
	_, body = pageGet(t, nil, e.Hub.URL+"/wall", map[string]string{"Authorization": "Bearer " + branch})
	if !strings.Contains(body, "Branch office") || !strings.Contains(body, en["UUID3"]) {
		t.Errorf("Bearer (branch): the wall lacks Branch office and its status %q", en["UUID3"])
	}
	for _, no := range []string{"Partners lab", `"id":"UUID0"`, `"id":"UUID9"`, `id="tile-UUID0"`} {
		if strings.Contains(body, no) {
			t.Errorf("Bearer (branch): out of scope %q on the page", no)
		}
	}

	// The session cookie, French from Accept-Language, the entity's page.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	_, body = pageGet(t, c, e.Hub.URL+"/login?token="+branch+"&next=/entities/UUID3", map[string]string{"Accept-Language": "fr-CH, fr;q=0.9, en;q=0.8"})
	for _, want := range []string{`<html lang="fr">`, `<p class="status-word">` + fr["UUID3"] + `</p>`, "Branch office", html.EscapeString(ui.T(ui.French).Loading)} {
		if !strings.Contains(body, want) {
			t.Errorf("cookie, French: the page lacks %q", want)
		}
	}
	if strings.Contains(body, "Partners lab") {
		t.Error("cookie (branch): Partners lab on the page")
	}
	// The language switch, saved as a cookie by the page, wins.
	_, body = pageGet(t, c, e.Hub.URL+"/entities/UUID3", map[string]string{"Accept-Language": "fr", "Cookie": ui.LangCookie + "=en"})
	if !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, `<p class="status-word">`+en["UUID3"]+`</p>`) {
		t.Error("the language cookie (en) does not win over Accept-Language (fr)")
	}
	// The service worker's copy: no status for anyone.
	_, body = pageGet(t, nil, e.Hub.URL+"/", map[string]string{"Authorization": "Bearer " + all, "X-Imaging-Shell": "1"})
	noSeed(t, "the shell", body)
}

// prerenderWatchJS notes, from the document's start, when a status word
// first shows and whether it is ever missing afterwards (the observer runs
// before each paint, so a frame without it would be seen).
const prerenderWatchJS = `(() => {
  const b = window.__pre = {first: 0, gap: false, app: 0};
  const check = () => {
    const e = document.querySelector(".status-word");
    const shown = !!e && e.textContent.trim() !== "";
    if (shown && !b.first) b.first = performance.now();
    else if (!shown && b.first) b.gap = true;
    if (!b.app && document.readyState !== "loading" && !document.getElementById("app-wasm-loader")) b.app = performance.now();
  };
  new MutationObserver(check).observe(document, {subtree: true, childList: true, characterData: true});
  document.addEventListener("DOMContentLoaded", check);
})();`

type preState struct {
	First float64 `json:"first"`
	Gap   bool    `json:"gap"`
	App   float64 `json:"app"`
}

func TestPrerenderInChromium(t *testing.T) {
	e, all, _ := prerenderSetup(t)
	en := statusWords(t, e, all, ui.English) // no apostrophe in English words
	ctx := hubtest.NewBrowser(t, 1280, 800).Ctx
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: prerenderWatchJS}); err != nil {
		t.Fatal(err)
	}
	block := func(on bool) {
		var ps []*network.BlockPattern
		if on {
			ps = []*network.BlockPattern{{URLPattern: "*://*:*/web/app.wasm", Block: true}}
		}
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: ps}); err != nil {
			t.Fatal(err)
		}
	}

	// app.wasm never arrives: the word is the hub's, visible, not under
	// go-app's loading curtain.
	block(true)
	hubtest.Navigate(t, ctx, e.Hub.URL+"/login?token="+all+"&next=/entities/UUID3")
	hubtest.TextOf(t, ctx, ".status-word", en["UUID3"])
	if !hubtest.Eval[bool](t, ctx, `!!document.getElementById("app-wasm-loader")`) {
		t.Fatal("the loader is gone: the app started although app.wasm was blocked")
	}
	seen := hubtest.Eval[bool](t, ctx, `(() => {
		const r = document.querySelector(".status-word").getBoundingClientRect();
		const at = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
		return !!at && !!at.closest(".status-word") && r.width > 0;
	})()`)
	if !seen {
		t.Error("the status word is covered (the loader's curtain) or not laid out")
	}
	hubtest.Screenshot(t, ctx, "prerender-before-wasm-1280-en")

	// app.wasm allowed: the app takes over; the word never leaves the
	// screen and there is one page, not the hub's and the app's.
	block(false)
	hubtest.Navigate(t, ctx, e.Hub.URL+"/entities/UUID3")
	hubtest.WaitJS(t, ctx, "the app started", `!document.getElementById("app-wasm-loader")`)
	hubtest.TextOf(t, ctx, ".conn", ui.T(ui.English).Connected)
	st := hubtest.Eval[preState](t, ctx, `window.__pre`)
	if st.First == 0 || st.First >= st.App {
		t.Errorf("the first status word (%.0f ms) did not come before the app started (%.0f ms)", st.First, st.App)
	}
	if st.Gap {
		t.Error("the status word vanished while the app took over (a flash)")
	}
	if n := hubtest.Eval[int](t, ctx, `document.querySelectorAll(".page").length * 10 + document.querySelectorAll(".status-word").length`); n != 11 {
		t.Errorf("%d pages and %d status words after the app mounted, want one of each", n/10, n%10)
	}
	hubtest.TextOf(t, ctx, ".status-word", en["UUID3"])
	t.Logf("first status word %.0f ms, app started %.0f ms after navigation", st.First, st.App)
	hubtest.Screenshot(t, ctx, "prerender-after-mount-1280-en")
}
