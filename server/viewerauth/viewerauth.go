// Package viewerauth decides who may read statuses and which entities they
// may see: nobody checked ("none", chosen explicitly), viewer tokens with
// an entity scope exchanged for an HttpOnly cookie (a browser WebSocket
// carries no custom header; a kiosk opens /login?token=…&next=/wall once),
// or a user named by a trusted reverse proxy.
package viewerauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"imagingstatus/server/config"
)

// CookieName holds a viewer token in the browser.
const CookieName = "imaging_viewer"

// Identity is an authenticated viewer.
type Identity struct {
	Name string
	// All: every entity; otherwise Roots and their subtrees.
	All   bool
	Roots []string
}

type ctxKey struct{}

// FromContext returns the viewer of a request; ok is false when viewers are
// not authenticated (mode "none"), which means everything is visible.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// Allowed says whether the request's viewer may see entity id.
func Allowed(ctx context.Context, cfg *config.Config, id string) bool {
	who, ok := FromContext(ctx)
	return !ok || who.All || cfg.Within(id, who.Roots)
}

// Filter returns the visibility test for a request's viewer (nil: all).
func Filter(ctx context.Context, cfg func() *config.Config) func(string) bool {
	who, ok := FromContext(ctx)
	if !ok || who.All {
		return nil
	}
	return func(id string) bool { return cfg().Within(id, who.Roots) }
}

// Auth authenticates viewers against the live configuration.
type Auth struct {
	cfg    func() *config.Config
	secure bool // cookies only over HTTPS

	mu       sync.Mutex
	failures map[string][]time.Time
}

// New reads the viewer settings from cfg on every request, so a reload
// revokes a token at once. secure marks cookies Secure (the hub serves TLS).
func New(cfg func() *config.Config, secure bool) *Auth {
	return &Auth{cfg: cfg, secure: secure, failures: make(map[string][]time.Time)}
}

func (a *Auth) viewers() *config.Viewers {
	v := a.cfg().Source.Viewers
	if v == nil {
		return &config.Viewers{Auth: config.ViewerAuthNone}
	}
	return v
}

// Protect requires an authenticated viewer for next; the identity travels
// in the request context.
func (a *Auth) Protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := a.viewers()
		switch v.Auth {
		case config.ViewerAuthNone, "":
			next.ServeHTTP(w, r)
			return
		case config.ViewerAuthToken:
			c, err := r.Cookie(CookieName)
			if err == nil {
				if who, ok := tokenIdentity(v, c.Value); ok {
					next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, who)))
					return
				}
			}
			deny(w, "sign in: open the viewer link (/login?token=…) you were given")
		case config.ViewerAuthProxy:
			if who, ok := proxyIdentity(v, r); ok {
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, who)))
				return
			}
			deny(w, "not authenticated by the reverse proxy")
		}
	})
}

// Login exchanges ?token= for an HttpOnly cookie and redirects to ?next=
// (a path on this hub only). Failures are limited per source address.
func (a *Auth) Login() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := a.viewers()
		if v.Auth != config.ViewerAuthToken {
			http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
			return
		}
		ip := sourceIP(r)
		if !a.allow(ip) {
			w.Header().Set("Retry-After", "60")
			http.Error(w, "too many failed sign-ins from this address; retry in a minute", http.StatusTooManyRequests)
			return
		}
		tok := r.URL.Query().Get("token")
		if _, ok := tokenIdentity(v, tok); !ok {
			a.fail(ip)
			http.Error(w, "this viewer link is not valid (or was revoked): ask the administrator for a new one", http.StatusUnauthorized)
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: CookieName, Value: tok, Path: "/", HttpOnly: true, Secure: a.secure,
			SameSite: http.SameSiteStrictMode, MaxAge: 400 * 24 * 3600, // a kiosk stays signed in
		})
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer") // the token is in this URL
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
	})
}

// Logout forgets the cookie.
func (a *Auth) Logout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true, Secure: a.secure, MaxAge: -1})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
}

func tokenIdentity(v *config.Viewers, tok string) (Identity, bool) {
	if tok == "" || len(tok) > 256 {
		return Identity{}, false
	}
	sum := sha256.Sum256([]byte(tok))
	var found *config.ViewerToken
	for i := range v.Tokens { // every entry compared: no early exit to time
		want, err := hex.DecodeString(strings.ToLower(v.Tokens[i].TokenSHA256))
		if err == nil && subtle.ConstantTimeCompare(sum[:], want) == 1 {
			found = &v.Tokens[i]
		}
	}
	if found == nil {
		return Identity{}, false
	}
	return Identity{Name: found.Name, All: len(found.Scope) == 0, Roots: found.Scope}, true
}

func proxyIdentity(v *config.Viewers, r *http.Request) (Identity, bool) {
	addr, err := netip.ParseAddr(sourceIP(r))
	if err != nil || !trusted(v.TrustedProxies, addr.Unmap()) {
		return Identity{}, false
	}
	header := v.ProxyHeader
	if header == "" {
		header = "X-Remote-User"
	}
	user := r.Header.Get(header)
	if user == "" {
		return Identity{}, false
	}
	scope, ok := v.ProxyScopes[user]
	if !ok {
		if scope, ok = v.ProxyScopes["*"]; !ok && len(v.ProxyScopes) > 0 {
			return Identity{}, false
		}
	}
	return Identity{Name: user, All: len(scope) == 0, Roots: scope}, true
}

func trusted(list []string, addr netip.Addr) bool {
	for _, c := range list {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(addr) {
			return true
		}
		if a, err := netip.ParseAddr(c); err == nil && a.Unmap() == addr {
			return true
		}
	}
	return false
}

func deny(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// safeNext keeps redirects on this hub: a path, never "//host" or a URL.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

const (
	maxFailures   = 10
	failureWindow = time.Minute
)

func (a *Auth) allow(ip string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.recent(ip)) < maxFailures
}

func (a *Auth) fail(ip string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.failures) > 10_000 {
		clear(a.failures) // bounded memory under a spray of addresses
	}
	a.failures[ip] = append(a.recent(ip), time.Now())
}

func (a *Auth) recent(ip string) []time.Time {
	cut := time.Now().Add(-failureWindow)
	fs := a.failures[ip]
	i := 0
	for i < len(fs) && fs[i].Before(cut) {
		i++
	}
	return fs[i:]
}
