package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"imagingstatus/server/api"
	"imagingstatus/server/config"
	"imagingstatus/server/store"
	"imagingstatus/server/viewerauth"
	"imagingstatus/wire"
)

// The tree of these tests: General (A) with Sales (B) below it and
// Sales-North (C) below that; Partners (D) is a root of its own. Two viewer
// tokens: "sales" sees B and its subtree, "all" sees everything.
const (
	salesToken = "sales-viewer-token-0123456789abcdef"
	allToken   = "all-viewer-token-0123456789abcdef"
)

func testConfig(t *testing.T, auth string) *config.Config {
	t.Helper()
	viewers := ""
	if auth != "" {
		viewers = `,"viewers":{"auth":"` + auth + `","tokens":[
			{"name":"sales","token_sha256":"` + config.HashToken(salesToken) + `","scope":["B"]},
			{"name":"all","token_sha256":"` + config.HashToken(allToken) + `"}]}`
	}
	c, err := config.Parse([]byte(`{"plain_http":true,"entities":[
		{"id":"A","name":"General"},
		{"id":"B","name":"Sales","parent":"A"},
		{"id":"C","name":"Sales-North","parent":"B"},
		{"id":"D","name":"Partners"}]` + viewers + `}`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fakeSource is a Source with fixed views; its errors are set per test.
type fakeSource struct {
	cfg       *config.Config
	views     map[string]wire.Entity
	history   map[string][]store.Change
	listErr   error // Entities
	entityErr error // Entity
	histErr   error // History
	health    error // Health
}

func newSource(cfg *config.Config) *fakeSource {
	since := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	return &fakeSource{
		cfg: cfg,
		views: map[string]wire.Entity{
			"A": {ID: "A", Name: "General", Status: wire.StatusAvailable, Since: since, ServedByEntity: "A"},
			"B": {ID: "B", Name: "Sales", Parent: "A", Status: wire.StatusOffline, Reason: "no frame for 15 s (3 missed pings)", Since: since, ServedByEntity: "A"},
			"C": {ID: "C", Name: "Sales-North", Parent: "B", Status: wire.StatusConnectionError, Reason: "probe imaging-api failed", Since: since, ServedByEntity: "C"},
			"D": {ID: "D", Name: "Partners", Status: wire.StatusNotLinked, Since: since},
		},
		history: map[string][]store.Change{
			"B": {{Entity: "B", At: since, From: wire.StatusAvailable, To: wire.StatusOffline, Reason: "no frame"}},
		},
	}
}

func (s *fakeSource) Entities(context.Context) ([]wire.Entity, error) {
	if s.listErr != nil {
		return nil, s.listErr
	}
	var out []wire.Entity
	for _, id := range []string{"A", "B", "C", "D"} {
		out = append(out, s.views[id])
	}
	return out, nil
}

func (s *fakeSource) Entity(_ context.Context, id string) (wire.Entity, bool, error) {
	if s.entityErr != nil {
		return wire.Entity{}, false, s.entityErr
	}
	e, ok := s.views[id]
	return e, ok, nil
}

func (s *fakeSource) History(id string, limit int) ([]store.Change, error) {
	if s.histErr != nil {
		return nil, s.histErr
	}
	h := s.history[id]
	if limit <= 0 {
		return h, nil
	}
	return h[:min(len(h), limit)], nil
}

// Series has a history for server A only.
func (s *fakeSource) Series(entity, figure string, from, to time.Time) ([]wire.Point, error) {
	if entity != "A" {
		return []wire.Point{}, nil
	}
	return []wire.Point{{T: to.Add(-time.Hour), V: 1}, {T: to, V: 2}}, nil
}

// Summary is the view, reduced as the hub's summaries are.
func (s *fakeSource) Summary(id string) (wire.Entity, bool) {
	e, ok := s.views[id]
	return wire.Summarize(e), ok
}

func (s *fakeSource) Config() *config.Config { return s.cfg }
func (s *fakeSource) Health() error          { return s.health }

// serve registers the routes behind viewer authentication of cfg.
func serve(t *testing.T, src *fakeSource) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	auth := viewerauth.New(func() *config.Config { return src.cfg }, false)
	api.Register(mux, src, slog.New(slog.NewTextHandler(io.Discard, nil)), auth.Protect)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

type answer struct {
	code int
	body string
	hdr  http.Header
}

func get(t *testing.T, ts *httptest.Server, path, token string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, string(b), resp.Header}
}

func TestRoutes(t *testing.T) {
	tests := []struct {
		name  string
		path  string
		code  int
		holds []string // fragments of the body
	}{
		{"list", "/api/v1/entities", 200, []string{`"id": "A"`, `"id": "D"`}},
		{"one entity", "/api/v1/entities/C", 200, []string{`"status": "connection_error"`, `"reason": "probe imaging-api failed"`}},
		{"unknown entity", "/api/v1/entities/Z", 404, []string{`"error": "unknown entity \"Z\""`}},
		{"history", "/api/v1/entities/B/history", 200, []string{`"to": "offline"`}},
		{"empty history is a list", "/api/v1/entities/A/history", 200, []string{`[]`}},
		{"history of an unknown entity", "/api/v1/entities/Z/history", 404, []string{"unknown entity"}},
		{"ready", "/api/v1/entities/A/ready", 200, []string{`"ready": true`, `"status": "available"`}},
		{"not ready: offline", "/api/v1/entities/B/ready", 503, []string{`"ready": false`, `"status": "offline"`, `"reason": "no frame for 15 s (3 missed pings)"`}},
		{"not ready: connection error", "/api/v1/entities/C/ready", 503, []string{`"ready": false`, `"status": "connection_error"`}},
		{"not ready: not linked", "/api/v1/entities/D/ready", 503, []string{`"status": "not_linked"`}},
		{"readiness of an unknown entity", "/api/v1/entities/Z/ready", 404, []string{"unknown entity"}},
		{"a long unknown id is clipped", "/api/v1/entities/" + strings.Repeat("x", 100), 404, []string{strings.Repeat("x", 64) + "…"}},
		{"healthz", "/healthz", 200, []string{"ok"}},
	}
	ts := serve(t, newSource(testConfig(t, "")))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := get(t, ts, tc.path, "")
			if a.code != tc.code {
				t.Fatalf("GET %s: %d %s, want %d", tc.path, a.code, a.body, tc.code)
			}
			for _, f := range tc.holds {
				if !strings.Contains(a.body, f) {
					t.Errorf("GET %s: body lacks %q:\n%s", tc.path, f, a.body)
				}
			}
			if cc := a.hdr.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("GET %s: Cache-Control %q, want no-store", tc.path, cc)
			}
			want := "application/json"
			if tc.path == "/healthz" {
				want = "text/plain; charset=utf-8"
			}
			if ct := a.hdr.Get("Content-Type"); ct != want {
				t.Errorf("GET %s: Content-Type %q, want %q", tc.path, ct, want)
			}
		})
	}
}

