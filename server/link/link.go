// Package link keeps the hub in step with Medulla's databases: it merges the
// entity tree and the server links read from there with the hub's own
// configuration file, and publishes Medulla's per-entity figures. The
// database says where a server belongs, never who may speak for it: agent
// token hashes come from the file only.
package link

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"time"

	"imagingstatus/server/config"
	"imagingstatus/server/medulla"
	"imagingstatus/wire"
)

// DefaultRefresh is how often the databases are read.
const DefaultRefresh = time.Minute

// Loader reads Medulla's databases (medulla.Link).
type Loader interface {
	Load(ctx context.Context) (*medulla.Snapshot, error)
}

// Target is the hub.
type Target interface {
	Reload(ctx context.Context, cfg *config.Config) error
	SetMedulla(ctx context.Context, figs map[string]*wire.Medulla) error
}

// Runner owns the file, the last snapshot and the last figures.
type Runner struct {
	file    config.File
	loader  Loader
	target  Target
	refresh time.Duration
	// checkEvery is how often the databases are pinged between loads.
	checkEvery time.Duration
	log        *slog.Logger
	now        func() time.Time
	files      chan config.File

	snap    *medulla.Snapshot
	merged  *config.File
	figs    map[string]*wire.Medulla
	lastErr string
}

// New makes a runner; refresh 0 takes the file's "refresh", else
// DefaultRefresh.
func New(file config.File, loader Loader, target Target, refresh time.Duration, log *slog.Logger) *Runner {
	if refresh <= 0 && file.Medulla != nil {
		refresh = time.Duration(file.Medulla.Refresh)
	}
	if refresh <= 0 {
		refresh = DefaultRefresh
	}
	// The databases are checked every agent interval between loads.
	checkEvery := time.Duration(file.Interval)
	if checkEvery <= 0 {
		checkEvery = config.DefaultInterval
	}
	return &Runner{file: file, loader: loader, target: target, refresh: refresh, checkEvery: checkEvery, log: log, now: time.Now,
		files: make(chan config.File, 1)}
}

// ReloadFile hands a newly read configuration file to the runner (SIGHUP).
func (r *Runner) ReloadFile(f config.File) {
	select {
	case <-r.files: // an older reload not yet applied is superseded
	default:
	}
	r.files <- f
}

// Reload hands a newly read configuration to the runner, which lays it
// over Medulla's tree and reloads the hub when that changes anything; it
// makes the runner a config.Target, the one a config.Reloader feeds while
// the link is on. It does not wait for the merge.
func (r *Runner) Reload(_ context.Context, cfg *config.Config) error {
	r.ReloadFile(cfg.Source)
	return nil
}

// MedullaConfig is the database link in force (config.ResolveMedulla: flags
// over the environment over the file) with the password file read into the
// DSNs; ok is false when no link is configured.
func MedullaConfig(flags config.MedullaLink, getenv func(string) string, file *config.MedullaLink) (medulla.Config, bool, error) {
	l, ok, err := config.ResolveMedulla(flags, getenv, file)
	if !ok || err != nil {
		return medulla.Config{}, false, err
	}
	c := medulla.Config{ImagingDSN: l.ImagingDSN, GLPIDSN: l.GLPIDSN}
	if l.PasswordFile != "" {
		if c, err = c.WithPasswordFile(l.PasswordFile); err != nil {
			return medulla.Config{}, false, err
		}
	}
	return c, true, nil
}

// Run reads the databases at once and then every refresh until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	t := time.NewTicker(r.refresh)
	defer t.Stop()
	var checkC <-chan time.Time
	p, canPing := r.loader.(Pinger)
	if canPing && r.checkEvery < r.refresh {
		c := time.NewTicker(r.checkEvery)
		defer c.Stop()
		checkC = c.C
	}
	r.refreshOnce(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-checkC:
			r.check(ctx, p)
		case f := <-r.files:
			r.file = f
			r.apply(ctx)
		case <-t.C:
			r.refreshOnce(ctx)
		}
	}
}

func (r *Runner) refreshOnce(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, r.refresh)
	snap, err := r.loader.Load(lctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		r.failed(ctx, err)
		return
	}
	if r.lastErr != "" {
		r.log.Info("Medulla database link restored")
		r.lastErr = ""
	}
	r.snap = snap
	r.figs = Figures(snap)
	r.apply(ctx)
}

// apply merges the file with the last snapshot; the hub is reloaded only
// when the tree or the links changed.
func (r *Runner) apply(ctx context.Context) {
	merged := Merge(r.file, r.snap)
	if r.merged == nil || !reflect.DeepEqual(*r.merged, merged) {
		cfg, err := merged.Resolve()
		if err != nil {
			r.log.Error("Medulla's entities do not fit the hub configuration; keeping the previous tree", "err", err)
		} else if err := r.target.Reload(ctx, cfg); err == nil {
			r.merged = &merged
		}
	}
	if r.figs != nil {
		_ = r.target.SetMedulla(ctx, r.figs)
	}
}

