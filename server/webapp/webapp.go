// Package webapp serves the browser dashboard from the hub: go-app's handler
// for the pages and PWA files, and the embedded /web/ resources, with
// app.wasm sent precompressed.
package webapp

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	ui "imagingstatus/app"
	"imagingstatus/web"
)

// Options configure New. Zero values are fine.
type Options struct {
	// Version names the release for caches and the service worker; empty
	// means a hash of the embedded files (app.wasm included), so it changes
	// exactly when the app does, not on every restart.
	Version string
	// Title of the page; default "Imaging status".
	Title string
	// Static replaces the embedded web/static files (tests).
	Static fs.FS
}

const (
	themeColor = "#1d4e89"
	wasmName   = "app.wasm"
)

// workerTemplate replaces go-app's service worker so that every route of
// the app, deep links and query strings included, opens offline (see the
// comment at its top).
//
//go:embed worker.js
var workerTemplate string

// appRoutesPattern matches the paths of the app's routes (ui.Register).
var appRoutesPattern = `^/$|^` + ui.WallPath + `$|` + ui.EntityRoutePattern

func serviceWorker() string {
	pat, _ := json.Marshal(appRoutesPattern)
	return strings.ReplaceAll(workerTemplate, "{{.AppRoutes}}", string(pat))
}

// New returns the handler for every path the hub does not serve itself.
func New(o Options) (http.Handler, error) {
	fsys := o.Static
	if fsys == nil {
		fsys = web.Static()
	}
	res, err := newResources(fsys)
	if err != nil {
		return nil, err
	}
	version := o.Version
	if version == "" {
		version = res.hash
	}
	title := o.Title
	if title == "" {
		title = "Imaging status"
	}
	ui.Register()
	h := &app.Handler{
		Name:        "Imaging status",
		ShortName:   "Imaging",
		Title:       title,
		Description: "Live status of the Medulla imaging servers, per entity: can I create or deploy an image now?",
		Lang:        "en",
		Icon: app.Icon{
			Default:  "/web/icon-192.png",
			Large:    "/web/icon-512.png",
			Maskable: "/web/icon-maskable.png",
			SVG:      "/web/icon.svg",
		},
		BackgroundColor: themeColor,
		ThemeColor:      themeColor,
		// The words are the page's, translated (prerender); app.js writes
		// only the progress.
		LoadingLabel: "{progress}%",
		Styles:       []string{"/web/style.css"},
		// The SVG icon is the page's favicon; go-app pre-caches only the PNGs.
		CacheableResources:    []string{"/web/icon.svg", prerenderScriptPath},
		Resources:             res,
		Version:               version,
		ServiceWorkerTemplate: serviceWorker(),
	}
	if res.wasm != nil {
		h.WasmContentLength = strconv.Itoa(len(res.wasm.raw))
	} else {
		h.Body = func() app.HTMLBody { return app.Body().Class("wasm-missing") }
	}
	return fixGenerated(h, res.wasm == nil), nil
}

// wasmFiles are app.wasm and the compressed copies that match it.
type wasmFiles struct {
	raw, br, gz []byte
}

// resources resolves /web/... to itself and serves the embedded files; go-app
// hands every /web/ request to a resolver that is also an http.Handler.
type resources struct {
	fsys  fs.FS
	files http.Handler
	wasm  *wasmFiles
	hash  string
}

