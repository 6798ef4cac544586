package webapp

import (
	"encoding/json"
	"strings"
	"testing"
)

// Every manifest icon has a real purpose: the maskable one "maskable",
// the others "any".
func TestManifestIconPurposes(t *testing.T) {
	srv := newServer(t, staticFS(t, true))
	resp, body := get(t, srv.URL+"/manifest.webmanifest", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var m struct {
		Icons []struct{ Src, Purpose string }
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, ic := range m.Icons {
		got[ic.Src] = ic.Purpose
	}
	want := map[string]string{"/web/icon-192.png": "any", "/web/icon-512.png": "any", "/web/icon.svg": "any", "/web/icon-maskable.png": "maskable"}
	for src, p := range want {
		if got[src] != p {
			t.Errorf("icon %s purpose %q, want %q (all: %v)", src, got[src], p, got)
		}
	}
}

// Pages carry no og:url or og:image without a host ("https:///wall").
func TestNoPlaceholderOpenGraph(t *testing.T) {
	srv := newServer(t, staticFS(t, true))
	for _, p := range []string{"/", "/wall", "/entities/UUID1"} {
		resp, body := get(t, srv.URL+p, nil)
		page := string(body)
		if resp.StatusCode != 200 || !strings.Contains(page, `property="og:title"`) {
			t.Fatalf("%s: %d, not a page:\n%.300s", p, resp.StatusCode, page)
		}
		if strings.Contains(page, "https:///") || strings.Contains(page, `content="https://"`) || strings.Contains(page, "og:url") {
			i := strings.Index(page, "https://")
			t.Errorf("%s: placeholder Open Graph address in the page: %.200s", p, page[max(i-100, 0):])
		}
	}
}
