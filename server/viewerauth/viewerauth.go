// Package viewerauth decides who may read statuses and which entities they
// may see: nobody checked ("none", chosen explicitly), viewer tokens with an
// entity scope, or a user named by a trusted reverse proxy.
//
// A viewer token is presented either as "Authorization: Bearer <token>"
// (scripts, Prometheus) or once to /login?token=…&next=/wall, which answers
// with a session cookie (a browser WebSocket carries no custom header). The
// cookie holds a random session id, not the token: the hub keeps only the
// SHA-256 of the id, and each request re-checks that the session's token is
// still configured, so removing or rescoping a token applies at once.
//
// Failed credentials (bad token, unknown cookie) are counted per address and
// per network by a ratelimit.Limiter; an address over the limit gets 429 for
// bad credentials, but valid credentials are always admitted, so that a
// flood from a shared address (an office NAT) cannot lock real users out.
package viewerauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"imagingstatus/server/config"
	"imagingstatus/server/ratelimit"
)

// CookieName holds a viewer's session id in the browser.
const CookieName = "imaging_viewer"

// LimiterName names the sign-in limiter in log lines.
const LimiterName = "viewer sign-ins"

const (
	sessionIDBytes = 32
	// maxTokenLength bounds what is hashed for a guess.
	maxTokenLength = 256
)

// sessionIDLength is the length of a session id in the cookie (base64url,
// no padding).
var sessionIDLength = base64.RawURLEncoding.EncodedLen(sessionIDBytes)

// Identity is an authenticated viewer.
type Identity struct {
	Name string
	// All: every entity; otherwise Roots and their subtrees.
	All   bool
	Roots []string

	// What the identity was derived from, for Refresh. Unexported so that
	// it is never serialised; String and LogValue leave it out of logs.
	via       string // config.ViewerAuthToken or config.ViewerAuthProxy; "" for mode none
	tokenHash string // hex SHA-256 of the viewer token (token and session viewers)
	user      string // the proxy's user name (proxy viewers)
}

// String names the viewer (never the token hash it carries).
func (id Identity) String() string { return id.Name }

// LogValue keeps the token hash out of structured logs.
func (id Identity) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", id.Name), slog.Bool("all", id.All), slog.Any("roots", id.Roots))
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
	if !ok {
		return nil
	}
	return FilterFor(who, cfg)
}

// FilterFor returns the visibility test of who (nil: all), e.g. for an
// identity Refresh returned.
func FilterFor(who Identity, cfg func() *config.Config) func(string) bool {
	if who.All {
		return nil
	}
	roots := who.Roots
	return func(id string) bool { return cfg().Within(id, roots) }
}

// Session is a sign-in kept by the hub under the SHA-256 of its cookie
// value. Its fields match store.Session, so an adapter converts one to the
// other with store.Session(s) and Session(s).
type Session struct {
	TokenSHA256 string // hex SHA-256 of the viewer token it was made from
	Expires     time.Time
}

// Sessions stores sign-ins. ids are hex SHA-256 of cookie values, so a
// leaked state file holds no usable cookie.
type Sessions interface {
	PutSession(id string, s Session) error
	GetSession(id string) (Session, bool, error)
	DeleteSession(id string) error
}

// Options configure an Auth; only Config is required.
type Options struct {
	// Config is read on every request, so a reload applies at once.
	Config func() *config.Config
	// Secure marks cookies Secure (the hub serves TLS).
	Secure bool
	// Sessions keeps sign-ins; nil keeps them in memory (lost on restart).
	Sessions Sessions
	// Limiter counts failed credentials; nil makes one named LimiterName
	// with the default limits. Pass your own to Flush it periodically.
	Limiter *ratelimit.Limiter
	Logger  *slog.Logger
	Now     func() time.Time // tests
}

// Auth authenticates viewers against the live configuration.
type Auth struct {
	cfg      func() *config.Config
	secure   bool
	sessions Sessions
	limit    *ratelimit.Limiter
	log      *slog.Logger
	now      func() time.Time
}

// New reads the viewer settings from cfg on every request, so a reload
// revokes a token at once. secure marks cookies Secure (the hub serves TLS).
// Sessions are kept in memory: use NewWithOptions to keep them in the state
// file.
func New(cfg func() *config.Config, secure bool) *Auth {
	return NewWithOptions(Options{Config: cfg, Secure: secure})
}

