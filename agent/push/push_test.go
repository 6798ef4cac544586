package push

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
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
	closing []int    // close codes received
	bad     []string // reports the hub's decoder refuses
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
		var pending map[string]any
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			var bad error
			switch m["type"] {
			case wire.TypeReport:
				var r wire.Report
				r, bad = wire.DecodeReport(b)
				if bad == nil && r.Repository != nil && r.Repository.ImagesFollow {
					pending = m // recorded once its pages are in, as the hub applies it
					continue
				}
			case wire.TypeImages:
				// Pages are put back into their report, so that frames
				// holds whole reports.
				_, bad = wire.DecodeImagesPage(b)
				if bad == nil && pending == nil {
					bad = fmt.Errorf("a page without its report: %v", m)
				}
				if bad == nil {
					repo := pending["repository"].(map[string]any)
					l, _ := repo["images"].([]any)
					repo["images"] = append(l, m["images"].([]any)...)
					if m["last"] != true {
						continue
					}
					delete(repo, "images_follow")
					m, pending = pending, nil
				}
			}
			f.mu.Lock()
			f.frames = append(f.frames, m)
			if bad != nil {
				f.bad = append(f.bad, bad.Error())
			}
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
	deadline := time.Now().Add(20 * time.Second) // generous: the machine may be busy
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
	// The list comes as a sequence, as the collector gives it: streamed.
	images := func(yield func(*wire.Image) bool) {
		im := wire.Image{UUID: "u", Title: "<t>", State: wire.ImageComplete, Created: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)}
		if yield(&im) {
			im.UUID, im.State = "v", wire.ImageInvalid
			yield(&im)
		}
	}
	collect := func(context.Context) Collected {
		genMu.Lock()
		defer genMu.Unlock()
		return Collected{Report: wire.Report{Type: wire.TypeReport, Figures: wire.Figures{Repository: &wire.Repository{Root: "/r", Generation: gen, ImagesTotal: 2, ImagesComplete: 1, ImagesInvalid: 1}}}, Images: images}
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
	if l, _ := repo(frames[1])["images"].([]any); len(l) != 2 || l[1].(map[string]any)["uuid"] != "v" {
		t.Fatalf("first report's image list: %v", repo(frames[1])["images"])
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
	f.mu.Lock()
	if len(f.bad) > 0 {
		t.Errorf("reports the hub refuses: %v", f.bad)
	}
	f.mu.Unlock()
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

func TestReadToken(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has ACLs, not mode bits")
	}
	cases := []struct {
		name    string
		mode    os.FileMode
		content string
		want    string // error substring; "" for success
	}{
		{"owner only", 0o600, "s3cret\n", ""},
		{"owner read-only", 0o400, "s3cret", ""},
		{"owner executable", 0o700, "s3cret", ""},
		{"group may execute", 0o610, "s3cret", ""},
		{"world readable", 0o644, "s3cret", "has mode 0644"},
		{"group readable", 0o640, "s3cret", "has mode 0640"},
		{"group writable", 0o620, "s3cret", "has mode 0620"},
		{"others readable", 0o604, "s3cret", "has mode 0604"},
		{"others writable", 0o602, "s3cret", "has mode 0602"},
		{"wide open", 0o777, "s3cret", "has mode 0777"},
		{"empty", 0o600, " \n", "is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "agent.token")
			if err := os.WriteFile(file, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(file, c.mode); err != nil { // not subject to the umask
				t.Fatal(err)
			}
			tok, err := ReadToken(file)
			if c.want == "" {
				if err != nil || tok != "s3cret" {
					t.Fatalf("ReadToken = %q, %v; want s3cret", tok, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), file) {
				t.Fatalf("ReadToken = %q, %v; want an error naming %s and mentioning %q", tok, err, file, c.want)
			}
			if c.mode&0o066 != 0 && !strings.Contains(err.Error(), "chmod 600 "+file) {
				t.Fatalf("error does not give the fix: %v", err)
			}
		})
	}

	t.Run("judged by the target of a link", func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "real.token")
		if err := os.WriteFile(target, []byte("s3cret"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(target, 0o644); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(dir, "agent.token")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadToken(link); err == nil || !strings.Contains(err.Error(), "0644") {
			t.Fatalf("a link to a world-readable token was accepted: %v", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		if _, err := ReadToken(filepath.Join(t.TempDir(), "nope")); err == nil || !strings.Contains(err.Error(), "read agent token") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("environment", func(t *testing.T) {
		t.Setenv(TokenEnv, " s3cret\n")
		if tok, err := ReadToken(""); err != nil || tok != "s3cret" {
			t.Fatalf("ReadToken = %q, %v", tok, err)
		}
		t.Setenv(TokenEnv, "")
		if _, err := ReadToken(""); err == nil || !strings.Contains(err.Error(), TokenEnv) {
			t.Fatalf("no token: %v", err)
		}
	})
}

func TestCleartext(t *testing.T) {
	cases := []struct {
		hub  string
		warn bool
	}{
		{"http://hub.example:8080", true},
		{"ws://hub.example", true},
		{"http://10.0.0.5:8080", true},
		{"http://[2001:db8::1]:8080", true},
		{"http://localhost.example", true},
		{"http://127.0.0.1.nip.io", true},
		{"https://hub.example:8443", false},
		{"wss://hub.example", false},
		{"http://localhost:8080", false},
		{"http://LOCALHOST", false},
		{"ws://localhost./", false},
		{"http://127.0.0.1:8080", false},
		{"http://127.8.9.10", false},
		{"http://[::1]:8080", false},
		{"http://[::ffff:127.0.0.1]:8080", false},
	}
	for _, c := range cases {
		endpoint, err := EndpointURL(c.hub)
		if err != nil {
			t.Fatal(err)
		}
		if got := cleartext(endpoint); got != c.warn {
			t.Errorf("cleartext(%s) = %v, want %v", endpoint, got, c.warn)
		}
	}
}

// recorder keeps the records of a logger.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
	warned  chan slog.Record // if not nil, receives the first warnings
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec)
	if rec.Level == slog.LevelWarn && r.warned != nil {
		select {
		case r.warned <- rec.Clone():
		default:
		}
	}
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) warnings() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var w []string
	for _, rec := range r.records {
		if rec.Level == slog.LevelWarn {
			w = append(w, rec.Message)
		}
	}
	return w
}

// Run says once, at start, that a plain-HTTP hub on another machine gets
// the token in clear. The context is already done: Run returns after its
// first attempt (to an address of a documentation range, never resolved).
func TestRunWarnsOfCleartextHub(t *testing.T) {
	cases := []struct {
		hub  string
		warn bool
	}{
		{"http://192.0.2.1:8080", true},
		{"ws://[2001:db8::1]:8080", true},
		{"https://192.0.2.1:8443", false},
		{"http://127.0.0.1:1", false},
	}
	for _, c := range cases {
		t.Run(c.hub, func(t *testing.T) {
			rec := &recorder{}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := Run(ctx, Config{Hub: c.hub, Token: "t", Entity: "UUID1", Logger: slog.New(rec)}, func(context.Context) Collected { return Collected{} }); err != nil {
				t.Fatal(err)
			}
			w := rec.warnings()
			if !c.warn {
				if len(w) != 0 {
					t.Fatalf("warnings %q", w)
				}
				return
			}
			if len(w) != 1 || !strings.Contains(w[0], "clear text") || !strings.Contains(w[0], "https://") {
				t.Fatalf("warnings %q, want one about the token in clear text", w)
			}
		})
	}
}

// The upgrade request names the entity, so the hub can check the token
// before it accepts a WebSocket; the hello names it too.
func TestUpgradeNamesEntity(t *testing.T) {
	type seen struct{ header, auth, hello string }
	got := make(chan seen, 1)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{header: r.Header.Get(wire.EntityHeader), auth: r.Header.Get("Authorization")}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		var h wire.Hello
		if err := c.ReadJSON(&h); err == nil {
			s.hello = h.Entity
		}
		select {
		case got <- s:
		default: // a reconnection after the test has seen the first
		}
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Hub: srv.URL, Token: "s3cret", Entity: "UUID7", Interval: time.Second,
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, func(context.Context) Collected { return Collected{Report: wire.Report{Type: wire.TypeReport}} })
	}()
	var s seen
	select {
	case s = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no upgrade request")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if s.header != "UUID7" || s.auth != "Bearer s3cret" || s.hello != "UUID7" {
		t.Fatalf("upgrade %s %q, authorization %q, hello entity %q; want UUID7 in both", wire.EntityHeader, s.header, s.auth, s.hello)
	}
}

func TestFit(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	old := time.Unix(0, 0).UTC()
	images := []wire.Image{
		{UUID: "a", State: wire.ImageComplete, Created: now},
		{UUID: "b", State: wire.ImageComplete, Created: old},
		{UUID: "c", State: wire.ImageComplete, Created: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	base := func() wire.Report {
		return wire.Report{Type: wire.TypeReport, Figures: wire.Figures{CollectedAt: now, BootTime: now.Add(-time.Hour), UptimeSeconds: 3600,
			Partitions: []wire.Partition{{Device: "/dev/sda1", Mountpoint: "/", FSType: "ext4", Total: 100, Used: 40, Free: 60, Main: true}},
			Probes:     []wire.Probe{{Name: "repository", Target: "/r", OK: true}}}}
	}
	cases := []struct {
		name  string
		edit  func(*wire.Report)
		check func(t *testing.T, in, out wire.Report)
	}{
		{"sane report unchanged", func(*wire.Report) {}, func(t *testing.T, in, out wire.Report) {
			a, _ := json.Marshal(in)
			b, _ := json.Marshal(out)
			if string(a) != string(b) {
				t.Fatalf("changed:\n%s\n%s", a, b)
			}
		}},
		{"boot time of an unset clock", func(r *wire.Report) { r.BootTime = old }, func(t *testing.T, _, out wire.Report) {
			if !out.BootTime.IsZero() {
				t.Fatalf("boot time %v", out.BootTime)
			}
		}},
		{"unknown boot time stays unknown", func(r *wire.Report) { r.BootTime = time.Time{}.UTC() }, func(t *testing.T, _, out wire.Report) {
			if !out.BootTime.IsZero() {
				t.Fatalf("boot time %v", out.BootTime)
			}
		}},
		{"image dates out of range, collector's list untouched", func(r *wire.Report) {
			r.Repository = &wire.Repository{ImagesTotal: 3, ImagesComplete: 3, Generation: 9, Images: images}
		}, func(t *testing.T, in, out wire.Report) {
			got := out.Repository.Images
			if !got[0].Created.Equal(now) || !got[1].Created.IsZero() || !got[2].Created.IsZero() || out.Repository.Generation != 9 {
				t.Fatalf("images %+v", got)
			}
			if !images[1].Created.Equal(old) || in.Repository.Images[2].Created.IsZero() {
				t.Fatal("the collector's image list was modified")
			}
		}},
		{"partition of a made-up size", func(r *wire.Report) {
			r.Partitions = append(r.Partitions, wire.Partition{Device: "s3fs", Mountpoint: "/mnt/bucket", FSType: "fuse.s3fs", Total: 1 << 63},
				wire.Partition{Device: "/dev/sdb1", Mountpoint: "/data", FSType: "xfs", Total: 10})
		}, func(t *testing.T, _, out wire.Report) {
			if len(out.Partitions) != 2 || out.Partitions[0].Mountpoint != "/" || out.Partitions[1].Mountpoint != "/data" {
				t.Fatalf("partitions %+v", out.Partitions)
			}
			if len(out.Errors) != 1 || !strings.Contains(out.Errors[0], `"/mnt/bucket"`) {
				t.Fatalf("errors %q", out.Errors)
			}
		}},
		// An unset clock at collection is the machine's problem to fix: the
		// hub refuses the report and says why.
		{"collected_at left to the hub", func(r *wire.Report) { r.CollectedAt = old }, func(t *testing.T, _, out wire.Report) {
			if !out.CollectedAt.Equal(old) {
				t.Fatalf("collected_at %v", out.CollectedAt)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base()
			c.edit(&in)
			out := Fit(in)
			c.check(t, in, out)
			if !out.CollectedAt.Equal(old) {
				b, _ := json.Marshal(out)
				if _, err := wire.DecodeReport(b); err != nil {
					t.Fatalf("fitted report refused: %v", err)
				}
			}
		})
	}
}

// The hub says why it refused an upgrade in the body of its answer; the
// agent's log must show it, not only "401 Unauthorized".
func TestRefusal(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"reason", "agent token rejected for the entity named in X-Imaging-Entity\n", ": agent token rejected for the entity named in X-Imaging-Entity"},
		{"empty", "", ""},
		{"blank", " \r\n", ""},
		{"first line only", "first\nsecond", ": first"},
		{"control characters", "a\x1b[31mb\tc\r", ": a[31mbc"},
		{"invalid UTF-8", "a\xffb", ": a?b"},
		{"long", strings.Repeat("é", 150), ": " + strings.Repeat("é", 100) + "…"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := refusal(&http.Response{Body: io.NopCloser(strings.NewReader(c.body))}); got != c.want {
				t.Fatalf("refusal(%q) = %q, want %q", c.body, got, c.want)
			}
		})
	}
	if got := refusal(&http.Response{}); got != "" {
		t.Fatalf("no body: %q", got)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "agent token rejected for the entity named in "+wire.EntityHeader, http.StatusUnauthorized)
	}))
	defer srv.Close()
	rec := &recorder{warned: make(chan slog.Record, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Hub: srv.URL, Token: "wrong", Entity: "UUID7", MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
			Logger: slog.New(rec)}, func(context.Context) Collected { return Collected{} })
	}()
	var w slog.Record
	select {
	case w = <-rec.warned:
	case <-time.After(10 * time.Second):
		t.Fatal("no warning")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var logged string
	w.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			logged = a.Value.String()
		}
		return true
	})
	if want := "hub refused the connection: 401 Unauthorized: agent token rejected for the entity named in X-Imaging-Entity"; logged != want {
		t.Fatalf("logged err %q, want %q", logged, want)
	}
}
