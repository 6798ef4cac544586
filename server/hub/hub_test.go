package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"imagingstatus/server"
	"imagingstatus/server/config"
	"imagingstatus/server/hub"
	"imagingstatus/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	tokenA = "token-for-general"
	tokenB = "token-for-lab"
)

type testHub struct {
	addr string
	hub  *hub.Hub
	stop func()
}

const testEntities = `"entities":[
		{"id":"UUID0","name":"General","server":{"name":"srv-general","token_sha256":"` + "%A%" + `"}},
		{"id":"UUID1","name":"Public","parent":"UUID0"},
		{"id":"UUID2","name":"Lab","parent":"UUID0","server":{"name":"srv-lab","token_sha256":"` + "%B%" + `"}},
		{"id":"UUID9","name":"Alone"}]`

func start(t *testing.T, o hub.Options) *testHub {
	t.Helper()
	return startCfg(t, o, "", io.Discard)
}

// startCfg starts a hub whose configuration has extra top-level fields
// (e.g. `"limits":{...},`) and whose log goes to logw.
func startCfg(t *testing.T, o hub.Options, extra string, logw io.Writer) *testHub {
	t.Helper()
	return startInterval(t, o, "100ms", extra, logw)
}

// startInterval is startCfg with another interval (the deadline is three).
func startInterval(t *testing.T, o hub.Options, interval, extra string, logw io.Writer) *testHub {
	t.Helper()
	ents := strings.NewReplacer("%A%", config.HashToken(tokenA), "%B%", config.HashToken(tokenB)).Replace(testEntities)
	cfg, err := config.Parse([]byte(`{"interval":"` + interval + `","missed_pings":3,` + extra + ents + `}`))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(logw, nil))
	srv := server.New(cfg, server.Options{Logger: log, Hub: o})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	th := &testHub{addr: ln.Addr().String(), hub: srv.Hub()}
	var once sync.Once
	th.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(th.stop)
	return th
}

func (th *testHub) dialAgent(t *testing.T, token string) (*websocket.Conn, error) {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+th.addr+wire.AgentPath, http.Header{"Authorization": {"Bearer " + token}})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func send(t *testing.T, c *websocket.Conn, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if err := c.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatal(err)
	}
}

func hello(entity string) wire.Hello {
	return wire.Hello{Type: wire.TypeHello, ProtocolVersion: wire.ProtocolVersion, Entity: entity, Hostname: "h-" + entity, AgentVersion: "test"}
}

func report(ok bool) wire.Report {
	r := wire.Report{Type: wire.TypeReport, Figures: wire.Figures{Hostname: "imaging1", Probes: []wire.Probe{{Name: "repository", Target: "/repo", OK: true}}}}
	if !ok {
		r.Probes = append(r.Probes, wire.Probe{Name: "api", Target: "tcp://127.0.0.1:1", Error: "connection refused"})
	}
	return r
}

// quietAgent connects and says hello (plus a good report when report is
// set) but never reads: the test reads the socket itself, or not at all.
func (th *testHub) quietAgent(t *testing.T, entity, token string, withReport bool) *websocket.Conn {
	t.Helper()
	c, err := th.dialAgent(t, token)
	if err != nil {
		t.Fatal(err)
	}
	send(t, c, hello(entity))
	if withReport {
		send(t, c, report(true))
	}
	return c
}

// agent connects, says hello and keeps answering pings in the background.
func (th *testHub) agent(t *testing.T, entity, token string, ok bool) *websocket.Conn {
	t.Helper()
	c, err := th.dialAgent(t, token)
	if err != nil {
		t.Fatal(err)
	}
	send(t, c, hello(entity))
	send(t, c, report(ok))
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	return c
}

