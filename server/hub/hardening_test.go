package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"imagingstatus/server/config"
	"imagingstatus/server/hub"
	"imagingstatus/server/store"
	"imagingstatus/wire"
)

// syncBuffer is a log sink safe for the hub's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dialEntity opens an agent connection that names its entity on the
// upgrade request, as current agents do.
func (th *testHub) dialEntity(t *testing.T, entity, token string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + token}, wire.EntityHeader: {entity}}
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+th.addr+wire.AgentPath, h)
	var body []byte
	if resp != nil && resp.Body != nil {
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

// TestStrangerBytesNeverReachAnEntity: a hello with an unknown field and a
// wrong token shows the fixed "agent token rejected" and nothing of what
// the stranger sent, in the entity, its history, or more than a clipped,
// escaped piece of the log.
func TestStrangerBytesNeverReachAnEntity(t *testing.T) {
	logs := &syncBuffer{}
	th := startCfg(t, hub.Options{AuthFailures: 1000}, "", logs)
	payload := "<script>alert('x')</script>\x1b[31m" + strings.Repeat("Z", 3000)
	for i := 0; i < 10; i++ {
		c, err := th.dialAgent(t, "wrong-token")
		if err != nil {
			t.Fatal(err)
		}
		send(t, c, map[string]any{"type": "hello", "protocol_version": 1, "entity": "UUID2", payload: 1})
		_, _, err = c.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Text != "agent token rejected" {
			t.Fatalf("close: %v, want the fixed reason", err)
		}
	}
	e := th.waitStatus(t, "UUID2", wire.StatusConnectionError, "")
	if e.Reason != "agent token rejected" {
		t.Fatalf("reason %q, want exactly \"agent token rejected\"", e.Reason)
	}
	if strings.Contains(logs.String(), "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ") {
		t.Fatal("more than 200 bytes of a stranger's hello reached the log")
	}
	if strings.Contains(logs.String(), "\x1b") {
		t.Fatal("a control character from a stranger reached the log unescaped")
	}
	// Identical refusals are coalesced: one line for ten.
	if n := strings.Count(logs.String(), "agent handshake refused"); n != 1 {
		t.Fatalf("%d log lines for ten identical refusals, want 1", n)
	}
}

// TestHelloIsReadWithinASmallLimit: before its token is checked, a peer
// cannot make the hub read a large message.
func TestHelloIsReadWithinASmallLimit(t *testing.T) {
	th := start(t, hub.Options{AuthFailures: 1000})
	c, err := th.dialAgent(t, "wrong-token")
	if err != nil {
		t.Fatal(err)
	}
	big, _ := json.Marshal(map[string]any{"type": "hello", "protocol_version": 1, "entity": "UUID2", "hostname": strings.Repeat("h", 64<<10)})
	_ = c.WriteMessage(websocket.TextMessage, big)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("a 64 KiB hello before authentication: %v, want close 1009 (too big)", err)
	}
	if e, _ := th.get(t, "UUID2"); e.Status != wire.StatusOffline {
		t.Fatalf("an oversized unauthenticated hello moved the entity: %+v", e)
	}
}

// TestTokenIsCheckedBeforeTheUpgrade: an agent naming its entity on the
// upgrade request with a wrong token never gets a WebSocket, and the
// answer is the same for an unknown entity, an entity without a server and
// a wrong token.
func TestTokenIsCheckedBeforeTheUpgrade(t *testing.T) {
	th := start(t, hub.Options{AuthFailures: 1000})
	var bodies []string
	for _, entity := range []string{"UUID2", "UUID42", "UUID1"} {
		_, resp, err := th.dialEntity(t, entity, "wrong-token")
		if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s with a wrong token: %v %v, want 401 before any socket", entity, err, resp)
		}
		b, _ := io.ReadAll(resp.Body)
		bodies = append(bodies, string(b))
	}
	if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Fatalf("refusals differ, entity ids can be enumerated: %q", bodies)
	}
	th.waitStatus(t, "UUID2", wire.StatusConnectionError, "agent token rejected")

	// The right token gets in; a hello naming another entity is refused.
	c, _, err := th.dialEntity(t, "UUID0", tokenA)
	if err != nil {
		t.Fatal(err)
	}
	send(t, c, hello("UUID2"))
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || !strings.Contains(ce.Text, "another entity") {
		t.Fatalf("hello for another entity: %v", err)
	}
	c, _, err = th.dialEntity(t, "UUID0", tokenA)
	if err != nil {
		t.Fatal(err)
	}
	send(t, c, hello("UUID0"))
	send(t, c, report(true))
	th.waitStatus(t, "UUID0", wire.StatusAvailable, "")
}

