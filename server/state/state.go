// Package state is the per-entity status machine of DESIGN.md. It is a plain
// value owned by one goroutine (the hub's loop): every method takes the
// current time, so tests drive it with an injected clock and never sleep.
package state

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"imagingstatus/server/config"
	"imagingstatus/wire"
)

// SessionID names one authenticated agent connection; 0 is "none".
type SessionID uint64

// server is what the hub knows of one linked imaging server.
type server struct {
	entity string // the entity the server is linked to

	session     SessionID
	hello       wire.Hello
	connectedAt time.Time
	lastFrame   time.Time
	report      *wire.Report
	reportAt    time.Time
	images      []wire.Image // kept across reports that omit the list

	endedAt   time.Time
	endReason string

	refusedAt     time.Time
	refusedReason string

	// restored is the server's own entity as last stored before a hub
	// restart: shown, marked stale, until the agent is back or the grace ends.
	restored *wire.Entity

	cur verdict // last computed, to find changes on Tick
}

type verdict struct {
	status wire.Status
	reason string
	stale  bool
}

// Transition is one change of an entity's status, to be recorded.
type Transition struct {
	Entity   string
	At       time.Time
	From, To wire.Status
	Reason   string
}

// Machine holds every entity's status. Not safe for concurrent use.
type Machine struct {
	cfg      *config.Config
	deadline time.Duration
	servers  map[string]*server  // by linked entity id
	served   map[string][]string // linked entity id → entities it serves
	views    map[string]wire.Entity
	medulla  map[string]*wire.Medulla
	// forecasts by linked entity (the server's), shown on every entity it
	// serves.
	forecasts map[string]*wire.DiskForecast
	// alerts firing, by entity (the alert engine's).
	alerts map[string][]wire.EntityAlert

	restoredUntil time.Time
	transitions   []Transition
}

// New builds a machine where every linked server is Offline (never seen)
// and every other entity is not linked, since now.
func New(cfg *config.Config, now time.Time) *Machine {
	m := &Machine{views: map[string]wire.Entity{}, servers: map[string]*server{}}
	m.SetConfig(cfg, now)
	return m
}

// SetConfig swaps the configuration (a reload, or Medulla's tree changed).
// Servers still linked keep their session, figures and `since`; the
// sessions of servers no longer linked are returned for the caller to close.
// Every view may have changed: the caller sends viewers a new snapshot.
func (m *Machine) SetConfig(cfg *config.Config, now time.Time) (dropped []SessionID) {
	old := m.servers
	m.cfg, m.deadline = cfg, cfg.Deadline()
	m.servers = make(map[string]*server)
	m.served = make(map[string][]string)
	for _, e := range cfg.Entities {
		if e.Server != nil {
			s := old[e.ID]
			if s == nil {
				s = &server{entity: e.ID}
			}
			m.servers[e.ID] = s
		}
		if e.ServedBy != "" {
			m.served[e.ServedBy] = append(m.served[e.ServedBy], e.ID)
		}
	}
	for id, s := range old {
		if _, kept := m.servers[id]; !kept && s.session != 0 {
			dropped = append(dropped, s.session)
		}
	}
	for _, s := range m.servers {
		s.cur = m.judge(s, now)
	}
	views := make(map[string]wire.Entity, len(cfg.Entities))
	for _, e := range cfg.Entities {
		views[e.ID] = m.build(e.ID, now, m.views[e.ID])
	}
	m.views = views
	return dropped
}

// Restore shows each linked server's last known state from before a hub
// restart, marked stale, until its agent reconnects or until passes; then
// the server is Offline like any server never seen.
func (m *Machine) Restore(views map[string]wire.Entity, now, until time.Time) {
	m.restoredUntil = until
	for id, s := range m.servers {
		v, ok := views[id]
		if !ok || v.Status == "" || v.Status == wire.StatusNotLinked {
			continue
		}
		s.restored = &v
		s.cur = m.judge(s, now)
	}
	for _, e := range m.cfg.Entities {
		old, ok := views[e.ID]
		if !ok {
			old = m.views[e.ID]
		}
		m.views[e.ID] = m.build(e.ID, now, old)
	}
	m.transitions = nil // restoring is not a change of status
}