func (th *testHub) get(t *testing.T, id string) (wire.Entity, int) {
	t.Helper()
	resp, err := http.Get("http://" + th.addr + "/api/v1/entities/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e wire.Entity
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return e, resp.StatusCode
}

// waitStatus polls REST (test side only) until the entity has the status.
func (th *testHub) waitStatus(t *testing.T, id string, st wire.Status, reasonPart string) wire.Entity {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	var e wire.Entity
	for time.Now().Before(deadline) {
		e, _ = th.get(t, id)
		if e.Status == st && strings.Contains(e.Reason, reasonPart) {
			return e
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: status %s (%q), want %s (%q)", id, e.Status, e.Reason, st, reasonPart)
	return e
}

func TestStatusesOverTheSocket(t *testing.T) {
	th := start(t, hub.Options{})
	th.waitStatus(t, "UUID0", wire.StatusOffline, "no agent has connected")
	th.waitStatus(t, "UUID9", wire.StatusNotLinked, "")

	c := th.agent(t, "UUID0", tokenA, true)
	e := th.waitStatus(t, "UUID1", wire.StatusAvailable, "")
	if e.ServedBy != "srv-general" || !e.Inherited || e.Hostname != "imaging1" {
		t.Fatalf("inherited view: %+v", e)
	}
	send(t, c, report(false))
	th.waitStatus(t, "UUID0", wire.StatusConnectionError, "probe api (tcp://127.0.0.1:1) failed: connection refused")
	send(t, c, report(true))
	th.waitStatus(t, "UUID0", wire.StatusAvailable, "")

	// A clean close is Offline at once.
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
	th.waitStatus(t, "UUID0", wire.StatusOffline, "closed its connection")
}

func TestSilentAgentGoesOfflineWithinDeadline(t *testing.T) {
	th := start(t, hub.Options{})
	c, err := th.dialAgent(t, tokenA)
	if err != nil {
		t.Fatal(err)
	}
	// This agent never reads, so it never answers pings.
	send(t, c, hello("UUID0"))
	send(t, c, report(true))
	th.waitStatus(t, "UUID0", wire.StatusAvailable, "")
	began := time.Now()
	th.waitStatus(t, "UUID0", wire.StatusOffline, "missed pings")
	if d := time.Since(began); d > 300*time.Millisecond+time.Second {
		t.Fatalf("offline after %v, want within deadline + 1 s", d)
	}
}

func TestWrongTokenIsRefusedAndDoesNotDisturbALiveEntity(t *testing.T) {
	th := start(t, hub.Options{})
	th.agent(t, "UUID0", tokenA, true)
	th.waitStatus(t, "UUID0", wire.StatusAvailable, "")

	for _, entity := range []string{"UUID0", "UUID2"} {
		c, err := th.dialAgent(t, "wrong-token")
		if err != nil {
			t.Fatal(err)
		}
		send(t, c, hello(entity))
		_, _, err = c.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || !strings.Contains(ce.Text, "token rejected") {
			t.Fatalf("close: %v", err)
		}
	}
	// The live entity stays available; the one without a session shows the refusal.
	e := th.waitStatus(t, "UUID2", wire.StatusConnectionError, "agent token rejected")
	if e.Reason != "agent token rejected" {
		t.Fatalf("reason %q, want exactly the fixed text", e.Reason)
	}
	if e, _ := th.get(t, "UUID0"); e.Status != wire.StatusAvailable {
		t.Fatalf("live entity disturbed: %+v", e)
	}
	// The refusal expires with the deadline.
	th.waitStatus(t, "UUID2", wire.StatusOffline, "no agent has connected")
}

func TestHandshakeRefusals(t *testing.T) {
	th := start(t, hub.Options{AuthFailures: 100})
	cases := []struct {
		name  string
		hello any
		want  string
	}{
		{"bad protocol version", wire.Hello{Type: wire.TypeHello, ProtocolVersion: 99, Entity: "UUID2"}, "protocol version this hub does not support"},
		// One answer for both, so that entity ids cannot be enumerated.
		{"unknown entity", hello("UUID42"), "agent token rejected"},
		{"entity without own server", hello("UUID1"), "agent token rejected"},
		{"malformed", map[string]any{"type": "hello", "entity": "UUID2", "protocol_version": "one"}, "first message was malformed"},
	}
	for _, k := range cases {
		t.Run(k.name, func(t *testing.T) {
			c, err := th.dialAgent(t, tokenB)
			if err != nil {
				t.Fatal(err)
			}
			send(t, c, k.hello)
			_, _, err = c.ReadMessage()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || !strings.Contains(ce.Text, k.want) {
				t.Fatalf("close: %v, want %q", err, k.want)
			}
		})
	}
	th.waitStatus(t, "UUID2", wire.StatusConnectionError, "first message was malformed")
	if e, _ := th.get(t, "UUID1"); e.Status != wire.StatusOffline {
		t.Fatalf("an unattributed refusal moved UUID1: %+v", e)
	}
}

func TestFailedHandshakesAreRateLimited(t *testing.T) {
	th := start(t, hub.Options{AuthFailures: 3, AuthWindow: time.Minute})
	for i := 0; i < 3; i++ {
		if _, err := th.dialAgent(t, ""); err == nil {
			t.Fatal("empty token accepted")
		}
	}
	_, err := th.dialAgent(t, tokenA)
	if !errors.Is(err, websocket.ErrBadHandshake) {
		t.Fatalf("want a refused handshake, got %v", err)
	}
	resp, err := http.Get("http://" + th.addr + wire.AgentPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", resp.StatusCode)
	}
}

func TestMalformedReportClosesOnlyThatSession(t *testing.T) {
	th := start(t, hub.Options{})
	th.agent(t, "UUID0", tokenA, true)
	c := th.quietAgent(t, "UUID2", tokenB, false)
	send(t, c, map[string]any{"type": "report", "load": map[string]any{"load1": -3}})
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || !strings.Contains(ce.Text, "malformed report") {
		t.Fatalf("close: %v", err)
	}
	th.waitStatus(t, "UUID2", wire.StatusConnectionError, "malformed report")
	th.waitStatus(t, "UUID0", wire.StatusAvailable, "")
}

func TestFloodIsCut(t *testing.T) {
	th := start(t, hub.Options{MessagesPerInterval: 5})
	c := th.quietAgent(t, "UUID2", tokenB, false)
	b, _ := json.Marshal(report(true))
	for i := 0; i < 50; i++ {
		if c.WriteMessage(websocket.TextMessage, b) != nil {
			break
		}
	}
	th.waitStatus(t, "UUID2", wire.StatusConnectionError, "too many messages")
}

func TestSecondConnectionReplacesFirst(t *testing.T) {
	th := start(t, hub.Options{})
	first := th.quietAgent(t, "UUID0", tokenA, true)
	th.waitStatus(t, "UUID0", wire.StatusAvailable, "")
	th.agent(t, "UUID0", tokenA, false)
	var ce *websocket.CloseError
	var err error
	for {
		if _, _, err = first.ReadMessage(); err != nil {
			break
		}
	}
	if !errors.As(err, &ce) || !strings.Contains(ce.Text, "replaced by a newer connection") {
		t.Fatalf("first session close: %v", err)
	}
	th.waitStatus(t, "UUID0", wire.StatusConnectionError, "probe api")
}

func dialViewer(t *testing.T, th *testHub) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+th.addr+wire.ViewerPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	t.Cleanup(func() { c.Close() })
	return c
}

func readViewer(t *testing.T, c *websocket.Conn) wire.ViewerMessage {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	var m wire.ViewerMessage
	if err := c.ReadJSON(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// changed reads the next change or changes frame and returns its entities.
func changed(t *testing.T, c *websocket.Conn) []wire.Entity {
	t.Helper()
	m := readViewer(t, c)
	switch {
	case m.Type == wire.TypeChange && m.Entity != nil:
		return []wire.Entity{*m.Entity}
	case m.Type == wire.TypeChanges && len(m.Entities) > 0:
		return m.Entities
	}
	t.Fatalf("not a change: %+v", m)
	return nil
}

func TestViewerGetsSnapshotThenChanges(t *testing.T) {
	th := start(t, hub.Options{Version: "v-test"})
	v := dialViewer(t, th)
	snap := readViewer(t, v)
	if snap.Type != wire.TypeSnapshot || len(snap.Entities) != 4 || snap.Version != "v-test" {
		t.Fatalf("snapshot: %+v", snap)
	}
	th.agent(t, "UUID0", tokenA, true)
	seen := map[string]wire.Status{}
	for seen["UUID0"] != wire.StatusAvailable || seen["UUID1"] != wire.StatusAvailable {
		for _, e := range changed(t, v) {
			seen[e.ID] = e.Status
		}
	}
	if _, ok := seen["UUID9"]; ok {
		t.Fatal("an unrelated entity was sent as changed")
	}
}

func TestViewerFromAnotherOriginIsRefused(t *testing.T) {
	th := start(t, hub.Options{})
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+th.addr+wire.ViewerPath, http.Header{"Origin": {"https://evil.example"}})
	if err == nil {
		t.Fatal("cross-origin viewer accepted")
	}
	if resp != nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// A viewer that stops reading is dropped and never delays another viewer.
func TestStuckViewerDoesNotDelayOthers(t *testing.T) {
	th := start(t, hub.Options{ViewerWriteTimeout: 300 * time.Millisecond})
	stuck := dialViewer(t, th)
	_ = stuck // never read from again
	good := dialViewer(t, th)
	readViewer(t, good)
	c := th.agent(t, "UUID0", tokenA, true)
	for i := 0; i < 150; i++ {
		r := report(i%2 == 0)
		r.Hostname = strings.Repeat("x", 200) + string(rune('a'+i%26))
		r.Errors = []string{strings.Repeat("y", 4000)} // fill the stuck viewer's socket buffers
		send(t, c, r)
		time.Sleep(5 * time.Millisecond)
		readUntil := time.Now().Add(2 * time.Second)
		_ = good.SetReadDeadline(readUntil)
		var m wire.ViewerMessage
		if err := good.ReadJSON(&m); err != nil {
			t.Fatalf("good viewer starved at report %d: %v", i, err)
		}
	}
}

func TestRESTAndReadiness(t *testing.T) {
	th := start(t, hub.Options{})
	th.agent(t, "UUID0", tokenA, true)
	th.waitStatus(t, "UUID0", wire.StatusAvailable, "")
	cases := []struct {
		path string
		code int
		want string
	}{
		{"/api/v1/entities", 200, `"status": "not_linked"`},
		{"/api/v1/entities/UUID1/ready", 200, `"ready": true`},
		{"/api/v1/entities/UUID2/ready", 503, `"status": "offline"`},
		{"/api/v1/entities/UUID9/ready", 503, `"not_linked"`},
		{"/api/v1/entities/nope/ready", 404, "unknown entity"},
		{"/api/v1/entities/nope", 404, "unknown entity"},
		{"/healthz", 200, "ok"},
	}
	for _, k := range cases {
		resp, err := http.Get("http://" + th.addr + k.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != k.code || !strings.Contains(string(b), k.want) {
			t.Errorf("%s: %d %s, want %d with %q", k.path, resp.StatusCode, b, k.code, k.want)
		}
	}
}

func TestReloadRevokesTokensAndResnapshots(t *testing.T) {
	th := start(t, hub.Options{})
	v := dialViewer(t, th)
	readViewer(t, v)
	c := th.quietAgent(t, "UUID0", tokenA, true)
	th.waitStatus(t, "UUID0", wire.StatusAvailable, "")

	// UUID0's token changes; Lab is removed; a new entity appears.
	next, err := config.Parse([]byte(`{"interval":"100ms","missed_pings":3,"entities":[
		{"id":"UUID0","name":"General","server":{"name":"srv-general","token_sha256":"` + config.HashToken("new-token") + `"}},
		{"id":"UUID1","name":"Public","parent":"UUID0"},
		{"id":"UUID7","name":"Annex","parent":"UUID0"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := th.hub.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	var ce *websocket.CloseError
	for {
		if _, _, err = c.ReadMessage(); err != nil {
			break
		}
	}
	if !errors.As(err, &ce) || !strings.Contains(ce.Text, "revoked") {
		t.Fatalf("close: %v", err)
	}
	th.waitStatus(t, "UUID0", wire.StatusOffline, "revoked")
	for {
		m := readViewer(t, v)
		if m.Type == wire.TypeSnapshot {
			if len(m.Entities) != 3 || m.Entities[2].ID != "UUID7" {
				t.Fatalf("snapshot after reload: %+v", m.Entities)
			}
			break
		}
	}
	if _, code := th.get(t, "UUID2"); code != http.StatusNotFound {
		t.Fatalf("removed entity answers %d", code)
	}
	// The new token is accepted at once.
	th.agent(t, "UUID0", "new-token", true)
	th.waitStatus(t, "UUID0", wire.StatusAvailable, "")
}

func TestViewerSummariesAndSubscription(t *testing.T) {
	th := start(t, hub.Options{})
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+th.addr+wire.ViewerPath+"?detail=UUID1", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	defer c.Close()
	snap := readViewer(t, c)
	for _, e := range snap.Entities {
		if e.Summary != (e.ID != "UUID1") {
			t.Fatalf("snapshot: %s summary=%v", e.ID, e.Summary)
		}
	}
	// A report changes figures: UUID1 (subscribed) gets them, UUID0 only its
	// summary when the status moves.
	agent := th.agent(t, "UUID0", tokenA, true)
	got := map[string]wire.Entity{}
	for got["UUID1"].Status != wire.StatusAvailable || got["UUID0"].Status != wire.StatusAvailable {
		for _, e := range changed(t, c) {
			got[e.ID] = e
		}
	}
	if got["UUID1"].Summary || got["UUID1"].Hostname == "" || !got["UUID0"].Summary || got["UUID0"].Hostname != "" {
		t.Fatalf("full and summary: %+v / %+v", got["UUID1"], got["UUID0"])
	}
	// Same status, new report: nothing for the summary-only entity.
	send(t, agent, report(true))
	if es := changed(t, c); len(es) != 1 || es[0].ID != "UUID1" {
		t.Fatalf("a figures-only change reached a summary viewer: %+v", es)
	}
	// Subscribing to UUID0 sends it in full at once.
	if err := c.WriteJSON(wire.ViewerRequest{Type: wire.TypeSubscribe, Detail: []string{"UUID0"}}); err != nil {
		t.Fatal(err)
	}
	for full := false; !full; {
		for _, e := range changed(t, c) {
			full = full || (e.ID == "UUID0" && !e.Summary)
		}
	}
	// A malformed request closes the viewer with the reason.
	_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"nonsense"}`))
	for {
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, _, err = c.ReadMessage(); err != nil {
			break
		}
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || !strings.Contains(ce.Text, "unknown viewer message type") {
		t.Fatalf("close: %v", err)
	}
}
