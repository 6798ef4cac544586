package viewerauth

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"imagingstatus/server/config"
	"imagingstatus/server/ratelimit"
)

const entities = `"entities":[
		{"id":"UUID0","name":"General"},
		{"id":"UUID1","name":"Public","parent":"UUID0"},
		{"id":"UUID2","name":"Lab","parent":"UUID1"},
		{"id":"UUID3","name":"Private","parent":"UUID0"}]`

func parseViewers(t *testing.T, viewers string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(`{"viewers":` + viewers + `,` + entities + `}`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func cfgWith(t *testing.T, viewers string) func() *config.Config {
	c := parseViewers(t, viewers)
	return func() *config.Config { return c }
}

// tokens is the usual token configuration: a kiosk scoped to Public, an
// administrator seeing everything.
func tokens(kioskScope string) string {
	h := config.HashToken
	return `{"auth":"token","tokens":[
		{"name":"wall-public","token_sha256":"` + h("kiosk-secret") + `","scope":[` + kioskScope + `]},
		{"name":"admin","token_sha256":"` + h("admin-secret") + `"}]}`
}

// env is an Auth with a swappable configuration, a settable clock, an
// inspectable session store and a captured log.
type env struct {
	t        *testing.T
	cur      atomic.Pointer[config.Config]
	mu       sync.Mutex
	now      time.Time
	sessions *MemorySessions
	limit    *ratelimit.Limiter
	logs     *bytes.Buffer
	auth     *Auth
}

func newEnv(t *testing.T, viewers string, store Sessions) *env {
	t.Helper()
	e := &env{t: t, now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), sessions: NewMemorySessions(), logs: &bytes.Buffer{}}
	e.cur.Store(parseViewers(t, viewers))
	if store == nil {
		store = e.sessions
	}
	logger := slog.New(slog.NewTextHandler(e.logs, nil))
	e.limit = ratelimit.New(ratelimit.Options{Name: LimiterName, Logger: logger, Now: e.Now})
	e.auth = NewWithOptions(Options{Config: e.cfg, Secure: true, Sessions: store, Limiter: e.limit, Logger: logger, Now: e.Now})
	return e
}

func (e *env) cfg() *config.Config { return e.cur.Load() }

func (e *env) setViewers(viewers string) { e.cur.Store(parseViewers(e.t, viewers)) }

func (e *env) Now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// login signs in with tok and returns the session cookie's value.
func (e *env) login(tok, remote string) string {
	e.t.Helper()
	w := do(e.t, e.auth.Login(), "/login?token="+url.QueryEscape(tok), remote, nil)
	if w.Code != http.StatusSeeOther {
		e.t.Fatalf("login with a valid token: %d %s", w.Code, w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == CookieName && c.Value != "" {
			return c.Value
		}
	}
	e.t.Fatalf("login set no session cookie: %v", w.Header())
	return ""
}

func (e *env) logLines() []string {
	s := strings.TrimSpace(e.logs.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// echo answers with the entities the viewer may see.
func echo(cfg func() *config.Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var seen []string
		for _, id := range []string{"UUID0", "UUID1", "UUID2", "UUID3"} {
			if Allowed(r.Context(), cfg(), id) {
				seen = append(seen, id)
			}
		}
		io.WriteString(w, strings.Join(seen, ","))
	})
}

func do(t *testing.T, h http.Handler, target, remote string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", target, nil)
	if remote != "" {
		r.RemoteAddr = remote
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func cookie(v string) map[string]string { return map[string]string{"Cookie": CookieName + "=" + v} }
func bearerHdr(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok}
}

// randomID is a well-formed session id nobody issued.
func randomID() string {
	b := make([]byte, sessionIDBytes)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestNoneSeesEverything(t *testing.T) {
	cfg := cfgWith(t, `{"auth":"none"}`)
	a := New(cfg, false)
	if w := do(t, a.Protect(echo(cfg)), "/api", "", nil); w.Code != 200 || w.Body.String() != "UUID0,UUID1,UUID2,UUID3" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func TestCredentialsAndScopes(t *testing.T) {
	e := newEnv(t, tokens(`"UUID1"`), nil)
	protected := e.auth.Protect(echo(e.cfg))
	kiosk := e.login("kiosk-secret", "")
	admin := e.login("admin-secret", "")
	cases := []struct {
		name string
		hdr  map[string]string
		code int
		want string
	}{
		{"kiosk session cookie", cookie(kiosk), 200, "UUID1,UUID2"}, // Public and its subtree only
		{"admin session cookie", cookie(admin), 200, "UUID0,UUID1,UUID2,UUID3"},
		{"kiosk Bearer", bearerHdr("kiosk-secret"), 200, "UUID1,UUID2"},
		{"admin Bearer", bearerHdr("admin-secret"), 200, "UUID0,UUID1,UUID2,UUID3"},
		{"Bearer scheme in lower case", map[string]string{"Authorization": "bearer admin-secret"}, 200, "UUID0,UUID1,UUID2,UUID3"},
		{"Bearer wins over the cookie", map[string]string{"Authorization": "Bearer kiosk-secret", "Cookie": CookieName + "=" + admin}, 200, "UUID1,UUID2"},
		{"nothing", nil, 401, "sign in"},
		{"the token itself as cookie", cookie("kiosk-secret"), 401, "not valid"},
		{"a session id nobody issued", cookie(randomID()), 401, "not valid"},
		{"wrong Bearer", bearerHdr("guess"), 401, "not valid"},
		{"empty Bearer", map[string]string{"Authorization": "Bearer "}, 401, "not valid"},
		{"a session id as Bearer", bearerHdr(kiosk), 401, "not valid"},
		{"Basic is not a viewer credential", map[string]string{"Authorization": "Basic YTpi"}, 401, "sign in"},
	}
	for _, c := range cases {
		w := do(t, protected, "/api", "", c.hdr)
		if w.Code != c.code || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("%s: %d %q, want %d %q", c.name, w.Code, w.Body, c.code, c.want)
		}
	}
}

func TestSafeNext(t *testing.T) {
	cases := []struct{ next, want string }{
		{"/\t/host/", "/"}, // what /login?next=/%09/host/ decodes to
		{"/\n/evil", "/"},
		{"/\r\n/evil", "/"},
		{"/\\\\evil", "/"},
		{"/\\evil", "/"},
		{"\\/evil", "/"},
		{"\\\\evil", "/"},
		{"//evil", "/"},
		{" //evil", "/"},
		{"\x01//evil", "/"},
		{"/\x00/evil", "/"},
		{"/wall\x7f", "/"},
		{"https://evil", "/"},
		{"javascript:alert(1)", "/"},
		{"evil", "/"},
		{"", "/"},
		{"/", "/"},
		{"/wall", "/wall"},
		{"/entity/UUID1?x=1", "/entity/UUID1?x=1"},
		{"/wall?next=//evil", "/wall?next=//evil"},
		{" /wall\n", "/wall"},
		{"/wa\tll", "/wall"},
	}
	for _, c := range cases {
		if got := safeNext(c.next); got != c.want {
			t.Errorf("safeNext(%q) = %q, want %q", c.next, got, c.want)
		}
	}
}

func TestLoginRedirectsOnlyOnTheHub(t *testing.T) {
	for _, mode := range []string{tokens(`"UUID1"`), `{"auth":"none"}`} {
		e := newEnv(t, mode, nil)
		cases := []struct{ rawNext, want string }{
			{"/%09/host/", "/"},
			{"%2F%0A%2Fevil", "/"},
			{"%5C%2Fevil", "/"},
			{"//evil", "/"},
			{"%20//evil", "/"},
			{"https://evil", "/"},
			{"/wall", "/wall"},
			{"%2Fentity%2FUUID1%3Fx%3D1", "/entity/UUID1?x=1"},
			{"", "/"},
		}
		for _, c := range cases {
			w := do(t, e.auth.Login(), "/login?token=kiosk-secret&next="+c.rawNext, "", nil)
			if w.Code != http.StatusSeeOther || w.Header().Get("Location") != c.want {
				t.Errorf("next=%s: %d Location %q, want %q", c.rawNext, w.Code, w.Header().Get("Location"), c.want)
			}
		}
	}
}

// TestBadCredentialFloodIsLimitedAndSummarised: each way of guessing gets
// 401 up to the limit, then 429, and the flood is one log line.
func TestBadCredentialFloodIsLimitedAndSummarised(t *testing.T) {
	cases := []struct {
		name   string
		handle func(e *env) http.Handler
		guess  func(i int) (target string, hdr map[string]string)
	}{
		{"login", func(e *env) http.Handler { return e.auth.Login() }, func(i int) (string, map[string]string) {
			return fmt.Sprintf("/login?token=guess-%d", i), nil
		}},
		{"cookie", func(e *env) http.Handler { return e.auth.Protect(echo(e.cfg)) }, func(i int) (string, map[string]string) {
			return "/api", cookie(fmt.Sprintf("guess-%d", i))
		}},
		{"well-formed cookie", func(e *env) http.Handler { return e.auth.Protect(echo(e.cfg)) }, func(i int) (string, map[string]string) {
			return "/api", cookie(randomID())
		}},
		{"Bearer", func(e *env) http.Handler { return e.auth.Protect(echo(e.cfg)) }, func(i int) (string, map[string]string) {
			return "/api", bearerHdr(fmt.Sprintf("guess-%d", i))
		}},
	}
	const attempts = 40
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, tokens(`"UUID1"`), nil)
			h := c.handle(e)
			var sent []string
			for i := range attempts {
				target, hdr := c.guess(i)
				sent = append(sent, target)
				for _, v := range hdr {
					sent = append(sent, v)
				}
				w := do(t, h, target, "192.0.2.7:1234", hdr)
				want := http.StatusUnauthorized
				if i >= ratelimit.DefaultPerAddress {
					want = http.StatusTooManyRequests
				}
				if w.Code != want {
					t.Fatalf("attempt %d: %d, want %d", i+1, w.Code, want)
				}
				if want == http.StatusTooManyRequests && w.Header().Get("Retry-After") != "60" {
					t.Fatalf("attempt %d: Retry-After %q", i+1, w.Header().Get("Retry-After"))
				}
			}
			if lines := e.logLines(); len(lines) != 0 {
				t.Fatalf("a line per failure: %q", lines)
			}
			e.advance(time.Minute)
			e.limit.Flush()
			lines := e.logLines()
			if len(lines) != 1 || !strings.Contains(lines[0], fmt.Sprintf("failures=%d ", attempts)) ||
				!strings.Contains(lines[0], `what="viewer sign-ins"`) || !strings.Contains(lines[0], "top_address=192.0.2.7 ") {
				t.Fatalf("summary: %q", lines)
			}
			for _, s := range sent {
				if v := strings.TrimPrefix(strings.TrimPrefix(s, "/login?token="), "Bearer "); v != "/api" && strings.Contains(e.logs.String(), v) {
					t.Fatalf("the log holds a presented credential %q: %s", v, e.logs)
				}
			}
			// A new window starts with a clean slate.
			target, hdr := c.guess(attempts)
			if w := do(t, h, target, "192.0.2.7:1234", hdr); w.Code != http.StatusUnauthorized {
				t.Fatalf("next window: %d, want 401", w.Code)
			}
		})
	}
}