// TakeTransitions returns the status changes since the last call.
func (m *Machine) TakeTransitions() []Transition {
	t := m.transitions
	m.transitions = nil
	return t
}

// SetMedulla replaces the figures read from Medulla's databases and returns
// the entities whose figures changed.
// SetForecasts replaces the disk-full forecasts, by linked entity; only the
// entities whose forecast changed are returned.
func (m *Machine) SetForecasts(f map[string]*wire.DiskForecast, now time.Time) []wire.Entity {
	m.forecasts = f
	var changed []wire.Entity
	for _, e := range m.cfg.Entities {
		old := m.views[e.ID]
		var next *wire.DiskForecast
		if old.ServedByEntity != "" {
			next = f[old.ServedByEntity]
		}
		if sameForecast(old.DiskForecast, next) {
			continue
		}
		v := m.build(e.ID, now, old)
		m.views[e.ID] = v
		changed = append(changed, v)
	}
	return changed
}

// sameForecast ignores moves of a few hours in full_at, so that a forecast
// recomputed every few minutes is not pushed to every viewer each time.
func sameForecast(a, b *wire.DiskForecast) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Mountpoint != b.Mountpoint || a.Confidence != b.Confidence || a.Synthetic != b.Synthetic || (a.DaysLeft == nil) != (b.DaysLeft == nil) {
		return false
	}
	return a.DaysLeft == nil || math.Abs(*a.DaysLeft-*b.DaysLeft) < 0.25
}

// SetAlerts replaces the alerts firing, by entity; only the entities whose
// alerts changed are returned.
func (m *Machine) SetAlerts(a map[string][]wire.EntityAlert, now time.Time) []wire.Entity {
	m.alerts = a
	var changed []wire.Entity
	for _, e := range m.cfg.Entities {
		old := m.views[e.ID]
		if slices.Equal(old.Alerts, a[e.ID]) {
			continue
		}
		v := m.build(e.ID, now, old)
		m.views[e.ID] = v
		changed = append(changed, v)
	}
	return changed
}

func (m *Machine) SetMedulla(figs map[string]*wire.Medulla, now time.Time) []wire.Entity {
	m.medulla = figs
	var changed []wire.Entity
	for _, e := range m.cfg.Entities {
		old := m.views[e.ID]
		if sameFigures(old.Medulla, figs[e.ID]) {
			// A refresh that only moved loaded_at is kept for REST but not
			// pushed: with 10,000 entities it would be 10,000 frames a minute.
			old.Medulla = figs[e.ID]
			m.views[e.ID] = old
			continue
		}
		v := m.build(e.ID, now, old)
		m.views[e.ID] = v
		changed = append(changed, v)
	}
	return changed
}

// Entities returns every view in tree order.
func (m *Machine) Entities() []wire.Entity {
	out := make([]wire.Entity, 0, len(m.cfg.Entities))
	for _, e := range m.cfg.Entities {
		out = append(out, m.views[e.ID])
	}
	return out
}

// Entity returns one view; withImages adds the serving server's image list.
func (m *Machine) Entity(id string, withImages bool) (wire.Entity, bool) {
	v, ok := m.views[id]
	if !ok {
		return v, false
	}
	if withImages && v.Repository != nil {
		if s := m.servers[v.ServedByEntity]; s != nil {
			repo := *v.Repository
			repo.Images = s.images
			v.Repository = &repo
		}
	}
	return v, true
}

// Live reports whether the server linked to entity has an authenticated
// session right now.
func (m *Machine) Live(entity string) bool {
	s := m.servers[entity]
	return s != nil && s.session != 0
}

// Connect records a new authenticated session. A second valid connection for
// the same server replaces the first (the newest is the agent that restarted
// or moved); the replaced session id is returned for the caller to close.
func (m *Machine) Connect(entity string, id SessionID, h wire.Hello, now time.Time) (replaced SessionID, changed []wire.Entity) {
	s := m.servers[entity]
	if s == nil {
		return 0, nil
	}
	replaced = s.session
	s.session, s.hello, s.connectedAt, s.lastFrame = id, h, now, now
	s.report, s.reportAt = nil, time.Time{}
	return replaced, m.refresh(s, now)
}

