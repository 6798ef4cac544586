package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"imagingstatus/app"
	"imagingstatus/server/config"
)

func getBadge(t *testing.T, url, token, acceptLanguage string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if acceptLanguage != "" {
		req.Header.Set("Accept-Language", acceptLanguage)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func TestBadge(t *testing.T) {
	ts := serve(t, newSource(testConfig(t, config.ViewerAuthToken)))
	badge := func(id string) string { return ts.URL + "/api/v1/entities/" + id + "/badge.svg" }
	cases := []struct {
		name, url, token, lang string
		code                   int
		want                   []string
	}{
		{"no credentials", badge("B"), "", "", http.StatusUnauthorized, []string{"Bearer"}},
		{"offline in English", badge("B"), salesToken, "", http.StatusOK, []string{">Offline<", `fill="#b3261e"`, ">Sales<", `aria-label="Sales: Offline"`}},
		{"French by query", badge("C") + "?lang=fr", salesToken, "en", http.StatusOK, []string{">Erreur de connexion<"}},
		{"French by Accept-Language", badge("B"), salesToken, "fr-FR,fr;q=0.9,en;q=0.8", http.StatusOK, []string{">Hors ligne<"}},
		{"first known language", badge("B"), salesToken, "de-DE, en;q=0.5", http.StatusOK, []string{">Offline<"}},
		{"out of scope is unknown", badge("A"), salesToken, "", http.StatusNotFound, []string{">unknown<"}},
		{"never heard of", badge("Z"), allToken, "fr", http.StatusNotFound, []string{">inconnue<"}},
		{"bad language", badge("B") + "?lang=de", salesToken, "", http.StatusBadRequest, []string{"lang must be en or fr"}},
		{"unknown parameter", badge("B") + "?style=flat", salesToken, "", http.StatusBadRequest, []string{"unknown query parameter"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, ctype, body := getBadge(t, c.url, c.token, c.lang)
			if code != c.code {
				t.Fatalf("status %d, want %d: %s", code, c.code, body)
			}
			if code != http.StatusBadRequest && code != http.StatusUnauthorized && ctype != "image/svg+xml" {
				t.Errorf("content type %q", ctype)
			}
			for _, w := range c.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
		})
	}
}

func TestPublicBadgesNeedNoCredentials(t *testing.T) {
	cfg := testConfig(t, config.ViewerAuthToken)
	f := cfg.Source
	f.PublicBadges = true
	cfg, err := f.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	ts := serve(t, newSource(cfg))
	if code, _, body := getBadge(t, ts.URL+"/api/v1/entities/A/badge.svg", "", ""); code != http.StatusOK || !strings.Contains(body, ">Available<") {
		t.Fatalf("public badge: %d %s", code, body)
	}
	// The rest of the API stays protected.
	if code, _, _ := getBadge(t, ts.URL+"/api/v1/entities/A", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("entity with public badges: %d, want 401", code)
	}
}

// The badge says a status in the page's own words.
func TestBadgeWordsAreThePagesWords(t *testing.T) {
	src := newSource(testConfig(t, ""))
	ts := serve(t, src)
	for _, lang := range []app.Lang{app.English, app.French} {
		for id, v := range src.views {
			_, _, body := getBadge(t, ts.URL+"/api/v1/entities/"+id+"/badge.svg?lang="+string(lang), "", "")
			word := app.T(lang).Status(v.Status).Label
			if !strings.Contains(body, ">"+escapeXML(word)+"<") {
				t.Errorf("%s %s (%s): badge lacks the page's word %q:\n%s", lang, id, v.Status, word, body)
			}
		}
	}
}

func escapeXML(s string) string { return strings.ReplaceAll(s, "'", "&#39;") }
