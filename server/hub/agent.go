package hub

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"imagingstatus/server/ratelimit"
	"imagingstatus/server/state"
	"imagingstatus/wire"
)

// writeBuffers lends write buffers to connections only while they write:
// 10,000 idle agent sessions then hold none.
var writeBuffers = &sync.Pool{}

var agentUpgrader = websocket.Upgrader{
	HandshakeTimeout: 10 * time.Second,
	// 1 KiB: a report (~2 KiB) is read in pieces; the HTTP server's 4 KiB
	// buffer is let go with the request (the handler returns), so 10,000
	// idle sessions hold 10 MiB of read buffers instead of 40.
	ReadBufferSize:  1 << 10,
	WriteBufferSize: 1 << 10,
	WriteBufferPool: writeBuffers,
	// Agents are programs, not pages: a browser Origin has no business here.
	CheckOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") == "" },
}

// agentSession is one authenticated agent connection. The loop owns the
// set of sessions; a session's goroutine reads its socket and hands the
// loop events.
type agentSession struct {
	id        state.SessionID
	entity    string
	conn      *websocket.Conn
	tokenHash [sha256.Size]byte // to re-check on a configuration reload

	once   sync.Once
	reason string // why the hub closed it, read after the read loop ends
	mu     sync.Mutex

	// What the session has for the loop, coalesced: at most one event is
	// queued per session, carrying the newest report and frame time. A hub
	// under load then applies fewer, newer reports instead of a backlog.
	evMu     sync.Mutex
	evQueued bool
	evReport *wire.Report
	evAt     time.Time

	ping    *time.Timer // pings from a timer, not a goroutine per session
	stopped atomic.Bool
}

// queue hands the loop a frame (rep nil: a pong) from this session.
func (h *Hub) queue(s *agentSession, rep *wire.Report, at time.Time) {
	s.evMu.Lock()
	if rep != nil {
		// A newer report replaces one the loop has not taken yet; an image
		// list it left out (unchanged since the older one) must not be lost
		// with the older one.
		if old := s.evReport; old != nil && old.Repository != nil && !old.Repository.ImagesOmitted &&
			rep.Repository != nil && rep.Repository.ImagesOmitted && rep.Repository.Generation == old.Repository.Generation {
			repo := *rep.Repository
			repo.ImagesOmitted, repo.Images = false, old.Repository.Images
			rep.Repository = &repo
		}
		s.evReport = rep
	}
	s.evAt = at
	if s.evQueued {
		s.evMu.Unlock()
		return
	}
	s.evQueued = true
	s.evMu.Unlock()
	h.post(&agentFrame{s: s})
}

// takeQueued is the loop's side of queue.
func (s *agentSession) takeQueued() (*wire.Report, time.Time) {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	rep, at := s.evReport, s.evAt
	s.evReport, s.evQueued = nil, false
	return rep, at
}

// startPings pings the agent every interval until stopPings. The timer
// is made stopped and armed once s.ping is set, so its function never sees
// it unset.
func (s *agentSession) startPings(interval time.Duration) {
	s.ping = time.AfterFunc(time.Hour, func() {
		if s.stopped.Load() {
			return
		}
		// A ping that fails is not the end: the read deadline judges the
		// connection.
		_ = s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(interval))
		if !s.stopped.Load() {
			s.ping.Reset(interval)
		}
	})
	s.ping.Stop()
	s.ping.Reset(interval)
}

func (s *agentSession) stopPings() {
	s.stopped.Store(true)
	if s.ping != nil {
		s.ping.Stop()
	}
}

// close sends a close frame with a reason (at most once) and closes the
// socket, which ends the session's read loop.
func (s *agentSession) close(code int, reason string) {
	s.once.Do(func() {
		s.mu.Lock()
		s.reason = reason
		s.mu.Unlock()
		writeClose(s.conn, code, reason)
		_ = s.conn.Close()
	})
}

func (s *agentSession) closedReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// writeClose sends a close frame; its reason is cut to what the protocol
// allows (123 bytes).
func writeClose(c *websocket.Conn, code int, reason string) {
	if len(reason) > 123 {
		reason = reason[:120] + "..."
	}
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
}

