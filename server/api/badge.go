package api

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"imagingstatus/server/viewerauth"
	"imagingstatus/wire"
)

// badgeWords are the statuses as the page says them (app/i18n.go; a test
// checks they agree).
var badgeWords = map[string]map[wire.Status]string{
	"en": {wire.StatusAvailable: "Available", wire.StatusOffline: "Offline", wire.StatusConnectionError: "Connection error",
		wire.StatusNotLinked: "No imaging server"},
	"fr": {wire.StatusAvailable: "Disponible", wire.StatusOffline: "Hors ligne", wire.StatusConnectionError: "Erreur de connexion",
		wire.StatusNotLinked: "Aucun serveur d'imagerie"},
}

var unknownWord = map[string]string{"en": "unknown", "fr": "inconnue"}

// badgeColours follow the page's status colours, dark enough for white
// text (WCAG AA at 11 px bold).
var badgeColours = map[wire.Status]string{
	wire.StatusAvailable: "#1b6e2a", wire.StatusOffline: "#b3261e", wire.StatusConnectionError: "#a04a00", wire.StatusNotLinked: "#555555",
}

// badgeLang is ?lang=, else the first English or French language of
// Accept-Language, else English.
func badgeLang(r *http.Request) (string, bool) {
	if l, ok := r.URL.Query()["lang"]; ok {
		if len(l) == 1 && badgeWords[l[0]] != nil {
			return l[0], true
		}
		return "", false
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if badgeWords[base] != nil {
			return base, true
		}
	}
	return "en", true
}

// badgeHandler answers GET /api/v1/entities/{id}/badge.svg from the
// newest summary (never the loop: badges may be public).
func badgeHandler(src Source) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k := range r.URL.Query() {
			if k != "lang" {
				http.Error(w, "unknown query parameter "+quoteID(k)+": the badge takes only ?lang=en or ?lang=fr", http.StatusBadRequest)
				return
			}
		}
		lang, ok := badgeLang(r)
		if !ok {
			http.Error(w, "lang must be en or fr", http.StatusBadRequest)
			return
		}
		id := r.PathValue("id")
		e, found := src.Summary(id)
		public := src.Config().Source.PublicBadges
		if !found || (!public && !viewerauth.Allowed(r.Context(), src.Config(), id)) {
			w.Header().Set("Content-Type", "image/svg+xml")
			w.Header().Set("Cache-Control", "no-cache")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write(badgeSVG("imaging", unknownWord[lang], "#757575"))
			return
		}
		word, ok := badgeWords[lang][e.Status]
		if !ok {
			word = unknownWord[lang]
		}
		colour, ok := badgeColours[e.Status]
		if !ok {
			colour = "#757575"
		}
		w.Header().Set("Content-Type", "image/svg+xml")
		// Pages that embed a badge must see the status of now.
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(badgeSVG(clipName(e.Name), word, colour))
	}
}

func clipName(s string) string {
	if utf8.RuneCountInString(s) <= 32 {
		return s
	}
	r := []rune(s)
	return string(r[:31]) + "…"
}

// badgeSVG draws "label | word" in the usual flat badge shape. Widths are
// estimated (about 7 px per character at 11 px): badges are read, not
// typeset.
func badgeSVG(label, word, colour string) []byte {
	lw := 10 + 7*utf8.RuneCountInString(label)
	ww := 10 + 7*utf8.RuneCountInString(word)
	esc := func(s string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	l, wd := esc(label), esc(word)
	return fmt.Appendf(nil, `<svg xmlns="http://www.w3.org/2000/svg" width="%[1]d" height="20" role="img" aria-label="%[2]s: %[3]s">`+
		`<title>%[2]s: %[3]s</title>`+
		`<rect width="%[4]d" height="20" fill="#444"/><rect x="%[4]d" width="%[5]d" height="20" fill="%[6]s"/>`+
		`<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" text-anchor="middle">`+
		`<text x="%[7]d" y="14">%[2]s</text><text x="%[8]d" y="14" font-weight="bold">%[3]s</text></g></svg>`,
		lw+ww, l, wd, lw, ww, colour, lw/2, lw+ww/2)
}
