// Package hub runs the live part of the hub: agent sessions, the status
// machine and the fan-out to viewers.
//
// One goroutine, the loop (loop.go), owns every piece of hub state: the
// status machine, the agent sessions, the viewer set, the offline deadlines
// and what waits for the state file. Everything else talks to it with
// named, typed events (events.go), whose handlers are the only code that
// changes that state. Viewers never cost the loop per viewer: each change is
// encoded once and published into a shared change log (changelog.go) that
// every viewer's writer reads from its own cursor. The state file is written
// by the recorder (recorder.go), off the loop.
package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"imagingstatus/server/config"
	"imagingstatus/server/ratelimit"
	"imagingstatus/server/store"
	"imagingstatus/server/viewerauth"
	"imagingstatus/wire"
)

// Options tune a hub; zero values take defaults.
type Options struct {
	Logger *slog.Logger
	// Now is the clock; tests may inject one.
	Now func() time.Time
	// Tick is the safety net: how often the clock is checked even when no
	// deadline is due (default 200 ms; deadlines have their own timer).
	Tick time.Duration
	// Version is the hub build, sent to viewers so an app can offer a reload.
	Version string
	// ViewerWriteTimeout drops a viewer that cannot take a frame in time.
	ViewerWriteTimeout time.Duration
	// FrameGap is the least time between two frames to one viewer (default
	// 25 ms): a viewer of every entity in full gets a burst in one frame
	// instead of one frame per report.
	FrameGap time.Duration
	// SummaryWindow coalesces the summaries of entities a viewer is not
	// looking at (default 100 ms); entities it asked for in full go at once.
	SummaryWindow time.Duration
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
	// SampleEvery and ForecastEvery override the configuration's
	// history.sample_every and history.forecast_every (tests).
	SampleEvery   time.Duration
	ForecastEvery time.Duration
}

// Store is the state file as the hub uses it (*store.Store).
type Store interface {
	LastKnown() (map[string]wire.Entity, error)
	Record(changes []store.Change, views []wire.Entity) error
	SaveViews(views []wire.Entity) error
	History(entity string, limit int) ([]store.Change, error)
	PruneHistory(now time.Time, maxAge time.Duration, maxPerEntity int) (int, error)
}

// sampling is the figure history's periods in force.
func (h *Hub) sampling() (sample, forecast time.Duration) {
	sample, forecast = h.config().Sampling()
	if h.opt.SampleEvery > 0 {
		sample = h.opt.SampleEvery
	}
	if h.opt.ForecastEvery > 0 {
		forecast = h.opt.ForecastEvery
	}
	return sample, forecast
}

// SeriesStore is a state file that also keeps the figure history
// (*store.Store does).
type SeriesStore interface {
	AppendSamples(samples []store.Sample) error
	Series(entity, figure string, from, to time.Time) ([]wire.Point, error)
	PruneSeries(now time.Time) (int, error)
}

// Series returns an entity's figure history over [from, to], oldest first
// (empty without a state file that keeps it).
func (h *Hub) Series(entity, figure string, from, to time.Time) ([]wire.Point, error) {
	ss, ok := h.opt.Store.(SeriesStore)
	if !ok {
		return []wire.Point{}, nil
	}
	return ss.Series(entity, figure, from, to)
}

