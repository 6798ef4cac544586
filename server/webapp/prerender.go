package webapp

import (
	"bytes"
	"context"
	_ "embed"
	"html/template"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	ui "imagingstatus/app"
	"imagingstatus/server/config"
	"imagingstatus/server/viewerauth"
	"imagingstatus/wire"
)

// The hub draws each page's first screen with the viewer's statuses, so a
// status word is on screen before app.wasm is fetched and compiled (about a
// second on a quiet machine, several on a busy one). go-app's own prerender
// cannot do it: it runs without the request (context.Background), so it
// cannot know the viewer. The page go-app generates is kept (head, scripts,
// loader) and its body's first element, which the app replaces when it
// mounts, is the hub's render of the same component (ui.PrerenderPage).
// The entities travel in the page as the snapshot the app reads first, so
// its first render shows the same words in the same place.

// StatusSource says what the request's viewer may see: known is false when
// viewers are authenticated and the request carries no valid credential.
type StatusSource func(r *http.Request) (entities []wire.Entity, known bool)

type statusKey struct{}

// WithStatus gives the app handler the hub's statuses for its pages.
func WithStatus(app http.Handler, src StatusSource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		app.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), statusKey{}, src)))
	})
}

// entityPath finds the entity a page shows in full.
var entityPath = regexp.MustCompile(`^/entities/(` + wire.EntityIDPattern + `)$`)

// HubStatus is the StatusSource of a hub: identify (without refusing) the
// viewer, then the entities in its scope, from views (the hub's change
// log, read without its loop), the page's entity in full.
func HubStatus(views func(full string) []wire.Entity,
	identify func(*http.Request) (viewerauth.Identity, bool), cfg func() *config.Config) StatusSource {
	return func(r *http.Request) ([]wire.Entity, bool) {
		who, ok := identify(r)
		if !ok {
			return nil, false
		}
		full := ""
		if m := entityPath.FindStringSubmatch(r.URL.Path); m != nil {
			full = m[1]
		}
		all := views(full)
		f := viewerauth.FilterFor(who, cfg)
		if f == nil {
			return all, true
		}
		out := all[:0:0]
		for _, e := range all {
			if f(e.ID) {
				out = append(out, e)
			}
		}
		return out, true
	}
}

// ShellHeader asks for the page without any status: the service worker
// keeps that copy for offline starts, for whoever opens the app next.
const ShellHeader = "X-Imaging-Shell"

// prerenderScript copies the seed into the app's storage and the viewer's
// choices into cookies (see its top comment).
//
//go:embed prerender.js
var prerenderScript []byte

const prerenderScriptPath = "/web/prerender.js"

var (
	bodyOpen    = regexp.MustCompile(`<body[^>]*>`)
	loaderOpen  = regexp.MustCompile(`<aside[^>]*id="app-wasm-loader"[^>]*>`)
	htmlLang    = regexp.MustCompile(`<html lang="[^"]*">`)
	titleTag    = regexp.MustCompile(`<title>[^<]*</title>`)
	firstScript = regexp.MustCompile(`<script `)
)

// pageRoute matches the app's routes: the pages prerendered per viewer.
var pageRoute = regexp.MustCompile(appRoutesPattern)

