// Package alert tells people when an imaging server is down or its disk
// fills up: it watches the entities' summaries (published once their status
// change is committed), holds each condition for its delay, groups the
// entities of one server into one message, and delivers it to every
// configured webhook and e-mail address, retrying with backoff. Pending
// deliveries and firing alerts are kept in the state file.
//
// One goroutine (Run) owns the conditions and the queues; each target has
// a worker goroutine that makes one attempt at a time, so a dead or slow
// endpoint holds up its own queue only, never the hub or other targets.
package alert

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"imagingstatus/server/config"
	"imagingstatus/wire"
)

// Hub is what the engine needs of the hub (*hub.Hub).
type Hub interface {
	WatchSummaries(ctx context.Context, fn func(snapshot bool, views []wire.Entity)) error
	SetAlerts(ctx context.Context, alerts map[string][]wire.EntityAlert) error
	Config() *config.Config
}

// StateStore keeps the engine's state across restarts (*store.Store).
type StateStore interface {
	AlertState() ([]byte, error)
	PutAlertState(b []byte) error
}

// Options tune an engine; zero values take defaults.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Store keeps firing alerts and pending deliveries (nil: memory only).
	Store StateStore
	// HTTPClient posts webhooks (nil: http.DefaultClient).
	HTTPClient *http.Client
	// SMTPTLS verifies the SMTP server (nil: the system's roots).
	SMTPTLS *tls.Config
	Version string
	// Tick is how often conditions are judged (default 1 s).
	Tick time.Duration
	// RetryMin and RetryMax bound the wait between attempts (1 s, 5 min);
	// GiveUpAfter drops a delivery that has failed this long (24 h).
	RetryMin, RetryMax, GiveUpAfter time.Duration
	// MaxQueue bounds each target's pending deliveries (default 1,000;
	// past it the oldest are dropped, counted and logged).
	MaxQueue int
}

// Delivery results, as counted.
const (
	ResultOK      = "ok"
	ResultError   = "error"
	ResultDropped = "dropped"
)