// TestValidCredentialsAdmittedFromAFloodedNetwork: whatever others sent
// from an address or its /24, a valid token or session still gets in.
func TestValidCredentialsAdmittedFromAFloodedNetwork(t *testing.T) {
	e := newEnv(t, tokens(`"UUID1"`), nil)
	protected := e.auth.Protect(echo(e.cfg))
	session := e.login("kiosk-secret", "198.51.100.1:1") // signed in before the flood

	// 250 addresses of 192.0.2.0/24 guess once each: stopped after 50.
	refused := 0
	for i := 1; i <= 250; i++ {
		w := do(t, protected, "/api", fmt.Sprintf("192.0.2.%d:999", i), cookie(randomID()))
		if w.Code == http.StatusTooManyRequests {
			refused++
		}
	}
	if refused != 250-ratelimit.DefaultPerNetwork {
		t.Fatalf("%d guesses of the /24 refused with 429, want %d", refused, 250-ratelimit.DefaultPerNetwork)
	}
	for range 20 {
		do(t, e.auth.Login(), "/login?token=guess", "192.0.2.7:1234", nil)
	}

	cases := []struct {
		name string
		h    http.Handler
		url  string
		hdr  map[string]string
		code int
	}{
		{"login with a valid token", e.auth.Login(), "/login?token=kiosk-secret&next=/wall", nil, http.StatusSeeOther},
		{"Bearer", protected, "/api", bearerHdr("admin-secret"), 200},
		{"session cookie", protected, "/api", cookie(session), 200},
		{"still a bad guess", protected, "/api", bearerHdr("guess"), http.StatusTooManyRequests},
		{"bad login", e.auth.Login(), "/login?token=guess", nil, http.StatusTooManyRequests},
	}
	for _, c := range cases {
		for _, remote := range []string{"192.0.2.7:1234", "192.0.2.251:80"} {
			if w := do(t, c.h, c.url, remote, c.hdr); w.Code != c.code {
				t.Errorf("%s from %s: %d %s, want %d", c.name, remote, w.Code, w.Body, c.code)
			}
		}
	}
	if w := do(t, protected, "/api", "192.0.3.1:1", bearerHdr("guess")); w.Code != http.StatusUnauthorized {
		t.Errorf("a guess from the next /24: %d, want 401", w.Code)
	}
}