func newResources(fsys fs.FS) (*resources, error) {
	r := &resources{fsys: fsys, files: http.FileServerFS(fsys)}
	raw, err := fs.ReadFile(fsys, wasmName)
	switch {
	case err == nil:
		r.wasm = &wasmFiles{raw: raw}
		sum := sha256.Sum256(raw)
		want, _ := fs.ReadFile(fsys, wasmName+".sum")
		// Compressed copies from another build would serve an old app.
		if strings.TrimSpace(string(want)) == hex.EncodeToString(sum[:]) {
			r.wasm.br, _ = fs.ReadFile(fsys, wasmName+".br")
			r.wasm.gz, _ = fs.ReadFile(fsys, wasmName+".gz")
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, err
	}
	h, err := hashFS(fsys)
	if err != nil {
		return nil, err
	}
	r.hash = h
	return r, nil
}

// hashFS hashes every served file but the compressed copies (they follow
// app.wasm), in name order.
func hashFS(fsys fs.FS) (string, error) {
	var names []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := path.Ext(p); ext == ".br" || ext == ".gz" || ext == ".sum" {
			return nil
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return "", err
		}
		h.Write([]byte(n + "\x00" + strconv.Itoa(len(b)) + "\x00"))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// Resolve implements app.ResourceResolver: resources stay at /web/... on
// this host.
func (r *resources) Resolve(loc string) string {
	switch {
	case loc == "" || loc == "/":
		return "/"
	case strings.HasPrefix(loc, "http://"), strings.HasPrefix(loc, "https://"):
		return loc
	case loc == "web" || loc == "/web":
		return "/web"
	case strings.HasPrefix(loc, "web/"):
		return "/" + loc
	}
	return loc
}

func (r *resources) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	p, ok := strings.CutPrefix(req.URL.Path, "/web/")
	if !ok {
		http.NotFound(w, req)
		return
	}
	if p == wasmName {
		r.serveWasm(w, req)
		return
	}
	if "/web/"+p == prerenderScriptPath {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeContent(w, req, p, zeroTime, bytes.NewReader(prerenderScript))
		return
	}
	// The compressed copies are reached only through content negotiation;
	// folders are never listed.
	if strings.HasPrefix(p, wasmName+".") || p == "" || strings.HasSuffix(p, "/") || r.isDir(p) {
		http.NotFound(w, req)
		return
	}
	req2 := req.Clone(req.Context())
	req2.URL.Path = "/" + p
	r.files.ServeHTTP(w, req2)
}

func (r *resources) isDir(p string) bool {
	st, err := fs.Stat(r.fsys, path.Clean(p))
	return err == nil && st.IsDir()
}

// ProxyResources are the paths go-app would fetch from the request's own
// Host and cache for everyone (a request forgery and a poisoned cache):
// the hub answers them itself, before go-app sees them.
var ProxyResources = []string{"/robots.txt", "/sitemap.xml", "/ads.txt"}

// LocalFile serves an embedded file at the site root (robots.txt) or 404,
// never fetching anything.
func LocalFile(fsys fs.FS, name string) http.Handler {
	if fsys == nil {
		fsys = web.Static()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		b, err := fs.ReadFile(fsys, strings.TrimPrefix(name, "/"))
		if err != nil {
			http.NotFound(w, req)
			return
		}
		http.ServeContent(w, req, name, zeroTime, bytes.NewReader(b))
	})
}

func (r *resources) serveWasm(w http.ResponseWriter, req *http.Request) {
	if r.wasm == nil {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "app.wasm was not built into this hub: run `make wasm`, then rebuild and restart the hub.", http.StatusNotFound)
		return
	}
	body := r.wasm.raw
	enc := negotiate(req.Header.Get("Accept-Encoding"), r.wasm.br != nil, r.wasm.gz != nil)
	switch enc {
	case "br":
		body = r.wasm.br
	case "gzip":
		body = r.wasm.gz
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/wasm")
	hd.Add("Vary", "Accept-Encoding")
	if enc != "" {
		hd.Set("Content-Encoding", enc)
	}
	// go-app's ETag (the version) is shared by all encodings, so a range
	// could mix them: compressed bodies are always sent whole.
	if enc != "" {
		req = req.Clone(req.Context())
		req.Header.Del("Range")
	}
	http.ServeContent(w, req, wasmName, zeroTime, bytes.NewReader(body))
}

// negotiate picks br, then gzip, else identity (""), honouring q=0.
func negotiate(accept string, haveBr, haveGz bool) string {
	q := map[string]float64{}
	for _, part := range strings.Split(accept, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		v := 1.0
		for _, p := range strings.Split(params, ";") {
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.TrimSpace(k) == "q" {
				if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
					v = f
				}
			}
		}
		q[name] = v
	}
	ok := func(name string) bool {
		if v, found := q[name]; found {
			return v > 0
		}
		v, found := q["*"]
		return found && v > 0
	}
	switch {
	case haveBr && ok("br"):
		return "br"
	case haveGz && ok("gzip"):
		return "gzip"
	}
	return ""
}

var zeroTime = time.Time{}
