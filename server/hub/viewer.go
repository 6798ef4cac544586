package hub

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"imagingstatus/server/viewerauth"
	"imagingstatus/wire"
)

// ViewerPath is where browsers open the live stream. `?detail=ID,ID` (or
// an empty `?detail=`) asks at once for those entities in full and the
// others as summaries; without it every entity comes in full.
const ViewerPath = "/api/v1/ws"

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

// revoke ends a stream whose sign-in no longer holds, saying why.
func (v *viewer) revoke() {
	v.revoked.Store(true)
	writeClose(v.conn, websocket.ClosePolicyViolation, "viewer sign-in revoked by a configuration change")
	v.close()
}

// detail is which entities a viewer receives in full (all, or ids); the
// others come as summaries.
type detail struct {
	all bool
	ids map[string]bool
}

func (d detail) full(id string) bool { return d.all || d.ids[id] }

func detailOf(ids []string) detail {
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id == "*" {
			return detail{all: true}
		}
		set[id] = true
	}
	return detail{ids: set}
}

// ViewerHandler serves the live stream: a snapshot, then every change.
func (h *Hub) ViewerHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := detail{all: true}
		if q, ok := r.URL.Query()["detail"]; ok {
			var ids []string
			for _, part := range q {
				for _, id := range strings.Split(part, ",") {
					if id != "" {
						ids = append(ids, id)
					}
				}
			}
			if len(ids) > wire.MaxSubscribe {
				http.Error(w, "too many entities in ?detail=", http.StatusBadRequest)
				return
			}
			d = detailOf(ids)
		}
		conn, err := viewerUpgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		if !h.track() {
			writeClose(conn, websocket.CloseGoingAway, reasonShutdown)
			_ = conn.Close()
			return
		}
		defer h.wg.Done()
		v := newViewer(conn, viewerauth.Filter(r.Context(), h.config))
		v.who, _ = viewerauth.FromContext(r.Context())
		if !h.do(r.Context(), &viewerJoined{v: v}) {
			v.close()
			return
		}
		defer h.post(&viewerLeft{v: v})
		go h.readViewer(v)
		h.writeViewer(v, d)
	})
}

// viewerWriter is the state of one viewer's writer goroutine.
type viewerWriter struct {
	h     *Hub
	v     *viewer
	sub   *logSub
	cur   cursor
	items []viewItem
	seen  map[string]int
	out   [][]byte
	buf   []byte
	ok    bool
	sumAt time.Time // when summaries last went out
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
	var windowC <-chan time.Time
	w.take() // the snapshot, once the loop has published the entities
	for w.ok {
		select {
		case <-w.sub.wake:
			w.take()
		case <-w.sub.wakeSum:
			// Summaries wait for the window; anything woken meanwhile
			// (an entity in full) takes them along.
			if wait := h.opt.SummaryWindow - time.Since(w.sumAt); wait > 0 {
				if windowC == nil {
					window.Reset(wait)
					windowC = window.C
				}
				continue
			}
			w.take()
		case <-windowC:
			windowC = nil
			w.take()
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
	w.out = w.out[:0]
	for _, it := range rv.items {
		if w.v.allowed(it.id) {
			w.out = append(w.out, it.bytes)
		}
	}
	switch {
	case rv.snapshot:
		w.buf = appendSnapshot(w.buf[:0], w.h.now(), w.h.opt.Version, rv.stateError, w.out)
		w.write(w.buf)
	case len(w.out) > 0:
		w.buf = appendChanges(w.buf[:0], w.h.now(), w.out)
		w.write(w.buf)
	}
	w.sumAt = time.Now()
	w.items = rv.items[:0]
	w.trim()
}

// trim lets go of buffers a burst made large (a snapshot of 10,000
// entities), so 1,000 idle viewers do not each keep megabytes.
func (w *viewerWriter) trim() {
	if cap(w.buf) > 256<<10 {
		w.buf = nil
	}
	if cap(w.items) > 4096 {
		w.items = nil
	}
	if cap(w.out) > 4096 {
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
	if len(w.out) > 0 {
		w.buf = appendChanges(w.buf[:0], w.h.now(), w.out)
		w.write(w.buf)
	}
}

func (w *viewerWriter) write(b []byte) {
	if !w.ok {
		return
	}
	_ = w.v.conn.SetWriteDeadline(time.Now().Add(w.h.opt.ViewerWriteTimeout))
	if err := w.v.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		if !w.v.revoked.Load() {
			w.h.log.Info("viewer dropped", "reason", err.Error())
		}
		w.ok = false
	}
}

// appendSnapshot wraps encoded entities in a snapshot frame.
func appendSnapshot(dst []byte, now time.Time, version, stateError string, items [][]byte) []byte {
	ts, _ := now.UTC().MarshalJSON()
	ver, _ := json.Marshal(version)
	dst = append(dst, `{"type":"snapshot","hub_time":`...)
	dst = append(dst, ts...)
	dst = append(dst, `,"version":`...)
	dst = append(dst, ver...)
	if stateError != "" {
		msg, _ := json.Marshal(stateError)
		dst = append(dst, `,"state_error":`...)
		dst = append(dst, msg...)
	}
	dst = append(dst, `,"entities":[`...)
	for i, it := range items {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, it...)
	}
	return append(dst, "]}"...)
}

// appendChanges wraps encoded entities: one as a "change", several as one
// "changes" frame (one syscall and one message for a burst).
func appendChanges(dst []byte, now time.Time, items [][]byte) []byte {
	ts, _ := now.UTC().MarshalJSON()
	if len(items) == 1 {
		dst = append(dst, `{"type":"change","hub_time":`...)
		dst = append(dst, ts...)
		dst = append(dst, `,"entity":`...)
		dst = append(dst, items[0]...)
		return append(dst, '}')
	}
	dst = append(dst, `{"type":"changes","hub_time":`...)
	dst = append(dst, ts...)
	dst = append(dst, `,"entities":[`...)
	for i, it := range items {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, it...)
	}
	return append(dst, "]}"...)
}

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
		d := detailOf(req.Detail)
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