func TestSessionCookieIsNotTheToken(t *testing.T) {
	cases := []struct {
		name     string
		viewers  string
		lifetime time.Duration
	}{
		{"default lifetime", tokens(`"UUID1"`), config.DefaultSessionLifetime},
		{"configured lifetime", strings.Replace(tokens(`"UUID1"`), `"auth":"token"`, `"auth":"token","session_lifetime":"1h"`, 1), time.Hour},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.viewers, nil)
			w := do(t, e.auth.Login(), "/login?token=kiosk-secret&next=/wall", "", nil)
			if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/wall" ||
				w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Referrer-Policy") != "no-referrer" {
				t.Fatalf("login: %d %v", w.Code, w.Header())
			}
			ck := w.Result().Cookies()
			if len(ck) != 1 {
				t.Fatalf("cookies: %+v", ck)
			}
			k := ck[0]
			if k.Name != CookieName || k.Value == "kiosk-secret" || strings.Contains(k.Value, "kiosk") || !wellFormedID(k.Value) ||
				!k.HttpOnly || !k.Secure || k.SameSite != http.SameSiteStrictMode || k.Path != "/" || k.MaxAge != int(c.lifetime/time.Second) {
				t.Fatalf("cookie: %+v", k)
			}
			s, ok, _ := e.sessions.GetSession(sessionKey(k.Value))
			if !ok || s.TokenSHA256 != config.HashToken("kiosk-secret") || !s.Expires.Equal(e.Now().Add(c.lifetime)) {
				t.Fatalf("stored session: %+v %v", s, ok)
			}
			if _, ok, _ := e.sessions.GetSession(k.Value); ok {
				t.Fatal("the session is stored under the cookie value itself")
			}
		})
	}
}

