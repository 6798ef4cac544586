package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"imagingstatus/server/history"
	"imagingstatus/server/state"
	"imagingstatus/server/store"
	"imagingstatus/wire"
)

// loop is the hub state, owned by the goroutine that runs Run. Only the
// event handlers (events.go) and the methods here touch it.
type loop struct {
	h        *Hub
	m        *state.Machine
	sessions map[state.SessionID]*agentSession
	viewers  map[*viewer]struct{}

	// Deadlines first: when the clock must next be judged.
	deadlines *deadlines
	timer     *time.Timer
	dueBuf    []string

	// The round's changes, newest per entity, published at its end.
	out      map[string]wire.Entity
	outOrder []string
	pub      []published

	// Persistence: status changes wait for their commit before viewers
	// hear of them (a change shown is a change kept), unless the state
	// file cannot be written, when the truth goes out live and the changes
	// wait in a bounded queue. Figures are saved periodically.
	rec       *recorder // nil without a state file
	held      []state.Transition
	heldIDs   map[string]bool // changes not yet handed to the recorder
	inflight  map[string]bool // changes being committed
	recording bool
	dropped   int  // changes dropped unrecorded past maxHeld
	storeBad  bool // the state file could not be written (as last published)
	dirty     map[string]bool
	lastSave  time.Time
	// lastSample is when the figure history was last fed.
	lastSample time.Time
}

// maxHeld bounds the status changes waiting for the state file while it
// cannot be written; past it the oldest are dropped, counted and logged.
const maxHeld = 100_000

// Run owns the hub state until ctx ends, then closes every session and
// viewer and waits for their goroutines.
func (h *Hub) Run(ctx context.Context) error {
	l, err := h.newLoop()
	if err != nil {
		return err
	}
	defer l.shutdown()
	l.run(ctx)
	return nil
}

func (h *Hub) newLoop() (*loop, error) {
	now := h.now()
	l := &loop{h: h, m: state.New(h.config(), now), sessions: make(map[state.SessionID]*agentSession),
		viewers: make(map[*viewer]struct{}), deadlines: newDeadlines(), out: make(map[string]wire.Entity),
		heldIDs: make(map[string]bool), inflight: make(map[string]bool), dirty: make(map[string]bool), lastSave: now}
	if st := h.opt.Store; st != nil {
		last, err := st.LastKnown()
		if err != nil {
			return nil, fmt.Errorf("read the last known states: %w", err)
		}
		until := now.Add(h.opt.RestoreGrace)
		l.m.Restore(last, now, until)
		l.deadlines.set("", until) // restored states expire
		h.log.Info("last known states restored, marked stale until agents reconnect", "entities", len(last), "grace", h.opt.RestoreGrace)
		l.rec = newRecorder(h, st)
	}
	l.resetViews()
	return l, nil
}

// run takes events until ctx ends. The clock comes first: a due deadline
// is judged before the next batch of events, and publishing a change costs
// the loop one append whatever the number of viewers.
func (l *loop) run(ctx context.Context) {
	h := l.h
	l.timer = time.NewTimer(time.Hour)
	defer l.timer.Stop()
	safety := time.NewTicker(h.opt.Tick)
	defer safety.Stop()
	l.armTimer()
	for {
		var roundStart time.Time
		select {
		case <-ctx.Done():
			return
		case <-l.timer.C:
			l.drainEvents()
			l.judgeClock()
		case <-safety.C:
			l.drainEvents()
			l.judgeClock()
			if h.now().Sub(l.lastSave) >= h.opt.SaveEvery {
				l.save()
			}
			if every, _ := h.sampling(); h.now().Sub(l.lastSample) >= every {
				l.sample()
			}
		case e := <-h.events:
			start := time.Now()
			roundStart = start
			e.handle(l)
			// Take what else is queued before persisting and publishing, so
			// a burst costs one commit and one log entry per entity; judge
			// the clock between, so a burst never delays a deadline.
		drain:
			for n := 0; n < 1024; n++ {
				select {
				case e := <-h.events:
					e.handle(l)
				default:
					break drain
				}
			}
			if at, ok := l.deadlines.next(); ok && !at.After(h.now()) {
				l.drainEvents()
				l.judgeClock()
			}
			if took := time.Since(start); took > 250*time.Millisecond {
				h.log.Warn("slow hub round", "took", took)
			}
		}
		l.flush()
		l.armTimer()
		if !roundStart.IsZero() {
			h.stats.observeRound(time.Since(roundStart))
		}
		h.stats.agents.Store(int64(len(l.sessions)))
		h.stats.viewers.Store(int64(len(l.viewers)))
	}
}

