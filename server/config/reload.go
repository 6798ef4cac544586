package config

import (
	"context"
	"log/slog"
	"os"
	"sync"
)

// Target puts a configuration in force: the hub (hub.Reload), or the
// Medulla link's runner, which lays it over Medulla's tree first.
type Target interface {
	Reload(ctx context.Context, cfg *Config) error
}

// Reloader owns the way from the file on disk to the configuration in
// force, and is the one thing a SIGHUP reaches: it reads the file again and
// hands the result to its target. A file that does not load, or that the
// target refuses, leaves the running configuration in force.
type Reloader struct {
	path   string
	target Target
	log    *slog.Logger

	mu      sync.Mutex // one reload at a time, in order
	current *Config
}

// NewReloader makes the owner of the file at path, whose configuration in
// force is current (as loaded at start).
func NewReloader(path string, current *Config, target Target, log *slog.Logger) *Reloader {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reloader{path: path, target: target, log: log, current: current}
}

// Current is the configuration last read from the file and accepted.
func (r *Reloader) Current() *Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current
}

// Reload reads the file and hands it to the target.
func (r *Reloader) Reload(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, err := Load(r.path)
	if err != nil {
		return err
	}
	if err := r.target.Reload(ctx, next); err != nil {
		return err
	}
	r.current = next
	return nil
}

// Run reloads on every signal received (SIGHUP) until ctx ends, logging a
// reload that fails.
func (r *Reloader) Run(ctx context.Context, signals <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-signals:
			if err := r.Reload(ctx); err != nil {
				r.log.Error("configuration not reloaded; keeping the running one", "err", err)
			}
		}
	}
}