func TestSessionEnds(t *testing.T) {
	kioskRemoved := `{"auth":"token","tokens":[{"name":"admin","token_sha256":"` + config.HashToken("admin-secret") + `"}]}`
	cases := []struct {
		name    string
		change  func(e *env)
		code    int
		want    string
		deleted bool
	}{
		{"unchanged", func(e *env) {}, 200, "UUID1,UUID2", false},
		{"just before expiry", func(e *env) { e.advance(config.DefaultSessionLifetime - time.Second) }, 200, "UUID1,UUID2", false},
		{"rescoped", func(e *env) { e.setViewers(tokens(`"UUID3"`)) }, 200, "UUID3", false},
		{"rescoped to everything", func(e *env) { e.setViewers(tokens(``)) }, 200, "UUID0,UUID1,UUID2,UUID3", false},
		{"token removed", func(e *env) { e.setViewers(kioskRemoved) }, 401, "expired or was revoked", true},
		{"expired", func(e *env) { e.advance(config.DefaultSessionLifetime) }, 401, "expired or was revoked", true},
		{"mode switched to proxy", func(e *env) { e.setViewers(`{"auth":"proxy","trusted_proxies":["10.0.0.1"]}`) }, 401, "reverse proxy", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, tokens(`"UUID1"`), nil)
			protected := e.auth.Protect(echo(e.cfg))
			id := e.login("kiosk-secret", "")
			if w := do(t, protected, "/api", "", cookie(id)); w.Code != 200 {
				t.Fatalf("fresh session: %d", w.Code)
			}
			c.change(e)
			w := do(t, protected, "/api", "", cookie(id))
			if w.Code != c.code || !strings.Contains(w.Body.String(), c.want) {
				t.Fatalf("%d %q, want %d %q", w.Code, w.Body, c.code, c.want)
			}
			if _, ok, _ := e.sessions.GetSession(sessionKey(id)); ok == c.deleted {
				t.Fatalf("session kept: %v, want %v", ok, !c.deleted)
			}
			if c.deleted {
				if ck := w.Result().Cookies(); len(ck) != 1 || ck[0].MaxAge >= 0 {
					t.Fatalf("the dead cookie is not cleared: %+v", ck)
				}
				// Re-adding the token does not revive the session.
				e.setViewers(tokens(`"UUID1"`))
				if w := do(t, protected, "/api", "", cookie(id)); w.Code != 401 {
					t.Fatalf("revived: %d", w.Code)
				}
			}
		})
	}
}

