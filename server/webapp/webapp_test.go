package webapp

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/andybalholm/brotli"

	"imagingstatus/web"
)

// fakeWasm is a valid WASM header and some compressible filler.
var fakeWasm = append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Repeat([]byte("imaging status "), 4000)...)

func staticFS(t *testing.T, withWasm bool) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	// The real stylesheet and icons, so the manifest test sees real files.
	err := fs.WalkDir(web.Static(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(p, "app.wasm") {
			return err
		}
		b, err := fs.ReadFile(web.Static(), p)
		m[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !withWasm {
		return m
	}
	var br, gz bytes.Buffer
	bw := brotli.NewWriterLevel(&br, 5)
	bw.Write(fakeWasm)
	bw.Close()
	gw := gzip.NewWriter(&gz)
	gw.Write(fakeWasm)
	gw.Close()
	sum := sha256.Sum256(fakeWasm)
	m["app.wasm"] = &fstest.MapFile{Data: fakeWasm}
	m["app.wasm.br"] = &fstest.MapFile{Data: br.Bytes()}
	m["app.wasm.gz"] = &fstest.MapFile{Data: gz.Bytes()}
	m["app.wasm.sum"] = &fstest.MapFile{Data: []byte(hex.EncodeToString(sum[:]) + "\n")}
	return m
}

func newServer(t *testing.T, fsys fs.FS) *httptest.Server {
	t.Helper()
	h, err := New(Options{Static: fsys})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// A bare transport: the default one would ask for gzip itself and
	// decode it behind our back.
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestPageHasManifestAndStyle(t *testing.T) {
	srv := newServer(t, staticFS(t, true))
	resp, body := get(t, srv.URL+"/", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`rel="manifest"`, `href="/manifest.webmanifest"`, `href="/web/style.css"`,
		`<title>Imaging status</title>`, "Loading the status of the imaging servers",
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("page lacks %q", want)
		}
	}
	if bytes.Contains(body, []byte(`class="wasm-missing"`)) {
		t.Error("page says the WASM is missing although it is embedded")
	}
	if bytes.Contains(body, []byte("raw.githubusercontent.com")) {
		t.Error("page points at an outside host")
	}
}

func TestEntityRouteIsRegistered(t *testing.T) {
	srv := newServer(t, staticFS(t, true))
	for path, want := range map[string]int{
		"/entities/UUID1":     200,
		"/entities/public-2":  200,
		"/entities/":          404,
		"/entities/a/b":       404,
		"/no-such-page":       404,
		"/entities/UUID1?x=1": 200,
	} {
		resp, _ := get(t, srv.URL+path, nil)
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestWasmEncodings(t *testing.T) {
	srv := newServer(t, staticFS(t, true))
	decode := map[string]func(io.Reader) (io.Reader, error){
		"br":   func(r io.Reader) (io.Reader, error) { return brotli.NewReader(r), nil },
		"gzip": func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
		"":     func(r io.Reader) (io.Reader, error) { return r, nil },
	}
	for _, tc := range []struct{ accept, want string }{
		{"gzip, deflate, br, zstd", "br"},
		{"br", "br"},
		{"gzip", "gzip"},
		{"br;q=0, gzip;q=0.5", "gzip"},
		{"", ""},
		{"identity", ""},
		{"*;q=0", ""},
	} {
		resp, body := get(t, srv.URL+"/web/app.wasm", map[string]string{"Accept-Encoding": tc.accept})
		if resp.StatusCode != 200 {
			t.Fatalf("%q: status %d", tc.accept, resp.StatusCode)
		}
		if got := resp.Header.Get("Content-Encoding"); got != tc.want {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", tc.accept, got, tc.want)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/wasm" {
			t.Errorf("%q: Content-Type %q", tc.accept, ct)
		}
		if v := resp.Header.Get("Vary"); !strings.Contains(v, "Accept-Encoding") {
			t.Errorf("%q: Vary %q", tc.accept, v)
		}
		if cl := resp.Header.Get("Content-Length"); cl != "" && cl != itoa(len(body)) {
			t.Errorf("%q: Content-Length %s for %d bytes", tc.accept, cl, len(body))
		}
		r, err := decode[tc.want](bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("%q: decoding: %v", tc.accept, err)
		}
		if !bytes.Equal(raw, fakeWasm) {
			t.Errorf("%q: body does not decode to app.wasm (%d bytes)", tc.accept, len(raw))
		}
		if tc.want != "" && len(body) >= len(fakeWasm) {
			t.Errorf("%q: compressed body not smaller", tc.accept)
		}
	}
	// The copies are not served under their own names.
	if resp, _ := get(t, srv.URL+"/web/app.wasm.br", nil); resp.StatusCode != 404 {
		t.Errorf("/web/app.wasm.br = %d, want 404", resp.StatusCode)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestWasmContentLengthIsRawSize(t *testing.T) {
	srv := newServer(t, staticFS(t, true))
	_, js := get(t, srv.URL+"/app.js", nil)
	want := `const goappWasmContentLength = "` + itoa(len(fakeWasm)) + `"`
	if !bytes.Contains(js, []byte(want)) {
		t.Errorf("app.js lacks %s", want)
	}
}

func TestStaleCompressedCopiesAreNotServed(t *testing.T) {
	fsys := staticFS(t, true)
	fsys["app.wasm.sum"] = &fstest.MapFile{Data: []byte("0000\n")}
	srv := newServer(t, fsys)
	resp, body := get(t, srv.URL+"/web/app.wasm", map[string]string{"Accept-Encoding": "br, gzip"})
	if resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, fakeWasm) {
		t.Errorf("stale copies served: encoding %q", resp.Header.Get("Content-Encoding"))
	}
}

func TestManifest(t *testing.T) {
	srv := newServer(t, staticFS(t, true))
	resp, body := get(t, srv.URL+"/manifest.webmanifest", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var m struct {
		Name, ShortName string
		ThemeColor      string `json:"theme_color"`
		Icons           []struct{ Src, Type, Purpose, Sizes string }
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Name != "Imaging status" || m.ThemeColor != themeColor {
		t.Errorf("manifest %+v", m)
	}
	srcs := map[string]bool{}
	for _, ic := range m.Icons {
		srcs[ic.Src] = true
		if !strings.HasPrefix(ic.Src, "/web/") {
			t.Errorf("icon %s is not local", ic.Src)
		}
		if r, _ := get(t, srv.URL+ic.Src, nil); r.StatusCode != 200 {
			t.Errorf("icon %s: %d", ic.Src, r.StatusCode)
		}
	}
	for _, want := range []string{"/web/icon-192.png", "/web/icon-512.png", "/web/icon-maskable.png", "/web/icon.svg"} {
		if !srcs[want] {
			t.Errorf("manifest lacks icon %s", want)
		}
	}
	if _, css := get(t, srv.URL+"/web/style.css", nil); !bytes.Contains(css, []byte(".status")) {
		t.Error("style.css not served")
	}
}

func TestVersionFollowsWasm(t *testing.T) {
	a, _ := newResources(staticFS(t, true))
	fsys := staticFS(t, true)
	fsys["app.wasm"] = &fstest.MapFile{Data: append([]byte(nil), append(fakeWasm, 1)...)}
	b, _ := newResources(fsys)
	c, _ := newResources(staticFS(t, true))
	if a.hash == b.hash || a.hash != c.hash {
		t.Errorf("hashes %s %s %s: want a==c!=b", a.hash, b.hash, c.hash)
	}
	srv := newServer(t, staticFS(t, true))
	// Pages carry their viewer's statuses and have no ETag (prerender_test);
	// the app's files keep go-app's version ETag.
	resp, _ := get(t, srv.URL+"/app.js", nil)
	if resp.Header.Get("ETag") != `"`+a.hash+`"` {
		t.Errorf("ETag %s, want the hash %s", resp.Header.Get("ETag"), a.hash)
	}
}

func TestWithoutWasm(t *testing.T) {
	srv := newServer(t, staticFS(t, false))
	resp, body := get(t, srv.URL+"/", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
	for _, want := range []string{`class="wasm-missing"`, "was not built", "make wasm"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("page lacks %q", want)
		}
	}
	resp, body = get(t, srv.URL+"/web/app.wasm", nil)
	if resp.StatusCode != 404 || !bytes.Contains(body, []byte("make wasm")) {
		t.Errorf("GET /web/app.wasm = %d %q", resp.StatusCode, body)
	}
}

func TestEmbeddedDefault(t *testing.T) {
	// Works whether or not `make wasm` has run.
	h, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 {
		t.Fatalf("GET / = %d", rec.Code)
	}
}

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		accept string
		br, gz bool
		want   string
	}{
		{"br, gzip", true, true, "br"},
		{"br, gzip", false, true, "gzip"},
		{"br, gzip", false, false, ""},
		{"GZIP", true, true, "gzip"},
		{"*", true, true, "br"},
		{"gzip;q=1.0, br;q=0", true, true, "gzip"},
		{"deflate", true, true, ""},
		{" br ; q=0.8 ", true, true, "br"},
	} {
		if got := negotiate(tc.accept, tc.br, tc.gz); got != tc.want {
			t.Errorf("negotiate(%q, %v, %v) = %q, want %q", tc.accept, tc.br, tc.gz, got, tc.want)
		}
	}
}
