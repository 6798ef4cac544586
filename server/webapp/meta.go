package webapp

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
)

// fixGenerated corrects two things go-app generates for every hub:
//   - the manifest's icons other than the maskable one carry an empty
//     "purpose" (Chromium reads it as "any", other readers may not): they
//     get "any";
//   - og:url and og:image are built from Handler.Domain, which a hub
//     reached under several names cannot know: left empty they read
//     "https:///wall" and "https://", placeholders that are removed.
//
// and the pages (the app's routes) get the viewer's statuses (prerender).
// Everything else (status, headers, 304s) passes through unchanged.
func fixGenerated(next http.Handler, missingWasm bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		if len(r.URL.Path) > 4 && r.URL.Path[:5] == "/web/" {
			next.ServeHTTP(w, r) // static files and app.wasm: streamed as they are
			return
		}
		page := pageRoute.MatchString(r.URL.Path)
		if page {
			// go-app answers 304 to its version's ETag on every path; a
			// page now carries statuses, so the browser must not reuse one.
			r = r.Clone(r.Context())
			r.Header.Del("If-None-Match")
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusOK {
			switch ct := rec.Header().Get("Content-Type"); {
			case r.URL.Path == "/manifest.webmanifest":
				body = fixManifest(body)
			case len(ct) >= 9 && ct[:9] == "text/html":
				body = placeholderOG.ReplaceAll(body, nil)
				if page {
					body = prerender(r, body, missingWasm)
				}
			}
		}
		if page {
			// One viewer's statuses: never kept by a cache, nor given to
			// another viewer (the service worker keeps a status-free shell).
			rec.Header().Del("ETag")
			rec.Header().Set("Cache-Control", "no-store")
			rec.Header().Set("Vary", "Cookie, Accept-Language, Authorization")
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		if w.Header().Get("Content-Length") != "" {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.WriteHeader(rec.Code)
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
	})
}

// placeholderOG matches go-app's og:url and og:image without a domain,
// its two attributes in either order (go-app writes them from a map).
var placeholderOG = regexp.MustCompile(`<meta (?:property="og:(?:url|image)" content="https://(?:/[^"]*)?"|content="https://(?:/[^"]*)?" property="og:(?:url|image)")>\s*`)

// fixManifest gives every icon without a purpose the purpose "any"; a
// manifest it cannot read is left as it is.
func fixManifest(b []byte) []byte {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return b
	}
	icons, _ := m["icons"].([]any)
	for _, ic := range icons {
		if i, ok := ic.(map[string]any); ok {
			if p, _ := i["purpose"].(string); p == "" {
				i["purpose"] = "any"
			}
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return b
	}
	return out.Bytes()
}