func TestReadinessBody(t *testing.T) {
	ts := serve(t, newSource(testConfig(t, "")))
	for _, tc := range []struct {
		id   string
		code int
		want api.Readiness
	}{
		{"A", 200, api.Readiness{ID: "A", Ready: true, Status: wire.StatusAvailable}},
		{"B", 503, api.Readiness{ID: "B", Ready: false, Status: wire.StatusOffline, Reason: "no frame for 15 s (3 missed pings)"}},
	} {
		a := get(t, ts, "/api/v1/entities/"+tc.id+"/ready", "")
		var got api.Readiness
		if err := json.Unmarshal([]byte(a.body), &got); err != nil {
			t.Fatalf("%s: %v\n%s", tc.id, err, a.body)
		}
		if a.code != tc.code || got != tc.want {
			t.Errorf("%s: %d %+v, want %d %+v", tc.id, a.code, got, tc.code, tc.want)
		}
	}
}

// TestScope: a viewer limited to Sales sees Sales and its subtree; every
// other entity is unknown to it (404, the same answer as an entity that
// does not exist), in the list, one entity, its history and its readiness.
func TestScope(t *testing.T) {
	ts := serve(t, newSource(testConfig(t, config.ViewerAuthToken)))
	tests := []struct {
		path, token string
		code        int
	}{
		{"/api/v1/entities/B", salesToken, 200},
		{"/api/v1/entities/C", salesToken, 200},
		{"/api/v1/entities/C/ready", salesToken, 503},
		{"/api/v1/entities/B/history", salesToken, 200},
		{"/api/v1/entities/A", salesToken, 404},
		{"/api/v1/entities/D", salesToken, 404},
		{"/api/v1/entities/A/ready", salesToken, 404},
		{"/api/v1/entities/A/history", salesToken, 404},
		{"/api/v1/entities/Z", salesToken, 404},
		{"/api/v1/entities/A", allToken, 200},
		{"/api/v1/entities/D/ready", allToken, 503},
		{"/api/v1/entities/A", "", 401},
		{"/api/v1/entities", "", 401},
		{"/api/v1/entities/A", "not-a-viewer-token", 401},
		{"/healthz", "", 200}, // for load balancers: never behind sign-in
	}
	for _, tc := range tests {
		a := get(t, ts, tc.path, tc.token)
		if a.code != tc.code {
			t.Errorf("GET %s (token %.5s…): %d %s, want %d", tc.path, tc.token, a.code, a.body, tc.code)
		}
		if tc.code == 404 && !strings.Contains(a.body, "unknown entity") {
			t.Errorf("GET %s: out of scope answers %q, want the unknown-entity answer", tc.path, a.body)
		}
	}

	ids := func(token string) []string {
		var es []wire.Entity
		if err := json.Unmarshal([]byte(get(t, ts, "/api/v1/entities", token).body), &es); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	if got := strings.Join(ids(salesToken), ","); got != "B,C" {
		t.Errorf("the sales viewer lists %s, want B,C", got)
	}
	if got := strings.Join(ids(allToken), ","); got != "A,B,C,D" {
		t.Errorf("the unscoped viewer lists %s, want A,B,C,D", got)
	}
}

// TestSourceErrors: when the hub cannot answer, every route says 503 with
// why, never 200 with an empty answer.
func TestSourceErrors(t *testing.T) {
	boom := errors.New("state file unreadable")
	tests := []struct {
		name    string
		breakIt func(*fakeSource)
		path    string
	}{
		{"list", func(s *fakeSource) { s.listErr = boom }, "/api/v1/entities"},
		{"entity", func(s *fakeSource) { s.entityErr = boom }, "/api/v1/entities/A"},
		{"readiness", func(s *fakeSource) { s.entityErr = boom }, "/api/v1/entities/A/ready"},
		{"history", func(s *fakeSource) { s.histErr = boom }, "/api/v1/entities/B/history"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newSource(testConfig(t, ""))
			tc.breakIt(src)
			a := get(t, serve(t, src), tc.path, "")
			if a.code != 503 || !strings.Contains(a.body, "hub unavailable: state file unreadable") {
				t.Fatalf("GET %s: %d %s, want 503 with the reason", tc.path, a.code, a.body)
			}
		})
	}
}

