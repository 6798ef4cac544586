package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"imagingstatus/wire"
)

// fakeHub serves the viewer socket: each connection gets a snapshot, then
// `changes` change frames in a burst for entity UUID0; the first two
// connections are then closed. When gate is set, connection n > 1 is accepted
// only once gate(n) returns, so the test decides when the feed may reconnect
// instead of guessing how long a loaded machine takes to show a state.
type fakeHub struct {
	conns   atomic.Int32
	changes int
	gate    func(ctx context.Context, n int) bool
	tries   atomic.Int32
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != wire.ViewerPath {
		http.NotFound(w, r)
		return
	}
	if try := int(h.tries.Add(1)); try > 1 && h.gate != nil && !h.gate(r.Context(), try) {
		http.Error(w, "not now", http.StatusServiceUnavailable)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	n := h.conns.Add(1)
	send := func(m wire.ViewerMessage) bool {
		b, _ := json.Marshal(m)
		return c.Write(r.Context(), websocket.MessageText, b) == nil
	}
	snap := snapshot()
	snap[0].Reason = "connection " + strconv.Itoa(int(n))
	if !send(wire.ViewerMessage{Type: wire.TypeSnapshot, HubTime: hubNow, Version: "v1", Entities: snap}) {
		return
	}
	for i := 1; i <= h.changes; i++ {
		e := availableEntity()
		e.Reason = "connection " + strconv.Itoa(int(n)) + " change " + strconv.Itoa(i)
		if !send(wire.ViewerMessage{Type: wire.TypeChange, HubTime: hubNow.Add(time.Duration(i) * time.Millisecond), Entity: &e}) {
			return
		}
	}
	if n >= 3 { // the third session stays open
		<-r.Context().Done()
		return
	}
	c.Close(websocket.StatusGoingAway, "hub restarting")
}

// TestFeedCoalescesAndReconnects makes no assumption about how fast a loaded
// machine reads, flushes or reconnects: the hub waits for the test to see each
// "reconnecting" state before it accepts the next connection, the wait for
// the final state is long but ends as soon as it is reached, and coalescing is
// checked against its own guarantee (at most one delivery per interval)
// measured over the run, not against a fixed count.
func TestFeedCoalescesAndReconnects(t *testing.T) {
	const changes = 500
	retries := make(chan struct{}, 8) // one per "reconnecting" state delivered
	hub := &fakeHub{changes: changes}
	hub.gate = func(ctx context.Context, n int) bool {
		select {
		case <-retries: // the feed has shown it lost connection n-1
			return true
		case <-ctx.Done():
			return false
		}
	}
	srv := httptest.NewServer(hub)
	defer srv.Close()

	var mu sync.Mutex
	var batches []Batch
	st := &store{}
	var conns []ConnState
	const interval = 30 * time.Millisecond
	f := &Feed{
		URL:      "ws" + strings.TrimPrefix(srv.URL, "http") + wire.ViewerPath,
		Interval: interval,
		Base:     10 * time.Millisecond,
		Max:      20 * time.Millisecond,
		Deliver: func(b Batch) {
			mu.Lock()
			defer mu.Unlock()
			batches = append(batches, b)
			if b.Conn != nil {
				conns = append(conns, *b.Conn)
				if b.Conn.Phase == PhaseReconnecting {
					retries <- struct{}{}
				}
			}
			st.apply(b)
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() { f.Run(ctx); close(done) }()

	want := "connection 3 change " + strconv.Itoa(changes)
	deadline := time.Now().Add(2 * time.Minute) // a bound for a hang, not a speed
	for time.Now().Before(deadline) {
		mu.Lock()
		last := st.entities["UUID0"].Reason
		mu.Unlock()
		if hub.conns.Load() >= 3 && last == want {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Run did not stop when its context ended")
	}
	elapsed := time.Since(start)

	mu.Lock()
	defer mu.Unlock()
	if hub.conns.Load() < 3 {
		t.Fatalf("only %d connections: no reconnect", hub.conns.Load())
	}
	// Coalescing: a flush waits an interval after the previous one, so
	// however slowly the frames came, k deliveries took (k-1) intervals;
	// and 3 × (1 + changes) frames came in fewer deliveries than frames.
	frames := 3 * (1 + changes)
	if limit := 1 + int(elapsed/interval); len(batches) > limit || len(batches) >= frames {
		t.Errorf("%d deliveries for %d frames in %v: more than one per %v, not coalesced", len(batches), frames, elapsed, interval)
	}
	if !st.loaded || len(st.entities) != 5 {
		t.Fatalf("store: loaded %v, %d entities", st.loaded, len(st.entities))
	}
	if got := st.entities["UUID0"].Reason; got != want {
		t.Errorf("UUID0 reason %q, want the newest change %q", got, want)
	}
	var retry, connected int
	for _, c := range conns {
		switch c.Phase {
		case PhaseReconnecting:
			retry++
			if c.Attempt != 1 {
				t.Errorf("attempt %d after a synced session, want 1", c.Attempt)
			}
			if !strings.Contains(c.Err, "hub restarting") {
				t.Errorf("reconnect reason %q", c.Err)
			}
		case PhaseConnected:
			connected++
		}
	}
	// Every lost session was shown before the next one was accepted.
	if retry != 2 || connected == 0 {
		t.Errorf("%d reconnecting states (want 2), %d connected; states %+v", retry, connected, conns)
	}
}

func TestFeedBacksOffWhenHubIsDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + wire.ViewerPath
	srv.Close() // nothing listens any more

	var mu sync.Mutex
	var attempts []int
	f := &Feed{URL: url, Interval: 5 * time.Millisecond, Base: 10 * time.Millisecond, Max: 20 * time.Millisecond,
		Deliver: func(b Batch) {
			mu.Lock()
			defer mu.Unlock()
			if b.Conn != nil && b.Conn.Phase == PhaseReconnecting {
				attempts = append(attempts, b.Conn.Attempt)
			}
		}}
	// Run until three failed attempts were shown (however long a loaded
	// machine takes), then stop it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			mu.Lock()
			n := len(attempts)
			mu.Unlock()
			if n >= 3 {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	f.Run(ctx)
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) < 3 {
		t.Fatalf("attempts %v", attempts)
	}
	for i := 1; i < len(attempts); i++ {
		if attempts[i] <= attempts[i-1] {
			t.Fatalf("attempt count does not grow: %v", attempts)
		}
	}
}

func TestCoalescerKeepsNewestAndSnapshotWins(t *testing.T) {
	var got []Batch
	var mu sync.Mutex
	c := &coalescer{interval: time.Hour, deliver: func(b Batch) { mu.Lock(); got = append(got, b); mu.Unlock() }}
	c.last = time.Now() // hold the first flush back so everything lands in one batch
	e1, e2 := availableEntity(), availableEntity()
	e2.Reason = "newer"
	c.message(wire.ViewerMessage{Type: wire.TypeChange, Entity: &e1}, hubNow)
	c.message(wire.ViewerMessage{Type: wire.TypeSnapshot, Entities: []wire.Entity{notLinkedEntity()}, HubTime: hubNow}, hubNow)
	c.message(wire.ViewerMessage{Type: wire.TypeChange, Entity: &e2, HubTime: hubNow.Add(time.Second)}, hubNow)
	c.message(wire.ViewerMessage{Type: "bogus"}, hubNow)
	c.flush()
	c.stop()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("%d batches", len(got))
	}
	b := got[0]
	if len(b.Snapshot) != 1 || len(b.Changes) != 1 || b.Changes["UUID0"].Reason != "newer" {
		t.Errorf("batch %+v", b)
	}
	if !b.HubTime.Equal(hubNow.Add(time.Second)) {
		t.Errorf("hub time %v", b.HubTime)
	}
}

func TestCoalescerTakesChangesFrames(t *testing.T) {
	var got []Batch
	// last set: the timer waits the hour, so only the flush below delivers
	// (a zero last would flush from the timer's goroutine at once).
	c := &coalescer{interval: time.Hour, last: time.Now(), deliver: func(b Batch) { got = append(got, b) }}
	defer c.stop()
	c.message(wire.ViewerMessage{Type: wire.TypeChanges, Entities: []wire.Entity{
		{ID: "UUID1", Status: wire.StatusOffline}, {ID: "UUID2", Status: wire.StatusAvailable}}}, time.Now())
	c.message(wire.ViewerMessage{Type: wire.TypeChange, Entity: &wire.Entity{ID: "UUID1", Status: wire.StatusAvailable}}, time.Now())
	c.flush()
	if len(got) != 1 || len(got[0].Changes) != 2 || got[0].Changes["UUID1"].Status != wire.StatusAvailable || got[0].Changes["UUID2"].Status != wire.StatusAvailable {
		t.Fatalf("batches: %+v", got)
	}
}

func TestFeedDialURLCarriesTheSubscription(t *testing.T) {
	f := &Feed{URL: "ws://hub/api/v1/ws"}
	if f.dialURL() != "ws://hub/api/v1/ws" {
		t.Fatalf("no subscription: %s", f.dialURL())
	}
	cases := []struct {
		name string
		d    wire.Detail
		want string
	}{
		{"summaries only", wire.DetailNone, "ws://hub/api/v1/ws?detail="},
		{"two entities", wire.DetailOf("UUID1", "UUID2"), "ws://hub/api/v1/ws?detail=UUID1%2CUUID2"},
		{"all", wire.DetailAll, "ws://hub/api/v1/ws"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.SetDetail(c.d)
			if got := f.dialURL(); got != c.want {
				t.Fatalf("dial URL %s, want %s", got, c.want)
			}
		})
	}
}

// TestFeedSubscribesOnTheOpenConnection: a change of detail while connected
// goes to the hub as a subscribe message with the same meaning as the URL.
func TestFeedSubscribesOnTheOpenConnection(t *testing.T) {
	got := make(chan wire.Detail, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := wire.ParseDetailQuery(r.URL.Query()["detail"], r.URL.Query().Has("detail"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		got <- d
		b, _ := json.Marshal(wire.ViewerMessage{Type: wire.TypeSnapshot, HubTime: hubNow, Entities: snapshot()})
		if c.Write(r.Context(), websocket.MessageText, b) != nil {
			return
		}
		for {
			_, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			req, err := wire.DecodeViewerRequest(msg)
			if err != nil {
				t.Errorf("subscribe message %s: %v", msg, err)
				return
			}
			got <- wire.NewDetail(req.Detail)
		}
	}))
	defer srv.Close()

	synced := make(chan struct{}, 1)
	f := &Feed{URL: "ws" + strings.TrimPrefix(srv.URL, "http") + wire.ViewerPath, Deliver: func(b Batch) {
		if b.Snapshot != nil {
			select {
			case synced <- struct{}{}:
			default:
			}
		}
	}}
	f.SetDetail(wire.DetailNone) // the wall: asked on the upgrade
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	next := func() wire.Detail {
		t.Helper()
		select {
		case d := <-got:
			return d
		case <-time.After(time.Minute): // a bound for a hang, not a speed
			t.Fatal("the hub heard nothing")
			return wire.Detail{}
		}
	}
	if d := next(); !d.Equal(wire.DetailNone) {
		t.Fatalf("upgrade asked for %+v, want none in full", d)
	}
	select {
	case <-synced:
	case <-time.After(time.Minute):
		t.Fatal("no snapshot delivered")
	}
	for _, want := range []wire.Detail{wire.DetailOf("UUID1"), wire.DetailNone, wire.DetailAll} {
		f.SetDetail(want)
		if d := next(); !d.Equal(want) {
			t.Fatalf("subscribed to %+v, want %+v", d, want)
		}
	}
}
