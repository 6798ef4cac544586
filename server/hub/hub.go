// Package hub runs the live part of the hub: agent sessions, the status
// machine and the fan-out to viewers. One goroutine (Run) owns the machine
// and the viewer set; sessions talk to it through a channel.
package hub

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"imagingstatus/server/config"
	"imagingstatus/server/state"
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
	// AuthFailures and AuthWindow limit refused handshakes per source address.
	AuthFailures int
	AuthWindow   time.Duration
	// MessagesPerInterval bounds frames an agent may send per interval.
	MessagesPerInterval int
}

// Hub is the live hub. Create with New, then Run it.
type Hub struct {
	// cfg is swapped whole by Reload; handlers read it without the loop.
	cfg  atomic.Pointer[config.Config]
	opt  Options
	log  *slog.Logger
	now  func() time.Time
	evts chan func(*loop)
	done chan struct{} // closed when Run returns

	auth *failLimiter

	mu       sync.Mutex // guards sessions (read by handlers to close them)
	sessions map[state.SessionID]*agentSession
	nextID   state.SessionID
	stopping bool           // set when Run ends: no new goroutine is tracked
	wg       sync.WaitGroup // session and viewer goroutines
}

// loop is the state owned by Run.
type loop struct {
	h       *Hub
	m       *state.Machine
	viewers map[*viewer]struct{}
}

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
	h := &Hub{
		opt:      o,
		log:      o.Logger,
		now:      o.Now,
		evts:     make(chan func(*loop), 1024),
		done:     make(chan struct{}),
		auth:     newFailLimiter(o.AuthFailures, o.AuthWindow, o.Now),
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
	ok := h.do(ctx, func(l *loop) {
		h.cfg.Store(cfg)
		now := h.now()
		for _, id := range l.m.SetConfig(cfg, now) {
			h.closeSession(id, "imaging server no longer linked in the hub configuration")
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
			s.close(websocket.ClosePolicyViolation, "agent token revoked by a configuration change")
		}
		l.snapshotAll()
	})
	if !ok {
		return errStopped(ctx)
	}
	h.log.Info("configuration reloaded", "entities", len(cfg.Entities))
	return nil
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
	l := &loop{h: h, m: state.New(h.config(), h.now()), viewers: make(map[*viewer]struct{})}
	t := time.NewTicker(h.opt.Tick)
	defer t.Stop()
	defer func() {
		h.mu.Lock()
		h.stopping = true
		h.mu.Unlock()
		close(h.done)
		for v := range l.viewers {
			v.close()
		}
		h.closeSessions("hub shutting down")
		h.wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case f := <-h.evts:
			f(l)
		case <-t.C:
			now := h.now()
			l.publish(l.m.Tick(now))
			for entity, id := range l.m.Expired(now) {
				h.closeSession(id, "no answer to pings within the deadline")
				l.publish(l.m.Disconnect(entity, id, "no answer from the agent within "+h.config().Deadline().String()+" (missed pings)", now))
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

// snapshot encodes the full state once.
func (l *loop) snapshot() []byte {
	b, err := json.Marshal(wire.ViewerMessage{Type: wire.TypeSnapshot, HubTime: l.h.now(), Version: l.h.opt.Version, Entities: l.m.Entities()})
	if err != nil {
		l.h.log.Error("encode snapshot", "err", err)
		return nil
	}
	return b
}

// snapshotAll sends every viewer a fresh snapshot (the entity set changed),
// replacing whatever changes it had queued.
func (l *loop) snapshotAll() {
	b := l.snapshot()
	for v := range l.viewers {
		v.reset(b)
	}
}

// publish encodes each change once and queues it to every viewer.
func (l *loop) publish(changed []wire.Entity) {
	if len(changed) == 0 {
		return
	}
	now := l.h.now()
	for i := range changed {
		b, err := json.Marshal(wire.ViewerMessage{Type: wire.TypeChange, HubTime: now, Entity: &changed[i]})
		if err != nil {
			l.h.log.Error("encode change", "entity", changed[i].ID, "err", err)
			continue
		}
		for v := range l.viewers {
			v.push(changed[i].ID, b)
		}
	}
}