// TestHealthz: 200 "ok" while the hub can do its job, 503 with the
// reason when Health says it cannot (the state file cannot be written).
func TestHealthz(t *testing.T) {
	tests := []struct {
		name   string
		health error
		code   int
		body   string
	}{
		{"healthy", nil, 200, "ok\n"},
		{"state file not writable", errors.New("cannot write the state file: no space left on device"), 503, "cannot write the state file: no space left on device\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newSource(testConfig(t, config.ViewerAuthToken))
			src.health = tc.health
			a := get(t, serve(t, src), "/healthz", "")
			if a.code != tc.code || a.body != tc.body {
				t.Fatalf("GET /healthz: %d %q, want %d %q", a.code, a.body, tc.code, tc.body)
			}
		})
	}
}

// TestUptimeAndSeries: the shapes of the uptime and series endpoints, and
// their refusals of windows and figures they do not know.
func TestUptimeAndSeries(t *testing.T) {
	src := newSource(testConfig(t, ""))
	srv := serve(t, src)
	get := func(path string, into any) int {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if into != nil && resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode
	}
	for _, tc := range []struct {
		path      string
		code      int
		available float64 // ratio; -1: null
	}{
		{"/api/v1/entities/A/uptime", 200, 1},           // available since long before the window
		{"/api/v1/entities/B/uptime?window=7d", 200, 0}, // offline all week
		{"/api/v1/entities/A/uptime?window=1y", 400, 0},
		{"/api/v1/entities/Z/uptime", 404, 0},
	} {
		var u wire.Uptime
		if code := get(tc.path, &u); code != tc.code {
			t.Errorf("%s: %d, want %d", tc.path, code, tc.code)
			continue
		}
		if tc.code != 200 {
			continue
		}
		if u.AvailableRatio == nil || *u.AvailableRatio != tc.available || len(u.Seconds) != 4 {
			t.Errorf("%s: %+v, want available_ratio %v and four statuses", tc.path, u, tc.available)
		}
	}
	for _, tc := range []struct {
		path   string
		code   int
		points int
		unit   string
	}{
		{"/api/v1/entities/A/series?figure=repo_disk_used_bytes", 200, 2, "bytes"},
		{"/api/v1/entities/B/series?figure=load1&window=30d", 200, 2, "load"}, // B shows its server's (A's)
		{"/api/v1/entities/D/series?figure=images_complete&window=365d", 200, 0, "count"},
		{"/api/v1/entities/A/series?figure=secrets", 400, 0, ""},
		{"/api/v1/entities/A/series?figure=load1&window=2d", 400, 0, ""},
		{"/api/v1/entities/Z/series?figure=load1", 404, 0, ""},
	} {
		var s wire.Series
		if code := get(tc.path, &s); code != tc.code {
			t.Errorf("%s: %d, want %d", tc.path, code, tc.code)
			continue
		}
		if tc.code == 200 && (len(s.Points) != tc.points || s.Unit != tc.unit || s.Points == nil) {
			t.Errorf("%s: %+v, want %d points in %s", tc.path, s, tc.points, tc.unit)
		}
	}
}

