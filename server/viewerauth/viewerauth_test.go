package viewerauth

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"imagingstatus/server/config"
)

func cfgWith(t *testing.T, viewers string) func() *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(`{"viewers":` + viewers + `,"entities":[
		{"id":"UUID0","name":"General"},
		{"id":"UUID1","name":"Public","parent":"UUID0"},
		{"id":"UUID2","name":"Lab","parent":"UUID1"},
		{"id":"UUID3","name":"Private","parent":"UUID0"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return func() *config.Config { return c }
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

func TestNoneSeesEverything(t *testing.T) {
	cfg := cfgWith(t, `{"auth":"none"}`)
	a := New(cfg, false)
	if w := do(t, a.Protect(echo(cfg)), "/api", "", nil); w.Code != 200 || w.Body.String() != "UUID0,UUID1,UUID2,UUID3" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func TestTokenLoginCookieAndScope(t *testing.T) {
	h := config.HashToken
	cfg := cfgWith(t, `{"auth":"token","tokens":[
		{"name":"wall-public","token_sha256":"`+h("kiosk-secret")+`","scope":["UUID1"]},
		{"name":"admin","token_sha256":"`+h("admin-secret")+`"}]}`)
	a := New(cfg, true)
	protected := a.Protect(echo(cfg))

	if w := do(t, protected, "/api", "", nil); w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "sign in") {
		t.Fatalf("no cookie: %d %s", w.Code, w.Body)
	}
	w := do(t, a.Login(), "/login?token=kiosk-secret&next=/wall", "", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/wall" {
		t.Fatalf("login: %d %v", w.Code, w.Header())
	}
	ck := w.Result().Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || !ck[0].Secure || ck[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie: %+v", ck)
	}
	cases := []struct {
		cookie, want string
		code         int
	}{
		{"kiosk-secret", "UUID1,UUID2", 200}, // Public and its subtree only
		{"admin-secret", "UUID0,UUID1,UUID2,UUID3", 200},
		{"forged", "", 401},
	}
	for _, c := range cases {
		w := do(t, protected, "/api", "", map[string]string{"Cookie": CookieName + "=" + c.cookie})
		if w.Code != c.code || (c.code == 200 && w.Body.String() != c.want) {
			t.Errorf("cookie %s: %d %q, want %d %q", c.cookie, w.Code, w.Body, c.code, c.want)
		}
	}
}

func TestLoginRefusesBadTokensOpenRedirectsAndFloods(t *testing.T) {
	cfg := cfgWith(t, `{"auth":"token","tokens":[{"name":"k","token_sha256":"`+config.HashToken("good")+`"}]}`)
	a := New(cfg, false)
	for _, next := range []string{"https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)"} {
		w := do(t, a.Login(), "/login?token=good&next="+next, "", nil)
		if loc := w.Header().Get("Location"); loc != "/" {
			t.Errorf("next=%q redirected to %q", next, loc)
		}
	}
	for i := 0; i < maxFailures; i++ {
		if w := do(t, a.Login(), "/login?token=bad", "192.0.2.7:1234", nil); w.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, w.Code)
		}
	}
	if w := do(t, a.Login(), "/login?token=good", "192.0.2.7:1234", nil); w.Code != http.StatusTooManyRequests {
		t.Fatalf("after %d failures: %d, want 429", maxFailures, w.Code)
	}
	if w := do(t, a.Login(), "/login?token=good", "192.0.2.8:1234", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("another address is limited too: %d", w.Code)
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
		{"header from outside the proxy", "192.0.2.1:5000", "alice", "", 401},
		{"no header", "10.1.2.3:5000", "", "", 401},
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
