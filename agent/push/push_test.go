package push

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"imagingstatus/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEndpointURL(t *testing.T) {
	cases := []struct{ in, want, err string }{
		{"https://hub.example:8443", "wss://hub.example:8443/api/v1/agent", ""},
		{"http://127.0.0.1:8080/", "ws://127.0.0.1:8080/api/v1/agent", ""},
		{"wss://hub/base", "wss://hub/base/api/v1/agent", ""},
		{"ws://hub/api/v1/agent", "ws://hub/api/v1/agent", ""},
		{"ftp://hub", "", "scheme must be https"},
		{"https://", "", "has no host"},
	}
	for _, c := range cases {
		got, err := EndpointURL(c.in)
		if c.err != "" {
			if err == nil || !contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
func TestBackoff(t *testing.T) {
	min, max := 500*time.Millisecond, 8*time.Second
	cases := []struct {
		n        int
		r        float64
		lo, hi   time.Duration
		describe string
	}{
		{0, 0, 250 * time.Millisecond, 250 * time.Millisecond, "first wait, no jitter"},
		{0, 0.999, 250 * time.Millisecond, 500 * time.Millisecond, "first wait, full jitter"},
		{3, 0.5, 3 * time.Second, 3 * time.Second, "grows exponentially"},
		{10, 0, 4 * time.Second, 4 * time.Second, "capped, lower half"},
		{100, 0.999, 4 * time.Second, 8 * time.Second, "capped, no overflow"},
	}
	for _, c := range cases {
		if d := Backoff(c.n, min, max, c.r); d < c.lo || d > c.hi {
			t.Errorf("%s: Backoff(%d, r=%v) = %v, want in [%v, %v]", c.describe, c.n, c.r, d, c.lo, c.hi)
		}
	}
}

// fakeHub records what agents send and can drop connections.
type fakeHub struct {
	mu      sync.Mutex
	auth    []string
	frames  []map[string]any
	conns   []*websocket.Conn
	closing []int // close codes received
}

func (f *fakeHub) handler(t *testing.T) http.Handler {
	up := websocket.Upgrader{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		f.mu.Lock()
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.conns = append(f.conns, c)
		f.mu.Unlock()
		c.SetCloseHandler(func(code int, text string) error {
			f.mu.Lock()
			f.closing = append(f.closing, code)
			f.mu.Unlock()
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
			return nil
		})
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			f.mu.Lock()
			f.frames = append(f.frames, m)
			f.mu.Unlock()
		}
	})
}

func (f *fakeHub) snapshot() (auth []string, frames []map[string]any, closing []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.auth...), append([]map[string]any(nil), f.frames...), append([]int(nil), f.closing...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPushLoop(t *testing.T) {
	f := &fakeHub{}
	srv := httptest.NewServer(f.handler(t))
	defer srv.Close()

	gen := uint64(1)
	var genMu sync.Mutex
	collect := func(context.Context) wire.Report {
		genMu.Lock()
		defer genMu.Unlock()
		return wire.Report{Type: wire.TypeReport, Repository: &wire.Repository{Generation: gen, Images: []wire.Image{{UUID: "u", State: wire.ImageComplete}}, ImagesTotal: 1, ImagesComplete: 1}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Hub: srv.URL, Token: "s3cret", Entity: "UUID1", Interval: 50 * time.Millisecond,
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, collect)
	}()

	waitFor(t, "hello and three reports", func() bool { _, fr, _ := f.snapshot(); return len(fr) >= 4 })
	auth, frames, _ := f.snapshot()
	if auth[0] != "Bearer s3cret" {
		t.Fatalf("authorization header %q", auth[0])
	}
	if frames[0]["type"] != "hello" || frames[0]["entity"] != "UUID1" || frames[0]["protocol_version"] != float64(1) {
		t.Fatalf("hello: %v", frames[0])
	}
	repo := func(m map[string]any) map[string]any { return m["repository"].(map[string]any) }
	if _, ok := repo(frames[1])["images"]; !ok {
		t.Fatal("first report lacks the image list")
	}
	if repo(frames[2])["images_omitted"] != true || repo(frames[2])["images"] != nil {
		t.Fatalf("unchanged list was sent again: %v", repo(frames[2]))
	}
	genMu.Lock()
	gen = 2
	genMu.Unlock()
	waitFor(t, "a report with the new list", func() bool {
		_, fr, _ := f.snapshot()
		last := repo(fr[len(fr)-1])
		return last["generation"] == float64(2) && last["images"] != nil
	})

	// The hub drops the connection: the agent comes back with a hello and a full report.
	f.mu.Lock()
	_ = f.conns[0].Close()
	f.mu.Unlock()
	waitFor(t, "reconnection", func() bool { a, _, _ := f.snapshot(); return len(a) == 2 })
	waitFor(t, "hello after reconnect", func() bool {
		_, fr, _ := f.snapshot()
		hellos := 0
		for _, m := range fr {
			if m["type"] == "hello" {
				hellos++
			}
		}
		return hellos == 2
	})

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	waitFor(t, "a clean close frame", func() bool {
		_, _, cl := f.snapshot()
		return len(cl) == 1 && cl[0] == websocket.CloseNormalClosure
	})
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
}

func TestRunRejectsBadConfig(t *testing.T) {
	ctx := context.Background()
	if err := Run(ctx, Config{Hub: "ftp://x", Token: "t"}, nil); err == nil {
		t.Fatal("bad URL accepted")
	}
	if err := Run(ctx, Config{Hub: "http://x"}, nil); err == nil || !contains(err.Error(), "no agent token") {
		t.Fatalf("missing token: %v", err)
	}
}
