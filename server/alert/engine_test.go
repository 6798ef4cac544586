package alert

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"imagingstatus/server/config"
	"imagingstatus/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeHub feeds summaries and records the alerts the engine publishes.
type fakeHub struct {
	cfg  atomic.Pointer[config.Config]
	feed chan batch

	mu     sync.Mutex
	alerts map[string][]wire.EntityAlert
}

type batch struct {
	snapshot bool
	views    []wire.Entity
}

func newFakeHub(cfg *config.Config) *fakeHub {
	f := &fakeHub{feed: make(chan batch)}
	f.cfg.Store(cfg)
	return f
}

func (f *fakeHub) Config() *config.Config { return f.cfg.Load() }

func (f *fakeHub) WatchSummaries(ctx context.Context, fn func(bool, []wire.Entity)) error {
	for {
		select {
		case b := <-f.feed:
			fn(b.snapshot, b.views)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (f *fakeHub) SetAlerts(_ context.Context, a map[string][]wire.EntityAlert) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alerts = a
	return nil
}

func (f *fakeHub) firing(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.alerts[id])
}

func (f *fakeHub) send(t *testing.T, snapshot bool, views ...wire.Entity) {
	t.Helper()
	select {
	case f.feed <- batch{snapshot, views}:
	case <-time.After(10 * time.Second):
		t.Fatal("the engine did not take the summaries within 10 s")
	}
}

// clock is the engine's clock, moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// memStore is a state file in memory.
type memStore struct {
	mu sync.Mutex
	b  []byte
}

func (m *memStore) AlertState() ([]byte, error) { m.mu.Lock(); defer m.mu.Unlock(); return m.b, nil }
func (m *memStore) PutAlertState(b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.b = append([]byte(nil), b...)
	return nil
}

// receiver is a real HTTP server taking webhooks.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	answer atomic.Int32 // status to answer (0: 200)
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Clone(), b})
		r.mu.Unlock()
		if code := r.answer.Load(); code != 0 {
			w.WriteHeader(int(code))
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.got) }
func (r *receiver) last() received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[len(r.got)-1]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 20 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// alertConfig is testConfig's tree with an alerts section.
func alertConfig(t *testing.T, alerts string) *config.Config {
	t.Helper()
	base := testConfig(t)
	f := base.Source
	var a config.Alerts
	if err := json.Unmarshal([]byte(alerts), &a); err != nil {
		t.Fatal(err)
	}
	f.Alerts = &a
	f.PublicURLs = []string{"https://imaging.example"}
	c, err := f.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func startEngine(t *testing.T, h Hub, o Options) (*Engine, func()) {
	t.Helper()
	if o.Tick == 0 {
		o.Tick = 10 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	e, err := New(h, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return e, sync.OnceFunc(stop)
}

func upDown(s wire.Status, since time.Time) []wire.Entity {
	return []wire.Entity{view("A", "Public", "srv-a", s, since), view("A2", "Workshop", "srv-a", s, since),
		view("B", "Branch", "srv-b", wire.StatusAvailable, t0)}
}

func TestWebhookGetsTheSignedDocumentOfAGroupedAlert(t *testing.T) {
	rcv := newReceiver(t)
	secret := filepath.Join(t.TempDir(), "hook.secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := alertConfig(t, `{"webhooks":[{"name":"ops","url":"`+rcv.URL+`/hook","format":"json","secret_file":"`+secret+`"}],
		"rules":{"offline_after":"0s"}}`)
	h := newFakeHub(cfg)
	clk := &clock{t: t0}
	e, _ := startEngine(t, h, Options{Now: clk.Now})
	h.send(t, true, upDown(wire.StatusAvailable, t0)...)
	clk.Add(time.Minute)
	h.send(t, false, upDown(wire.StatusOffline, t0.Add(time.Minute))[:2]...)
	waitFor(t, "one webhook", func() bool { return rcv.count() == 1 })

	got := rcv.last()
	if want := Sign([]byte("s3cret"), got.body); got.header.Get(SignatureHeader) != want {
		t.Fatalf("signature %q, want %q (HMAC-SHA256 of the body with the trimmed secret)", got.header.Get(SignatureHeader), want)
	}
	var doc map[string]any
	if err := json.Unmarshal(got.body, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"entity": "A", "entity_name": "Public", "status": "offline", "previous_status": "available",
		"since": t0.Add(time.Minute).Format(time.RFC3339), "server": "srv-a", "url": "https://imaging.example/entities/A", "kind": "status"}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s = %v, want %v\n%s", k, doc[k], v, got.body)
		}
	}
	if ents, _ := doc["entities"].([]any); len(ents) != 2 || !strings.Contains(doc["text"].(string), "srv-a is Offline: Public, Workshop") {
		t.Errorf("one message for the server's two entities, got %s", got.body)
	}
	waitFor(t, "the page told which alerts fire", func() bool { return h.firing("A") == 1 && h.firing("A2") == 1 && h.firing("B") == 0 })
	st := e.Status(func(id string) bool { return id == "A" })
	if len(st.Firing) != 1 || st.Firing[0].Entity != "A" {
		t.Fatalf("a viewer scoped to A sees %+v", st.Firing)
	}
	waitFor(t, "the delivery counted", func() bool {
		ts := e.Counts()
		return len(ts) == 1 && ts[0].Delivered == 1 && ts[0].LastResult == ResultOK && ts[0].Pending == 0
	})
}

func TestFormatsAreTheirToolsShapes(t *testing.T) {
	m := Message{Kind: wire.AlertStatus, Server: "srv-a", Status: wire.StatusOffline, Since: t0, At: t0.Add(time.Minute),
		Entities: []EntityRef{{"A", "Public"}, {"A2", "Workshop"}}}
	for _, c := range []struct{ format, path string }{
		{config.FormatSlack, "text"}, {config.FormatMattermost, "text"}, {config.FormatTeams, "attachments"}, {config.FormatJSON, "text"},
	} {
		b, err := Body(c.format, m, "https://imaging.example")
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil || doc[c.path] == nil {
			t.Fatalf("%s: %s (%v): no %q", c.format, b, err, c.path)
		}
		if !strings.Contains(string(b), "srv-a is Offline: Public, Workshop") {
			t.Errorf("%s body does not say what happened: %s", c.format, b)
		}
		if c.format != config.FormatJSON && !strings.Contains(string(b), "https://imaging.example/entities/A2") {
			t.Errorf("%s body has no link to the entity pages: %s", c.format, b)
		}
	}
	var card struct {
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Type string `json:"type"`
			} `json:"content"`
		} `json:"attachments"`
	}
	b, _ := Body(config.FormatTeams, m, "https://imaging.example")
	if json.Unmarshal(b, &card) != nil || len(card.Attachments) != 1 || card.Attachments[0].Content.Type != "AdaptiveCard" ||
		card.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("teams: not an Adaptive Card message: %s", b)
	}
}

func TestSlowTargetDelaysNobodyAndFailuresAreRetried(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	fast, flaky := newReceiver(t), newReceiver(t)
	flaky.answer.Store(http.StatusServiceUnavailable)
	cfg := alertConfig(t, `{"webhooks":[{"name":"slow","url":"`+slow.URL+`"},{"name":"fast","url":"`+fast.URL+`","format":"slack"},
		{"name":"flaky","url":"`+flaky.URL+`","format":"mattermost"}],"rules":{"offline_after":"0s"}}`)
	h := newFakeHub(cfg)
	clk := &clock{t: t0}
	e, _ := startEngine(t, h, Options{Now: clk.Now, RetryMin: time.Minute, RetryMax: 10 * time.Minute})
	h.send(t, true, upDown(wire.StatusOffline, t0)...)
	waitFor(t, "the fast target served while the slow one hangs", func() bool { return fast.count() == 1 })
	waitFor(t, "the flaky target tried once", func() bool { return flaky.count() == 1 })
	target := func(name string) TargetStatus {
		for _, ts := range e.Counts() {
			if ts.Name == name {
				return ts
			}
		}
		t.Fatalf("no target %s", name)
		return TargetStatus{}
	}
	waitFor(t, "the failure recorded", func() bool { return target("flaky").Failed == 1 })
	if ts := target("flaky"); ts.LastResult != ResultError || !strings.Contains(ts.LastError, "503") || ts.Pending != 1 ||
		strings.Contains(ts.LastError, flaky.URL) {
		t.Fatalf("flaky after a 503: %+v (the error names the answer, never the URL)", ts)
	}
	if flaky.count() != 1 {
		t.Fatal("retried before its backoff")
	}
	clk.Add(time.Minute)
	waitFor(t, "the retry after 1 min", func() bool { return flaky.count() == 2 })
	waitFor(t, "its failure recorded", func() bool { return target("flaky").Failed == 2 })
	flaky.answer.Store(0)
	clk.Add(2 * time.Minute) // the second wait is twice the first
	waitFor(t, "delivered at the third attempt", func() bool { return target("flaky").Delivered == 1 })
	if ts := target("flaky"); ts.Failed != 2 || ts.Pending != 0 || flaky.count() != 3 {
		t.Fatalf("flaky: %+v after %d requests", ts, flaky.count())
	}
	if ts := target("slow"); ts.Delivered != 0 || ts.Pending != 1 {
		t.Fatalf("slow: %+v", ts)
	}
}

func TestPendingDeliveriesSurviveARestart(t *testing.T) {
	rcv := newReceiver(t)
	rcv.answer.Store(http.StatusInternalServerError)
	cfg := alertConfig(t, `{"webhooks":[{"name":"ops","url":"`+rcv.URL+`"}],"rules":{"offline_after":"0s"}}`)
	st := &memStore{}
	clk := &clock{t: t0}
	h := newFakeHub(cfg)
	_, stop := startEngine(t, h, Options{Now: clk.Now, Store: st})
	h.send(t, true, upDown(wire.StatusOffline, t0)...)
	waitFor(t, "a failed attempt", func() bool { return rcv.count() == 1 })
	stop()

	rcv.answer.Store(0)
	h2 := newFakeHub(cfg)
	e2, _ := startEngine(t, h2, Options{Now: clk.Now, Store: st})
	waitFor(t, "the restored alert shown", func() bool { return h2.firing("A") == 1 })
	clk.Add(time.Minute)
	waitFor(t, "the pending message delivered after the restart", func() bool { return rcv.count() == 2 })
	var doc map[string]any
	if err := json.Unmarshal(rcv.last().body, &doc); err != nil || doc["kind"] != "status" || doc["server"] != "srv-a" {
		t.Fatalf("delivered after the restart: %s", rcv.last().body)
	}
	// The same state again: the alert is not sent a second time.
	h2.send(t, true, upDown(wire.StatusOffline, t0)...)
	waitFor(t, "delivered counted", func() bool { c := e2.Counts(); return len(c) == 1 && c[0].Delivered == 1 })
	clk.Add(time.Minute)
	h2.send(t, false, view("B", "Branch", "srv-b", wire.StatusAvailable, t0))
	r := e2.rounds.Load()
	waitFor(t, "five more rounds judged", func() bool { return e2.rounds.Load() >= r+5 })
	if n := rcv.count(); n != 2 {
		t.Fatalf("%d requests: the restored alert was sent again", n)
	}
}

func TestSendTestNamesTheFailingTarget(t *testing.T) {
	ok, bad := newReceiver(t), newReceiver(t)
	bad.answer.Store(http.StatusForbidden)
	cfg := alertConfig(t, `{"webhooks":[{"name":"good","url":"`+ok.URL+`"},{"name":"broken","url":"`+bad.URL+`"}]}`)
	res, err := SendTest(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Err != nil || res[1].Target != "broken" || res[1].Err == nil || !strings.Contains(res[1].Err.Error(), "403") {
		t.Fatalf("results %+v", res)
	}
	var doc map[string]any
	if json.Unmarshal(ok.last().body, &doc) != nil || doc["kind"] != KindTest {
		t.Fatalf("test body %s", ok.last().body)
	}
	if _, err := SendTest(context.Background(), testConfig(t), Options{}); err == nil {
		t.Fatal("no targets: want an error")
	}
}

func TestUnreadableSecretRefusesToStart(t *testing.T) {
	cfg := alertConfig(t, `{"webhooks":[{"name":"ops","url":"https://x.example","secret_file":"/nonexistent/secret"}]}`)
	if _, err := New(newFakeHub(cfg), Options{}); err == nil || !strings.Contains(err.Error(), "/nonexistent/secret") {
		t.Fatalf("error %v, want it to name the file", err)
	}
}

// A reload (SIGHUP) that changes the targets takes effect at the next
// round; one whose secret file cannot be read keeps the old targets.
func TestReloadChangesTargets(t *testing.T) {
	first, second := newReceiver(t), newReceiver(t)
	cfg := alertConfig(t, `{"webhooks":[{"name":"first","url":"`+first.URL+`"}],"rules":{"offline_after":"0s"}}`)
	h := newFakeHub(cfg)
	clk := &clock{t: t0}
	e, _ := startEngine(t, h, Options{Now: clk.Now})
	h.send(t, true, upDown(wire.StatusAvailable, t0)...)

	h.cfg.Store(alertConfig(t, `{"webhooks":[{"name":"second","url":"`+second.URL+`","secret_file":"/nonexistent"}],"rules":{"offline_after":"0s"}}`))
	r := e.rounds.Load()
	waitFor(t, "a round with the unreadable secret", func() bool { return e.rounds.Load() >= r+3 })
	if c := e.Counts(); len(c) != 1 || c[0].Name != "first" {
		t.Fatalf("targets after a reload with an unreadable secret: %+v", c)
	}

	h.cfg.Store(alertConfig(t, `{"webhooks":[{"name":"second","url":"`+second.URL+`"}],"rules":{"offline_after":"0s"}}`))
	waitFor(t, "the new target in force", func() bool { c := e.Counts(); return len(c) == 1 && c[0].Name == "second" })
	h.send(t, false, upDown(wire.StatusOffline, t0)[:1]...)
	waitFor(t, "the alert at the new target", func() bool { return second.count() == 1 })
	if first.count() != 0 {
		t.Fatal("the removed target still got the alert")
	}
}
