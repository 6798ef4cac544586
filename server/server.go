// Package server assembles the hub process: the live hub, the REST API and
// the web app behind one HTTP server with a graceful shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"imagingstatus/server/api"
	"imagingstatus/server/config"
	"imagingstatus/server/hub"
)

// Options for a hub process.
type Options struct {
	Logger *slog.Logger
	Hub    hub.Options
	// App serves every path that is not the API (the web app); nil serves 404.
	App http.Handler
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration
}

// Server is a hub process.
type Server struct {
	cfg  *config.Config
	opt  Options
	hub  *hub.Hub
	http *http.Server
}

// New builds a hub process for a configuration.
func New(cfg *config.Config, o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 5 * time.Second
	}
	o.Hub.Logger = o.Logger
	h := hub.New(cfg, o.Hub)
	mux := http.NewServeMux()
	api.Register(mux, h, o.Logger)
	mux.Handle("GET "+hub.AgentPath, h.AgentHandler())
	mux.Handle("GET "+hub.ViewerPath, h.ViewerHandler())
	if o.App != nil {
		mux.Handle("/", o.App)
	}
	return &Server{
		cfg: cfg,
		opt: o,
		hub: h,
		http: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		},
	}
}

// Hub returns the live hub (for tests and benchmarks).
func (s *Server) Hub() *hub.Hub { return s.hub }

// Serve runs the hub on ln until ctx ends, then shuts down gracefully: HTTP
// requests finish, agents and viewers get a close frame.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hubDone := make(chan error, 1)
	go func() { hubDone <- s.hub.Run(ctx) }()
	httpDone := make(chan error, 1)
	go func() { httpDone <- s.http.Serve(ln) }()

	var err error
	select {
	case <-ctx.Done():
	case err = <-httpDone:
		err = fmt.Errorf("hub HTTP server stopped: %w", err)
		cancel()
	}
	sctx, scancel := context.WithTimeout(context.Background(), s.opt.ShutdownTimeout)
	defer scancel()
	if serr := s.http.Shutdown(sctx); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		s.opt.Logger.Warn("HTTP shutdown", "err", serr)
	}
	cancel()
	<-hubDone
	if err == nil {
		select {
		case e := <-httpDone:
			if e != nil && !errors.Is(e, http.ErrServerClosed) {
				err = e
			}
		default:
		}
	}
	return err
}

// ListenAndServe listens on the configured address and serves.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	if addr == "" {
		addr = s.cfg.Listen
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s (set \"listen\" in the configuration or --listen): %w", addr, err)
	}
	s.opt.Logger.Info("hub listening", "addr", ln.Addr().String(), "entities", len(s.cfg.Entities), "deadline", s.cfg.Deadline())
	return s.Serve(ctx, ln)
}
