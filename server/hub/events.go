package hub

import (
	"time"

	"github.com/gorilla/websocket"

	"imagingstatus/server/config"
	"imagingstatus/server/viewerauth"
	"imagingstatus/wire"
)

// An event is something that happened outside the loop. Its handler runs
// on the loop and is the only code that changes hub state; every handler
// is in this file.
type event interface{ handle(l *loop) }

// waitable is an event whose sender waits until it was handled.
type waitable interface {
	event
	setDone(chan struct{})
}

// reply lets a waitable event say it was handled.
type reply struct{ done chan struct{} }

func (r *reply) setDone(c chan struct{}) { r.done = c }
func (r *reply) finish() {
	if r.done != nil {
		close(r.done)
	}
}

// agentConnected: a session passed its handshake.
type agentConnected struct {
	s     *agentSession
	hello wire.Hello
	at    time.Time
}

func (e *agentConnected) handle(l *loop) {
	s := e.s
	l.sessions[s.id] = s
	// The token was checked against the configuration of its handshake; a
	// reload since may have revoked it or unlinked the server.
	if cfg := l.h.config(); !cfg.CheckTokenHash(s.entity, s.tokenHash) {
		l.closeSession(s.id, websocket.ClosePolicyViolation, reasonRevoked)
		return
	}
	replaced, changed := l.m.Connect(s.entity, s.id, e.hello, e.at)
	if replaced != 0 {
		l.closeSession(replaced, websocket.CloseNormalClosure, reasonReplaced)
	}
	l.publish(changed)
	l.watch(s.entity, watchConnect, e.at)
}

// agentFrame: a session has a report or a pong for the loop. The session
// coalesces them (at most one event queued per session), so this takes
// the newest.
type agentFrame struct{ s *agentSession }

func (e *agentFrame) handle(l *loop) {
	s := e.s
	rep, at := s.takeQueued()
	if rep != nil {
		l.publish(l.m.Report(s.entity, s.id, *rep, at))
		l.watch(s.entity, watchReport, at)
	} else {
		l.publish(l.m.Frame(s.entity, s.id, at))
	}
	l.watch(s.entity, watchFrame, at)
}

// agentGone: a session ended; broken means it broke the protocol and the
// entity shows the reason as Connection error.
type agentGone struct {
	s      *agentSession
	reason string
	broken bool
	at     time.Time
}

func (e *agentGone) handle(l *loop) {
	s := e.s
	if l.sessions[s.id] == s {
		delete(l.sessions, s.id)
	}
	l.publish(l.m.Disconnect(s.entity, s.id, e.reason, e.at))
	if e.broken {
		l.publish(l.m.Refused(s.entity, e.reason, e.at))
		l.watch(s.entity, watchRefused, e.at)
	}
}

// handshakeRefused: a handshake naming a linked entity was refused.
type handshakeRefused struct {
	entity, reason string
	at             time.Time
}

func (e *handshakeRefused) handle(l *loop) {
	l.publish(l.m.Refused(e.entity, e.reason, e.at))
	l.watch(e.entity, watchRefused, e.at)
}

// viewerJoined and viewerLeft keep the set of live streams, which a
// reload re-checks and shutdown closes. Streams read the change log on
// their own: the loop never works per viewer.
type viewerJoined struct {
	reply
	v *viewer
}

func (e *viewerJoined) handle(l *loop) {
	defer e.finish()
	// Signed in under the configuration of its request; a reload since
	// may have removed or rescoped its token.
	if l.h.opt.Refresh != nil {
		who, ok := l.h.opt.Refresh(e.v.who)
		if !ok {
			l.revoke(e.v)
			return
		}
		e.v.who = who
		e.v.setScope(viewerauth.FilterFor(who, l.h.config))
	}
	l.viewers[e.v] = struct{}{}
}

type viewerLeft struct{ v *viewer }

func (e *viewerLeft) handle(l *loop) { delete(l.viewers, e.v) }

// reload: a new configuration.
type reload struct {
	reply
	cfg *config.Config
}

func (e *reload) handle(l *loop) {
	h := l.h
	l.flush() // changes of the old tree go out under the old tree
	h.cfg.Store(e.cfg)
	now := h.now()
	for _, id := range l.m.SetConfig(e.cfg, now) {
		l.closeSession(id, websocket.CloseNormalClosure, reasonUnlinked)
	}
	for id, s := range l.sessions {
		if !e.cfg.CheckTokenHash(s.entity, s.tokenHash) {
			l.closeSession(id, websocket.ClosePolicyViolation, reasonRevoked)
		}
	}
	l.refreshViewers()
	l.resetViews()
	e.finish()
}

// refreshViewers re-checks every live stream's identity against the new
// configuration: a removed token's streams are closed, a rescoped one sees
// its new scope in the snapshot that follows.
func (l *loop) refreshViewers() {
	if l.h.opt.Refresh == nil {
		return
	}
	for v := range l.viewers {
		who, ok := l.h.opt.Refresh(v.who)
		if !ok {
			delete(l.viewers, v)
			l.revoke(v)
			continue
		}
		v.who = who
		v.setScope(viewerauth.FilterFor(who, l.h.config))
	}
}

// revoke closes a viewer's stream off the loop: the close frame may wait
// on a writer stuck on a slow peer.
func (l *loop) revoke(v *viewer) {
	h := l.h
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		v.revoke()
	}()
}

// medullaLoaded: figures from Medulla's databases.
type medullaLoaded struct {
	reply
	figs map[string]*wire.Medulla
}

func (e *medullaLoaded) handle(l *loop) {
	l.publish(l.m.SetMedulla(e.figs, l.h.now()))
	e.finish()
}

// alertsChanged: the alerts firing changed (the alert engine).
type alertsChanged struct {
	reply
	alerts map[string][]wire.EntityAlert
}

func (e *alertsChanged) handle(l *loop) {
	l.publish(l.m.SetAlerts(e.alerts, l.h.now()))
	e.finish()
}

// entitiesQuery and entityQuery answer the REST API.
type entitiesQuery struct {
	reply
	out []wire.Entity
}

func (e *entitiesQuery) handle(l *loop) {
	e.out = l.m.Entities()
	e.finish()
}

type entityQuery struct {
	reply
	id  string
	out wire.Entity
	ok  bool
}

func (e *entityQuery) handle(l *loop) {
	e.out, e.ok = l.m.Entity(e.id, true)
	e.finish()
}

// committed: the recorder's commit is on disk; the frames it held go out
// and the next group is handed over.
type committed struct{}

func (committed) handle(l *loop) {
	l.recording = false
	clear(l.inflight)
}

// forecastsComputed: the recorder recomputed the disk-full forecasts.
type forecastsComputed struct {
	forecasts map[string]*wire.DiskForecast
}

func (e *forecastsComputed) handle(l *loop) {
	l.publish(l.m.SetForecasts(e.forecasts, l.h.now()))
}

// storeHealth: the state file stopped or started being writable. While it
// cannot be written the truth goes out live, and snapshots say so.
type storeHealth struct{}

func (storeHealth) handle(l *loop) {
	msg := ""
	if e := l.h.storeErr.Load(); e != nil {
		msg = *e
	}
	l.storeBad = msg != ""
	l.h.changes.setStateError(msg)
}