// TestValidTokenAdmittedFromAFloodedAddress: failures from an address
// never lock out a real agent behind it.
func TestValidTokenAdmittedFromAFloodedAddress(t *testing.T) {
	th := start(t, hub.Options{AuthFailures: 3, AuthWindow: time.Minute})
	for i := 0; i < 10; i++ {
		_, _, _ = th.dialEntity(t, "UUID2", "guess")
	}
	_, resp, _ := th.dialEntity(t, "UUID2", "guess")
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("guesses past the limit: %v, want 429", resp)
	}
	c, _, err := th.dialEntity(t, "UUID2", tokenB)
	if err != nil {
		t.Fatalf("a valid agent behind a flooded address was refused: %v", err)
	}
	send(t, c, hello("UUID2"))
	send(t, c, report(true))
	th.waitStatus(t, "UUID2", wire.StatusAvailable, "")
}

// TestUnauthenticatedHandshakesAreCapped: stalled hellos from one address
// cannot pile up; agents that name their entity still get in.
func TestUnauthenticatedHandshakesAreCapped(t *testing.T) {
	th := startCfg(t, hub.Options{AuthFailures: 1000, HelloTimeout: 30 * time.Second}, `"limits":{"handshakes_per_address":2,"handshakes":3},`, io.Discard)
	for i := 0; i < 2; i++ {
		if _, err := th.dialAgent(t, "stalled"); err != nil { // never says hello
			t.Fatal(err)
		}
	}
	_, err := th.dialAgent(t, "stalled")
	if !errors.Is(err, websocket.ErrBadHandshake) {
		t.Fatalf("third stalled handshake from one address: %v, want refused", err)
	}
	c, _, err := th.dialEntity(t, "UUID0", tokenA)
	if err != nil {
		t.Fatalf("an authenticated agent was kept out by stalled handshakes: %v", err)
	}
	send(t, c, hello("UUID0"))
	send(t, c, report(true))
	th.waitStatus(t, "UUID0", wire.StatusAvailable, "")
}

// flakyStore is a real state file whose writes fail on demand, as on a
// full file system.
type flakyStore struct {
	*store.Store
	failing atomic.Bool
}

var errNoSpace = errors.New("write /state: no space left on device")

func (f *flakyStore) Record(c []store.Change, v []wire.Entity) error {
	if f.failing.Load() {
		return errNoSpace
	}
	return f.Store.Record(c, v)
}

func (f *flakyStore) SaveViews(v []wire.Entity) error {
	if f.failing.Load() {
		return errNoSpace
	}
	return f.Store.SaveViews(v)
}