// TargetStatus is what GET /api/v1/alerts says of one target. It never
// holds a URL or a secret.
type TargetStatus struct {
	Name        string     `json:"name"`
	Kind        string     `json:"kind"`
	LastAttempt *time.Time `json:"last_attempt,omitempty"`
	LastResult  string     `json:"last_result,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	LastOK      *time.Time `json:"last_ok,omitempty"`
	Pending     int        `json:"pending"`
	Delivered   uint64     `json:"delivered"`
	Failed      uint64     `json:"failed"`
	Dropped     uint64     `json:"dropped"`
}

// Firing is one alert firing.
type Firing struct {
	Entity  string    `json:"entity"`
	Kind    string    `json:"kind"`
	Since   time.Time `json:"since"`
	FiredAt time.Time `json:"fired_at"`
}

// Status is the engine's state as readers see it.
type Status struct {
	Configured bool           `json:"configured"`
	Targets    []TargetStatus `json:"targets"`
	Firing     []Firing       `json:"firing"`
}

// delivery is one message waiting for one target.
type delivery struct {
	ID        uint64    `json:"id"`
	Target    string    `json:"target"`
	Message   Message   `json:"message"`
	Attempts  int       `json:"attempts"`
	First     time.Time `json:"first"`
	Next      time.Time `json:"next"`
	LastError string    `json:"last_error,omitempty"`
}

type queue struct {
	items []delivery
	busy  bool
}

type worker struct {
	t      target
	jobs   chan job
	cancel context.CancelFunc
	done   chan struct{}
}

// job is one attempt handed to a worker, with the hub's address of the
// moment (links in the message).
type job struct {
	d    delivery
	base string
}

type result struct {
	w    *worker
	id   uint64
	err  error
	took time.Duration
}

// saved is the state file's record of the engine.
type saved struct {
	Conditions []condition              `json:"conditions"`
	Pending    []delivery               `json:"pending"`
	Targets    map[string]*TargetStatus `json:"targets"`
	NextID     uint64                   `json:"next_id"`
}

// Engine evaluates the rules and delivers the alerts. Create with New,
// then Run it.
type Engine struct {
	o   Options
	hub Hub
	log *slog.Logger

	// Owned by Run's goroutine.
	ev         *evaluator
	queues     map[string]*queue
	workers    map[string]*worker
	applied    string // the alerts section the targets were built from (JSON)
	refused    string // the last alerts section whose targets could not be built
	retired    []*worker
	results    chan result
	nextID     uint64
	dirty      bool
	savedAt    time.Time
	lastFiring map[string][]wire.EntityAlert
	base       string

	// rounds counts the judgements made (tests wait on it).
	rounds atomic.Uint64

	// mu guards what readers see (Status).
	mu      sync.Mutex
	targets map[string]*TargetStatus
	status  Status
}

// New builds an engine, restoring what the state file kept, and the
// targets of the hub's configuration: an unreadable secret file is an
// error here (at start), a logged error at a reload.
func New(h Hub, o Options) (*Engine, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Tick == 0 {
		o.Tick = time.Second
	}
	if o.RetryMin == 0 {
		o.RetryMin = time.Second
	}
	if o.RetryMax == 0 {
		o.RetryMax = 5 * time.Minute
	}
	if o.GiveUpAfter == 0 {
		o.GiveUpAfter = 24 * time.Hour
	}
	if o.MaxQueue == 0 {
		o.MaxQueue = 1000
	}
	e := &Engine{o: o, hub: h, log: o.Logger.With("component", "alerts"), ev: newEvaluator(), queues: map[string]*queue{},
		workers: map[string]*worker{}, results: make(chan result, 64), targets: map[string]*TargetStatus{}}
	if o.Store != nil {
		b, err := o.Store.AlertState()
		if err != nil {
			return nil, fmt.Errorf("read the alerts' state from the state file: %w", err)
		}
		if len(b) > 0 {
			var s saved
			if err := json.Unmarshal(b, &s); err != nil {
				// Losing it costs at most a repeated or a missed message:
				// not a reason to keep the hub down.
				e.log.Error("the alerts' state in the state file is damaged; starting afresh", "err", err)
			} else {
				e.ev.restore(s.Conditions)
				for _, d := range s.Pending {
					q := e.queue(d.Target)
					q.items = append(q.items, d)
				}
				maps.Copy(e.targets, s.Targets)
				e.nextID = s.NextID
			}
		}
	}
	if _, err := buildTargets(h.Config().Source.Alerts, o); err != nil {
		return nil, err
	}
	e.publish()
	return e, nil
}

func (e *Engine) queue(name string) *queue {
	q := e.queues[name]
	if q == nil {
		q = &queue{}
		e.queues[name] = q
	}
	return q
}

// Status is the engine's state for viewers allowed to see entity ids for
// which allowed is true (nil: every entity).
func (e *Engine) Status(allowed func(string) bool) Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := Status{Configured: e.status.Configured, Targets: slices.Clone(e.status.Targets), Firing: []Firing{}}
	for _, f := range e.status.Firing {
		if allowed == nil || allowed(f.Entity) {
			out.Firing = append(out.Firing, f)
		}
	}
	return out
}

// Counts returns the deliveries by target and result (metrics).
func (e *Engine) Counts() []TargetStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.status.Targets)
}

// Run evaluates and delivers until ctx ends, then saves its state.
func (e *Engine) Run(ctx context.Context) error {
	type batch struct {
		snapshot bool
		views    []wire.Entity
	}
	views := make(chan batch)
	wctx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		_ = e.hub.WatchSummaries(wctx, func(snapshot bool, vs []wire.Entity) {
			select {
			case views <- batch{snapshot, slices.Clone(vs)}:
			case <-wctx.Done():
			}
		})
	}()
	tick := time.NewTicker(e.o.Tick)
	defer tick.Stop()
	// Summaries come in bursts (a server's entities, a hub start): they
	// are judged together a moment later.
	soon := time.NewTimer(time.Hour)
	soon.Stop()
	defer soon.Stop()
	var soonC <-chan time.Time
	defer func() {
		stopWatch()
		<-watchDone
		for name, w := range e.workers {
			w.cancel()
			e.retired = append(e.retired, w)
			delete(e.workers, name)
		}
		for _, w := range e.retired {
			<-w.done
		}
		e.save(true)
	}()
	e.round(ctx)
	for {
		select {
		case b := <-views:
			e.ev.observe(b.snapshot, b.views)
			if soonC == nil {
				soon.Reset(coalesce)
				soonC = soon.C
			}
		case <-soonC:
			soonC = nil
			e.round(ctx)
		case <-tick.C:
			e.round(ctx)
		case r := <-e.results:
			e.finished(r)
			e.dispatch()
			e.publish()
			e.save(false)
		case <-ctx.Done():
			return nil
		}
	}
}

// coalesce is how long a burst of summaries is gathered before judging.
const coalesce = 50 * time.Millisecond

// round judges every condition, queues the messages due, hands out what
// workers can send and tells the hub which alerts fire.
func (e *Engine) round(ctx context.Context) {
	cfg := e.hub.Config()
	now := e.o.Now()
	e.base = BaseURL(cfg)
	e.apply(cfg.Source.Alerts)
	if a := cfg.Source.Alerts; a != nil {
		for _, m := range e.ev.evaluate(now, cfg, a.Rules.Resolved()) {
			e.log.Info("alert", "kind", m.Kind, "server", m.Server, "entities", len(m.Entities), "message", m.Title())
			for name := range e.workers {
				e.enqueue(name, m, now)
			}
		}
	} else if len(e.ev.conds) > 0 {
		clear(e.ev.conds) // alerts turned off: nothing fires any more
		e.dirty = true
	}
	e.dispatch()
	firing := e.ev.firing()
	if !sameFiring(firing, e.lastFiring) {
		if err := e.hub.SetAlerts(ctx, firing); err == nil {
			e.lastFiring = firing
		}
		e.dirty = true
	}
	e.publish()
	e.save(false)
	e.rounds.Add(1)
}

func sameFiring(a, b map[string][]wire.EntityAlert) bool {
	return maps.EqualFunc(a, b, func(x, y []wire.EntityAlert) bool { return slices.Equal(x, y) })
}

// apply builds the targets when the alerts section changed.
func (e *Engine) apply(a *config.Alerts) {
	key := ""
	if a != nil {
		b, _ := json.Marshal(struct {
			W []config.Webhook
			E *config.Email
		}{a.Webhooks, a.Email})
		key = string(b)
	}
	if key == e.applied || key == e.refused {
		return
	}
	ts, err := buildTargets(a, e.o)
	if err != nil {
		e.log.Error("alert targets not changed: keeping the previous ones", "err", err)
		e.refused = key // logged once per change, not every second
		return
	}
	e.applied, e.refused = key, ""
	for name, w := range e.workers {
		w.cancel()
		e.retired = append(e.retired, w)
		delete(e.workers, name)
	}
	keep := map[string]bool{}
	e.mu.Lock()
	for _, t := range ts {
		keep[t.name()] = true
		ctx, cancel := context.WithCancel(context.Background())
		w := &worker{t: t, jobs: make(chan job, 1), cancel: cancel, done: make(chan struct{})}
		e.workers[t.name()] = w
		go e.work(ctx, w)
		if e.targets[t.name()] == nil {
			e.targets[t.name()] = &TargetStatus{Name: t.name()}
		}
		e.targets[t.name()].Kind = t.kind()
	}
	for name := range e.targets {
		if !keep[name] {
			delete(e.targets, name)
		}
	}
	e.mu.Unlock()
	for name, q := range e.queues {
		q.busy = false // the old workers' answers are ignored
		if !keep[name] {
			if len(q.items) > 0 {
				e.log.Warn("alert target removed from the configuration: its pending messages are dropped", "target", name, "pending", len(q.items))
			}
			delete(e.queues, name)
		}
	}
	e.dirty = true
}

// work makes one attempt at a time for its target.
func (e *Engine) work(ctx context.Context, w *worker) {
	defer close(w.done)
	for {
		select {
		case j := <-w.jobs:
			start := time.Now()
			err := w.t.send(ctx, j.d.Message, j.base)
			select {
			case e.results <- result{w: w, id: j.d.ID, err: err, took: time.Since(start)}:
			case <-ctx.Done():
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func (e *Engine) enqueue(name string, m Message, now time.Time) {
	q := e.queue(name)
	e.nextID++
	q.items = append(q.items, delivery{ID: e.nextID, Target: name, Message: m, First: now, Next: now})
	if over := len(q.items) - e.o.MaxQueue; over > 0 {
		// Never the head: it may be in flight.
		drop := q.items[1 : 1+over]
		e.log.Error("alert queue full: oldest messages dropped (the target has failed for long)", "target", name, "dropped", len(drop))
		q.items = append(q.items[:1], q.items[1+over:]...)
		e.count(name, ResultDropped, uint64(over), now, "")
	}
	e.dirty = true
}

// dispatch hands each idle worker its queue's head when it is due.
func (e *Engine) dispatch() {
	now := e.o.Now()
	for name, w := range e.workers {
		q := e.queues[name]
		if q == nil || q.busy || len(q.items) == 0 || q.items[0].Next.After(now) {
			continue
		}
		q.busy = true
		w.jobs <- job{q.items[0], e.base} // the worker is idle: its buffer is free
	}
}

// finished records an attempt's result.
func (e *Engine) finished(r result) {
	name := r.w.t.name()
	if e.workers[name] != r.w {
		return // a worker replaced by a reload
	}
	q := e.queues[name]
	if q == nil || len(q.items) == 0 || q.items[0].ID != r.id {
		return
	}
	q.busy = false
	now := e.o.Now()
	d := &q.items[0]
	d.Attempts++
	e.dirty = true
	if r.err == nil {
		e.log.Info("alert delivered", "target", name, "kind", d.Message.Kind, "server", d.Message.Server, "attempt", d.Attempts, "took", r.took.Round(time.Millisecond))
		e.count(name, ResultOK, 1, now, "")
		q.items = q.items[1:]
		return
	}
	d.LastError = r.err.Error()
	e.count(name, ResultError, 1, now, d.LastError)
	if now.Sub(d.First) >= e.o.GiveUpAfter {
		e.log.Error("alert given up: the target failed for too long", "target", name, "kind", d.Message.Kind, "server", d.Message.Server, "attempts", d.Attempts, "err", r.err)
		e.count(name, ResultDropped, 1, now, d.LastError)
		q.items = q.items[1:]
		return
	}
	wait := e.o.RetryMin << min(d.Attempts-1, 20)
	if wait > e.o.RetryMax || wait <= 0 {
		wait = e.o.RetryMax
	}
	d.Next = now.Add(wait)
	e.log.Warn("alert delivery failed; retrying", "target", name, "kind", d.Message.Kind, "server", d.Message.Server, "attempt", d.Attempts, "retry_in", wait, "err", r.err)
}

func (e *Engine) count(name, res string, n uint64, at time.Time, errText string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.targets[name]
	if t == nil {
		return
	}
	switch res {
	case ResultOK:
		t.Delivered += n
		t.LastOK = &at
		t.LastAttempt, t.LastResult, t.LastError = &at, ResultOK, ""
	case ResultError:
		t.Failed += n
		t.LastAttempt, t.LastResult, t.LastError = &at, ResultError, errText
	case ResultDropped:
		t.Dropped += n
	}
}

// publish refreshes what readers see.
func (e *Engine) publish() {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := Status{Configured: e.hub.Config().Source.Alerts != nil, Targets: make([]TargetStatus, 0, len(e.targets)), Firing: []Firing{}}
	for name, t := range e.targets {
		c := *t
		if q := e.queues[name]; q != nil {
			c.Pending = len(q.items)
		}
		s.Targets = append(s.Targets, c)
	}
	sort.Slice(s.Targets, func(i, j int) bool { return s.Targets[i].Name < s.Targets[j].Name })
	for _, c := range e.ev.conds {
		if !c.Fired.IsZero() {
			s.Firing = append(s.Firing, Firing{Entity: c.Entity, Kind: c.Kind, Since: c.Start, FiredAt: c.Fired})
		}
	}
	sort.Slice(s.Firing, func(i, j int) bool {
		if s.Firing[i].Entity != s.Firing[j].Entity {
			return s.Firing[i].Entity < s.Firing[j].Entity
		}
		return s.Firing[i].Kind < s.Firing[j].Kind
	})
	e.status = s
}

// save writes the state when it changed, at most once a second (always
// when final).
func (e *Engine) save(final bool) {
	if e.o.Store == nil || !e.dirty || (!final && time.Since(e.savedAt) < time.Second) {
		return
	}
	s := saved{Conditions: e.ev.saved(), Targets: map[string]*TargetStatus{}, NextID: e.nextID}
	names := slices.Sorted(maps.Keys(e.queues))
	for _, name := range names {
		s.Pending = append(s.Pending, e.queues[name].items...)
	}
	e.mu.Lock()
	for name, t := range e.targets {
		c := *t
		s.Targets[name] = &c
	}
	e.mu.Unlock()
	b, err := json.Marshal(&s)
	if err == nil {
		err = e.o.Store.PutAlertState(b)
	}
	e.savedAt = time.Now()
	if err != nil {
		e.log.Error("alerts' state not saved (pending messages would be lost at a restart)", "err", err)
		return
	}
	e.dirty = false
}

// TestResult is one target's answer to a test message.
type TestResult struct {
	Target string
	Kind   string
	Err    error
}

// SendTest sends a test message to every target of cfg at once and
// returns each one's result.
func SendTest(ctx context.Context, cfg *config.Config, o Options) ([]TestResult, error) {
	a := cfg.Source.Alerts
	if a == nil || (len(a.Webhooks) == 0 && a.Email == nil) {
		return nil, errors.New("the configuration has no alert targets: add \"alerts\" with \"webhooks\" or \"email\"")
	}
	ts, err := buildTargets(a, o)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if o.Now != nil {
		now = o.Now()
	}
	m := Message{Kind: KindTest, Since: now, At: now}
	out := make([]TestResult, len(ts))
	var wg sync.WaitGroup
	for i, t := range ts {
		out[i] = TestResult{Target: t.name(), Kind: t.kind()}
		wg.Go(func() { out[i].Err = t.send(ctx, m, BaseURL(cfg)) })
	}
	wg.Wait()
	return out, nil
}