func TestLogoutDeletesSession(t *testing.T) {
	e := newEnv(t, tokens(`"UUID1"`), nil)
	protected := e.auth.Protect(echo(e.cfg))
	id := e.login("kiosk-secret", "")
	other := e.login("kiosk-secret", "")
	w := do(t, e.auth.Logout(), "/logout", "", cookie(id))
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
		t.Fatalf("logout: %d %v", w.Code, w.Header())
	}
	if ck := w.Result().Cookies(); len(ck) != 1 || ck[0].Name != CookieName || ck[0].MaxAge >= 0 {
		t.Fatalf("logout cookie: %+v", ck)
	}
	if _, ok, _ := e.sessions.GetSession(sessionKey(id)); ok {
		t.Fatal("the session outlives the logout")
	}
	if w := do(t, protected, "/api", "", cookie(id)); w.Code != 401 {
		t.Fatalf("after logout: %d", w.Code)
	}
	if w := do(t, protected, "/api", "", cookie(other)); w.Code != 200 {
		t.Fatalf("another browser's session: %d", w.Code)
	}
}

func TestLoginReplacesThePreviousSession(t *testing.T) {
	e := newEnv(t, tokens(`"UUID1"`), nil)
	old := e.login("kiosk-secret", "")
	w := do(t, e.auth.Login(), "/login?token=admin-secret", "", cookie(old))
	if w.Code != http.StatusSeeOther {
		t.Fatalf("login: %d", w.Code)
	}
	if _, ok, _ := e.sessions.GetSession(sessionKey(old)); ok {
		t.Fatal("the previous session of this browser was kept")
	}
}

// who returns the identity Protect gives a request.
func who(t *testing.T, a *Auth, remote string, hdr map[string]string) Identity {
	t.Helper()
	var got Identity
	var ok bool
	w := do(t, a.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got, ok = FromContext(r.Context()) })), "/api", remote, hdr)
	if w.Code != 200 || !ok {
		t.Fatalf("no identity: %d %s", w.Code, w.Body)
	}
	return got
}

