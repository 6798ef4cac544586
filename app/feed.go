package app

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"imagingstatus/wire"
)

// ConnPhase is the page's link to the hub.
type ConnPhase int

const (
	PhaseConnecting   ConnPhase = iota // first attempt
	PhaseConnected                     // socket open
	PhaseReconnecting                  // waiting before the next attempt
)

// ConnState is shown by the hub-connection indicator.
type ConnState struct {
	Phase   ConnPhase
	Attempt int       // failed attempts in a row
	RetryAt time.Time // browser clock, when reconnecting
	Err     string
}

// Batch is what reaches the UI goroutine at most once per flush interval:
// the newest snapshot (if any), then the newest change per entity after it.
type Batch struct {
	Conn       *ConnState
	Snapshot   []wire.Entity // non-nil when a snapshot arrived
	Changes    map[string]wire.Entity
	HubTime    time.Time
	ReceivedAt time.Time
	Version    string
	// StateError comes with a snapshot: the hub cannot write its state file.
	StateError string
}

// ViewerURL turns the page's location into the WebSocket address.
func ViewerURL(protocol, host string) string {
	scheme := "ws:"
	if protocol == "https:" {
		scheme = "wss:"
	}
	return scheme + "//" + host + wire.ViewerPath
}

// Backoff gives the wait before attempt n (1-based): doubling from base up
// to max, then jittered into [d/2, d) so many pages do not reconnect in step
// after a hub restart.
func Backoff(n int, base, max time.Duration, r *rand.Rand) time.Duration {
	if n < 1 {
		n = 1
	}
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + time.Duration(r.Int64N(int64(half)))
}

// coalescer gathers frames and hands them on at most once per interval, so
// a burst of changes costs one render, not one per frame.
type coalescer struct {
	interval time.Duration
	deliver  func(Batch)

	mu        sync.Mutex
	pending   Batch
	has       bool
	scheduled bool
	last      time.Time
	timer     *time.Timer
	stopped   bool
}

func (c *coalescer) add(f func(b *Batch)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	f(&c.pending)
	c.has = true
	if c.scheduled {
		return
	}
	c.scheduled = true
	wait := time.Until(c.last.Add(c.interval))
	if wait < 0 {
		wait = 0
	}
	c.timer = time.AfterFunc(wait, c.flush)
}

func (c *coalescer) flush() {
	c.mu.Lock()
	if c.stopped || !c.has {
		c.scheduled = false
		c.mu.Unlock()
		return
	}
	b := c.pending
	c.pending = Batch{}
	c.has = false
	c.scheduled = false
	c.last = time.Now()
	c.mu.Unlock()
	c.deliver(b)
}

func (c *coalescer) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.timer != nil {
		c.timer.Stop()
	}
}

func (c *coalescer) setConn(s ConnState) {
	c.add(func(b *Batch) { b.Conn = &s })
}

func (c *coalescer) message(m wire.ViewerMessage, at time.Time) {
	c.add(func(b *Batch) {
		switch m.Type {
		case wire.TypeSnapshot:
			b.Snapshot = m.Entities
			if b.Snapshot == nil {
				b.Snapshot = []wire.Entity{}
			}
			b.Changes = nil // the snapshot is newer than anything pending
			b.Version = m.Version
			b.StateError = m.StateError
		case wire.TypeChange, wire.TypeChanges:
			if m.Entity != nil {
				m.Entities = append(m.Entities, *m.Entity)
			}
			if len(m.Entities) == 0 {
				return
			}
			if b.Changes == nil {
				b.Changes = make(map[string]wire.Entity)
			}
			for _, e := range m.Entities {
				b.Changes[e.ID] = e
			}
		default:
			return
		}
		if !m.HubTime.IsZero() {
			b.HubTime = m.HubTime
			b.ReceivedAt = at
		}
	})
}