// AgentHandler accepts agent connections. An agent names its entity in
// the upgrade request (wire.EntityHeader) beside its token, so a stranger is
// refused before any WebSocket exists and never gets to send a byte more.
// An older agent that names it only in its hello gets a socket whose reads
// are capped at helloLimit until its token is checked, within caps on such
// handshakes per address and overall.
func (h *Hub) AgentHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := ratelimit.AddrOf(r)
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			token = ""
		}
		entity := r.Header.Get(wire.EntityHeader)
		if entity != "" {
			// A valid token is always admitted, whatever others did from
			// its address; only failures are counted.
			if !h.config().CheckToken(entity, token) {
				h.refuseRequest(w, ip, entity)
				return
			}
			h.acceptAgent(w, r, ip, token, entity, nil)
			return
		}
		if !h.auth.Allow(ip) {
			h.auth.Fail(ip) // counted, so the summary line shows the whole flood
			tooMany(w, h.auth.RetryAfter())
			return
		}
		if token == "" {
			h.auth.Fail(ip)
			http.Error(w, "missing header Authorization: Bearer <agent token>", http.StatusUnauthorized)
			return
		}
		slot, ok := h.pending.acquire(ip, h.config().ConnLimits())
		if !ok {
			w.Header().Set("Retry-After", "5")
			http.Error(w, "too many agent handshakes waiting; retry later", http.StatusServiceUnavailable)
			return
		}
		h.acceptAgent(w, r, ip, token, "", slot)
	})
}

// refuseRequest answers an upgrade request whose token does not match the
// entity it names. The answer is the same whether the entity is unknown,
// has no server, or has another token: nothing to enumerate.
func (h *Hub) refuseRequest(w http.ResponseWriter, ip netip.Addr, entity string) {
	h.auth.Fail(ip)
	if !h.auth.Allow(ip) {
		tooMany(w, h.auth.RetryAfter())
		return
	}
	h.refused(ip, entity, reasonTokenRejected, "")
	http.Error(w, reasonTokenRejected+" for the entity named in "+wire.EntityHeader, http.StatusUnauthorized)
}

func tooMany(w http.ResponseWriter, retry time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(retry.Seconds()))))
	http.Error(w, "too many refused agent handshakes from this address or its network; retry later", http.StatusTooManyRequests)
}

// acceptAgent upgrades the request and serves the session; entity is set
// when the token was checked already.
//
// The session goes on in a goroutine of its own and the handler returns:
// the HTTP server then lets go of the request, its headers, its write
// buffer and its deep stack (tens of MiB at 10,000 agents).
func (h *Hub) acceptAgent(w http.ResponseWriter, r *http.Request, ip netip.Addr, token, entity string, slot *handshakeSlot) {
	conn, err := agentUpgrader.Upgrade(w, r, nil)
	if err != nil {
		slot.release()
		return // the upgrader has answered with the reason
	}
	if !h.track() {
		slot.release()
		writeClose(conn, websocket.CloseGoingAway, reasonShutdown)
		_ = conn.Close()
		return
	}
	go func() {
		defer h.wg.Done()
		defer slot.release() // given back once the hello is judged; this covers every other way out
		h.serveAgent(conn, ip, token, entity, slot)
	}()
}

// helloLimit caps what a peer may send before its token is checked: a
// hello is a few hundred bytes.
const helloLimit = 4 << 10

