// Package api serves the hub's REST interface: the entities, one entity,
// and a readiness check for scripts that must know before they deploy.
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"imagingstatus/server/config"
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
	handle := func(pattern string, f http.HandlerFunc) { mux.Handle(pattern, protect(f)) }
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