// NewWithOptions is New with every setting.
func NewWithOptions(o Options) *Auth {
	if o.Config == nil {
		panic("viewerauth: Options.Config is nil")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sessions == nil {
		o.Sessions = NewMemorySessions()
	}
	if o.Limiter == nil {
		o.Limiter = ratelimit.New(ratelimit.Options{Name: LimiterName, Logger: o.Logger, Now: o.Now})
	}
	return &Auth{cfg: o.Config, secure: o.Secure, sessions: o.Sessions, limit: o.Limiter, log: o.Logger, now: o.Now}
}

func viewersOf(c *config.Config) *config.Viewers {
	if v := c.Source.Viewers; v != nil {
		return v
	}
	return &config.Viewers{Auth: config.ViewerAuthNone}
}

// outcome of checking a request's credentials.
type outcome int

const (
	valid       outcome = iota
	missing             // nothing presented: a first visit, not a guess
	invalid             // a bad token or an unknown cookie: counted as a guess
	stale               // a session we issued, now expired or revoked: not a guess
	unavailable         // the session store failed
)

// Protect requires an authenticated viewer for next; the identity travels
// in the request context.
func (a *Auth) Protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := a.cfg()
		v := viewersOf(c)
		switch v.Auth {
		case config.ViewerAuthNone, "":
			next.ServeHTTP(w, r)
		case config.ViewerAuthToken:
			who, res, fromCookie := a.check(r, c, v)
			switch res {
			case valid:
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, who)))
			case missing:
				deny(w, http.StatusUnauthorized, "sign in: open the viewer link (/login?token=…) you were given, or send Authorization: Bearer <viewer token>")
			case stale:
				a.clearCookie(w) // stop the browser sending a dead session
				deny(w, http.StatusUnauthorized, "your sign-in has expired or was revoked: open the viewer link (/login?token=…) again")
			case unavailable:
				w.Header().Set("Retry-After", "5")
				deny(w, http.StatusServiceUnavailable, "the hub cannot read its sign-ins right now: retry in a few seconds")
			case invalid:
				if fromCookie {
					a.clearCookie(w)
				}
				if !a.refuse(w, r) {
					deny(w, http.StatusUnauthorized, "these credentials are not valid (or were revoked): ask the administrator for a new viewer link")
				}
			}
		case config.ViewerAuthProxy:
			if who, ok := proxyIdentity(v, r); ok {
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, who)))
				return
			}
			deny(w, http.StatusUnauthorized, "not authenticated by the reverse proxy")
		default:
			deny(w, http.StatusUnauthorized, "unknown viewer authentication mode: fix viewers.auth in the hub configuration")
		}
	})
}

// Identify returns r's viewer without answering for it, for pages that
// show a signed-in viewer more than a stranger (the app shell's statuses):
// ok is false when viewers are authenticated and r carries no valid
// credential. In mode "none" everyone sees everything (All). A bad
// credential counts as a failed sign-in, as on the API; nothing is written
// to the response, so a dead cookie is cleared by the API's next answer.
func (a *Auth) Identify(r *http.Request) (Identity, bool) {
	c := a.cfg()
	v := viewersOf(c)
	switch v.Auth {
	case config.ViewerAuthNone, "":
		return Identity{All: true}, true
	case config.ViewerAuthToken:
		who, res, _ := a.check(r, c, v)
		switch res {
		case valid:
			return who, true
		case invalid:
			a.limit.Fail(ratelimit.AddrOf(r))
		}
	case config.ViewerAuthProxy:
		return proxyIdentity(v, r)
	}
	return Identity{}, false
}

// refuse counts a bad credential from r's address and, when that address or
// its network is over the limit, answers 429 and returns true. A credential
// is always checked before refuse is called, so a valid one never gets here.
func (a *Auth) refuse(w http.ResponseWriter, r *http.Request) bool {
	addr := ratelimit.AddrOf(r)
	allowed := a.limit.Allow(addr)
	a.limit.Fail(addr) // refused attempts count too: the summary shows the whole flood
	if allowed {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(a.limit.RetryAfter()/time.Second)))
	deny(w, http.StatusTooManyRequests, "too many failed sign-ins from this address or its network: retry later (a valid viewer link still works)")
	return true
}