// Frame records any frame (pong or report) from a live session.
func (m *Machine) Frame(entity string, id SessionID, now time.Time) []wire.Entity {
	s := m.servers[entity]
	if s == nil || s.session != id {
		return nil
	}
	s.lastFrame = now
	if m.judge(s, now) != s.cur {
		return m.refresh(s, now)
	}
	return nil
}

// Report records a validated report from a live session.
func (m *Machine) Report(entity string, id SessionID, r wire.Report, now time.Time) []wire.Entity {
	s := m.servers[entity]
	if s == nil || s.session != id {
		return nil
	}
	if r.Repository != nil {
		repo := *r.Repository
		if !repo.ImagesOmitted {
			s.images = repo.Images
		}
		repo.Images, repo.ImagesOmitted = nil, false
		r.Repository = &repo
	} else {
		s.images = nil
	}
	s.lastFrame, s.report, s.reportAt = now, &r, now
	s.restored = nil
	return m.refresh(s, now)
}

// Disconnect ends a session. A clean close (the agent said goodbye) is
// Offline at once; a lost connection keeps its reason.
func (m *Machine) Disconnect(entity string, id SessionID, reason string, now time.Time) []wire.Entity {
	s := m.servers[entity]
	if s == nil || s.session != id {
		return nil
	}
	s.session = 0
	s.endedAt, s.endReason = now, reason
	return m.refresh(s, now)
}

// Refused records a refused handshake or a session closed for a malformed
// message. It shows as Connection error only while no authenticated session
// is live, and only until the deadline passes.
func (m *Machine) Refused(entity, reason string, now time.Time) []wire.Entity {
	s := m.servers[entity]
	if s == nil {
		return nil
	}
	s.refusedAt, s.refusedReason = now, reason
	if m.judge(s, now) == s.cur {
		return nil
	}
	return m.refresh(s, now)
}

// Tick re-judges every server against the clock (missed pings, stale
// reports, expired refusals) and returns the entities whose view changed.
func (m *Machine) Tick(now time.Time) []wire.Entity {
	var changed []wire.Entity
	for _, s := range m.servers {
		if m.judge(s, now) != s.cur {
			changed = append(changed, m.refresh(s, now)...)
		}
	}
	return changed
}

// Expired lists the live sessions that sent nothing within the deadline, for
// the caller to close (the socket's read deadline usually does it first).
func (m *Machine) Expired(now time.Time) map[string]SessionID {
	var out map[string]SessionID
	for e, s := range m.servers {
		if s.session != 0 && now.Sub(s.lastFrame) > m.deadline {
			if out == nil {
				out = make(map[string]SessionID)
			}
			out[e] = s.session
		}
	}
	return out
}

// judge applies DESIGN.md's rules to one server.
func (m *Machine) judge(s *server, now time.Time) verdict {
	secs := func(d time.Duration) string { return fmt.Sprintf("%.0f s", d.Seconds()) }
	if s.session != 0 {
		if silent := now.Sub(s.lastFrame); silent > m.deadline {
			return verdict{wire.StatusOffline, "no answer from the agent for " + secs(silent) + " (missed pings)", false}
		}
		if s.report == nil {
			if now.Sub(s.connectedAt) > m.deadline {
				return verdict{wire.StatusConnectionError, "the agent is connected but has sent no report for " + secs(now.Sub(s.connectedAt)), false}
			}
			if r := s.restored; r != nil {
				return verdict{r.Status, r.Reason, true} // back after a hub restart: no flicker
			}
			return verdict{wire.StatusOffline, wire.TextWaitingReport, false}
		}
		if age := now.Sub(s.reportAt); age > m.deadline {
			return verdict{wire.StatusConnectionError, "the agent answers pings but its last report is " + secs(age) + " old", false}
		}
		var failed []string
		for _, p := range s.report.Probes {
			if !p.OK {
				failed = append(failed, fmt.Sprintf("probe %s (%s) failed: %s", p.Name, p.Target, p.Error))
			}
		}
		if len(failed) > 0 {
			return verdict{wire.StatusConnectionError, strings.Join(failed, "; "), false}
		}
		return verdict{wire.StatusAvailable, "", false}
	}
	if !s.refusedAt.IsZero() && !s.refusedAt.Before(s.endedAt) && now.Sub(s.refusedAt) <= m.deadline {
		return verdict{wire.StatusConnectionError, s.refusedReason, false}
	}
	if !s.endedAt.IsZero() {
		return verdict{wire.StatusOffline, s.endReason, false}
	}
	if r := s.restored; r != nil {
		if now.Before(m.restoredUntil) {
			return verdict{r.Status, r.Reason, true}
		}
		return verdict{wire.StatusOffline, wire.TextNotReconnected, false}
	}
	return verdict{wire.StatusOffline, wire.TextNeverConnected, false}
}