// drainEvents handles every event already queued, before the clock is
// judged: a frame read before its deadline, still in the queue, must not
// lose to it (a false Offline, then Available). Each event is cheap: the
// loop does no per-viewer work.
func (l *loop) drainEvents() {
	for {
		select {
		case e := <-l.h.events:
			e.handle(l)
		default:
			return
		}
	}
}

// armTimer sets the timer to the earliest deadline.
func (l *loop) armTimer() {
	at, ok := l.deadlines.next()
	if !ok {
		return
	}
	d := max(at.Sub(l.h.now()), 0)
	l.timer.Reset(d)
}

// judgeClock re-judges every server against the clock: missed pings,
// stale reports, refusals and restored states that expire; sessions silent
// past the deadline are closed.
func (l *loop) judgeClock() {
	now := l.h.now()
	l.dueBuf = l.deadlines.due(now, l.dueBuf[:0])
	l.publish(l.m.Tick(now))
	for entity, id := range l.m.Expired(now) {
		l.closeSession(id, websocket.CloseNormalClosure, reasonNoPong)
		l.publish(l.m.Disconnect(entity, id, reasonMissedPings(l.h.config().Deadline()), now))
	}
}

// What a deadline is counted from; each has its own timer entry, since a
// newer sign of one kind must not push back the deadline of another (pongs
// keep coming while reports stop).
const (
	watchFrame   = "frame:"   // any frame: missed pings
	watchReport  = "report:"  // a report: reports stopped
	watchConnect = "connect:" // a connection: no first report
	watchRefused = "refused:" // a refusal: it expires
)

// watch schedules a judgement of entity's server one deadline after at:
// that is when silence after this sign of life becomes a status.
func (l *loop) watch(entity, kind string, at time.Time) {
	// A hair after the deadline: the machine judges "more than".
	l.deadlines.set(kind+entity, at.Add(l.h.config().Deadline()+5*time.Millisecond))
}

// publish queues changes for the end of the round.
func (l *loop) publish(changed []wire.Entity) {
	for _, e := range changed {
		if _, ok := l.out[e.ID]; !ok {
			l.outOrder = append(l.outOrder, e.ID)
		}
		l.out[e.ID] = e
		l.dirty[e.ID] = true
	}
}

// flush hands the round's status changes to the recorder, then publishes
// every change whose status change (if any) is on disk.
func (l *loop) flush() {
	l.record()
	if len(l.outOrder) == 0 {
		return
	}
	kept := l.outOrder[:0]
	l.pub = l.pub[:0]
	for _, id := range l.outOrder {
		if l.waiting(id) {
			kept = append(kept, id)
			continue
		}
		l.pub = append(l.pub, l.encode(l.out[id]))
		delete(l.out, id)
	}
	l.outOrder = kept
	l.h.changes.publish(l.pub)
}

// encode makes an entity's two encodings, once for every viewer.
func (l *loop) encode(v wire.Entity) published {
	full, err := json.Marshal(v)
	if err != nil {
		l.h.log.Error("encode entity", "entity", v.ID, "err", err)
	}
	sum, _ := json.Marshal(wire.Summarize(v))
	return published{id: v.ID, full: full, summary: sum}
}

// resetViews publishes every entity afresh in tree order (at start and
// after a reload): every viewer starts again from a snapshot.
func (l *loop) resetViews() {
	cfg := l.h.config()
	order := make([]string, 0, len(cfg.Entities))
	views := make([]published, 0, len(cfg.Entities))
	for _, e := range cfg.Entities {
		if v, ok := l.m.Entity(e.ID, false); ok {
			order = append(order, e.ID)
			views = append(views, l.encode(v))
		}
	}
	// Views waiting for their status change to be on disk keep what viewers
	// were last told (a change shown is a change kept); they go out after
	// the commit. The others are superseded by the fresh views.
	kept := l.outOrder[:0]
	for _, id := range l.outOrder {
		if l.waiting(id) {
			kept = append(kept, id)
			continue
		}
		delete(l.out, id)
	}
	l.outOrder = kept
	fresh := views[:0]
	for _, v := range views {
		if !l.waiting(v.id) || !l.h.changes.has(v.id) {
			fresh = append(fresh, v)
		}
	}
	l.h.changes.reset(order, fresh)
}

// waiting says whether id's view waits for its status change to be on disk.
func (l *loop) waiting(id string) bool {
	return (l.heldIDs[id] || l.inflight[id]) && !l.storeBad
}

