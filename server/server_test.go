package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"imagingstatus/server"
	"imagingstatus/server/config"
	"imagingstatus/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, cfgJSON string) string { return startWith(t, cfgJSON, server.Options{}) }

const scoped = `{"plain_http":true,"viewers":{"auth":"token","tokens":[
	{"name":"wall","token_sha256":"%WALL%","scope":["UUID1"]}]},
	"entities":[{"id":"UUID0","name":"General"},{"id":"UUID1","name":"Public","parent":"UUID0"},
	{"id":"UUID2","name":"Lab","parent":"UUID1"},{"id":"UUID3","name":"Private","parent":"UUID0"}]}`

func TestViewerScopeAppliesToRESTAndWebSocket(t *testing.T) {
	base := start(t, strings.Replace(scoped, "%WALL%", config.HashToken("wall-token"), 1))
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}

	// Before signing in: nothing is readable.
	for _, p := range []string{"/api/v1/entities", "/api/v1/entities/UUID1", "/api/v1/entities/UUID1/ready", "/api/v1/ws"} {
		resp, err := c.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without sign-in: %d", p, resp.StatusCode)
		}
	}
	resp, err := c.Get(base + "/login?token=wall-token&next=/api/v1/entities")
	if err != nil {
		t.Fatal(err)
	}
	var es []wire.Entity
	if err := json.NewDecoder(resp.Body).Decode(&es); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var ids []string
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	if strings.Join(ids, ",") != "UUID1,UUID2" {
		t.Fatalf("scoped list: %v", ids)
	}
	for p, want := range map[string]int{"/api/v1/entities/UUID2": 200, "/api/v1/entities/UUID3": 404, "/api/v1/entities/UUID0/ready": 404, "/api/v1/entities/UUID3/history": 404} {
		resp, err := c.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", p, resp.StatusCode, want)
		}
	}

	// The live stream carries the cookie and only the scope.
	u, _ := url.Parse(base)
	hdr := http.Header{"Origin": {base}}
	for _, ck := range jar.Cookies(u) {
		hdr.Add("Cookie", ck.Name+"="+ck.Value)
	}
	ws, wresp, err := websocket.DefaultDialer.Dial("ws://"+u.Host+"/api/v1/ws", hdr)
	if err != nil {
		t.Fatal(err)
	}
	wresp.Body.Close()
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(3 * time.Second))
	var snap wire.ViewerMessage
	if err := ws.ReadJSON(&snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Entities) != 2 || snap.Entities[0].ID != "UUID1" {
		t.Fatalf("scoped snapshot: %+v", snap.Entities)
	}
}

func TestSecurityHeaders(t *testing.T) {
	base := start(t, `{"plain_http":true,"entities":[{"id":"UUID0","name":"General"}]}`)
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	for k, want := range map[string]string{
		"Content-Security-Policy": "script-src 'self' 'wasm-unsafe-eval'",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
	} {
		if !strings.Contains(h.Get(k), want) {
			t.Errorf("%s: %q, want it to contain %q", k, h.Get(k), want)
		}
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Error("CSP lacks frame-ancestors")
	}
	// A hostile Host header does not reach the policy.
	req, _ := http.NewRequest("GET", base+"/healthz", nil)
	req.Host = "evil.example; script-src *"
	resp, err = http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if strings.Contains(resp.Header.Get("Content-Security-Policy"), "evil") {
			t.Fatal("Host header injected into the CSP")
		}
	}
}
