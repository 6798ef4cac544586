package webapp

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// The worker is ours, filled by go-app: versioned cache, the whole
// pre-cache list, and the app's routes answered by the cached shell.
func TestServiceWorker(t *testing.T) {
	srv := newServer(t, staticFS(t, true))
	res, _ := newResources(staticFS(t, true))
	resp, body := get(t, srv.URL+"/app-worker.js", nil)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
		t.Fatalf("GET /app-worker.js = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	js := string(body)
	if strings.Contains(js, "{{") {
		t.Fatalf("unfilled template:\n%s", js)
	}
	if !strings.Contains(js, `const cacheName = "imaging-status-`+res.hash+`";`) {
		t.Error("the cache is not named after the version")
	}
	m := regexp.MustCompile(`const precache = (\[.*?\]);`).FindStringSubmatch(js)
	if m == nil {
		t.Fatal("no pre-cache list")
	}
	var pre []string
	if err := json.Unmarshal([]byte(m[1]), &pre); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/", "/app.js", "/app.css", "/wasm_exec.js", "/manifest.webmanifest", "/web/app.wasm",
		"/web/style.css", "/web/icon-192.png", "/web/icon-512.png", "/web/icon-maskable.png", "/web/icon.svg"} {
		found := false
		for _, p := range pre {
			found = found || p == want
		}
		if !found {
			t.Errorf("pre-cache lacks %s: %v", want, pre)
		}
	}
	// Every pre-cached URL is served: one failure would fail the install.
	for _, p := range pre {
		if r, _ := get(t, srv.URL+p, nil); r.StatusCode != 200 {
			t.Errorf("pre-cached %s answers %d", p, r.StatusCode)
		}
	}
	m = regexp.MustCompile(`const appRoutes = new RegExp\((".*?")\);`).FindStringSubmatch(js)
	if m == nil {
		t.Fatal("no route pattern")
	}
	var pat string
	if err := json.Unmarshal([]byte(m[1]), &pat); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(pat) // the same syntax in JS for this pattern
	for path, want := range map[string]bool{
		"/": true, "/wall": true, "/entities/UUID1": true, "/entities/a.b_c-1": true,
		"/api/v1/entities": false, "/web/app.wasm": false, "/app.js": false, "/walls": false, "/entities/": false,
	} {
		if re.MatchString(path) != want {
			t.Errorf("route pattern on %s: %v, want %v", path, !want, want)
		}
		// and the hub agrees on which paths are pages
		if r, _ := get(t, srv.URL+path, nil); want && r.StatusCode != 200 {
			t.Errorf("GET %s = %d", path, r.StatusCode)
		}
	}
}
