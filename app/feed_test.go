package ui

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
// connections are then closed.
type fakeHub struct {
	conns   atomic.Int32
	changes int
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != ViewerPath {
		http.NotFound(w, r)
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
	time.Sleep(50 * time.Millisecond)
	c.Close(websocket.StatusGoingAway, "hub restarting")
}

func TestFeedCoalescesAndReconnects(t *testing.T) {
	hub := &fakeHub{changes: 500}
	srv := httptest.NewServer(hub)
	defer srv.Close()

	var mu sync.Mutex
	var batches []Batch
	st := &store{}
	var conns []ConnState
	f := &Feed{
		URL:      "ws" + strings.TrimPrefix(srv.URL, "http") + ViewerPath,
		Interval: 30 * time.Millisecond,
		// Longer than Interval, so "reconnecting" is not coalesced away.
		Base: 200 * time.Millisecond,
		Max:  400 * time.Millisecond,
		Deliver: func(b Batch) {
			mu.Lock()
			defer mu.Unlock()
			batches = append(batches, b)
			if b.Conn != nil {
				conns = append(conns, *b.Conn)
			}
			st.apply(b)
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		last := st.entities["UUID0"].Reason
		mu.Unlock()
		if hub.conns.Load() >= 3 && last == "connection 3 change 500" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop when its context ended")
	}

	mu.Lock()
	defer mu.Unlock()
	if hub.conns.Load() < 3 {
		t.Fatalf("only %d connections: no reconnect", hub.conns.Load())
	}
	// 3 connections × 501 frames arrived in far fewer deliveries.
	if len(batches) > 40 {
		t.Errorf("%d deliveries for ~1500 frames: not coalesced", len(batches))
	}
	if !st.loaded || len(st.entities) != 5 {
		t.Fatalf("store: loaded %v, %d entities", st.loaded, len(st.entities))
	}
	if got := st.entities["UUID0"].Reason; got != "connection 3 change 500" {
		t.Errorf("UUID0 reason %q, want the newest change", got)
	}
	var sawRetry, sawConnected bool
	for _, c := range conns {
		switch c.Phase {
		case PhaseReconnecting:
			sawRetry = true
			if c.Attempt != 1 {
				t.Errorf("attempt %d after a synced session, want 1", c.Attempt)
			}
			if !strings.Contains(c.Err, "hub restarting") {
				t.Errorf("reconnect reason %q", c.Err)
			}
		case PhaseConnected:
			sawConnected = true
		}
	}
	if !sawRetry || !sawConnected {
		t.Errorf("connection states %+v", conns)
	}
}

func TestFeedBacksOffWhenHubIsDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + ViewerPath
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
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
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