// check authenticates r by its Bearer token, else by its session cookie.
// Neither value is ever logged.
func (a *Auth) check(r *http.Request, c *config.Config, v *config.Viewers) (who Identity, res outcome, fromCookie bool) {
	if tok, ok := bearer(r); ok {
		if who, ok := tokenIdentity(v, tok); ok {
			return who, valid, false
		}
		return Identity{}, invalid, false
	}
	ck, err := r.Cookie(CookieName)
	if err != nil || ck.Value == "" {
		return Identity{}, missing, false
	}
	if !wellFormedID(ck.Value) {
		return Identity{}, invalid, true
	}
	key := sessionKey(ck.Value)
	s, found, err := a.sessions.GetSession(key)
	if err != nil {
		a.log.Error("read a viewer session: is the state file readable?", "err", err)
		return Identity{}, unavailable, true
	}
	if !found {
		return Identity{}, invalid, true
	}
	t := tokenByHash(v, s.TokenSHA256)
	if t == nil || !a.now().Before(s.Expires) {
		// Deleted so that re-adding the token does not revive it.
		if err := a.sessions.DeleteSession(key); err != nil {
			a.log.Warn("delete an expired or revoked viewer session", "err", err)
		}
		return Identity{}, stale, true
	}
	return tokenEntryIdentity(t, s.TokenSHA256), valid, true
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const scheme = "bearer "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimSpace(h[len(scheme):]), true
}

// Login exchanges ?token= for a session cookie and redirects to ?next= (a
// path on this hub only). A valid token is always accepted; bad ones are
// limited per address and per network.
func (a *Auth) Login() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		next := safeNext(q.Get("next"))
		c := a.cfg()
		v := viewersOf(c)
		if v.Auth != config.ViewerAuthToken {
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer") // the token is in this URL
		tok := q.Get("token")
		if tok == "" {
			http.Error(w, "sign in with the viewer link (/login?token=…) you were given", http.StatusUnauthorized)
			return
		}
		who, ok := tokenIdentity(v, tok)
		if !ok {
			if !a.refuse(w, r) {
				http.Error(w, "this viewer link is not valid (or was revoked): ask the administrator for a new one", http.StatusUnauthorized)
			}
			return
		}
		id, err := newSessionID()
		if err != nil {
			a.log.Error("make a viewer session id", "err", err)
			http.Error(w, "the hub could not sign you in (no randomness): retry, and tell the administrator if it persists", http.StatusInternalServerError)
			return
		}
		lifetime := c.SessionLifetime()
		if err := a.sessions.PutSession(sessionKey(id), Session{TokenSHA256: who.tokenHash, Expires: a.now().Add(lifetime)}); err != nil {
			a.log.Error("record a viewer session: is the state file writable?", "err", err)
			http.Error(w, "the hub could not record your sign-in: retry, and tell the administrator if it persists", http.StatusInternalServerError)
			return
		}
		a.dropSession(r) // a kiosk signing in at each boot does not pile up sessions
		http.SetCookie(w, &http.Cookie{
			Name: CookieName, Value: id, Path: "/", HttpOnly: true, Secure: a.secure,
			SameSite: http.SameSiteStrictMode, MaxAge: int(lifetime / time.Second),
		})
		http.Redirect(w, r, next, http.StatusSeeOther)
	})
}

// Logout deletes the session and forgets the cookie.
func (a *Auth) Logout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.dropSession(r)
		a.clearCookie(w)
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
}

// Refresh recomputes who against the current configuration, for streams
// that outlive a reload: false when its token was removed, its proxy user no
// longer has a scope, or the authentication mode changed; otherwise who
// with its current name and scope. The zero Identity (a viewer admitted in
// mode "none") stays valid, seeing everything, while the mode is "none".
func (a *Auth) Refresh(who Identity) (Identity, bool) {
	v := viewersOf(a.cfg())
	mode := v.Auth
	if mode == "" {
		mode = config.ViewerAuthNone
	}
	switch {
	case who.via == "" && mode == config.ViewerAuthNone:
		return Identity{All: true}, true
	case who.via != mode:
		return Identity{}, false
	case mode == config.ViewerAuthToken:
		t := tokenByHash(v, who.tokenHash)
		if t == nil {
			return Identity{}, false
		}
		return tokenEntryIdentity(t, who.tokenHash), true
	case mode == config.ViewerAuthProxy:
		scope, ok := proxyScope(v, who.user)
		if !ok {
			return Identity{}, false
		}
		return Identity{Name: who.user, All: len(scope) == 0, Roots: scope, via: config.ViewerAuthProxy, user: who.user}, true
	}
	return Identity{}, false
}