// prerender rewrites a page go-app generated for r: the viewer's statuses
// in place of go-app's empty render, the seed, the language, the title and
// a translated loader. A page it cannot read is returned as it is.
func prerender(r *http.Request, page []byte, wasmMissing bool) []byte {
	bo := bodyOpen.FindIndex(page)
	lo := loaderOpen.FindIndex(page)
	if bo == nil || lo == nil || lo[0] < bo[1] {
		return page
	}
	lc := bytes.Index(page[lo[1]:], []byte("</aside>"))
	if lc < 0 {
		return page
	}
	lc += lo[1] + len("</aside>")

	lang := viewerLang(r)
	p := ui.Prerender{URL: r.URL, Lang: lang, Now: time.Now()}
	if c, err := r.Cookie(ui.EntityCookie); err == nil && wire.ValidEntityID(c.Value) {
		p.Remembered = c.Value
	}
	if src, ok := r.Context().Value(statusKey{}).(StatusSource); ok && src != nil && r.Header.Get(ShellHeader) == "" && !wasmMissing {
		p.Entities, p.Known = src(r)
	}
	root, title, seed, ok := ui.PrerenderPage(p)
	if !ok {
		return page
	}
	var loader bytes.Buffer
	if err := loaderTmpl.Execute(&loader, loaderData{
		Text: ui.PrerenderLoading(lang), Wall: r.URL.Path == ui.WallPath, Bar: seed != nil,
	}); err != nil {
		return page
	}
	var out bytes.Buffer
	out.Grow(len(page) + len(root) + len(seed) + 1024)
	out.Write(page[:bo[1]])
	out.WriteString("\n")
	out.WriteString(root)
	if seed != nil {
		// json.Marshal escapes <, > and &: the seed cannot end the script.
		out.WriteString("\n<script type=\"application/json\" id=\"imaging-seed\">")
		out.Write(seed)
		out.WriteString("</script>")
	}
	out.WriteString("\n")
	out.Write(loader.Bytes())
	out.Write(page[lc:])

	b := out.Bytes()
	b = htmlLang.ReplaceAll(b, []byte(`<html lang="`+string(lang)+`">`))
	b = titleTag.ReplaceAllLiteral(b, []byte("<title>"+template.HTMLEscapeString(title)+"</title>"))
	// Before go-app's deferred scripts, so the seed is in the app's storage
	// before app.wasm can start.
	if i := firstScript.FindIndex(b); i != nil {
		b = append(b[:i[0]:i[0]], append([]byte(`<script defer src="`+prerenderScriptPath+`"></script>`+"\n    "), b[i[0]:]...)...)
	}
	return b
}

type loaderData struct {
	Text string
	Wall bool // dark, as the wall is
	Bar  bool // statuses are shown: a slim bar at the bottom, not a curtain
}

// loaderTmpl is go-app's loader (its ids: app.js updates the progress and
// removes it once app.wasm runs), translated. go-app's stylesheet makes it
// a full-screen curtain; over prerendered statuses it is a bar instead.
var loaderTmpl = template.Must(template.New("loader").Parse(
	`<aside id="app-wasm-loader" class="goapp-app-info"` +
		`{{if .Bar}} style="top:auto;bottom:0;height:auto;flex-direction:row;gap:10px;padding:6px 12px;opacity:.92;{{if .Wall}}background:#0b0f14;color:#e6edf3;{{end}}"` +
		`{{else if .Wall}} style="background:#0b0f14;color:#e6edf3"{{end}} role="status">
      <img alt="" src="/web/icon-192.png" id="app-wasm-loader-icon" class="goapp-logo goapp-spin"{{if .Bar}} style="width:24px;height:24px"{{end}}>
      <p class="goapp-label"{{if .Bar}} style="margin:0;font-size:15px"{{end}}>{{.Text}}</p>
      <p class="goapp-label" id="app-wasm-loader-label"{{if .Bar}} style="margin:0;font-size:15px"{{end}}>0%</p>
    </aside>`))

// viewerLang is the viewer's saved choice (the cookie the page copies from
// its storage), else the first English or French of Accept-Language.
func viewerLang(r *http.Request) ui.Lang {
	if c, err := r.Cookie(ui.LangCookie); err == nil {
		if l := ui.LangFromCookie(c.Value); l != "" {
			return l
		}
	}
	return ui.PickLang(acceptLanguages(r.Header.Get("Accept-Language")))
}

// acceptLanguages lists an Accept-Language header's tags by preference,
// leaving out q=0 ones.
func acceptLanguages(h string) []string {
	type tag struct {
		name string
		q    float64
	}
	var tags []tag
	for i, part := range strings.Split(h, ",") {
		if i >= 32 {
			break // a header of thousands of tags is not worth reading
		}
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.TrimSpace(name)
		if name == "" || name == "*" {
			continue
		}
		q := 1.0
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(k) == "q" {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				q = f
			}
		}
		if q > 0 {
			tags = append(tags, tag{name, q})
		}
	}
	sort.SliceStable(tags, func(i, j int) bool { return tags[i].q > tags[j].q })
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = t.name
	}
	return out
}