// refresh re-judges a server and rebuilds the views of the entities it
// serves, returning those that changed.
func (m *Machine) refresh(s *server, now time.Time) []wire.Entity {
	s.cur = m.judge(s, now)
	var changed []wire.Entity
	for _, id := range m.served[s.entity] {
		old := m.views[id]
		v := m.build(id, now, old)
		m.views[id] = v
		changed = append(changed, v)
	}
	return changed
}

// build makes the view of one entity; old carries `since` forward while the
// status stays the same.
func (m *Machine) build(id string, now time.Time, old wire.Entity) wire.Entity {
	e, _ := m.cfg.Lookup(id)
	v := wire.Entity{ID: e.ID, Name: e.Name, Parent: e.Parent, Path: e.Path}
	s := m.servers[e.ServedBy]
	if s == nil {
		v.Status, v.Reason = wire.StatusNotLinked, m.notLinkedReason(e)
	} else {
		srv, _ := m.cfg.Lookup(s.entity)
		v.ServedBy, v.ServedByEntity, v.Inherited = srv.Server.Name, s.entity, s.entity != id
		v.Status, v.Reason = s.cur.status, s.cur.reason
		v.Stale = s.cur.stale
		if s.session != 0 {
			v.Hostname, v.AgentVersion = s.hello.Hostname, s.hello.AgentVersion
		}
		if r := s.restored; r != nil && s.report == nil {
			v.Figures, v.AgentVersion, v.LastReportAt = r.Figures, r.AgentVersion, r.LastReportAt
		}
		if r := s.report; r != nil {
			at, hello := s.reportAt, v.Hostname
			v.Figures, v.LastReportAt = r.Figures, &at
			if v.Hostname == "" {
				v.Hostname = hello // a report without hostname keeps the hello's
			}
		}
	}
	v.ReasonCode, v.ReasonArgs = wire.ClassifyReason(v.Reason)
	v.Reason = clipReason(v.Reason)
	v.Medulla = m.medulla[id]
	v.Alerts = m.alerts[id]
	if v.ServedByEntity != "" {
		v.DiskForecast = m.forecasts[v.ServedByEntity]
	}
	v.Since = old.Since
	if old.Status != v.Status || old.Since.IsZero() {
		v.Since = now
		if old.Status != "" {
			m.transitions = append(m.transitions, Transition{Entity: id, At: now, From: old.Status, To: v.Status, Reason: v.Reason})
		}
	}
	return v
}

// notLinkedReason says why no server serves e: none above it, or
// Medulla's rule passes over an ancestor's server (not recursive).
func (m *Machine) notLinkedReason(e *config.ResolvedEntity) string {
	if e.NotServed {
		for a, ok := m.cfg.Lookup(e.Parent); ok; a, ok = m.cfg.Lookup(a.Parent) {
			if a.Server != nil {
				return wire.NotRecursiveText(a.Name, a.Server.Name)
			}
		}
	}
	return wire.TextNotLinked
}

// MaxReason bounds a reason shown and stored: reasons come from fixed
// texts, but an authenticated agent's probe errors are quoted in them.
const MaxReason = 200

func clipReason(s string) string {
	if len(s) <= MaxReason {
		return s
	}
	cut := MaxReason - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func sameFigures(a, b *wire.Medulla) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.LoadedAt, y.LoadedAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(x, y)
}
