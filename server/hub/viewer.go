package hub

import (
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"imagingstatus/server/viewerauth"
)

// ViewerPath is where browsers open the live stream.
const ViewerPath = "/api/v1/ws"

// viewerUpgrader keeps gorilla's default same-origin check: another site's
// page must not read the infrastructure map through a visitor's browser.
var viewerUpgrader = websocket.Upgrader{
	HandshakeTimeout:  10 * time.Second,
	ReadBufferSize:    512,
	WriteBufferSize:   32 << 10,
	EnableCompression: false, // frames are small; deflate would cost CPU per viewer
}

// viewer is one browser connection. Its queue keeps only the newest frame
// per entity, so it is bounded by the entity count whatever the rate of
// changes; push never blocks the hub.
type viewer struct {
	conn  *websocket.Conn
	allow func(entity string) bool // nil: every entity

	mu      sync.Mutex
	first   []byte            // the snapshot, written before any change
	pending map[string][]byte // entity id → newest encoded change
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
func (v *viewer) take() [][]byte {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([][]byte, 0, len(v.order)+1)
	if v.first != nil {
		out = append(out, v.first)
		v.first = nil
	}
	for _, id := range v.order {
		out = append(out, v.pending[id])
	}
	clear(v.pending)
	v.order = v.order[:0]
	return out
}

func (v *viewer) close() {
	v.once.Do(func() {
		close(v.quit)
		_ = v.conn.Close()
	})
}

// ViewerHandler serves the live stream: a snapshot, then every change.
func (h *Hub) ViewerHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := viewerUpgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		if !h.track() {
			writeClose(conn, websocket.CloseGoingAway, "hub shutting down")
			_ = conn.Close()
			return
		}
		defer h.wg.Done()
		v := newViewer(conn)
		v.allow = viewerauth.Filter(r.Context(), h.config)
		registered := h.do(r.Context(), func(l *loop) {
			v.reset(l.snapshot(v.allow))
			l.viewers[v] = struct{}{}
		})
		if !registered {
			v.close()
			return
		}
		defer h.post(func(l *loop) { delete(l.viewers, v) })
		go v.readLoop(h.config().Interval)
		h.writeViewer(v)
	})
}

// writeViewer is the viewer's only writer. A viewer that cannot take a frame
// within the write timeout is dropped.
func (h *Hub) writeViewer(v *viewer) {
	defer v.close()
	ping := time.NewTicker(h.config().Interval)
	defer ping.Stop()
	for {
		select {
		case <-v.quit:
			return
		case <-h.done:
			writeClose(v.conn, websocket.CloseGoingAway, "hub shutting down")
			return
		case <-ping.C:
			if v.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(h.opt.ViewerWriteTimeout)) != nil {
				return
			}
		case <-v.wake:
			for _, b := range v.take() {
				_ = v.conn.SetWriteDeadline(time.Now().Add(h.opt.ViewerWriteTimeout))
				if err := v.conn.WriteMessage(websocket.TextMessage, b); err != nil {
					h.log.Info("viewer dropped", "reason", err.Error())
					return
				}
			}
		}
	}
}

// readLoop consumes control frames; viewers send nothing else, so any data
// frame or silence past three intervals ends the viewer.
func (v *viewer) readLoop(interval time.Duration) {
	defer v.close()
	v.conn.SetReadLimit(512)
	deadline := 3*interval + 10*time.Second
	_ = v.conn.SetReadDeadline(time.Now().Add(deadline))
	v.conn.SetPongHandler(func(string) error { return v.conn.SetReadDeadline(time.Now().Add(deadline)) })
	for {
		if _, _, err := v.conn.ReadMessage(); err != nil {
			return
		}
	}
}
