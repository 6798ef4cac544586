package hub

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"imagingstatus/server/viewerauth"
	"imagingstatus/wire"
)

var viewerBuffers = &sync.Pool{}

// viewerUpgrader keeps gorilla's default same-origin check: another site's
// page must not read the infrastructure map through a visitor's browser.
var viewerUpgrader = websocket.Upgrader{
	HandshakeTimeout:  10 * time.Second,
	ReadBufferSize:    1 << 10,
	WriteBufferSize:   32 << 10,
	WriteBufferPool:   viewerBuffers,
	EnableCompression: false, // frames are encoded once for all; deflate would cost CPU per viewer
}

// viewer is one browser connection. Its writer reads the shared change log
// from its own cursor, so a slow viewer costs nobody else anything and
// holds no queue: it skips to the newest state of what changed.
type viewer struct {
	conn *websocket.Conn
	// who signed in (the zero value when viewers are not authenticated);
	// owned by the loop, which re-checks it on a reload.
	who viewerauth.Identity
	// scope is what the viewer may see (a nil func: everything); set by the
	// loop on a reload, read by the writer.
	scope atomic.Pointer[func(string) bool]
	// sub carries a new subscription from the reader to the writer.
	sub chan detail

	quit    chan struct{}
	once    sync.Once
	revoked atomic.Bool
}

func newViewer(conn *websocket.Conn, allow func(string) bool) *viewer {
	v := &viewer{conn: conn, sub: make(chan detail, 1), quit: make(chan struct{})}
	v.setScope(allow)
	return v
}

func (v *viewer) setScope(allow func(string) bool) { v.scope.Store(&allow) }

func (v *viewer) allowed(id string) bool {
	f := *v.scope.Load()
	return f == nil || f(id)
}

func (v *viewer) close() {
	v.once.Do(func() {
		close(v.quit)
		_ = v.conn.Close()
	})
}

// revoke ends a stream whose sign-in no longer holds, saying why. The
// close frame may wait on a writer stuck on a slow peer: callers on the
// loop run it in a goroutine.
func (v *viewer) revoke() {
	v.revoked.Store(true)
	writeClose(v.conn, websocket.ClosePolicyViolation, "viewer sign-in revoked by a configuration change")
	v.close()
}

// detail is wire.Detail as a set: which entities a viewer receives in
// full (all, or ids); the others come as summaries.
type detail struct {
	all bool
	ids map[string]bool
}

func (d detail) full(id string) bool { return d.all || d.ids[id] }

func detailOf(w wire.Detail) detail {
	if w.All {
		return detail{all: true}
	}
	set := make(map[string]bool, len(w.IDs))
	for _, id := range w.IDs {
		set[id] = true
	}
	return detail{ids: set}
}

// ViewerHandler serves the live stream: a snapshot, then every change.
func (h *Hub) ViewerHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		wd, err := wire.ParseDetailQuery(q["detail"], q.Has("detail"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		d := detailOf(wd)
		conn, err := viewerUpgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		if !h.track() {
			writeClose(conn, websocket.CloseGoingAway, reasonShutdown)
			_ = conn.Close()
			return
		}
		v := newViewer(conn, viewerauth.Filter(r.Context(), h.config))
		v.who, _ = viewerauth.FromContext(r.Context())
		stop := context.AfterFunc(h.stopCtx, func() {
			writeClose(conn, websocket.CloseGoingAway, reasonShutdown)
			v.close()
		})
		// Not the request's context: once queued, the join must be handled
		// and its leave posted, or the loop keeps the viewer.
		if !h.do(context.Background(), &viewerJoined{v: v}) {
			stop()
			h.wg.Done()
			v.close()
			return
		}
		// The stream goes on in goroutines of its own; the HTTP server lets
		// go of the request.
		go func() {
			defer h.wg.Done()
			defer stop()
			defer h.post(&viewerLeft{v: v})
			go h.readViewer(v)
			h.writeViewer(v, d)
		}()
	})
}

// viewerWriter is the state of one viewer's writer goroutine.
type viewerWriter struct {
	h        *Hub
	v        *viewer
	sub      *logSub
	cur      cursor
	items    []viewItem
	seen     map[string]int
	out      [][]byte
	ok       bool
	takenAt  time.Time // when the log was last read
	windowAt time.Time // when the armed window timer fires
}

