package server

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"

	"imagingstatus/server/config"
)

// hostGuard answers only for the hub's own names. A page on another site
// whose name an attacker re-points at the hub (DNS rebinding) reaches it
// with that foreign name in Host and Origin; it gets 421 instead of a map
// of the infrastructure. The names are the configuration's public_urls,
// the listen address, loopback names and addresses, and the machine's own
// host name and interface addresses (IP literals cannot be rebound).
type hostGuard struct {
	cfg    func() *config.Config
	listen netip.Addr // the address the listener is bound to, if specific

	mu    sync.Mutex
	for_  *config.Config
	names map[string]bool
}

func newHostGuard(cfg func() *config.Config) *hostGuard { return &hostGuard{cfg: cfg} }

// setListener records the bound address once the listener exists.
func (g *hostGuard) setListener(a net.Addr) {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok && !ip.Unmap().IsUnspecified() {
			g.mu.Lock()
			g.listen, g.for_ = ip.Unmap(), nil
			g.mu.Unlock()
		}
	}
}

// machineNames are the host's own names and addresses.
var machineNames = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{"localhost": true}
	if h, err := os.Hostname(); err == nil && h != "" {
		h = strings.ToLower(h)
		m[h] = true
		if short, _, ok := strings.Cut(h, "."); ok {
			m[short] = true
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				m[p.Addr().Unmap().String()] = true
			}
		}
	}
	return m
})

func (g *hostGuard) allowedNames() map[string]bool {
	cfg := g.cfg()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.for_ == cfg && g.names != nil {
		return g.names
	}
	names := make(map[string]bool)
	for n := range machineNames() {
		names[n] = true
	}
	if g.listen.IsValid() {
		names[g.listen.String()] = true
	}
	if h, _, err := net.SplitHostPort(cfg.Listen); err == nil && h != "" {
		names[strings.ToLower(strings.Trim(h, "[]"))] = true
	}
	for _, u := range cfg.Source.PublicURLs {
		if h, err := config.PublicHost(u); err == nil {
			names[h] = true
		}
	}
	g.for_, g.names = cfg, names
	return names
}

// allowedHost says whether a Host header (name or address, with or
// without a port) names this hub.
func (g *hostGuard) allowedHost(host string) bool {
	name := strings.ToLower(host)
	if h, _, err := net.SplitHostPort(name); err == nil {
		name = h
	}
	name = strings.TrimSuffix(strings.Trim(name, "[]"), ".")
	if name == "" {
		return false
	}
	if ip, err := netip.ParseAddr(name); err == nil {
		ip = ip.Unmap()
		if ip.IsLoopback() {
			return true
		}
		name = ip.String()
	}
	return g.allowedNames()[name]
}

// allowedOrigin says whether a browser Origin is one of the hub's own: same
// host as the request (already checked) and a web scheme.
func (g *hostGuard) allowedOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return strings.EqualFold(u.Host, host) && g.allowedHost(u.Host)
}

// wrap answers 421 to a foreign Host, and 403 to a request whose Origin
// is foreign (only browsers send one).
func (g *hostGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.allowedHost(r.Host) {
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "this hub does not answer for that host name: use one of its public URLs (an administrator adds names to \"public_urls\" in the hub configuration)", http.StatusMisdirectedRequest)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && r.Method == http.MethodGet && !g.allowedOrigin(o, r.Host) {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