func (a *Auth) dropSession(r *http.Request) {
	ck, err := r.Cookie(CookieName)
	if err != nil || !wellFormedID(ck.Value) {
		return
	}
	if err := a.sessions.DeleteSession(sessionKey(ck.Value)); err != nil {
		a.log.Warn("delete a viewer session", "err", err)
	}
}

func (a *Auth) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true, Secure: a.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

func newSessionID() (string, error) {
	b := make([]byte, sessionIDBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func wellFormedID(v string) bool {
	if len(v) != sessionIDLength {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil
}

// sessionKey is what the store keeps for a cookie value.
func sessionKey(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:])
}

func tokenIdentity(v *config.Viewers, tok string) (Identity, bool) {
	if tok == "" || len(tok) > maxTokenLength {
		return Identity{}, false
	}
	h := config.HashToken(tok)
	t := tokenByHash(v, h)
	if t == nil {
		return Identity{}, false
	}
	return tokenEntryIdentity(t, h), true
}

// tokenByHash returns the configured token whose hash is h (hex), comparing
// every entry in constant time: no early exit to time.
func tokenByHash(v *config.Viewers, h string) *config.ViewerToken {
	sum, err := hex.DecodeString(h)
	if err != nil || len(sum) != sha256.Size {
		return nil
	}
	var found *config.ViewerToken
	for i := range v.Tokens {
		want, err := hex.DecodeString(strings.ToLower(v.Tokens[i].TokenSHA256))
		if err == nil && subtle.ConstantTimeCompare(sum, want) == 1 {
			found = &v.Tokens[i]
		}
	}
	return found
}

func tokenEntryIdentity(t *config.ViewerToken, hash string) Identity {
	return Identity{Name: t.Name, All: len(t.Scope) == 0, Roots: t.Scope, via: config.ViewerAuthToken, tokenHash: hash}
}

func proxyIdentity(v *config.Viewers, r *http.Request) (Identity, bool) {
	if !trusted(v.TrustedProxies, ratelimit.AddrOf(r)) {
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
	scope, ok := proxyScope(v, user)
	if !ok {
		return Identity{}, false
	}
	return Identity{Name: user, All: len(scope) == 0, Roots: scope, via: config.ViewerAuthProxy, user: user}, true
}

// proxyScope is the scope of a proxy user: theirs, else "*", else
// everything when no scope is configured at all.
func proxyScope(v *config.Viewers, user string) ([]string, bool) {
	scope, ok := v.ProxyScopes[user]
	if !ok {
		if scope, ok = v.ProxyScopes["*"]; !ok && len(v.ProxyScopes) > 0 {
			return nil, false
		}
	}
	return scope, true
}

func trusted(list []string, addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
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

func deny(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// safeNext keeps redirects on this hub. next is read the way a browser's
// URL parser reads a Location (tabs and newlines removed, C0 controls and
// spaces trimmed, backslashes taken as slashes) and kept only if that is a
// path here: one "/" followed by neither "/" nor "\" (which would name
// another host). Other control characters are refused outright.
func safeNext(next string) string {
	s := strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, next)
	s = strings.TrimFunc(s, func(r rune) bool { return r <= 0x20 })
	if len(s) < 2 || s[0] != '/' || s[1] == '/' {
		return "/"
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return "/"
		}
	}
	return s
}

// MemorySessions keeps sessions in memory, for a hub without a state file
// and for tests. It holds at most maxMemorySessions: past that, the session
// nearest its expiry is dropped, so even a token holder looping on /login
// cannot exhaust memory.
type MemorySessions struct {
	mu sync.Mutex
	m  map[string]Session
}

const maxMemorySessions = 100_000

// NewMemorySessions returns an empty in-memory session store.
func NewMemorySessions() *MemorySessions {
	return &MemorySessions{m: make(map[string]Session)}
}

// PutSession stores s under id.
func (m *MemorySessions) PutSession(id string, s Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.m[id]; !ok && len(m.m) >= maxMemorySessions {
		var oldest string
		var first time.Time
		for k, v := range m.m {
			if oldest == "" || v.Expires.Before(first) {
				oldest, first = k, v.Expires
			}
		}
		delete(m.m, oldest)
	}
	m.m[id] = s
	return nil
}

// GetSession returns the session stored under id.
func (m *MemorySessions) GetSession(id string) (Session, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.m[id]
	return s, ok, nil
}

// DeleteSession forgets id; deleting an unknown id is not an error.
func (m *MemorySessions) DeleteSession(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, id)
	return nil
}
