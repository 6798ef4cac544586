// Package hub runs the live part of the hub: agent sessions, the status
// machine and the fan-out to viewers. One goroutine (Run) owns the machine
// and the viewer set; sessions talk to it through a channel.
package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"imagingstatus/server/config"
	"imagingstatus/server/ratelimit"
	"imagingstatus/server/state"
	"imagingstatus/server/store"
	"imagingstatus/server/viewerauth"
	"imagingstatus/wire"
)

// Options tune a hub; zero values take defaults.
type Options struct {
	Logger *slog.Logger
	// Now is the clock; tests may inject one.
	Now func() time.Time
	// Tick is how often the clock is checked for missed pings (default 200 ms,
	// well inside the "deadline + 1 s" promise).
	Tick time.Duration
	// Version is the hub build, sent to viewers so an app can offer a reload.
	Version string
	// ViewerWriteTimeout drops a viewer that cannot take a frame in time.
	ViewerWriteTimeout time.Duration
	// HelloTimeout bounds the wait for an agent's hello.
	HelloTimeout time.Duration
	// AuthFailures and AuthWindow limit refused handshakes per source
	// address (and five times as many per /24 or /64).
	AuthFailures int
	AuthWindow   time.Duration
	// MessagesPerInterval bounds frames an agent may send per interval.
	MessagesPerInterval int
	// Store keeps the last known states and the history of status changes
	// (nil: nothing survives a restart).
	Store Store
	// Refresh re-checks a live viewer's identity after a reload: false
	// closes its stream (its token was removed), otherwise its scope is
	// applied at once (viewerauth.Auth.Refresh). Nil: streams keep theirs.
	Refresh func(viewerauth.Identity) (viewerauth.Identity, bool)
	// PruneEvery is how often the history retention runs (default 1 h).
	PruneEvery time.Duration
	// RetryMax bounds the wait between retries of a failed state-file write
	// (default 5 s).
	RetryMax time.Duration
	// RestoreGrace is how long last known states stay shown, marked stale,
	// after a restart while agents reconnect (default 60 s: the agents'
	// longest backoff).
	RestoreGrace time.Duration
	// SaveEvery is how often changed figures are written to the store
	// (status changes are written at once).
	SaveEvery time.Duration
}

// Store is the state file as the hub uses it (*store.Store).
type Store interface {
	LastKnown() (map[string]wire.Entity, error)
	Record(changes []store.Change, views []wire.Entity) error
	SaveViews(views []wire.Entity) error
	History(entity string, limit int) ([]store.Change, error)
	PruneHistory(now time.Time, maxAge time.Duration, maxPerEntity int) (int, error)
}

// maxHeld bounds the status changes waiting for the state file while it
// cannot be written; past it the oldest are dropped, counted and logged.
const maxHeld = 100_000

// Hub is the live hub. Create with New, then Run it.
type Hub struct {
	// cfg is swapped whole by Reload; handlers read it without the loop.
	cfg  atomic.Pointer[config.Config]
	opt  Options
	log  *slog.Logger
	now  func() time.Time
	evts chan func(*loop)
	done chan struct{} // closed when Run returns

	auth     *ratelimit.Limiter // refused agent handshakes per address and network
	pending  pendingHandshakes  // agent handshakes not authenticated yet
	refusals refusalLog

	mu       sync.Mutex // guards sessions (read by handlers to close them)
	sessions map[state.SessionID]*agentSession
	nextID   state.SessionID
	stopping bool           // set when Run ends: no new goroutine is tracked
	wg       sync.WaitGroup // session and viewer goroutines

	// storeErr says why the state file cannot be written, nil when it can
	// (set by the recorder and the saver, read by /healthz and the loop).
	storeErr atomic.Pointer[string]
}