// failed keeps the last figures, marked stale with why; the statuses come
// from the agents and are not touched. Viewers get a code and a fixed
// sentence; the database's user, host and socket stay in the log.
func (r *Runner) failed(ctx context.Context, err error) {
	msg := err.Error()
	if msg != r.lastErr {
		r.log.Warn("Medulla database link failing; figures kept with their age", "err", msg)
		r.lastErr = msg
	}
	code := wire.MedullaOther
	var me *medulla.Error
	if errors.As(err, &me) {
		code = me.Kind.String()
	}
	text := wire.MedullaErrorText(code)
	stale := make(map[string]*wire.Medulla, len(r.figs))
	for id, f := range r.figs {
		cp := *f
		cp.Stale, cp.Error, cp.ErrorCode = true, text, code
		stale[id] = &cp
	}
	// Entities never read yet still say the link is failing.
	for _, e := range Merge(r.file, r.snap).Entities {
		if _, ok := stale[e.ID]; !ok {
			stale[e.ID] = &wire.Medulla{Source: wire.SourceMedulla, Stale: true, Error: text, ErrorCode: code}
		}
	}
	_ = r.target.SetMedulla(ctx, stale)
}

// Pinger is a Loader that can check its databases cheaply between loads
// (*medulla.Link): a failure is then shown within an interval, not at the
// next refresh.
type Pinger interface {
	Ping(ctx context.Context) error
}

// check pings the databases: a new failure marks the figures stale at
// once, a recovery reloads at once.
func (r *Runner) check(ctx context.Context, p Pinger) {
	cctx, cancel := context.WithTimeout(ctx, r.checkEvery)
	err := p.Ping(cctx)
	cancel()
	switch {
	case ctx.Err() != nil:
	case err != nil && r.lastErr == "":
		r.failed(ctx, err)
	case err == nil && r.lastErr != "":
		r.refreshOnce(ctx)
	}
}

// Merge lays the file over Medulla's tree: Medulla's entities first (names,
// parents, associated servers, and which server serves each by Medulla's
// rule), then the file's entries, which override a name, a parent or a
// server, or add entities of their own. A server's token hash comes only
// from the file.
func Merge(f config.File, snap *medulla.Snapshot) config.File {
	out := f
	out.Entities = nil
	if snap == nil {
		out.Entities = append(out.Entities, f.Entities...)
		return out
	}
	fileByID := make(map[string]config.Entity, len(f.Entities))
	for _, e := range f.Entities {
		fileByID[e.ID] = e
	}
	seen := make(map[string]bool)
	for _, d := range snap.Entities {
		e := config.Entity{ID: d.ID, Name: d.Name, Parent: d.Parent}
		if d.Server != nil && d.Server.Associated {
			e.Server = &config.Server{Name: d.Server.Name}
		}
		if d.ServedBy != nil {
			e.ServedByOverride = d.ServedBy.EntityID
		} else {
			e.NotServed = true // Medulla's rule: no server, whatever the parents have
		}
		if o, ok := fileByID[d.ID]; ok {
			if o.Name != "" && o.Name != o.ID {
				e.Name = o.Name
			}
			if o.Parent != "" {
				e.Parent = o.Parent
			}
			if o.Server != nil {
				srv := *o.Server
				if srv.Name == "" && e.Server != nil {
					srv.Name = e.Server.Name
				}
				e.Server = &srv
			}
		}
		seen[d.ID] = true
		out.Entities = append(out.Entities, e)
	}
	for _, e := range f.Entities {
		if !seen[e.ID] {
			out.Entities = append(out.Entities, e)
		}
	}
	return out
}

// Figures turns a snapshot into the per-entity figures viewers see.
func Figures(snap *medulla.Snapshot) map[string]*wire.Medulla {
	out := make(map[string]*wire.Medulla, len(snap.Entities))
	for _, d := range snap.Entities {
		m := &wire.Medulla{
			Source:                  wire.SourceMedulla,
			LoadedAt:                snap.LoadedAt.UTC(),
			Clients:                 d.Clients,
			ClientsWithBackupImages: d.ClientsWithBackupImages,
			Masters:                 d.Masters,
		}
		if d.Server != nil {
			m.Server, m.ServerURL = d.Server.Name, d.Server.URL
			if !d.Server.Associated {
				m.Server += " (registered, not linked)"
			}
		}
		if d.NearestLinkedAncestor != nil {
			m.NearerLinkedServer = d.NearestLinkedAncestor.Name
		}
		for _, im := range d.MasterImages {
			mi := wire.MasterImage{UUID: im.UUID, Name: im.Name, Size: im.Size}
			if !im.Created.IsZero() {
				c := im.Created.UTC()
				mi.Created = &c
			}
			m.MasterImages = append(m.MasterImages, mi)
		}
		for _, l := range d.Activity {
			a := wire.ActivityLine{State: l.State, Target: l.Target, Detail: l.Detail}
			if !l.Time.IsZero() {
				t := l.Time.UTC()
				a.Time = &t
			}
			m.Activity = append(m.Activity, a)
		}
		out[d.ID] = m
	}
	return out
}