// Feed keeps a viewer connection to the hub open.
type Feed struct {
	URL      string
	Interval time.Duration // coalescing; default 100 ms
	Base     time.Duration // first reconnect delay; default 500 ms
	Max      time.Duration // reconnect delay cap; default 30 s
	// Deliver receives batches from the feed's own goroutines; the page
	// passes them to ctx.Dispatch.
	Deliver func(Batch)

	// Which entities come in full; the others come as summaries (status
	// only), which keeps a large hub light. Never set: everything in full.
	mu        sync.Mutex
	detail    wire.Detail
	detailSet bool
	conn      *websocket.Conn
	// sending serializes subscribe messages; each sends the newest
	// detail, so the last one the hub reads is the last asked for.
	sending sync.Mutex
}

// SetDetail asks for d from now on: the entity on screen in full, or none
// (summaries only). Safe from any goroutine.
func (f *Feed) SetDetail(d wire.Detail) {
	d.IDs = slices.Clone(d.IDs)
	f.mu.Lock()
	f.detail, f.detailSet = d, true
	conn := f.conn
	f.mu.Unlock()
	if conn == nil {
		return // the next connection asks in its URL
	}
	go func() {
		f.sending.Lock()
		defer f.sending.Unlock()
		f.mu.Lock()
		newest := f.detail
		f.mu.Unlock()
		b, _ := json.Marshal(newest.Request())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = conn.Write(ctx, websocket.MessageText, b)
	}()
}

// dialURL is the viewer URL with the current subscription.
func (f *Feed) dialURL() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.detailSet {
		return f.URL
	}
	return f.URL + f.detail.Query()
}

// Run connects, reads and reconnects until ctx ends.
func (f *Feed) Run(ctx context.Context) {
	interval, base, max := f.Interval, f.Base, f.Max
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	if max <= 0 {
		max = 30 * time.Second
	}
	c := &coalescer{interval: interval, deliver: f.Deliver}
	defer c.stop()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x1a9e))

	failures := 0
	c.setConn(ConnState{Phase: PhaseConnecting})
	for ctx.Err() == nil {
		synced, err := f.session(ctx, c)
		if ctx.Err() != nil {
			return
		}
		// Reset the count only after a snapshot, so a hub that accepts and
		// drops at once still backs off.
		if synced {
			failures = 0
		}
		failures++
		wait := Backoff(failures, base, max, r)
		msg := "connection lost"
		if err != nil {
			msg = err.Error()
		}
		c.setConn(ConnState{Phase: PhaseReconnecting, Attempt: failures, RetryAt: time.Now().Add(wait), Err: msg})
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// session runs one connection; synced says a snapshot was received.
func (f *Feed) session(ctx context.Context, c *coalescer) (synced bool, err error) {
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, _, err := websocket.Dial(dialCtx, f.dialURL(), nil)
	cancel()
	if err != nil {
		return false, shortErr(err)
	}
	defer conn.CloseNow()
	f.mu.Lock()
	f.conn = conn
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.conn = nil
		f.mu.Unlock()
	}()
	conn.SetReadLimit(64 << 20) // a snapshot of many entities with figures
	c.setConn(ConnState{Phase: PhaseConnected})
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			return synced, shortErr(err)
		}
		if typ != websocket.MessageText {
			continue
		}
		var m wire.ViewerMessage
		if err := json.Unmarshal(data, &m); err != nil {
			// A frame we cannot read means the page is out of step with
			// the hub: reconnect and take a fresh snapshot.
			return synced, errors.New("unreadable message from the hub")
		}
		if m.Type == wire.TypeSnapshot {
			synced = true
		}
		c.message(m, time.Now())
	}
}

// shortErr keeps the indicator's text short: the websocket library's errors
// repeat their whole chain.
func shortErr(err error) error {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		if ce.Reason != "" {
			return errors.New("hub closed the connection: " + ce.Reason)
		}
		return errors.New("hub closed the connection")
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s) > 80 {
		s = s[i+2:]
	}
	return errors.New(s)
}