func (th *testHub) health(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + th.addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestFullDiskChangesWaitAndAreRecorded: while the state file cannot be
// written, /healthz says so, viewers are told, changes are shown live and
// wait in the queue; when space returns, every one of them is recorded.
func TestFullDiskChangesWaitAndAreRecorded(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs := &flakyStore{Store: st}
	fs.failing.Store(true)
	th := start(t, hub.Options{Store: fs, RetryMax: 50 * time.Millisecond})

	c := th.agent(t, "UUID0", tokenA, true)
	th.waitStatus(t, "UUID0", wire.StatusAvailable, "") // shown live
	waitFor(t, "healthz 503", func() bool {
		code, body := th.health(t)
		return code == http.StatusServiceUnavailable && strings.Contains(body, "no space left")
	})
	v := dialViewer(t, th)
	if snap := readViewer(t, v); !strings.Contains(snap.StateError, "cannot be written") {
		t.Fatalf("snapshot state_error %q, want the state file's trouble", snap.StateError)
	}
	send(t, c, report(false))
	th.waitStatus(t, "UUID0", wire.StatusConnectionError, "probe api")
	send(t, c, report(true))
	th.waitStatus(t, "UUID0", wire.StatusAvailable, "")
	if h, _ := st.History("UUID0", 0); len(h) != 0 {
		t.Fatalf("recorded while the disk is full: %+v", h)
	}

	fs.failing.Store(false)
	waitFor(t, "healthz ok", func() bool { code, _ := th.health(t); return code == http.StatusOK })
	var h []store.Change
	waitFor(t, "every change recorded", func() bool {
		h, _ = st.History("UUID0", 0)
		return len(h) >= 3
	})
	want := []wire.Status{wire.StatusAvailable, wire.StatusConnectionError, wire.StatusAvailable} // oldest last in h
	for i, s := range want {
		if got := h[len(h)-1-i].To; got != s {
			t.Fatalf("history %d: %s, want %s (%+v)", i, got, s, h)
		}
	}
	// Viewers hear that the trouble is over.
	waitFor(t, "a snapshot without state_error", func() bool {
		m := readViewer(t, v)
		return m.Type == wire.TypeSnapshot && m.StateError == ""
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHistoryRetentionRuns: the retention is applied by the hub itself,
// not only by a function nobody calls.
func TestHistoryRetentionRuns(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	th := startCfg(t, hub.Options{Store: st, PruneEvery: 50 * time.Millisecond}, `"history":{"max_changes":2},`, io.Discard)
	c := th.agent(t, "UUID0", tokenA, true)
	th.waitStatus(t, "UUID0", wire.StatusAvailable, "")
	for i := 0; i < 3; i++ {
		send(t, c, report(false))
		th.waitStatus(t, "UUID0", wire.StatusConnectionError, "")
		send(t, c, report(true))
		th.waitStatus(t, "UUID0", wire.StatusAvailable, "")
	}
	waitFor(t, "history cut to 2 changes", func() bool {
		h, _ := st.History("UUID0", 0)
		return len(h) == 2 && h[0].To == wire.StatusAvailable
	})
}

// TestTokenRevokedBeforeTheHelloIsRefused: a token checked on the upgrade
// request and revoked by a reload before the hello arrives does not get a
// live session.
func TestTokenRevokedBeforeTheHelloIsRefused(t *testing.T) {
	th := start(t, hub.Options{})
	c, _, err := th.dialEntity(t, "UUID0", tokenA)
	if err != nil {
		t.Fatal(err)
	}
	ents := strings.NewReplacer("%A%", config.HashToken("another-token"), "%B%", config.HashToken(tokenB)).Replace(testEntities)
	next, err := config.Parse([]byte(`{"interval":"100ms","missed_pings":3,` + ents + `}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := th.hub.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	send(t, c, hello("UUID0"))
	send(t, c, report(true))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var err2 error
	for err2 == nil {
		_, _, err2 = c.ReadMessage()
	}
	var ce *websocket.CloseError
	if !errors.As(err2, &ce) || !strings.Contains(ce.Text, "revoked") {
		t.Fatalf("session of a revoked token: %v, want closed as revoked", err2)
	}
	if e, _ := th.get(t, "UUID0"); e.Status == wire.StatusAvailable {
		t.Fatalf("a revoked token made its entity available: %+v", e)
	}
}

// TestShutdownIsPromptWithHandshakesUnderWay: a hello that never comes
// does not hold the hub's shutdown.
func TestShutdownIsPromptWithHandshakesUnderWay(t *testing.T) {
	th := start(t, hub.Options{HelloTimeout: time.Minute})
	if _, err := th.dialAgent(t, tokenA); err != nil { // never says hello
		t.Fatal(err)
	}
	c, _, err := th.dialEntity(t, "UUID2", tokenB) // authenticated, never says hello
	if err != nil {
		t.Fatal(err)
	}
	_ = c
	began := time.Now()
	th.stop()
	if d := time.Since(began); d > 10*time.Second {
		t.Fatalf("shutdown took %v with two handshakes waiting for their hello", d)
	}
}
