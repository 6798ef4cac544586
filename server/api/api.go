// Package api serves the hub's REST interface: the entities, one entity,
// and a readiness check for scripts that must know before they deploy.
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"imagingstatus/server/alert"
	"imagingstatus/server/config"
	"imagingstatus/server/history"
	"imagingstatus/server/store"
	"imagingstatus/server/viewerauth"
	"imagingstatus/wire"
)

// Source is where the views come from (the hub).
type Source interface {
	Entities(ctx context.Context) ([]wire.Entity, error)
	Entity(ctx context.Context, id string) (wire.Entity, bool, error)
	History(id string, limit int) ([]store.Change, error)
	Config() *config.Config
	// Health says why the hub cannot do its job fully (the state file
	// cannot be written), nil when it can.
	Health() error
	// Series is an entity's figure history over [from, to], oldest first.
	Series(entity, figure string, from, to time.Time) ([]wire.Point, error)
	// Summary is an entity's newest summary, read without the hub's loop.
	Summary(id string) (wire.Entity, bool)
}

// Windows of the uptime and series endpoints.
var (
	uptimeWindows = map[string]time.Duration{"24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}
	seriesWindows = map[string]time.Duration{"48h": 48 * time.Hour, "30d": 30 * 24 * time.Hour, "365d": 365 * 24 * time.Hour}
	// figureUnits are the figures the series endpoint serves, with their unit.
	figureUnits = map[string]string{
		wire.FigureRepoDiskUsed: "bytes", wire.FigureRepoDiskTotal: "bytes", wire.FigureMemoryUsed: "bytes",
		wire.FigureLoad1: "load", wire.FigureImagesComplete: "count", wire.FigureImagesTotal: "count",
		wire.FigureCompleteBytes: "bytes",
	}
)

func windowNames(m map[string]time.Duration) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return m[names[i]] < m[names[j]] })
	return strings.Join(names, ", ")
}

// Readiness is the body of the readiness endpoint.
type Readiness struct {
	ID     string      `json:"id"`
	Ready  bool        `json:"ready"`
	Status wire.Status `json:"status"`
	Reason string      `json:"reason,omitempty"`
}