func TestRefresh(t *testing.T) {
	proxy := func(scopes string) string {
		return `{"auth":"proxy","trusted_proxies":["10.0.0.0/8"],"proxy_scopes":{` + scopes + `}}`
	}
	kioskRemoved := `{"auth":"token","tokens":[{"name":"admin","token_sha256":"` + config.HashToken("admin-secret") + `"}]}`
	renamed := `{"auth":"token","tokens":[{"name":"wall-lab","token_sha256":"` + config.HashToken("kiosk-secret") + `","scope":["UUID2"]}]}`
	cases := []struct {
		name     string
		start    string
		identity func(e *env) Identity
		now      string
		ok       bool
		wantName string
		wantAll  bool
		wantRoot []string
	}{
		{"session, unchanged", tokens(`"UUID1"`), func(e *env) Identity { return who(t, e.auth, "", cookie(e.login("kiosk-secret", ""))) },
			tokens(`"UUID1"`), true, "wall-public", false, []string{"UUID1"}},
		{"session, rescoped", tokens(`"UUID1"`), func(e *env) Identity { return who(t, e.auth, "", cookie(e.login("kiosk-secret", ""))) },
			tokens(`"UUID3","UUID2"`), true, "wall-public", false, []string{"UUID3", "UUID2"}},
		{"Bearer, renamed and rescoped", tokens(`"UUID1"`), func(e *env) Identity { return who(t, e.auth, "", bearerHdr("kiosk-secret")) },
			renamed, true, "wall-lab", false, []string{"UUID2"}},
		{"Bearer, rescoped to everything", tokens(`"UUID1"`), func(e *env) Identity { return who(t, e.auth, "", bearerHdr("kiosk-secret")) },
			tokens(``), true, "wall-public", true, nil},
		{"token removed", tokens(`"UUID1"`), func(e *env) Identity { return who(t, e.auth, "", bearerHdr("kiosk-secret")) },
			kioskRemoved, false, "", false, nil},
		{"token mode to proxy", tokens(`"UUID1"`), func(e *env) Identity { return who(t, e.auth, "", bearerHdr("admin-secret")) },
			proxy(`"*":[]`), false, "", false, nil},
		{"token mode to none", tokens(`"UUID1"`), func(e *env) Identity { return who(t, e.auth, "", bearerHdr("admin-secret")) },
			`{"auth":"none"}`, false, "", false, nil},
		{"proxy user rescoped", proxy(`"alice":["UUID3"]`), func(e *env) Identity {
			return who(t, e.auth, "10.1.2.3:1", map[string]string{"X-Remote-User": "alice"})
		},
			proxy(`"alice":["UUID1"]`), true, "alice", false, []string{"UUID1"}},
		{"proxy user falls back to *", proxy(`"alice":["UUID3"]`), func(e *env) Identity {
			return who(t, e.auth, "10.1.2.3:1", map[string]string{"X-Remote-User": "alice"})
		},
			proxy(`"*":["UUID2"]`), true, "alice", false, []string{"UUID2"}},
		{"proxy user loses their scope", proxy(`"alice":["UUID3"]`), func(e *env) Identity {
			return who(t, e.auth, "10.1.2.3:1", map[string]string{"X-Remote-User": "alice"})
		},
			proxy(`"bob":["UUID3"]`), false, "", false, nil},
		{"proxy mode to token", proxy(`"alice":["UUID3"]`), func(e *env) Identity {
			return who(t, e.auth, "10.1.2.3:1", map[string]string{"X-Remote-User": "alice"})
		},
			tokens(`"UUID1"`), false, "", false, nil},
		{"none stays none", `{"auth":"none"}`, func(e *env) Identity { return Identity{} },
			`{"auth":"none"}`, true, "", true, nil},
		{"none to token", `{"auth":"none"}`, func(e *env) Identity { return Identity{} },
			tokens(`"UUID1"`), false, "", false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.start, nil)
			id := c.identity(e)
			e.setViewers(c.now)
			got, ok := e.auth.Refresh(id)
			if ok != c.ok || got.Name != c.wantName || got.All != c.wantAll || !slices.Equal(got.Roots, c.wantRoot) {
				t.Fatalf("Refresh = %v %v all=%v roots=%v, want %v %q all=%v roots=%v", got.Name, ok, got.All, got.Roots, c.ok, c.wantName, c.wantAll, c.wantRoot)
			}
			if ok {
				if again, ok := e.auth.Refresh(got); !ok || again.Name != got.Name || !slices.Equal(again.Roots, got.Roots) {
					t.Fatalf("refreshing the refreshed identity: %v %v", again, ok)
				}
			}
		})
	}
}

func TestIdentityKeepsTheTokenHashOutOfLogs(t *testing.T) {
	e := newEnv(t, tokens(`"UUID1"`), nil)
	id := who(t, e.auth, "", bearerHdr("kiosk-secret"))
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("viewer", "who", id)
	s := buf.String() + fmt.Sprintf("%v %+v %s", id, id, id)
	if strings.Contains(s, config.HashToken("kiosk-secret")) || !strings.Contains(s, "wall-public") {
		t.Fatalf("identity formatted as %s", s)
	}
}

// brokenSessions fails every call, with the id in its error to prove only
// the hash of a cookie ever reaches a store.
type brokenSessions struct{}

func (brokenSessions) PutSession(id string, s Session) error { return errors.New("disk full: " + id) }
func (brokenSessions) GetSession(id string) (Session, bool, error) {
	return Session{}, false, errors.New("read failed: " + id)
}
func (brokenSessions) DeleteSession(id string) error { return errors.New("delete failed: " + id) }

func TestSessionStoreFailure(t *testing.T) {
	e := newEnv(t, tokens(`"UUID1"`), brokenSessions{})
	if w := do(t, e.auth.Login(), "/login?token=kiosk-secret", "", nil); w.Code != http.StatusInternalServerError || len(w.Result().Cookies()) != 0 {
		t.Fatalf("login with a failing store: %d %v", w.Code, w.Header())
	}
	id := randomID()
	if w := do(t, e.auth.Protect(echo(e.cfg)), "/api", "", cookie(id)); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("protect with a failing store: %d", w.Code)
	}
	if w := do(t, e.auth.Protect(echo(e.cfg)), "/api", "", bearerHdr("kiosk-secret")); w.Code != 200 {
		t.Fatalf("Bearer needs no store: %d", w.Code)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "kiosk-secret") || strings.Contains(logs, id) {
		t.Fatalf("logs: %s", logs)
	}
}