// loop is the state owned by Run.
type loop struct {
	h       *Hub
	m       *state.Machine
	viewers map[*viewer]struct{}

	out      map[string]wire.Entity // changes of this round, newest per entity
	outOrder []string
	enc      map[string]encoded // each entity encoded once for every viewer
	dirty    map[string]bool    // views changed since the last save
	lastSave time.Time
	// saves takes periodic figure saves to a goroutine of their own: writing
	// 10,000 views (and their fsync) must not stall the loop. Status
	// changes are still written by the loop itself, before viewers see them.
	saves     chan []wire.Entity
	savesDone chan struct{}

	// Status changes go to the state file through a recorder goroutine, so
	// the loop never waits on the disk; what queues while a commit runs goes
	// in the next one (group commit). The entities concerned wait for their
	// commit before viewers hear of them (a change shown is a change kept);
	// the others go out at once.
	held       []state.Transition
	heldIDs    map[string]bool // changes not yet handed to the recorder
	inflight   map[string]bool // changes being committed
	recording  bool
	records    chan recordJob
	recorded   chan struct{}
	stopRec    chan struct{}  // closed at shutdown: the recorder stops retrying
	unrecorded chan recordJob // the job the recorder gave up at shutdown
	dropped    int            // changes dropped unrecorded past maxHeld
	storeBad   bool           // the state file could not be written (as last told to viewers)
}

// recordJob is one commit of status changes.
type recordJob struct {
	changes []store.Change
	views   []wire.Entity
}

// heldBack turns a job that could not be committed back into held
// changes, for the final write at shutdown.
func (j recordJob) heldBack() []state.Transition {
	out := make([]state.Transition, len(j.changes))
	for i, c := range j.changes {
		out[i] = state.Transition{Entity: c.Entity, At: c.At, From: c.From, To: c.To, Reason: c.Reason}
	}
	return out
}

// encoded is an entity's view as JSON, in full and as a summary.
type encoded struct{ full, summary []byte }

// New builds a hub for a configuration.
func New(cfg *config.Config, o Options) *Hub {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Tick == 0 {
		o.Tick = 200 * time.Millisecond
	}
	if o.ViewerWriteTimeout == 0 {
		o.ViewerWriteTimeout = 10 * time.Second
	}
	if o.HelloTimeout == 0 {
		o.HelloTimeout = 10 * time.Second
	}
	if o.AuthFailures == 0 {
		o.AuthFailures = 10
	}
	if o.AuthWindow == 0 {
		o.AuthWindow = time.Minute
	}
	if o.MessagesPerInterval == 0 {
		o.MessagesPerInterval = 20
	}
	if o.RestoreGrace == 0 {
		o.RestoreGrace = time.Minute
	}
	if o.SaveEvery == 0 {
		o.SaveEvery = 30 * time.Second
	}
	if o.PruneEvery == 0 {
		o.PruneEvery = time.Hour
	}
	if o.RetryMax == 0 {
		o.RetryMax = 5 * time.Second
	}
	h := &Hub{
		opt: o,
		log: o.Logger,
		now: o.Now,
		// Each session queues at most one event at a time (its newest report
		// and frame time are coalesced), so this rarely fills; when it does,
		// readers wait instead of the hub dropping anything.
		evts: make(chan func(*loop), 1<<16),
		done: make(chan struct{}),
		auth: ratelimit.New(ratelimit.Options{Name: "agent handshakes", PerAddress: o.AuthFailures,
			PerNetwork: 5 * o.AuthFailures, Window: o.AuthWindow, Logger: o.Logger, Now: o.Now}),
		refusals: refusalLog{window: time.Minute},
		sessions: make(map[state.SessionID]*agentSession),
	}
	h.cfg.Store(cfg)
	return h
}

func (h *Hub) config() *config.Config { return h.cfg.Load() }

// Reload swaps the configuration without a restart: sessions whose server
// is no longer linked, or whose token no longer matches, are closed (a
// revoked token stops speaking at once), and viewers get a new snapshot.
func (h *Hub) Reload(ctx context.Context, cfg *config.Config) error {
	if from, to := viewerMode(h.config()), viewerMode(cfg); from != to {
		err := fmt.Errorf("configuration not reloaded: viewers.auth changes from %q to %q, which needs a restart of the hub (nothing was changed)", from, to)
		h.log.Error("configuration reload refused", "err", err)
		return err
	}
	ok := h.do(ctx, func(l *loop) {
		h.cfg.Store(cfg)
		l.refreshViewers()
		now := h.now()
		for _, id := range l.m.SetConfig(cfg, now) {
			h.closeSession(id, reasonUnlinked)
		}
		h.mu.Lock()
		var revoked []*agentSession
		for _, s := range h.sessions {
			if !cfg.CheckTokenHash(s.entity, s.tokenHash) {
				revoked = append(revoked, s)
			}
		}
		h.mu.Unlock()
		for _, s := range revoked {
			h.closeAsync(s, websocket.ClosePolicyViolation, reasonRevoked)
		}
		l.snapshotAll()
	})
	if !ok {
		return errStopped(ctx)
	}
	h.log.Info("configuration reloaded", "entities", len(cfg.Entities))
	return nil
}