// serveAgent reads the hello, checks it, and serves the session; slot is
// the unauthenticated handshake's place (nil when the token was checked on
// the upgrade request), given back once the hello is judged.
func (h *Hub) serveAgent(conn *websocket.Conn, ip netip.Addr, token, checked string, slot *handshakeSlot) {
	// At shutdown every connection closes, whether or not the loop has
	// heard of it yet; AfterFunc holds no goroutine until then.
	defer context.AfterFunc(h.stopCtx, func() {
		writeClose(conn, websocket.CloseGoingAway, reasonShutdown)
		_ = conn.Close()
	})()
	conn.SetReadLimit(helloLimit)
	_ = conn.SetReadDeadline(h.now().Add(h.opt.HelloTimeout))
	_, msg, err := conn.ReadMessage()
	if err != nil {
		if checked == "" {
			h.auth.Fail(ip)
		}
		slot.release()
		_ = conn.Close()
		return
	}
	hello, err := wire.DecodeHello(msg)
	slot.release()
	if err != nil {
		// Attributed to the entity it claims only as a fixed reason, and as
		// "token rejected" unless the token is that entity's.
		claimed := checked
		if claimed == "" {
			claimed = claimedEntity(msg)
		}
		reason := reasonTokenRejected
		if claimed != "" && h.config().CheckToken(claimed, token) {
			reason = reasonMalformedHello
			if strings.Contains(err.Error(), "protocol version") {
				reason = reasonProtocol
			}
		}
		h.refuse(conn, ip, claimed, reason, err.Error())
		return
	}
	if checked != "" && hello.Entity != checked {
		h.refuse(conn, ip, checked, reasonEntityMismatch, "")
		return
	}
	if checked == "" && !h.config().CheckToken(hello.Entity, token) {
		// Unknown entity, entity without a server, or a wrong token: one
		// answer, so that entity ids cannot be enumerated.
		h.refuse(conn, ip, hello.Entity, reasonTokenRejected, "")
		return
	}
	conn.SetReadLimit(wire.MaxAgentFrame)

	s := &agentSession{id: state.SessionID(h.nextID.Add(1)), entity: hello.Entity, conn: conn, tokenHash: sha256.Sum256([]byte(token))}
	h.post(&agentConnected{s: s, hello: hello, at: h.now()})
	h.log.Info("agent connected", "entity", hello.Entity, "host", logDetail(hello.Hostname), "agent_version", logDetail(hello.AgentVersion), "remote", ip.String(), "session", s.id)

	s.startPings(h.config().Interval)
	reason, detail := h.readAgent(s)
	s.stopPings()
	s.close(websocket.CloseNormalClosure, reason)
	h.log.Info("agent disconnected", "entity", s.entity, "session", s.id, "reason", reason, "detail", logDetail(detail))
}

// readAgent reads reports until the connection ends and says why it ended:
// a fixed reason for the entity, and the detail for the log.
func (h *Hub) readAgent(s *agentSession) (reason, detail string) {
	deadline := h.config().Deadline()
	conn := s.conn
	_ = conn.SetReadDeadline(h.now().Add(deadline))
	conn.SetPongHandler(func(string) error {
		now := h.now()
		_ = conn.SetReadDeadline(now.Add(deadline))
		h.queue(s, nil, now)
		return nil
	})
	budget := newBudget(h.opt.MessagesPerInterval, h.config().Interval, h.now)
	// An image list comes in pages after its report (wire.ImagesPage), on a
	// budget of its own: a 100,000-image list is 100 pages.
	pageBudget := newBudget(wire.MaxImagePages, h.config().Interval, h.now)
	var list pagedList
	for {
		_, msg, err := conn.ReadMessage()
		now := h.now()
		if err != nil {
			reason := endReason(err, s.closedReason(), deadline)
			// A frame over the limit breaks the protocol as a malformed
			// report does, and will come again: Connection error.
			h.post(&agentGone{s: s, reason: reason, broken: errors.Is(err, websocket.ErrReadLimit), at: now})
			return reason, err.Error()
		}
		_ = conn.SetReadDeadline(now.Add(deadline))
		if list.report != nil {
			if !pageBudget.take() {
				return h.dropMalformed(s, now, reasonFlood(wire.MaxImagePages, h.config().Interval), ""), ""
			}
			rep, err := list.add(msg)
			if err != nil {
				return h.dropMalformed(s, now, reasonMalformedReport, err.Error()), err.Error()
			}
			// A page is a frame too: the agent is alive.
			h.queue(s, rep, now)
			continue
		}
		if !budget.take() {
			return h.dropMalformed(s, now, reasonFlood(h.opt.MessagesPerInterval, h.config().Interval), ""), ""
		}
		rep, err := wire.DecodeReport(msg)
		if err != nil {
			return h.dropMalformed(s, now, reasonMalformedReport, err.Error()), err.Error()
		}
		if rep.Repository != nil && rep.Repository.ImagesFollow {
			// Applied when its list is in: the entity never shows the
			// new counts beside half a list.
			list.report = &rep
			continue
		}
		h.queue(s, &rep, now)
	}
}