// Hub is the live hub. Create with New, then Run it.
type Hub struct {
	// cfg is swapped whole by a reload (on the loop); handlers read it
	// without the loop.
	cfg     atomic.Pointer[config.Config]
	opt     Options
	log     *slog.Logger
	now     func() time.Time
	events  chan event
	done    chan struct{} // closed when Run has stopped taking events
	changes *changeLog    // the fan-out, read by viewer writers

	auth     *ratelimit.Limiter // refused agent handshakes per address and network
	pending  pendingHandshakes  // agent handshakes not authenticated yet
	refusals refusalLog
	nextID   atomic.Uint64 // agent session ids

	mu       sync.Mutex     // guards stopping
	stopping bool           // set when Run ends: no new goroutine is tracked
	wg       sync.WaitGroup // session and viewer goroutines

	// stopCtx ends when Run stops: every agent and viewer connection
	// closes then, known to the loop or not.
	stopCtx  context.Context
	stopConn context.CancelFunc

	// storeErr says why the state file cannot be written, nil when it can
	// (set by the recorder, read by /healthz and the loop).
	storeErr atomic.Pointer[string]

	stats stats
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
	if o.FrameGap == 0 {
		o.FrameGap = 25 * time.Millisecond
	}
	if o.SummaryWindow == 0 {
		o.SummaryWindow = 100 * time.Millisecond
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
		// Each agent session queues at most one frame event at a time (its
		// newest report and frame time are coalesced), so this rarely fills;
		// when it does, senders wait instead of the hub dropping anything.
		events:  make(chan event, 1<<16),
		done:    make(chan struct{}),
		changes: newChangeLog(),
		auth: ratelimit.New(ratelimit.Options{Name: "agent handshakes", PerAddress: o.AuthFailures,
			PerNetwork: 5 * o.AuthFailures, Window: o.AuthWindow, Logger: o.Logger, Now: o.Now}),
		refusals: refusalLog{window: time.Minute},
	}
	h.stopCtx, h.stopConn = context.WithCancel(context.Background())
	h.cfg.Store(cfg)
	return h
}

func (h *Hub) config() *config.Config { return h.cfg.Load() }

// Config is the configuration in force.
func (h *Hub) Config() *config.Config { return h.config() }

// Reload swaps the configuration without a restart: sessions whose server
// is no longer linked, or whose token no longer matches, are closed (a
// revoked token stops speaking at once), live viewer streams are closed or
// rescoped, and viewers get a new snapshot. A change of viewers.auth is
// refused: it needs a restart.
func (h *Hub) Reload(ctx context.Context, cfg *config.Config) error {
	if from, to := viewerMode(h.config()), viewerMode(cfg); from != to {
		err := fmt.Errorf("configuration not reloaded: viewers.auth changes from %q to %q, which needs a restart of the hub (nothing was changed)", from, to)
		h.log.Error("configuration reload refused", "err", err)
		return err
	}
	if !h.do(ctx, &reload{cfg: cfg}) {
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

// SetMedulla publishes the figures read from Medulla's databases; only the
// entities whose figures changed are pushed.
func (h *Hub) SetMedulla(ctx context.Context, figs map[string]*wire.Medulla) error {
	if !h.do(ctx, &medullaLoaded{figs: figs}) {
		return errStopped(ctx)
	}
	return nil
}

// SetAlerts publishes the alerts firing, by entity (every entity's; one
// missing has none).
func (h *Hub) SetAlerts(ctx context.Context, alerts map[string][]wire.EntityAlert) error {
	if !h.do(ctx, &alertsChanged{alerts: alerts}) {
		return errStopped(ctx)
	}
	return nil
}

// Entities returns every entity's current view (without image lists).
func (h *Hub) Entities(ctx context.Context) ([]wire.Entity, error) {
	q := &entitiesQuery{}
	if !h.do(ctx, q) {
		return nil, errStopped(ctx)
	}
	return q.out, nil
}

// Entity returns one entity's view with its server's image list.
func (h *Hub) Entity(ctx context.Context, id string) (wire.Entity, bool, error) {
	q := &entityQuery{id: id}
	if !h.do(ctx, q) {
		return wire.Entity{}, false, errStopped(ctx)
	}
	return q.out, q.ok, nil
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

// do hands e to the loop and waits until it was handled; false when the
// hub has stopped.
func (h *Hub) do(ctx context.Context, e waitable) bool {
	done := make(chan struct{})
	e.setDone(done)
	select {
	case h.events <- e:
	case <-h.done:
		return false
	case <-ctx.Done():
		return false
	}
	select {
	case <-done:
		return true
	case <-h.done:
		return false
	case <-ctx.Done():
		return false
	}
}

// post hands e to the loop without waiting; dropped when the hub stopped.
func (h *Hub) post(e event) {
	select {
	case h.events <- e:
	case <-h.done:
	}
}

func errStopped(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("hub is shutting down")
}

// track counts a goroutine that Run must wait for; false once Run is ending.
func (h *Hub) track() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopping {
		return false
	}
	h.wg.Add(1)
	return true
}
