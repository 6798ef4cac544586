package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gorilla/websocket"

	"imagingstatus/server"
	"imagingstatus/server/config"
	"imagingstatus/server/webapp"
	"imagingstatus/wire"
)

// startWith starts a hub with options of its own (the real web app, say).
func startWith(t *testing.T, cfgJSON string, o server.Options) string {
	t.Helper()
	_, base := startServer(t, cfgJSON, o)
	return base
}

// startServer starts a hub on a loopback port and stops it at the end of
// the test.
func startServer(t *testing.T, cfgJSON string, o server.Options) (*server.Server, string) {
	t.Helper()
	cfg, err := config.Parse([]byte(cfgJSON))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv := server.New(cfg, o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv, "http://" + ln.Addr().String()
}

const oneEntity = `{"plain_http":true,"entities":[{"id":"UUID0","name":"General"}]}`

// TestProxyResourcesAreAnsweredLocally: go-app would fetch /robots.txt,
// /sitemap.xml and /ads.txt from the request's Host and cache the answer
// for everyone. The hub must answer them itself and connect nowhere.
func TestProxyResourcesAreAnsweredLocally(t *testing.T) {
	// A server the request's Host points at: it must never be contacted.
	var contacted atomic.Int32
	bait, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer bait.Close()
	go func() {
		for {
			c, err := bait.Accept()
			if err != nil {
				return
			}
			contacted.Add(1)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/javascript\r\nContent-Length: 10\r\n\r\nalert(1)//")
			c.Close()
		}
	}()
	static := fstest.MapFS{
		"robots.txt": {Data: []byte("User-agent: *\nDisallow: /\n")},
		"style.css":  {Data: []byte("body{}")},
		"sub/x.css":  {Data: []byte("x{}")},
	}
	app, err := webapp.New(webapp.Options{Static: static, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	// public_urls names the bait, so the request passes the Host check and
	// reaches the routing: only the routing may stop the forgery.
	cfg := strings.Replace(oneEntity, `"plain_http":true`, `"plain_http":true,"public_urls":["http://`+bait.Addr().String()+`"]`, 1)
	base := startWith(t, cfg, server.Options{App: app, Static: static})
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/robots.txt", 200, "Disallow: /"},
		{"/sitemap.xml", 404, ""},
		{"/ads.txt", 404, ""},
		{"/web/", 404, ""},     // no listing
		{"/web/sub/", 404, ""}, // no listing
		{"/web/sub", 404, ""},  // a folder is not a file
		{"/web/style.css", 200, "body{}"},
	} {
		for _, host := range []string{"", bait.Addr().String()} {
			req, _ := http.NewRequest("GET", base+tc.path, nil)
			if host != "" {
				req.Host = host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.body) {
				t.Errorf("%s (Host %q): %d %q, want %d with %q", tc.path, host, resp.StatusCode, b, tc.code, tc.body)
			}
			if strings.Contains(string(b), "alert(1)") {
				t.Errorf("%s (Host %q): served what the Host's server said", tc.path, host)
			}
		}
	}
	if n := contacted.Load(); n != 0 {
		t.Fatalf("the hub connected %d times to the host named by a request", n)
	}
}

// TestForeignHostIsMisdirected: a name the hub does not own (DNS
// rebinding) gets 421 on every path, the live stream included, even with
// a matching Origin.
func TestForeignHostIsMisdirected(t *testing.T) {
	base := startWith(t, strings.Replace(oneEntity, `"plain_http":true`, `"plain_http":true,"public_urls":["https://imaging.example"]`, 1), server.Options{})
	addr := strings.TrimPrefix(base, "http://")
	_, port, _ := net.SplitHostPort(addr)
	for _, tc := range []struct {
		host string
		code int
	}{
		{"rebound.attacker.example", http.StatusMisdirectedRequest},
		{"rebound.attacker.example:" + port, http.StatusMisdirectedRequest},
		{"imaging.example", http.StatusOK},
		{"IMAGING.example.:" + port, http.StatusOK},
		{"localhost:" + port, http.StatusOK},
		{addr, http.StatusOK},
		{"[::1]:" + port, http.StatusOK},
	} {
		req, _ := http.NewRequest("GET", base+"/healthz", nil)
		req.Host = tc.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("Host %q: %d, want %d", tc.host, resp.StatusCode, tc.code)
		}
	}
	// The live stream with Host and Origin both forged.
	hdr := http.Header{"Origin": {"http://rebound.attacker.example:" + port}, "Host": {"rebound.attacker.example:" + port}}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, NetDial: func(string, string) (net.Conn, error) { return net.Dial("tcp", addr) }}
	ws, resp, err := d.Dial("ws://rebound.attacker.example:"+port+"/api/v1/ws", hdr)
	if err == nil {
		ws.Close()
		t.Fatal("a viewer stream was accepted for a foreign Host and Origin")
	}
	if resp == nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("foreign Host on the stream: %v, want 421", resp)
	}
	// Own Host, foreign Origin: refused too.
	ws, resp, err = websocket.DefaultDialer.Dial("ws://"+addr+"/api/v1/ws", http.Header{"Origin": {"http://rebound.attacker.example"}})
	if err == nil {
		ws.Close()
		t.Fatal("a viewer stream was accepted from a foreign Origin")
	}
	if resp != nil {
		resp.Body.Close()
	}
	// Own Host and Origin: accepted.
	ws, resp, err = websocket.DefaultDialer.Dial("ws://"+addr+"/api/v1/ws", http.Header{"Origin": {base}})
	if err != nil {
		t.Fatalf("own origin refused: %v", err)
	}
	resp.Body.Close()
	ws.Close()
}