// pagedList gathers the pages of the image list announced by a report
// (images_follow). Only the agent's reading goroutine touches it.
type pagedList struct {
	report *wire.Report // nil when no list is expected
	images []wire.Image
	pages  int
}

// add takes the next frame, which must be the list's next page, and returns
// the report with its list once the last page is in.
func (l *pagedList) add(msg []byte) (*wire.Report, error) {
	p, err := wire.DecodeImagesPage(msg)
	if err != nil {
		return nil, fmt.Errorf("expected page %d of the image list: %w", l.pages, err)
	}
	repo := l.report.Repository
	if p.Generation != repo.Generation || p.Page != l.pages {
		return nil, fmt.Errorf("%w: image page %d of generation %d, expected page %d of generation %d", wire.ErrInvalid, p.Page, p.Generation, l.pages, repo.Generation)
	}
	if len(l.images)+len(p.Images) > wire.MaxImages {
		return nil, fmt.Errorf("%w: image list over %d images", wire.ErrInvalid, wire.MaxImages)
	}
	l.images = append(l.images, p.Images...)
	l.pages++
	if !p.Last {
		return nil, nil
	}
	rep := l.report
	repo.ImagesFollow, repo.Images = false, l.images
	*l = pagedList{}
	return rep, nil
}

// dropMalformed closes a session that broke the protocol: the entity shows
// Connection error with the reason (no live session remains to override).
func (h *Hub) dropMalformed(s *agentSession, now time.Time, reason, detail string) string {
	h.log.Warn("agent session closed", "entity", s.entity, "session", s.id, "reason", reason, "detail", logDetail(detail))
	s.close(websocket.ClosePolicyViolation, reason)
	h.post(&agentGone{s: s, reason: reason, broken: true, at: now})
	return reason
}

func endReason(err error, ours string, deadline time.Duration) string {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case ours != "":
		return ours
	case errors.As(err, &ce) && (ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseGoingAway):
		return reasonAgentClosed
	case errors.As(err, &ne) && ne.Timeout():
		return reasonMissedPings(deadline)
	case errors.Is(err, websocket.ErrReadLimit):
		return reasonTooLarge
	default:
		return reasonConnectionLost
	}
}

// refuse closes a handshake that failed and records it.
func (h *Hub) refuse(conn *websocket.Conn, ip netip.Addr, entity, reason, detail string) {
	h.auth.Fail(ip)
	writeClose(conn, websocket.ClosePolicyViolation, reason)
	_ = conn.Close()
	h.refused(ip, entity, reason, detail)
}

// refused logs a refusal (identical ones coalesced) and, when it names an
// entity linked to a server, shows it there as Connection error, only while
// no session of that server is live and only until the deadline.
func (h *Hub) refused(ip netip.Addr, entity, reason, detail string) {
	// The key is the entity only when it is one: a stranger's header (up to
	// the header limit) is never kept.
	key := entity
	if !wire.ValidEntityID(key) {
		key = ""
	}
	if n, ok := h.refusals.note(key, reason, h.now()); ok {
		h.log.Warn("agent handshake refused", "remote", ip.String(), "entity", logEntity(entity), "reason", reason, "detail", logDetail(detail), "identical_since_last_line", n)
	}
	if entity == "" {
		return
	}
	if e, ok := h.config().Lookup(entity); !ok || e.Server == nil {
		return
	}
	h.post(&handshakeRefused{entity: entity, reason: reason, at: h.now()})
}

// claimedEntity reads the entity a malformed hello claims, if any, so the
// refusal is attributed to it.
func claimedEntity(msg []byte) string {
	var v struct {
		Entity string `json:"entity"`
	}
	if json.Unmarshal(msg, &v) != nil || !wire.ValidEntityID(v.Entity) {
		return ""
	}
	return v.Entity
}