// viewerMode is the viewer authentication in force ("none" when unset).
func viewerMode(c *config.Config) string {
	if v := c.Source.Viewers; v != nil && v.Auth != "" {
		return v.Auth
	}
	return config.ViewerAuthNone
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
			writeClose(v.conn, websocket.ClosePolicyViolation, "viewer sign-in revoked by a configuration change")
			v.close()
			continue
		}
		v.who = who
		v.allow = viewerauth.FilterFor(who, l.h.config)
	}
}

// SetMedulla publishes the figures read from Medulla's databases; only the
// entities whose figures changed are pushed.
func (h *Hub) SetMedulla(ctx context.Context, figs map[string]*wire.Medulla) error {
	if !h.do(ctx, func(l *loop) { l.publish(l.m.SetMedulla(figs, h.now())) }) {
		return errStopped(ctx)
	}
	return nil
}

// Run owns the state until ctx ends, then closes every session and viewer
// and waits for their goroutines.
func (h *Hub) Run(ctx context.Context) error {
	now := h.now()
	l := &loop{h: h, m: state.New(h.config(), now), viewers: make(map[*viewer]struct{}),
		out: make(map[string]wire.Entity), enc: make(map[string]encoded), dirty: make(map[string]bool), lastSave: now}
	if st := h.opt.Store; st != nil {
		last, err := st.LastKnown()
		if err != nil {
			return fmt.Errorf("read the last known states: %w", err)
		}
		l.m.Restore(last, now, now.Add(h.opt.RestoreGrace))
		h.log.Info("last known states restored, marked stale until agents reconnect", "entities", len(last), "grace", h.opt.RestoreGrace)
		l.records, l.recorded, l.stopRec = make(chan recordJob, 1), make(chan struct{}), make(chan struct{})
		l.unrecorded = make(chan recordJob, 1)
		go h.recorder(st, l.records, l.recorded, l.stopRec, l.unrecorded)
		l.saves, l.savesDone = make(chan []wire.Entity, 1), make(chan struct{})
		go h.saver(st, l.saves, l.savesDone)
		pruneCtx, stopPrune := context.WithCancel(context.Background())
		pruneDone := make(chan struct{})
		go func() { defer close(pruneDone); h.pruner(pruneCtx, st) }()
		defer func() { stopPrune(); <-pruneDone }()
	}
	t := time.NewTicker(h.opt.Tick)
	defer t.Stop()
	defer func() {
		if l.records != nil {
			// Let the commit under way finish (one more try if it is
			// failing), then write what is held.
			close(l.stopRec)
			close(l.records)
			<-l.recorded
			select {
			case j := <-l.unrecorded:
				l.held = append(j.heldBack(), l.held...)
			default:
			}
			l.recording, l.records = false, nil
			clear(l.inflight)
		}
		l.flush()
		if l.saves != nil {
			close(l.saves)
			<-l.savesDone
		}
		l.save(true)
		h.mu.Lock()
		h.stopping = true
		h.mu.Unlock()
		close(h.done)
		for v := range l.viewers {
			v.close()
		}
		h.closeSessions(reasonShutdown)
		h.wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case f := <-h.evts:
			roundStart := time.Now()
			f(l)
			// Take what else is queued before persisting and sending, so a
			// burst costs one store commit and one frame per entity.
		drain:
			for n := 0; n < 1024; n++ {
				select {
				case f := <-h.evts:
					f(l)
				default:
					break drain
				}
			}
			l.flush()
			if took := time.Since(roundStart); took > 250*time.Millisecond {
				h.log.Warn("slow hub round", "took", took)
			}
		case <-t.C:
			now := h.now()
			l.publish(l.m.Tick(now))
			for entity, id := range l.m.Expired(now) {
				h.closeSession(id, reasonNoPong)
				l.publish(l.m.Disconnect(entity, id, reasonMissedPings(h.config().Deadline()), now))
			}
			l.flush()
			if now.Sub(l.lastSave) >= h.opt.SaveEvery {
				l.save(false)
			}
		}
	}
}