func TestMemorySessionsBounded(t *testing.T) {
	m := NewMemorySessions()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxMemorySessions + 10 {
		m.PutSession(fmt.Sprint(i), Session{Expires: t0.Add(time.Duration(i) * time.Second)})
	}
	if len(m.m) != maxMemorySessions {
		t.Fatalf("%d sessions kept, want %d", len(m.m), maxMemorySessions)
	}
	if _, ok, _ := m.GetSession("0"); ok {
		t.Fatal("the session nearest its expiry was kept")
	}
	if _, ok, _ := m.GetSession(fmt.Sprint(maxMemorySessions + 9)); !ok {
		t.Fatal("the newest session was dropped")
	}
}

func TestProxyHeaderTrustedOnlyFromTheProxy(t *testing.T) {
	cfg := cfgWith(t, `{"auth":"proxy","trusted_proxies":["10.0.0.0/8","::1"],"proxy_header":"X-User",
		"proxy_scopes":{"alice":["UUID3"],"*":["UUID1"]}}`)
	a := New(cfg, false)
	p := a.Protect(echo(cfg))
	cases := []struct {
		name, remote, user, want string
		code                     int
	}{
		{"alice via proxy", "10.1.2.3:5000", "alice", "UUID3", 200},
		{"other user gets the default scope", "10.1.2.3:5000", "bob", "UUID1,UUID2", 200},
		{"IPv6 proxy", "[::1]:5000", "alice", "UUID3", 200},
		{"IPv4-mapped proxy address", "[::ffff:10.1.2.3]:5000", "alice", "UUID3", 200},
		{"header from outside the proxy", "192.0.2.1:5000", "alice", "", 401},
		{"no header", "10.1.2.3:5000", "", "", 401},
		{"unparsable source", "@", "alice", "", 401},
	}
	for _, c := range cases {
		hdr := map[string]string{}
		if c.user != "" {
			hdr["X-User"] = c.user
		}
		w := do(t, p, "/api", c.remote, hdr)
		if w.Code != c.code || (c.code == 200 && w.Body.String() != c.want) {
			t.Errorf("%s: %d %q, want %d %q", c.name, w.Code, w.Body, c.code, c.want)
		}
	}
}

func TestBadViewerConfig(t *testing.T) {
	for _, v := range []string{`{"auth":"maybe"}`, `{"auth":"token"}`, `{"auth":"proxy"}`, `{"auth":"proxy","trusted_proxies":["nonsense"]}`,
		`{"auth":"token","tokens":[{"name":"x","token_sha256":"12"}]}`} {
		if _, err := config.Parse([]byte(`{"viewers":` + v + `,"entities":[{"id":"a","name":"A"}]}`)); err == nil {
			t.Errorf("%s accepted", v)
		}
	}
}

// Identify names the viewer of a page without refusing anyone: the page
// then shows a stranger no status.
func TestIdentify(t *testing.T) {
	e := newEnv(t, tokens(`"UUID1"`), nil)
	kiosk := e.login("kiosk-secret", "")
	cases := []struct {
		name  string
		hdr   map[string]string
		ok    bool
		all   bool
		roots string
	}{
		{"nothing", nil, false, false, ""},
		{"wrong Bearer", bearerHdr("guess"), false, false, ""},
		{"a session id nobody issued", cookie(randomID()), false, false, ""},
		{"kiosk cookie", cookie(kiosk), true, false, "UUID1"},
		{"admin Bearer", bearerHdr("admin-secret"), true, true, ""},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for k, v := range c.hdr {
			r.Header.Set(k, v)
		}
		who, ok := e.auth.Identify(r)
		if ok != c.ok || who.All != c.all || strings.Join(who.Roots, ",") != c.roots {
			t.Errorf("%s: %+v %v, want ok %v all %v roots %q", c.name, who, ok, c.ok, c.all, c.roots)
		}
	}
	if who, ok := New(cfgWith(t, `{"auth":"none"}`), false).Identify(httptest.NewRequest(http.MethodGet, "/", nil)); !ok || !who.All {
		t.Fatalf("auth none: %+v %v, want everything", who, ok)
	}
}