// writeViewer is the viewer's only writer. Woken by the change log, it
// reads what changed since its cursor and sends it as one frame: entities
// it wants in full at once, summaries of the others at most once per
// summary window. A viewer that cannot take a frame within the write
// timeout is dropped.
func (h *Hub) writeViewer(v *viewer, d detail) {
	defer v.close()
	w := &viewerWriter{h: h, v: v, seen: make(map[string]int), ok: true}
	w.sub = h.changes.register(d)
	defer h.changes.unregister(w.sub)
	ping := time.NewTicker(h.config().Interval)
	defer ping.Stop()
	window := time.NewTimer(time.Hour)
	window.Stop()
	defer window.Stop()
	// While the window timer is armed, wake-ups it will serve anyway are
	// not listened to: a viewer of every entity in full is not woken for
	// each of hundreds of reports a second only to wait.
	var windowC <-chan time.Time
	wakeC, wakeSumC := w.sub.wake, w.sub.wakeSum
	take := func() {
		if windowC != nil {
			window.Stop()
			windowC = nil
		}
		wakeC, wakeSumC = w.sub.wake, w.sub.wakeSum
		w.take()
	}
	// wait takes the log now if the last take was at least gap ago, else
	// arms the window timer for when it will be.
	wait := func(gap time.Duration) {
		left := gap - time.Since(w.takenAt)
		if left <= 0 {
			take()
			return
		}
		if windowC == nil || left < time.Until(w.windowAt) {
			window.Stop()
			window.Reset(left)
			windowC, w.windowAt = window.C, time.Now().Add(left)
		}
		wakeSumC = nil // the timer takes the summaries along
		if gap <= h.opt.FrameGap {
			wakeC = nil // and the entities in full
		}
	}
	take() // the snapshot, once the loop has published the entities
	for w.ok {
		select {
		case <-wakeC:
			wait(h.opt.FrameGap)
		case <-wakeSumC:
			// Summaries wait for the window; anything taken meanwhile (an
			// entity in full) takes them along.
			wait(h.opt.SummaryWindow)
		case <-windowC:
			windowC = nil
			take()
		case nd := <-v.sub:
			w.subscribe(nd)
		case <-ping.C:
			if v.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(h.opt.ViewerWriteTimeout)) != nil {
				return
			}
		case <-v.quit:
			return
		case <-h.done:
			writeClose(v.conn, websocket.CloseGoingAway, reasonShutdown)
			return
		}
	}
}

// take reads the log and writes what is due, in one frame.
func (w *viewerWriter) take() {
	rv := w.h.changes.read(&w.cur, w.sub.d, w.items, w.seen)
	w.takenAt = time.Now()
	w.out = w.out[:0]
	for _, it := range rv.items {
		if w.v.allowed(it.id) {
			w.out = append(w.out, it.bytes)
		}
	}
	switch {
	case rv.snapshot:
		head, tail := wire.SnapshotEnvelope(w.h.now(), w.h.opt.Version, rv.stateError)
		w.write(head, w.out, tail)
	case len(w.out) > 0:
		w.writeChanges(w.out)
	}
	w.items = rv.items[:0]
	w.trim()
}

// trim lets go of buffers a burst made large (10,000 entities changed),
// so 1,000 idle viewers do not each keep them.
func (w *viewerWriter) trim() {
	if cap(w.items) > 256 {
		w.items = nil
	}
	if cap(w.out) > 256 {
		w.out = nil
	}
	if len(w.seen) > 4096 {
		w.seen = make(map[string]int)
	}
}

// subscribe changes which entities come in full and sends those at once.
func (w *viewerWriter) subscribe(d detail) {
	w.h.changes.resubscribe(w.sub, d)
	if d.all { // everything in full: a fresh snapshot says it best
		w.cur.init = false
		w.take()
		return
	}
	w.out = w.out[:0]
	for id := range d.ids {
		if !w.v.allowed(id) {
			continue
		}
		if full, ok := w.h.changes.view(id); ok {
			w.out = append(w.out, full)
		}
	}
	w.writeChanges(w.out)
}

// writeChanges sends one entity as a "change" frame, several as one
// "changes" frame (one message for a burst).
func (w *viewerWriter) writeChanges(items [][]byte) {
	if len(items) > 0 {
		head, tail := wire.ChangesEnvelope(w.h.now(), len(items))
		w.write(head, items, tail)
	}
}

// write streams one message, head, the items separated by commas, then
// tail, through the socket's write buffer: no viewer assembles a 2 MB
// snapshot in memory.
func (w *viewerWriter) write(head []byte, items [][]byte, tail []byte) {
	if !w.ok {
		return
	}
	_ = w.v.conn.SetWriteDeadline(time.Now().Add(w.h.opt.ViewerWriteTimeout))
	err := func() error {
		mw, err := w.v.conn.NextWriter(websocket.TextMessage)
		if err != nil {
			return err
		}
		if _, err := mw.Write(head); err != nil {
			return err
		}
		for i, it := range items {
			if i > 0 {
				if _, err := mw.Write(comma); err != nil {
					return err
				}
			}
			if _, err := mw.Write(it); err != nil {
				return err
			}
		}
		if _, err := mw.Write(tail); err != nil {
			return err
		}
		return mw.Close()
	}()
	if err != nil {
		if !w.v.revoked.Load() {
			w.h.stats.viewerDrops.Add(1)
			w.h.log.Info("viewer dropped", "reason", err.Error())
		}
		w.ok = false
	}
}

var comma = []byte{','}

// readViewer takes subscriptions; anything else, or silence past three
// intervals, ends the viewer.
func (h *Hub) readViewer(v *viewer) {
	defer v.close()
	v.conn.SetReadLimit(4 << 10)
	deadline := 3*h.config().Interval + 10*time.Second
	_ = v.conn.SetReadDeadline(time.Now().Add(deadline))
	v.conn.SetPongHandler(func(string) error { return v.conn.SetReadDeadline(time.Now().Add(deadline)) })
	for {
		_, msg, err := v.conn.ReadMessage()
		if err != nil {
			return
		}
		_ = v.conn.SetReadDeadline(time.Now().Add(deadline))
		req, err := wire.DecodeViewerRequest(msg)
		if err != nil {
			writeClose(v.conn, websocket.ClosePolicyViolation, err.Error())
			return
		}
		d := detailOf(wire.NewDetail(req.Detail))
		// Only the newest subscription matters: replace one not yet taken.
		select {
		case <-v.sub:
		default:
		}
		select {
		case v.sub <- d:
		default:
		}
	}
}