// Register adds the REST routes to mux; protect wraps the routes that
// reveal entities (viewer authentication; the viewer's scope then limits
// every answer, and an entity out of scope is "unknown").
func Register(mux *http.ServeMux, src Source, log *slog.Logger, protect func(http.Handler) http.Handler) {
	// Each route names the query parameters it reads: any other is refused,
	// so a mistyped ?windw=30d is an error, not a silent default.
	handle := func(pattern string, f http.HandlerFunc, params ...string) {
		mux.Handle(pattern, protect(onlyParams(f, params...)))
	}
	handle("GET /api/v1/entities", func(w http.ResponseWriter, r *http.Request) {
		es, err := src.Entities(r.Context())
		if err != nil {
			unavailable(w, log, err)
			return
		}
		kept := make([]wire.Entity, 0, len(es))
		for _, e := range es {
			if viewerauth.Allowed(r.Context(), src.Config(), e.ID) {
				kept = append(kept, e)
			}
		}
		writeJSON(w, http.StatusOK, kept)
	})
	handle("GET /api/v1/entities/{id}", func(w http.ResponseWriter, r *http.Request) {
		e, ok := lookup(w, r, src, log)
		if ok {
			writeJSON(w, http.StatusOK, e)
		}
	})
	handle("GET /api/v1/entities/{id}/history", func(w http.ResponseWriter, r *http.Request) {
		e, ok := lookup(w, r, src, log)
		if !ok {
			return
		}
		hist, err := src.History(e.ID, 200)
		if err != nil {
			unavailable(w, log, err)
			return
		}
		if hist == nil {
			hist = []store.Change{}
		}
		writeJSON(w, http.StatusOK, hist)
	})
	handle("GET /api/v1/entities/{id}/uptime", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("window")
		if name == "" {
			name = "24h"
		}
		window, ok := uptimeWindows[name]
		if !ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "window must be one of " + windowNames(uptimeWindows)})
			return
		}
		e, ok := lookup(w, r, src, log)
		if !ok {
			return
		}
		hist, err := src.History(e.ID, 0)
		if err != nil {
			unavailable(w, log, err)
			return
		}
		writeJSON(w, http.StatusOK, history.Uptime(hist, e.Status, e.Since, time.Now(), window, name))
	}, "window")
	handle("GET /api/v1/entities/{id}/series", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		figure := q.Get("figure")
		unit, ok := figureUnits[figure]
		if !ok {
			names := make([]string, 0, len(figureUnits))
			for n := range figureUnits {
				names = append(names, n)
			}
			sort.Strings(names)
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "figure must be one of " + strings.Join(names, ", ")})
			return
		}
		name := q.Get("window")
		if name == "" {
			name = "48h"
		}
		window, ok := seriesWindows[name]
		if !ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "window must be one of " + windowNames(seriesWindows)})
			return
		}
		e, ok := lookup(w, r, src, log)
		if !ok {
			return
		}
		// Figures are kept per imaging server: an entity shows its server's.
		server := e.ServedByEntity
		points := []wire.Point{}
		if server != "" {
			now := time.Now()
			var err error
			if points, err = src.Series(server, figure, now.Add(-window), now); err != nil {
				unavailable(w, log, err)
				return
			}
		}
		writeJSON(w, http.StatusOK, wire.Series{Figure: figure, Unit: unit, Points: points})
	}, "figure", "window")
	handle("GET /api/v1/entities/{id}/ready", func(w http.ResponseWriter, r *http.Request) {
		e, ok := lookup(w, r, src, log)
		if !ok {
			return
		}
		code := http.StatusServiceUnavailable
		if e.Status == wire.StatusAvailable {
			code = http.StatusOK
		}
		writeJSON(w, code, Readiness{ID: e.ID, Ready: code == http.StatusOK, Status: e.Status, Reason: e.Reason})
	})
	badge := badgeHandler(src)
	protectedBadge := protect(badge)
	mux.HandleFunc("GET /api/v1/entities/{id}/badge.svg", func(w http.ResponseWriter, r *http.Request) {
		if src.Config().Source.PublicBadges {
			badge(w, r)
			return
		}
		protectedBadge.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := src.Health(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(err.Error() + "\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
}

// RegisterAlerts adds GET /api/v1/alerts: the last result per alert target
// and the alerts firing within the viewer's scope.
func RegisterAlerts(mux *http.ServeMux, cfg func() *config.Config, status func(allowed func(string) bool) alert.Status, protect func(http.Handler) http.Handler) {
	mux.Handle("GET /api/v1/alerts", protect(onlyParams(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, status(viewerauth.Filter(r.Context(), cfg)))
	})))
}

// onlyParams refuses a request carrying a query parameter not in params.
func onlyParams(f http.HandlerFunc, params ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k := range r.URL.Query() {
			if !slices.Contains(params, k) {
				takes := "no query parameter"
				if len(params) > 0 {
					takes = strings.Join(params, ", ")
				}
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unknown query parameter " + quoteID(k) + ": this endpoint takes " + takes})
				return
			}
		}
		f(w, r)
	}
}

func lookup(w http.ResponseWriter, r *http.Request, src Source, log *slog.Logger) (wire.Entity, bool) {
	id := r.PathValue("id")
	e, ok, err := src.Entity(r.Context(), id)
	switch {
	case err != nil:
		unavailable(w, log, err)
		return e, false
	case !ok || !viewerauth.Allowed(r.Context(), src.Config(), id):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown entity " + quoteID(id)})
		return e, false
	}
	return e, true
}

func quoteID(id string) string {
	if len(id) > 64 {
		id = id[:64] + "…"
	}
	b, _ := json.Marshal(id)
	return string(b)
}

func unavailable(w http.ResponseWriter, log *slog.Logger, err error) {
	log.Warn("REST request failed", "err", err)
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "hub unavailable: " + err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