// TestIdleConnectionsAreClosed: an idle keep-alive connection does not
// hold a file descriptor forever.
func TestIdleConnectionsAreClosed(t *testing.T) {
	base := startWith(t, oneEntity, server.Options{IdleTimeout: 300 * time.Millisecond})
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: "+strings.TrimPrefix(base, "http://")+"\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	b, err := io.ReadAll(c) // ends when the hub closes the idle connection
	if err != nil {
		t.Fatalf("the idle connection was not closed: %v", err)
	}
	if !strings.HasPrefix(string(b), "HTTP/1.1 200") {
		t.Fatalf("answer: %q", b)
	}
}

// TestOneAddressCannotTakeEveryConnection: an address holding its cap of
// connections does not keep agents or viewers from elsewhere out.
func TestOneAddressCannotTakeEveryConnection(t *testing.T) {
	cfg := strings.Replace(oneEntity, `"plain_http":true`, `"plain_http":true,"limits":{"connections_per_address":20}`, 1)
	base := startWith(t, cfg, server.Options{})
	addr := strings.TrimPrefix(base, "http://")
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	for i := 0; i < 60; i++ {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("flood dial %d: %v", i, err)
		}
		flood = append(flood, c)
	}
	// Past the cap, the flooder's connections are closed unanswered.
	last := flood[len(flood)-1]
	_, _ = io.WriteString(last, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	_ = last.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _ := last.Read(make([]byte, 64)); n != 0 {
		t.Fatal("a connection past the per-address cap was served")
	}
	// Someone else gets in at once.
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("another address was kept out by the flood: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz during the flood: %d", resp.StatusCode)
	}
}

// signedInStream signs in with token and opens the live stream.
func signedInStream(t *testing.T, base, token string) *websocket.Conn {
	t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(base + "/login?token=" + token)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	hdr := http.Header{"Origin": {base}}
	for _, c := range resp.Cookies() {
		if c.Value == token {
			t.Fatal("the cookie carries the token itself")
		}
		hdr.Add("Cookie", c.Name+"="+c.Value)
	}
	ws, wresp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/api/v1/ws", hdr)
	if err != nil {
		t.Fatalf("stream for %s: %v", token, err)
	}
	wresp.Body.Close()
	t.Cleanup(func() { ws.Close() })
	return ws
}

func snapshotIDs(t *testing.T, ws *websocket.Conn) string {
	t.Helper()
	for {
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		var m wire.ViewerMessage
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Type != wire.TypeSnapshot {
			continue
		}
		var ids []string
		for _, e := range m.Entities {
			ids = append(ids, e.ID)
		}
		return strings.Join(ids, ",")
	}
}

const reloadCfg = `{"plain_http":true,"viewers":{"auth":"token","tokens":[%TOKENS%]},
	"entities":[{"id":"UUID0","name":"General"},{"id":"UUID1","name":"Public","parent":"UUID0"},
	{"id":"UUID3","name":"Private","parent":"UUID0"}]}`

func tokensCfg(entries ...string) string {
	return strings.Replace(reloadCfg, "%TOKENS%", strings.Join(entries, ","), 1)
}

func tokenEntry(name, token, scope string) string {
	e := `{"name":"` + name + `","token_sha256":"` + config.HashToken(token) + `"`
	if scope != "" {
		e += `,"scope":["` + scope + `"]`
	}
	return e + "}"
}

// TestReloadClosesAndRescopesLiveStreams: removing a viewer token closes
// its streams, rescoping one applies to its stream, both within a second;
// a reload that changes viewers.auth is refused.
func TestReloadClosesAndRescopesLiveStreams(t *testing.T) {
	srv, base := startServer(t, tokensCfg(tokenEntry("ops", "ops-token", ""), tokenEntry("wall", "wall-token", "UUID1")), server.Options{})
	ops := signedInStream(t, base, "ops-token")
	wall := signedInStream(t, base, "wall-token")
	if got := snapshotIDs(t, ops); got != "UUID0,UUID1,UUID3" {
		t.Fatalf("ops sees %s", got)
	}
	if got := snapshotIDs(t, wall); got != "UUID1" {
		t.Fatalf("wall sees %s", got)
	}

	next, err := config.Parse([]byte(tokensCfg(tokenEntry("wall", "wall-token", "UUID3"))))
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := srv.Hub().Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	// The removed token's stream is closed.
	_ = ops.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := ops.ReadMessage(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the stream of a removed token is still open")
			}
			break
		}
	}
	if d := time.Since(began); d > time.Second {
		t.Fatalf("removed token's stream closed after %v, want within 1 s", d)
	}
	// The rescoped one sees only its new scope.
	if got := snapshotIDs(t, wall); got != "UUID3" {
		t.Fatalf("rescoped stream sees %s, want UUID3", got)
	}
	if d := time.Since(began); d > time.Second {
		t.Fatalf("rescoped after %v, want within 1 s", d)
	}

	// Dropping the viewers section would open everything: refused.
	open, err := config.Parse([]byte(`{"plain_http":true,"entities":[{"id":"UUID0","name":"General"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Hub().Reload(context.Background(), open); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("reload to viewers.auth none: %v, want a refusal that says to restart", err)
	}
	resp, err := http.Get(base + "/api/v1/entities")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after a refused reload the API answers %d to a stranger, want 401", resp.StatusCode)
	}
}