// do runs f on the loop and waits for it; false when the hub has stopped.
func (h *Hub) do(ctx context.Context, f func(*loop)) bool {
	ran := make(chan struct{})
	select {
	case h.evts <- func(l *loop) { f(l); close(ran) }:
	case <-h.done:
		return false
	case <-ctx.Done():
		return false
	}
	select {
	case <-ran:
		return true
	case <-h.done:
		return false
	case <-ctx.Done():
		return false
	}
}

// post queues f on the loop without waiting; dropped when the hub stopped.
func (h *Hub) post(f func(*loop)) {
	select {
	case h.evts <- f:
	case <-h.done:
	}
}

// Entities returns every entity's current view (without image lists).
func (h *Hub) Entities(ctx context.Context) ([]wire.Entity, error) {
	var out []wire.Entity
	if !h.do(ctx, func(l *loop) { out = l.m.Entities() }) {
		return nil, errStopped(ctx)
	}
	return out, nil
}

// Entity returns one entity's view with its server's image list.
func (h *Hub) Entity(ctx context.Context, id string) (wire.Entity, bool, error) {
	var (
		out wire.Entity
		ok  bool
	)
	if !h.do(ctx, func(l *loop) { out, ok = l.m.Entity(id, true) }) {
		return out, false, errStopped(ctx)
	}
	return out, ok, nil
}

func errStopped(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("hub is shutting down")
}

// encodedOf returns an entity's JSON, encoding it if no viewer needed it
// since it last changed.
func (l *loop) encodedOf(id string) (encoded, bool) {
	if e, ok := l.enc[id]; ok {
		return e, true
	}
	v, ok := l.m.Entity(id, false)
	if !ok {
		return encoded{}, false
	}
	e := l.encode(v)
	l.enc[id] = e
	return e, true
}

func (l *loop) encode(v wire.Entity) encoded {
	full, err := json.Marshal(v)
	if err != nil {
		l.h.log.Error("encode entity", "entity", v.ID, "err", err)
	}
	sum, _ := json.Marshal(wire.Summarize(v))
	return encoded{full: full, summary: sum}
}