// record hands the held status changes to the recorder when it is idle.
func (l *loop) record() {
	tr := l.m.TakeTransitions()
	if l.rec == nil {
		return
	}
	if len(tr) > 0 {
		for _, t := range tr {
			l.heldIDs[t.Entity] = true
		}
		l.held = append(l.held, tr...)
		if over := len(l.held) - maxHeld; over > 0 {
			l.dropped += over
			l.held = append(l.held[:0], l.held[over:]...)
			l.h.log.Error("status changes dropped unrecorded: the state file cannot be written and the queue is full", "dropped", over, "dropped_total", l.dropped, "queued", len(l.held))
		}
	}
	if len(l.held) == 0 || l.recording {
		return
	}
	job := l.takeHeld()
	l.recording = true
	l.rec.record(job)
}

// takeHeld turns the held changes into a commit, with the views of their
// entities.
func (l *loop) takeHeld() recordJob {
	job := recordJob{changes: make([]store.Change, len(l.held)), views: make([]wire.Entity, 0, len(l.heldIDs))}
	for i, t := range l.held {
		job.changes[i] = store.Change{Entity: t.Entity, At: t.At, From: t.From, To: t.To, Reason: t.Reason}
	}
	for id := range l.heldIDs {
		if v, ok := l.m.Entity(id, false); ok {
			job.views = append(job.views, v)
			delete(l.dirty, id)
		}
		l.inflight[id] = true
	}
	l.held = nil
	clear(l.heldIDs)
	return job
}

// save hands the views whose figures changed since the last save to the
// recorder, so a restart shows recent figures.
func (l *loop) save() {
	l.lastSave = l.h.now()
	if l.rec == nil || len(l.dirty) == 0 {
		return
	}
	views := make([]wire.Entity, 0, len(l.dirty))
	for id := range l.dirty {
		if v, ok := l.m.Entity(id, false); ok {
			views = append(views, v)
		}
	}
	if l.rec.save(views) {
		clear(l.dirty)
	}
}

// sample hands the recorder one sample of every figure of every server
// whose report is fresh, for the figure history and the forecasts.
func (l *loop) sample() {
	now := l.h.now()
	l.lastSample = now
	if l.rec == nil || l.rec.series == nil {
		return
	}
	cfg := l.h.config()
	deadline := cfg.Deadline()
	batch := seriesBatch{at: now, servers: make(map[string]serverDisk)}
	for _, e := range cfg.Entities {
		if e.Server == nil {
			continue
		}
		v, ok := l.m.Entity(e.ID, false)
		if !ok || v.LastReportAt == nil || now.Sub(*v.LastReportAt) > deadline {
			continue
		}
		batch.samples = append(batch.samples, history.SamplesOf(e.ID, v.Figures, now)...)
		for _, p := range v.Partitions {
			if p.Main {
				batch.servers[e.ID] = serverDisk{mountpoint: p.Mountpoint, total: float64(p.Total)}
				break
			}
		}
	}
	l.rec.sample(batch)
}

// closeSession closes a live session by id (replaced, expired, revoked),
// off the loop: the close frame's write may wait on a peer that stopped
// reading. Its read loop then reports the disconnect.
func (l *loop) closeSession(id state.SessionID, code int, reason string) {
	s := l.sessions[id]
	if s == nil {
		return
	}
	h := l.h
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		s.close(code, reason)
	}()
}

// shutdown writes what is held, saves every view, then closes every viewer
// and session and waits for their goroutines.
func (l *loop) shutdown() {
	h := l.h
	if l.rec != nil {
		// The commit under way finishes (one more try if it is failing),
		// then what is held is written once, here.
		if job, ok := l.rec.close(); ok {
			l.held = append(job.heldBack(), l.held...)
		}
		l.recording = false
		clear(l.inflight)
		for _, t := range l.m.TakeTransitions() {
			l.heldIDs[t.Entity] = true
			l.held = append(l.held, t)
		}
		if len(l.held) > 0 {
			job := l.takeHeld()
			if err := h.opt.Store.Record(job.changes, job.views); err != nil {
				h.log.Error("status changes not recorded in the state file at shutdown", "changes", len(job.changes), "err", err)
			}
		}
		if err := h.opt.Store.SaveViews(l.m.Entities()); err != nil {
			h.log.Error("last known states not saved at shutdown", "err", err)
		}
	}
	h.mu.Lock()
	h.stopping = true
	h.mu.Unlock()
	close(h.done)
	// Every connection closes in a goroutine of its own (context.AfterFunc),
	// so a peer that stopped reading delays nobody.
	h.stopConn()
	h.wg.Wait()
}
