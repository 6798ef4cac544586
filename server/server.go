// Package server assembles the hub process: the live hub, the REST API and
// the web app behind one HTTP server with a graceful shutdown.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"time"

	"imagingstatus/server/alert"
	"imagingstatus/server/api"
	"imagingstatus/server/config"
	"imagingstatus/server/connlimit"
	"imagingstatus/server/hub"
	"imagingstatus/server/metrics"
	"imagingstatus/server/viewerauth"
	"imagingstatus/server/webapp"
	"imagingstatus/wire"
)

// Options for a hub process.
type Options struct {
	Logger *slog.Logger
	Hub    hub.Options
	// App serves every path that is not the API (the web app); nil serves 404.
	App http.Handler
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration
	// Sessions keeps viewer sign-ins (StoreSessions of the state file); nil
	// keeps them in memory, lost on restart.
	Sessions viewerauth.Sessions
	// IdleTimeout closes idle keep-alive connections (default 60 s).
	IdleTimeout time.Duration
	// Static replaces the embedded web files served at the root
	// (robots.txt); nil: the embedded ones.
	Static fs.FS
	// Alerts tune the alert engine (its Store is the hub's state file when
	// that keeps alerts).
	Alerts alert.Options
}

// Server is a hub process.
type Server struct {
	cfg    *config.Config
	opt    Options
	hub    *hub.Hub
	alerts *alert.Engine
	// startErr is why the server cannot start (an unreadable alert
	// secret): Serve returns it.
	startErr error
	hosts    *hostGuard
	http     *http.Server
}

// New builds a hub process for a configuration.
func New(cfg *config.Config, o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 60 * time.Second
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 5 * time.Second
	}
	o.Hub.Logger = o.Logger
	var auth *viewerauth.Auth
	o.Hub.Refresh = func(who viewerauth.Identity) (viewerauth.Identity, bool) { return auth.Refresh(who) }
	h := hub.New(cfg, o.Hub)
	auth = viewerauth.NewWithOptions(viewerauth.Options{Config: h.Config, Secure: cfg.Source.TLS != nil, Sessions: o.Sessions, Logger: o.Logger})
	ao := o.Alerts
	ao.Logger, ao.Version = o.Logger, o.Hub.Version
	if st, ok := o.Hub.Store.(alert.StateStore); ok {
		ao.Store = st
	}
	alerts, startErr := alert.New(h, ao)
	mux := http.NewServeMux()
	api.Register(mux, h, o.Logger, auth.Protect)
	if alerts != nil {
		api.RegisterAlerts(mux, h.Config, alerts.Status, auth.Protect)
		mux.Handle("GET /metrics", auth.Protect(metrics.Handler(h, alerts, o.Logger)))
	}
	mux.Handle("GET "+wire.AgentPath, h.AgentHandler()) // agents carry their own token
	mux.Handle("GET "+wire.ViewerPath, auth.Protect(h.ViewerHandler()))
	mux.Handle("GET /login", auth.Login())
	mux.Handle("GET /logout", auth.Logout())
	// go-app would fetch these from the request's own Host and cache the
	// answer for everyone: they are answered here, from the embedded files.
	for _, p := range webapp.ProxyResources {
		mux.Handle(p, webapp.LocalFile(o.Static, p))
	}
	if o.App != nil {
		// The pages carry the statuses their viewer may see (none to a
		// stranger when viewers sign in); the API behind them is protected.
		mux.Handle("/", webapp.WithStatus(o.App, webapp.HubStatus(h.Views, auth.Identify, h.Config)))
	}
	hosts := newHostGuard(h.Config)
	return &Server{
		cfg:      cfg,
		opt:      o,
		hub:      h,
		alerts:   alerts,
		startErr: startErr,
		hosts:    hosts,
		http: &http.Server{
			Handler:           hosts.wrap(securityHeaders(mux, cfg.Source.TLS != nil)),
			ReadHeaderTimeout: 10 * time.Second,
			// Headers are a few hundred bytes; a stranger gets 64 KiB, not 1 MiB.
			MaxHeaderBytes: 64 << 10,
			// Idle keep-alive connections hold file descriptors: a client
			// that opens thousands and goes quiet loses them after a minute.
			IdleTimeout: o.IdleTimeout,
			ErrorLog:    slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		},
	}
}

// Hub returns the live hub (for tests and benchmarks).
func (s *Server) Hub() *hub.Hub { return s.hub }

// Serve runs the hub on ln until ctx ends, then shuts down gracefully: HTTP
// requests finish, agents and viewers get a close frame.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.startErr != nil {
		ln.Close()
		return s.startErr
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.hosts.setListener(ln.Addr())
	ln = connlimit.New(ln, s.cfg.ConnLimits().ConnectionsPerAddress, s.opt.Logger)
	hubDone := make(chan error, 1)
	go func() { hubDone <- s.hub.Run(ctx) }()
	alertsDone := make(chan struct{})
	go func() { defer close(alertsDone); _ = s.alerts.Run(ctx) }()
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
	<-alertsDone
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
	logFileLimit(s.opt.Logger)
	if t := s.cfg.Source.TLS; t != nil {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			ln.Close()
			return fmt.Errorf("load the hub's TLS certificate %s and key %s: %w", t.Cert, t.Key, err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	scheme := "http"
	if s.cfg.Source.TLS != nil {
		scheme = "https"
	}
	s.opt.Logger.Info("hub listening", "addr", ln.Addr().String(), "scheme", scheme, "entities", len(s.cfg.Entities), "deadline", s.cfg.Deadline())
	return s.Serve(ctx, ln)
}

// hostPattern keeps a hostile Host header out of the CSP.
var hostPattern = regexp.MustCompile(`^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$`)

// securityHeaders sets what go-app's WASM page tolerates: compiling WASM
// needs 'wasm-unsafe-eval'; the page talks only to its own origin.
func securityHeaders(next http.Handler, tlsOn bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		connect := "'self'"
		if hostPattern.MatchString(r.Host) {
			connect += " ws://" + r.Host + " wss://" + r.Host
		}
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "+
			"connect-src "+connect+"; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "+
			"worker-src 'self'; manifest-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if tlsOn {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}
