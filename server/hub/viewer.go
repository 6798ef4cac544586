package hub

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
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

// viewer is one browser connection. Its queue keeps only the newest frame
// per entity, so it is bounded by the entity count whatever the rate of
// changes; push never blocks the hub.
type viewer struct {
	conn  *websocket.Conn
	who   viewerauth.Identity      // who signed in (the zero value when viewers are not authenticated)
	allow func(entity string) bool // nil: every entity
	// detail is owned by the loop: the entities sent in full (nil: all).
	detail map[string]bool

	mu      sync.Mutex
	first   []byte            // a snapshot, written before any change
	pending map[string][]byte // entity id → newest encoded entity
	order   []string          // ids in arrival order
	wake    chan struct{}
	quit    chan struct{}
	once    sync.Once
}

func newViewer(conn *websocket.Conn) *viewer {
	return &viewer{conn: conn, pending: make(map[string][]byte), wake: make(chan struct{}, 1), quit: make(chan struct{})}
}

func (v *viewer) push(id string, b []byte) {
	v.mu.Lock()
	if _, ok := v.pending[id]; !ok {
		v.order = append(v.order, id)
	}
	v.pending[id] = b
	v.mu.Unlock()
	v.signal()
}

// reset queues a snapshot in place of everything pending.
func (v *viewer) reset(snapshot []byte) {
	v.mu.Lock()
	v.first = snapshot
	clear(v.pending)
	v.order = v.order[:0]
	v.mu.Unlock()
	v.signal()
}

func (v *viewer) signal() {
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// take empties the queue.
func (v *viewer) take() (first []byte, items [][]byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	first, v.first = v.first, nil
	items = make([][]byte, 0, len(v.order))
	for _, id := range v.order {
		items = append(items, v.pending[id])
	}
	clear(v.pending)
	v.order = v.order[:0]
	return first, items
}

func (v *viewer) close() {
	v.once.Do(func() {
		close(v.quit)
		_ = v.conn.Close()
	})
}

// wantsFull says whether the viewer receives entity id in full (loop only).
func (v *viewer) wantsFull(id string) bool { return v.detail == nil || v.detail[id] }

func detailSet(ids []string) map[string]bool {
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id == "*" {
			return nil
		}
		set[id] = true
	}
	return set
}

// ViewerHandler serves the live stream: a snapshot, then every change.
func (h *Hub) ViewerHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var detail map[string]bool
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
			detail = detailSet(ids)
			if detail == nil && len(ids) == 0 {
				detail = map[string]bool{}
			}
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
		v := newViewer(conn)
		v.who, _ = viewerauth.FromContext(r.Context())
		v.allow = viewerauth.Filter(r.Context(), h.config)
		v.detail = detail
		registered := h.do(r.Context(), func(l *loop) {
			v.reset(l.snapshot(v))
			l.viewers[v] = struct{}{}
		})
		if !registered {
			v.close()
			return
		}
		defer h.post(func(l *loop) { delete(l.viewers, v) })
		go h.readViewer(v)
		h.writeViewer(v)
	})
}

// writeViewer is the viewer's only writer. What queued while it wrote goes
// out as one frame; a viewer that cannot take a frame within the write
// timeout is dropped.
func (h *Hub) writeViewer(v *viewer) {
	defer v.close()
	ping := time.NewTicker(h.config().Interval)
	defer ping.Stop()
	var buf bytes.Buffer
	write := func(b []byte) bool {
		_ = v.conn.SetWriteDeadline(time.Now().Add(h.opt.ViewerWriteTimeout))
		if err := v.conn.WriteMessage(websocket.TextMessage, b); err != nil {
			h.log.Info("viewer dropped", "reason", err.Error())
			return false
		}
		return true
	}
	for {
		select {
		case <-v.quit:
			return
		case <-h.done:
			writeClose(v.conn, websocket.CloseGoingAway, reasonShutdown)
			return
		case <-ping.C:
			if v.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(h.opt.ViewerWriteTimeout)) != nil {
				return
			}
		case <-v.wake:
			first, items := v.take()
			if first != nil && !write(first) {
				return
			}
			if len(items) == 0 {
				continue
			}
			changesFrame(&buf, h.now(), items)
			if !write(buf.Bytes()) {
				return
			}
		}
	}
}

// changesFrame wraps encoded entities: one as a "change", several as one
// "changes" frame (one syscall and one message for a burst).
func changesFrame(buf *bytes.Buffer, now time.Time, items [][]byte) {
	buf.Reset()
	ts, _ := now.UTC().MarshalJSON()
	if len(items) == 1 {
		buf.WriteString(`{"type":"change","hub_time":`)
		buf.Write(ts)
		buf.WriteString(`,"entity":`)
		buf.Write(items[0])
		buf.WriteString("}")
		return
	}
	buf.WriteString(`{"type":"changes","hub_time":`)
	buf.Write(ts)
	buf.WriteString(`,"entities":[`)
	for i, it := range items {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(it)
	}
	buf.WriteString("]}")
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
		h.post(func(l *loop) { l.subscribe(v, detailSet(req.Detail)) })
	}
}