// snapshot assembles what a viewer may see from the encoded entities.
func (l *loop) snapshot(v *viewer) []byte {
	var buf bytes.Buffer
	ts, _ := l.h.now().UTC().MarshalJSON()
	ver, _ := json.Marshal(l.h.opt.Version)
	buf.WriteString(`{"type":"snapshot","hub_time":`)
	buf.Write(ts)
	buf.WriteString(`,"version":`)
	buf.Write(ver)
	if e := l.h.storeErr.Load(); e != nil {
		msg, _ := json.Marshal(*e)
		buf.WriteString(`,"state_error":`)
		buf.Write(msg)
	}
	buf.WriteString(`,"entities":[`)
	n := 0
	for _, e := range l.h.config().Entities {
		if v.allow != nil && !v.allow(e.ID) {
			continue
		}
		enc, ok := l.encodedOf(e.ID)
		if !ok {
			continue
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		if v.wantsFull(e.ID) {
			buf.Write(enc.full)
		} else {
			buf.Write(enc.summary)
		}
		n++
	}
	buf.WriteString("]}")
	return buf.Bytes()
}

// snapshotAll sends every viewer a fresh snapshot (the entity set changed),
// replacing whatever changes it had queued.
func (l *loop) snapshotAll() {
	l.flush()
	clear(l.enc) // names, parents or servers may have changed
	for v := range l.viewers {
		v.reset(l.snapshot(v))
	}
}

// subscribe changes which entities a viewer receives in full, and sends it
// those at once.
func (l *loop) subscribe(v *viewer, detail map[string]bool) {
	if _, ok := l.viewers[v]; !ok {
		return
	}
	v.detail = detail
	for _, e := range l.h.config().Entities {
		if !v.wantsFull(e.ID) || (v.allow != nil && !v.allow(e.ID)) {
			continue
		}
		if enc, ok := l.encodedOf(e.ID); ok {
			v.push(e.ID, enc.full)
		}
	}
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

// flush records the round's status changes in the store before any viewer
// sees them (a change shown is a change kept), then encodes each change
// once and queues it to every viewer allowed to see it.
func (l *loop) flush() {
	l.record()
	if len(l.outOrder) == 0 {
		return
	}
	kept := l.outOrder[:0]
	for _, id := range l.outOrder {
		if (l.heldIDs[id] || l.inflight[id]) && !l.storeBad { // waits for its status change to be on disk
			kept = append(kept, id)
			continue
		}
		l.send(id, l.out[id])
		delete(l.out, id)
	}
	l.outOrder = kept
}

// record hands the held status changes to the recorder when it is idle;
// without a recorder (shutting down) it writes them itself.
func (l *loop) record() {
	st := l.h.opt.Store
	tr := l.m.TakeTransitions()
	if st == nil {
		return
	}
	if len(tr) > 0 {
		if l.heldIDs == nil {
			l.heldIDs, l.inflight = make(map[string]bool), make(map[string]bool)
		}
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
	if l.records == nil {
		if err := st.Record(job.changes, job.views); err != nil {
			l.h.log.Error("status changes not recorded in the state file at shutdown", "changes", len(job.changes), "err", err)
		}
		clear(l.inflight)
		return
	}
	l.recording = true
	l.records <- job // capacity 1 and idle: never blocks
}

// committed runs on the loop when the recorder's commit is on disk: the
// frames it held go out, and the next group is handed over.
func (l *loop) committed() {
	l.recording = false
	clear(l.inflight)
	l.flush()
}

// storeHealth tells viewers when the state file stops or starts being
// writable again: a fresh snapshot carries the state.
func (l *loop) storeHealth() {
	bad := l.h.storeErr.Load() != nil
	if bad == l.storeBad {
		return
	}
	l.storeBad = bad
	l.snapshotAll()
}

// send encodes one entity once and queues it to every viewer allowed to see
// it: in full to those who asked for it, as a summary to the others when the
// summary moved.
func (l *loop) send(id string, e wire.Entity) {
	if len(l.viewers) == 0 { // nobody to tell: encode later, if ever
		delete(l.enc, id)
		return
	}
	old, had := l.enc[id]
	enc := l.encode(e)
	l.enc[id] = enc
	summaryChanged := !had || !bytes.Equal(old.summary, enc.summary)
	for v := range l.viewers {
		switch {
		case v.allow != nil && !v.allow(id):
		case v.wantsFull(id):
			v.push(id, enc.full)
		case summaryChanged:
			v.push(id, enc.summary)
		}
	}
}

// save writes the views whose figures changed since the last save (all of
// them when final), so a restart shows recent figures.
func (l *loop) save(final bool) {
	l.lastSave = l.h.now()
	st := l.h.opt.Store
	if st == nil || (len(l.dirty) == 0 && !final) {
		return
	}
	if final {
		if err := st.SaveViews(l.m.Entities()); err != nil {
			l.h.log.Error("last known states not saved", "err", err)
		}
		return
	}
	views := make([]wire.Entity, 0, len(l.dirty))
	for id := range l.dirty {
		if v, ok := l.m.Entity(id, false); ok {
			views = append(views, v)
		}
	}
	select {
	case l.saves <- views:
		clear(l.dirty)
	default: // the previous save is still being written: try next time
	}
}

// Health says why the state file cannot be written, nil when all is well.
func (h *Hub) Health() error {
	if e := h.storeErr.Load(); e != nil {
		return errors.New(*e)
	}
	return nil
}

// History returns an entity's recorded status changes, newest first.
func (h *Hub) History(id string, limit int) ([]store.Change, error) {
	if h.opt.Store == nil {
		return nil, nil
	}
	return h.opt.Store.History(id, limit)
}

// Config is the configuration in force.
func (h *Hub) Config() *config.Config { return h.config() }