// A mistyped parameter is an error, not a silent default; another method
// than GET is 405.
func TestUnknownParametersAndMethods(t *testing.T) {
	ts := serve(t, newSource(testConfig(t, "")))
	cases := []struct {
		method, path string
		code         int
		want         string
	}{
		{http.MethodGet, "/api/v1/entities?detail=1", http.StatusBadRequest, `unknown query parameter \"detail\": this endpoint takes no query parameter`},
		{http.MethodGet, "/api/v1/entities/A/uptime?windw=30d", http.StatusBadRequest, `this endpoint takes window`},
		{http.MethodGet, "/api/v1/entities/A/series?figure=load1&window=48h&x=1", http.StatusBadRequest, `this endpoint takes figure, window`},
		{http.MethodGet, "/api/v1/entities/A/uptime?window=7d", http.StatusOK, `"window": "7d"`},
		{http.MethodPost, "/api/v1/entities", http.StatusMethodNotAllowed, ""},
		{http.MethodDelete, "/api/v1/entities/A", http.StatusMethodNotAllowed, ""},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, ts.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(string(b), c.want) {
			t.Errorf("%s %s: %d %s, want %d %q", c.method, c.path, resp.StatusCode, b, c.code, c.want)
		}
		if c.code == http.StatusMethodNotAllowed && !strings.Contains(resp.Header.Get("Allow"), "GET") {
			t.Errorf("%s %s: Allow %q", c.method, c.path, resp.Header.Get("Allow"))
		}
	}
}
