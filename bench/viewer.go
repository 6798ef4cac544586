package bench

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// frame is what a viewer needs from a change frame, found by scanning the
// bytes rather than decoding the JSON (a viewer of 10,000 agents reads
// thousands of frames a second; the hub writes its fields in a fixed order
// and JSON strings cannot hold an unescaped quote, so the keys are found
// unambiguously).
type frame struct {
	change      bool
	entity      int // n of UUID<n>, -1 when not a bench entity
	status      string
	collectedAt int64 // unix ns, 0 when absent
}

var (
	keyType      = []byte(`"type":"`)
	keyStatus    = []byte(`"status":"`)
	keyCollected = []byte(`"collected_at":"`)
)

// stringAfter returns the JSON string value that follows key in b.
func stringAfter(b, key []byte) ([]byte, bool) {
	i := bytes.Index(b, key)
	if i < 0 {
		return nil, false
	}
	rest := b[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return nil, false
	}
	return rest[:j], true
}

var keyEntityStart = []byte(`{"id":"`)

// parseFrames reads a "change" (one entity) or "changes" (several) frame;
// other frames (the snapshot) give no change. An entity object starts with
// its id and no nested object does, so entities split on `{"id":"`.
func parseFrames(b []byte) ([]frame, bool, error) {
	typ, ok := stringAfter(b, keyType)
	if !ok {
		return nil, false, fmt.Errorf("frame without type")
	}
	if string(typ) != "change" && string(typ) != "changes" {
		return nil, false, nil
	}
	var out []frame
	for {
		i := bytes.Index(b, keyEntityStart)
		if i < 0 {
			break
		}
		b = b[i+1:]
		seg := b
		if j := bytes.Index(b, keyEntityStart); j >= 0 {
			seg = b[:j]
		}
		f, err := parseEntity(seg)
		if err != nil {
			return out, true, err
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, true, fmt.Errorf("%s frame without entity", typ)
	}
	return out, true, nil
}

// parseFrame reads a frame holding at most one entity.
func parseFrame(b []byte) (frame, error) {
	fs, change, err := parseFrames(b)
	if err != nil || !change {
		return frame{entity: -1}, err
	}
	return fs[0], nil
}

// parseEntity reads one entity object (starting at its `"id":"`).
func parseEntity(b []byte) (frame, error) {
	f := frame{change: true, entity: -1}
	id, ok := stringAfter(b, []byte(`"id":"`))
	if !ok {
		return f, fmt.Errorf("change without entity id")
	}
	if n, ok := strings.CutPrefix(string(id), "UUID"); ok {
		if v, err := strconv.Atoi(n); err == nil {
			f.entity = v
		}
	}
	st, ok := stringAfter(b, keyStatus)
	if !ok {
		return f, fmt.Errorf("change of %s without status", id)
	}
	f.status = string(st)
	if ca, ok := stringAfter(b, keyCollected); ok {
		t, err := time.Parse(time.RFC3339Nano, string(ca))
		if err != nil {
			return f, fmt.Errorf("change of %s: collected_at: %w", id, err)
		}
		f.collectedAt = t.UnixNano()
	}
	return f, nil
}

// shared is what the viewers of one scenario share: the window, the kill
// times and the union of reports seen.
type shared struct {
	win      *window
	n        int            // entities UUID1..UUIDn
	killedAt []atomic.Int64 // by agent index: unix ns of the kill (0 = alive)
	seenAny  []atomic.Int64 // by agent index: newest collected_at seen by any viewer
	applied  atomic.Int64   // distinct in-window reports seen by at least one viewer
}

func newShared(n int, win *window) *shared {
	return &shared{win: win, n: n, killedAt: make([]atomic.Int64, n), seenAny: make([]atomic.Int64, n)}
}

// SimViewer is one simulated browser on the viewer stream.
type SimViewer struct {
	conn   *websocket.Conn
	sh     *shared
	detail int // n of the UUID<n> asked for in full; 0: all in full

	mu       sync.Mutex
	lat      Histogram // report collected_at → arrival, in-window reports
	received int64     // distinct in-window reports
	frames   int64
	bytes    int64
	last     []int64 // newest collected_at per agent index
	offline  map[int]int64
	err      error
	done     chan struct{}
	gotSnap  chan struct{}
}

var viewerDialer = websocket.Dialer{
	HandshakeTimeout: 15 * time.Second,
	ReadBufferSize:   32 << 10,
	WriteBufferSize:  512,
}

// DialViewer opens the viewer stream and starts reading it.
func dialViewer(ctx context.Context, hubURL string, sh *shared, detail int) (*SimViewer, error) {
	u := "ws" + strings.TrimPrefix(hubURL, "http") + "/api/v1/ws"
	if detail > 0 {
		u += "?detail=UUID" + strconv.Itoa(detail)
	}
	conn, resp, err := viewerDialer.DialContext(ctx, u, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	v := &SimViewer{conn: conn, sh: sh, detail: detail, last: make([]int64, sh.n), offline: map[int]int64{}, done: make(chan struct{}), gotSnap: make(chan struct{})}
	go v.read()
	return v, nil
}

func (v *SimViewer) read() {
	defer close(v.done)
	var buf bytes.Buffer
	snap := false
	for {
		_, r, err := v.conn.NextReader()
		if err != nil {
			v.mu.Lock()
			v.err = err
			v.mu.Unlock()
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			v.mu.Lock()
			v.err = err
			v.mu.Unlock()
			return
		}
		now := time.Now().UnixNano()
		fs, change, err := parseFrames(buf.Bytes())
		v.mu.Lock()
		v.frames++
		v.bytes += int64(buf.Len())
		if err != nil {
			v.err = err
			v.mu.Unlock()
			return
		}
		if !change {
			if !snap {
				snap = true
				close(v.gotSnap)
			}
			v.mu.Unlock()
			continue
		}
		for _, f := range fs {
			v.account(f, now)
		}
		v.mu.Unlock()
	}
}

// account records one change frame; v.mu is held.
func (v *SimViewer) account(f frame, now int64) {
	i := f.entity - 1
	if i < 0 || i >= v.sh.n {
		return
	}
	if k := v.sh.killedAt[i].Load(); k != 0 && f.status == "offline" {
		if _, ok := v.offline[i]; !ok {
			v.offline[i] = now
		}
	}
	if v.detail > 0 && f.entity != v.detail {
		return // a summary: its latency is not a report's
	}
	if f.collectedAt == 0 || f.collectedAt <= v.last[i] {
		return
	}
	v.last[i] = f.collectedAt
	if !v.sh.win.contains(f.collectedAt) {
		return
	}
	v.received++
	v.lat.Record(time.Duration(now - f.collectedAt))
	for {
		old := v.sh.seenAny[i].Load()
		if f.collectedAt <= old {
			break
		}
		if v.sh.seenAny[i].CompareAndSwap(old, f.collectedAt) {
			v.sh.applied.Add(1)
			break
		}
	}
}

// received returns the distinct in-window reports seen so far.
func (v *SimViewer) count() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.received
}

// Close ends the viewer and waits for its reader.
func (v *SimViewer) Close() {
	_ = v.conn.Close()
	<-v.done
}

// alive reports whether the stream is still open.
func (v *SimViewer) alive() bool {
	select {
	case <-v.done:
		return false
	default:
		return true
	}
}
